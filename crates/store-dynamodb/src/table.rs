//! Makes sure the table exists with the key schema the store needs.
//!
//! Creating the table on connect lets a fresh environment (DynamoDB Local, a new test
//! table) work without a separate setup step; an existing table is only described, so a
//! service whose role may not create tables still connects. A table with another key
//! schema is refused up front: writing into it would fail item by item, or worse, succeed
//! with a different meaning.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TableDescription, TableStatus,
};
use store::StoreError;

use crate::codec::{PK, SK};
use crate::errors::read_error;

/// How long a new table may take to become ACTIVE (seconds on AWS, at once locally).
const ACTIVE_DEADLINE: Duration = Duration::from_secs(120);
const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Waits until `table` exists with the store's key schema and is ACTIVE, creating it
/// (on demand billing) when missing.
pub(crate) async fn ensure(client: &Client, table: &str) -> Result<(), StoreError> {
    let deadline = Instant::now() + ACTIVE_DEADLINE;
    loop {
        match describe(client, table).await? {
            Some(description) => {
                check_schema(table, &description)?;
                if description.table_status() == Some(&TableStatus::Active) {
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
