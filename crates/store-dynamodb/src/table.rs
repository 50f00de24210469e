//! Makes sure the table exists with the key schema the store needs, and deletes expired items.
//!
//! Creating the table on connect lets a fresh environment (DynamoDB Local, a new test
//! table) work without a separate setup step; an existing table is only described, so a
//! service whose role may not create tables still connects. A table with another key
//! schema is refused up front: writing into it would fail item by item, or worse, succeed
//! with a different meaning.
//!
//! The table's time to live is turned on for `store::EXPIRES_AT` when it is off, so that
//! DynamoDB deletes expired items itself, at no cost and with no request of ours. A table
//! whose time to live cannot be turned on (no permission, another attribute) still works:
//! reads leave expired items out either way, they only stay in the table; a warning says so.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TableDescription, TableStatus, TimeToLiveSpecification, TimeToLiveStatus,
};
use store::{EXPIRES_AT, StoreError};

use crate::codec::{PK, SK};
use crate::errors::read_error;

/// How long a new table may take to become ACTIVE (seconds on AWS, at once locally).
const ACTIVE_DEADLINE: Duration = Duration::from_secs(120);
const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Waits until `table` exists with the store's key schema and is ACTIVE, creating it
/// (on demand billing) when missing, and turns its time to live on.
pub(crate) async fn ensure(client: &Client, table: &str) -> Result<(), StoreError> {
    let deadline = Instant::now() + ACTIVE_DEADLINE;
    loop {
        match describe(client, table).await? {
            Some(description) => {
                check_schema(table, &description)?;
                if description.table_status() == Some(&TableStatus::Active) {
                    if let Err(error) = ensure_time_to_live(client, table).await {
                        tracing::warn!(
                            table,
                            %error,
                            "the table's time to live is not on {EXPIRES_AT}: expired items \
                             stay in the table (reads leave them out) until it is turned on"
                        );
                    }
                    return Ok(());
                }
            }
            None => create(client, table).await?,
        }
        if Instant::now() >= deadline {
            return Err(StoreError::Unavailable(format!(
                "table {table:?} did not become ACTIVE within {ACTIVE_DEADLINE:?}"
            )));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// The table's description, or `None` when it does not exist.
pub(crate) async fn describe(
    client: &Client,
    table: &str,
) -> Result<Option<TableDescription>, StoreError> {
    match client.describe_table().table_name(table).send().await {
        Ok(output) => Ok(output.table),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(err) => Err(read_error("DescribeTable", err)),
    }
}

/// The attribute the table's time to live is on (or being turned on for), if it is.
async fn time_to_live(client: &Client, table: &str) -> Result<Option<String>, StoreError> {
    let output = client
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
        .map_err(|err| read_error("DescribeTimeToLive", err))?;
    let description = output.time_to_live_description();
    let on = matches!(
        description.and_then(|d| d.time_to_live_status()),
        Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
    );
    Ok(description
        .and_then(|d| d.attribute_name())
        .filter(|_| on)
        .map(str::to_owned))
}

/// Turns the table's time to live on for [`EXPIRES_AT`] unless it is; one describe when it
/// is (DynamoDB allows a change of it only now and then, so it is never set blindly).
async fn ensure_time_to_live(client: &Client, table: &str) -> Result<(), StoreError> {
    match time_to_live(client, table).await? {
        Some(attribute) if attribute == EXPIRES_AT => return Ok(()),
        Some(attribute) => {
            return Err(StoreError::Invalid(format!(
                "it is on the attribute {attribute:?}"
            )));
        }
        None => {}
    }
    let specification = TimeToLiveSpecification::builder()
        .enabled(true)
        .attribute_name(EXPIRES_AT)
        .build()
        .map_err(invalid)?;
    let turned_on = client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(specification)
        .send()
        .await;
    match turned_on {
        Ok(_) => {
            tracing::info!(table, "turned on the table's time to live on {EXPIRES_AT}");
            Ok(())
        }
        // Another process turned it on at the same moment, which DynamoDB refuses to do twice.
        Err(err) => match time_to_live(client, table).await {
            Ok(Some(attribute)) if attribute == EXPIRES_AT => Ok(()),
            _ => Err(read_error("UpdateTimeToLive", err)),
        },
    }
}

async fn create(client: &Client, table: &str) -> Result<(), StoreError> {
    let key_part = |name: &str, key_type: KeyType| {
        let element = KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(key_type)
            .build();
        let definition = AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build();
        element.and_then(|element| definition.map(|definition| (element, definition)))
    };
    let (pk, pk_definition) = key_part(PK, KeyType::Hash).map_err(invalid)?;
    let (sk, sk_definition) = key_part(SK, KeyType::Range).map_err(invalid)?;
    let result = client
        .create_table()
        .table_name(table)
        .key_schema(pk)
        .key_schema(sk)
        .attribute_definitions(pk_definition)
        .attribute_definitions(sk_definition)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await;
    match result {
        Ok(_) => {
            tracing::info!(table, "created the DynamoDB table");
            Ok(())
        }
        // Another process created it at the same moment; the caller's next describe sees it.
        Err(err)
            if err.as_service_error().and_then(|e| e.code()) == Some("ResourceInUseException") =>
        {
            Ok(())
        }
        Err(err) => Err(read_error("CreateTable", err)),
    }
}

fn check_schema(table: &str, description: &TableDescription) -> Result<(), StoreError> {
    let keys: Vec<(&str, &KeyType)> = description
        .key_schema()
        .iter()
        .map(|element| (element.attribute_name(), element.key_type()))
        .collect();
    let type_of = |name: &str| {
        description
            .attribute_definitions()
            .iter()
            .find(|definition| definition.attribute_name() == name)
            .map(AttributeDefinition::attribute_type)
    };
    let expected = [(PK, &KeyType::Hash), (SK, &KeyType::Range)];
    let matches = keys == expected
        && expected
            .iter()
            .all(|(name, _)| type_of(name) == Some(&ScalarAttributeType::S));
    if matches {
        return Ok(());
    }
    let found: Vec<String> = keys
        .iter()
        .map(|(name, key_type)| {
            let attribute_type = type_of(name).map_or("?", ScalarAttributeType::as_str);
            format!("{name} ({}, {attribute_type})", key_type.as_str())
        })
        .collect();
    Err(StoreError::Invalid(format!(
        "DynamoDB table {table:?} has the key schema [{}], but the store needs \
         [{PK} (HASH, S), {SK} (RANGE, S)]: use another table name",
        found.join(", ")
    )))
}

fn invalid(err: impl std::fmt::Display) -> StoreError {
    StoreError::Invalid(err.to_string())
}
