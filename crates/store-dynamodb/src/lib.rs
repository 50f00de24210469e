//! The DynamoDB adapter of the store port, for the cloud deployment: every item lives in
//! one DynamoDB table keyed by `pk` (partition) and `sk` (sort), as the port's `Key` is.
//!
//! The port was shaped after DynamoDB, so most calls map one to one: a get is a consistent
//! GetItem, a batch get a consistent BatchGetItem, a page one Query (or a few, across
//! DynamoDB's 1 MB pages), and a transaction one TransactWriteItems. Where DynamoDB is
//! stricter than the port, the adapter bridges the gap so that both adapters answer alike:
//! the `codec` module keeps attributes named like the key (or not storable as named) apart
//! from it, and the `range` module turns any `after` position into one key condition.
//!
//! Every write that is not safe to repeat — one with a condition, or an update that adds
//! to a counter — goes through TransactWriteItems, even alone. The SDK gives each such
//! request an idempotency token and keeps it across its own retries, so a retry after a
//! lost answer cannot add twice, nor report a failed condition for a write that in fact
//! went through. A lone write that is safe to repeat (an unconditional put, delete, or
//! update that only sets) uses the single-item call instead, at half the cost. A
//! transaction that DynamoDB cancels for a conflict with another one on the same item (a
//! hot counter) wrote nothing and is retried a few times with jittered back-off, then
//! reported as unavailable.
//!
//! Calls are bounded in time (see [`DynamoConfig`]; the SDK set-up is `aws-client`'s, which
//! the S3 object store shares) so that a DynamoDB that cannot be
//! reached turns into [`StoreError::Unavailable`] within seconds, not a hung request.
//!
//! Expiry (`store::EXPIRES_AT`) is the table's time to live, turned on at connect: DynamoDB
//! deletes expired items itself, typically within days, and until then the adapter leaves them
//! out of every read and makes every condition find them missing.
//!
//! Where DynamoDB still differs from the SQLite adapter (no test of the suite covers these):
//! a float holding a whole number (`2.0`) reads back as the integer `2`, and floats beyond
//! DynamoDB's range (magnitudes over ~1e126 or under 1e-130) are refused as invalid; an
//! `add` to an attribute holding a non-integer number adds to it rather than failing, and
//! an add that overflows i64 goes on in DynamoDB's 38 digits; `AttrEquals` compares numbers
//! by value (`1` equals `1.0`); a transaction that both fails a condition and adds to a
//! string is refused as invalid rather than reported as the failed condition; and an update
//! of an item that expired but is not deleted yet starts from its old attributes (the port
//! has items that expire written whole, by puts).

mod codec;
mod errors;
mod range;
mod table;

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_client::ClientConfig;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, KeysAndAttributes, Put, TransactWriteItem, Update,
};
use backon::{BackoffBuilder, ExponentialBuilder};
use store::{
    Condition, EXPIRES_AT, Item, Key, Page, Query, ScanPage, Store, StoreError, Write,
    check_batch_get, check_query, check_scan, check_transaction, epoch_seconds,
};

use codec::{PK, Stored, attribute_name, attribute_value};
use errors::{Outcome, read_error, transaction_outcome, write_outcome};
use range::{KeyRange, SkCondition};

/// Where the store's table is and how long calls may take.
#[derive(Debug, Clone)]
pub struct DynamoConfig {
    /// The table's name; it is created (on-demand billing) when missing.
    pub table: String,
    /// The endpoint (DynamoDB Local's, or none for AWS's), region, times and retries.
    pub aws: ClientConfig,
}

impl DynamoConfig {
    /// The defaults for a table: DynamoDB answers in milliseconds, so a few seconds per
    /// call is plenty for a 1 MB page and short enough for a readiness check to notice.
    pub fn new(table: impl Into<String>) -> Self {
        DynamoConfig {
            table: table.into(),
            aws: ClientConfig {
                endpoint: None,
                region: None,
                connect_timeout: Duration::from_secs(1),
                attempt_timeout: Duration::from_secs(2),
                operation_timeout: Duration::from_secs(5),
                max_attempts: 3,
            },
        }
    }

    /// The same configuration against another endpoint, such as DynamoDB Local.
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.aws.endpoint = Some(endpoint.into());
        self
    }

    /// An SDK client as the store makes it, for tools that manage the table.
    pub async fn client(&self) -> Result<Client, StoreError> {
        let shared =
            self.aws.load().await.map_err(|e| {
                StoreError::Invalid(format!("the DynamoDB store's configuration: {e}"))
            })?;
        Ok(Client::new(&shared))
    }
}

/// A store kept in one DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

/// The pauses of our own retries: of a write DynamoDB cancelled for a conflict or for
/// throttling, and of a batch get round that left every key unprocessed. Nothing was written
/// or read, so trying again is safe; when the pauses run out the call is `Unavailable`.
/// Jittered, because the writers that collided on a hot item would otherwise collide again in
/// lockstep. Five pauses make six attempts (docs/data-model.md). backon's jitter adds up to
/// one more step, so the pauses lie in 5–10 ms, 10–20 ms, … 80–160 ms (at most 0.3 s in all,
/// and never over 0.5 s each): a conflict clears within milliseconds, and a call must still
/// answer well inside its 5 s operation timeout.
const RETRY_BACKOFF: ExponentialBuilder = ExponentialBuilder::new()
    .with_jitter()
    .with_min_delay(Duration::from_millis(5))
    .with_max_delay(Duration::from_millis(250))
    .with_max_times(5);

impl DynamoStore {
    /// Connects to the configured table, creating it when missing and waiting until it is
    /// ACTIVE. Fails with [`StoreError::Invalid`] when the table exists with another key
    /// schema, and with [`StoreError::Unavailable`] when DynamoDB cannot be reached.
    pub async fn connect(config: DynamoConfig) -> Result<Self, StoreError> {
        let client = config.client().await?;
        table::ensure(&client, &config.table).await?;
        Ok(DynamoStore {
            client,
            table: config.table,
        })
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Runs one write until it is done, fails for good, or has been cancelled by conflicts
    /// too often; every cancelled attempt wrote nothing, so trying again is safe.
    async fn with_retries<F, Fut>(&self, mut attempt: F) -> Result<(), StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<(), Outcome>>,
    {
        let mut pauses = RETRY_BACKOFF.build();
        let mut tries = 1;
        loop {
            match attempt().await {
                Ok(()) => return Ok(()),
                Err(Outcome::Fail(error)) => return Err(error),
                Err(Outcome::Retry(reason)) => {
                    let Some(pause) = pauses.next() else {
                        return Err(StoreError::Unavailable(format!(
                            "{reason} (gave up after {tries} attempts)"
                        )));
                    };
                    tracing::debug!(table = %self.table, tries, %reason, ?pause, "retrying a write");
                    tokio::time::sleep(pause).await;
                    tries += 1;
                }
            }
        }
    }

    async fn write_one(&self, write: &Prepared) -> Result<(), Outcome> {
        let Prepared {
            action,
            condition,
            names,
            values,
            ..
        } = write;
        match action {
            Action::Put(item) => self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item.clone()))
                .set_condition_expression(condition.clone())
                .set_expression_attribute_names(names.clone())
                .set_expression_attribute_values(values.clone())
                .send()
                .await
                .map(drop)
                .map_err(|err| write_outcome("PutItem", err)),
            Action::Update { key, expression } => self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key.clone()))
                .update_expression(expression)
                .set_condition_expression(condition.clone())
                .set_expression_attribute_names(names.clone())
                .set_expression_attribute_values(values.clone())
                .send()
                .await
                .map(drop)
                .map_err(|err| write_outcome("UpdateItem", err)),
            Action::Delete(key) => self
                .client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key.clone()))
                .set_condition_expression(condition.clone())
                .set_expression_attribute_names(names.clone())
                .set_expression_attribute_values(values.clone())
                .send()
                .await
                .map(drop)
                .map_err(|err| write_outcome("DeleteItem", err)),
            // A check is never sent alone (it is not a write to repeat), and if it were, it
            // would be a transaction of one: DynamoDB has no single-item condition check.
            Action::Check(_) => {
                let item = self.transaction_item(write).map_err(Outcome::Fail)?;
                self.client
                    .transact_write_items()
                    .transact_items(item)
                    .send()
                    .await
                    .map(drop)
                    .map_err(transaction_outcome)
            }
        }
    }

    fn transaction_item(&self, write: &Prepared) -> Result<TransactWriteItem, StoreError> {
        let Prepared {
            action,
            condition,
            names,
            values,
            ..
        } = write;
        let builder = TransactWriteItem::builder();
        let builder = match action {
            Action::Put(item) => builder.put(
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(item.clone()))
                    .set_condition_expression(condition.clone())
                    .set_expression_attribute_names(names.clone())
                    .set_expression_attribute_values(values.clone())
                    .build()
                    .map_err(invalid)?,
            ),
            Action::Update { key, expression } => builder.update(
                Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(key.clone()))
                    .update_expression(expression)
                    .set_condition_expression(condition.clone())
                    .set_expression_attribute_names(names.clone())
                    .set_expression_attribute_values(values.clone())
                    .build()
                    .map_err(invalid)?,
            ),
            Action::Delete(key) => builder.delete(
                Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key.clone()))
                    .set_condition_expression(condition.clone())
                    .set_expression_attribute_names(names.clone())
                    .set_expression_attribute_values(values.clone())
                    .build()
                    .map_err(invalid)?,
            ),
            Action::Check(key) => builder.condition_check(
                ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(key.clone()))
                    // A check needs some condition; one that always holds keeps the write
                    // at its index, so reasons still line up with the port's writes.
                    .condition_expression(condition.clone().unwrap_or_else(|| {
                        format!("attribute_exists({PK}) OR attribute_not_exists({PK})")
                    }))
                    .set_expression_attribute_names(names.clone())
                    .set_expression_attribute_values(values.clone())
                    .build()
                    .map_err(invalid)?,
            ),
        };
        Ok(builder.build())
    }

    /// One Query call of a page: up to `limit` items after `start`.
    async fn query_call(
        &self,
        query: &Query,
        key_condition: &KeyCondition,
        limit: usize,
        start: Option<Stored>,
    ) -> Result<(Vec<Stored>, Option<Stored>), StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression(&key_condition.expression)
            .set_expression_attribute_values(Some(key_condition.values.clone()))
            .scan_index_forward(!query.descending)
            .consistent_read(true)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX).max(1))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|err| read_error("Query", err))?;
        Ok((output.items.unwrap_or_default(), output.last_evaluated_key))
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        if !codec::key_can_exist(key) {
            return Ok(None);
        }
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(codec::key(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| read_error("GetItem", err))?;
        let now = epoch_seconds();
        output
            .item
            .filter(|stored| !codec::expired(stored, now))
            .map(codec::from_stored)
            .transpose()
    }

    async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        check_batch_get(keys)?;
        // DynamoDB refuses a key named twice in one request, so each is asked for once
        // and the answers are laid out in the caller's order at the end.
        let mut wanted: Vec<&Key> = keys
            .iter()
            .filter(|key| codec::key_can_exist(key))
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        let mut pending: Vec<Stored> = wanted.into_iter().map(codec::key).collect();
        let mut found: HashMap<Key, Item> = HashMap::with_capacity(pending.len());
        let now = epoch_seconds();
        let mut pauses = RETRY_BACKOFF.build();
        let mut stalls = 0;
        while !pending.is_empty() {
            let asked = pending.len();
            let request = KeysAndAttributes::builder()
                .set_keys(Some(pending))
                .consistent_read(true)
                .build()
                .map_err(invalid)?;
            let output = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|err| read_error("BatchGetItem", err))?;
            let items = output
                .responses
                .and_then(|mut tables| tables.remove(&self.table))
                .unwrap_or_default();
            for stored in items.into_iter().filter(|s| !codec::expired(s, now)) {
                let item = codec::from_stored(stored)?;
                found.insert(item.key.clone(), item);
            }
            // Keys DynamoDB did not get to (throttling, or the 16 MB answer limit) are
            // asked again; backing off only when a round made no progress at all.
            pending = output
                .unprocessed_keys
                .and_then(|mut tables| tables.remove(&self.table))
                .map(|unprocessed| unprocessed.keys)
                .unwrap_or_default();
            if !pending.is_empty() && pending.len() >= asked {
                stalls += 1;
                let Some(pause) = pauses.next() else {
                    return Err(StoreError::Unavailable(format!(
                        "DynamoDB BatchGetItem left {} keys unprocessed {stalls} times",
                        pending.len()
                    )));
                };
                tokio::time::sleep(pause).await;
            }
        }
        Ok(keys.iter().map(|key| found.get(key).cloned()).collect())
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        check_query(query)?;
        let nothing = Page {
            items: vec![],
            more: false,
        };
        if query.pk.is_empty() || query.pk.len() > codec::MAX_PK_BYTES {
            return Ok(nothing);
        }
        let Some(range) = KeyRange::of(query) else {
            return Ok(nothing);
        };
        let key_condition = KeyCondition::new(&query.pk, range.condition());
        // One item past the limit tells whether more match.
        let wanted = query.limit.saturating_add(1);
        let now = epoch_seconds();
        let mut items = Vec::new();
        let mut start = None;
        loop {
            // Two more than needed, for the items equal to an exclusive bound that BETWEEN
            // returns and the exact range drops.
            let limit = (wanted - items.len()).saturating_add(2);
            let (page, last) = self.query_call(query, &key_condition, limit, start).await?;
            for stored in page {
                if items.len() < wanted
                    && codec::sort_key(&stored).is_some_and(|sk| range.contains(sk))
                    && !codec::expired(&stored, now)
                {
                    items.push(codec::from_stored(stored)?);
                }
            }
            // DynamoDB stops at 1 MB or at the limit; its last key is where to go on.
            match last {
                Some(last) if items.len() < wanted => start = Some(last),
                _ => break,
            }
        }
        let more = items.len() > query.limit;
        items.truncate(query.limit);
        Ok(Page { items, more })
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        check_transaction(&writes)?;
        let now = epoch_seconds();
        let prepared: Vec<Prepared> = writes
            .iter()
            .map(|write| Prepared::of(write, now))
            .collect();
        if let [single] = prepared.as_slice()
            && single.repeatable
        {
            return self.with_retries(|| self.write_one(single)).await;
        }
        let items = prepared
            .iter()
            .map(|write| self.transaction_item(write))
            .collect::<Result<Vec<_>, _>>()?;
        self.with_retries(|| async {
            // Each attempt is a new request with a new idempotency token (the SDK fills it
            // in), which is right: a cancelled transaction wrote nothing. The SDK's own
            // retries of one attempt keep the token, so a retry after a lost answer cannot
            // apply the transaction twice.
            self.client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await
                .map(drop)
                .map_err(transaction_outcome)
        })
        .await
    }

    async fn scan(&self, after: Option<&Key>, limit: usize) -> Result<ScanPage, StoreError> {
        check_scan(limit)?;
        let output = self
            .client
            .scan()
            .table_name(&self.table)
            .consistent_read(true)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .set_exclusive_start_key(after.map(codec::key))
            .send()
            .await
            .map_err(|err| read_error("Scan", err))?;
        let now = epoch_seconds();
        let items = output
            .items
            .unwrap_or_default()
            .into_iter()
            .filter(|stored| !codec::expired(stored, now))
            .map(codec::from_stored)
            .collect::<Result<Vec<_>, _>>()?;
        // The table has no index, so the last evaluated key is an item's key.
        let next = output
            .last_evaluated_key
            .map(|last| codec::from_stored(last).map(|item| item.key))
            .transpose()?;
        Ok(ScanPage { items, next })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        match table::describe(&self.client, &self.table).await? {
            Some(_) => Ok(()),
            None => Err(StoreError::Unavailable(format!(
                "DynamoDB table {:?} does not exist",
                self.table
            ))),
        }
    }
}

/// A Query's key condition and its values.
struct KeyCondition {
    expression: String,
    values: HashMap<String, AttributeValue>,
}

impl KeyCondition {
    fn new(pk: &str, sk: SkCondition) -> Self {
        let mut values = HashMap::from([(":pk".to_owned(), AttributeValue::S(pk.to_owned()))]);
        let mut value = |name: &str, text: String| {
            values.insert(name.to_owned(), AttributeValue::S(text));
        };
        let sk_part = match sk {
            SkCondition::All => None,
            SkCondition::BeginsWith(prefix) => {
                value(":p", prefix);
                Some("begins_with(sk, :p)")
            }
            SkCondition::Greater(lower) => {
                value(":lo", lower);
                Some("sk > :lo")
            }
            SkCondition::GreaterOrEqual(lower) => {
                value(":lo", lower);
                Some("sk >= :lo")
            }
            SkCondition::Less(upper) => {
                value(":hi", upper);
                Some("sk < :hi")
            }
            SkCondition::LessOrEqual(upper) => {
                value(":hi", upper);
                Some("sk <= :hi")
            }
            SkCondition::Between(lower, upper) => {
                value(":lo", lower);
                value(":hi", upper);
                Some("sk BETWEEN :lo AND :hi")
            }
        };
        let expression = match sk_part {
            Some(sk_part) => format!("pk = :pk AND {sk_part}"),
            None => "pk = :pk".to_owned(),
        };
        KeyCondition { expression, values }
    }
}

/// A write turned into DynamoDB's terms once, whichever call then carries it.
struct Prepared {
    /// Whether applying the write twice leaves what applying it once does, so that the SDK
    /// may retry it without an idempotency token.
    repeatable: bool,
    action: Action,
    condition: Option<String>,
    names: Option<HashMap<String, String>>,
    values: Option<HashMap<String, AttributeValue>>,
}

enum Action {
    Put(Stored),
    Update { key: Stored, expression: String },
    Delete(Stored),
    Check(Stored),
}

/// A name no attribute is ever stored under (escaped names start with `~` followed by the
/// key names, nothing, or another `~`): removing it changes nothing.
const NEVER_STORED: &str = "~none";

impl Prepared {
    /// The write as DynamoDB takes it, its condition judging expiry at `now` (epoch seconds).
    fn of(write: &Write, now: i64) -> Self {
        let mut placeholders = Placeholders::default();
        let (action, condition) = match write {
            Write::Put { item, condition } => {
                (Action::Put(codec::item(&item.key, &item.attrs)), condition)
            }
            Write::Update {
                key,
                set,
                add,
                condition,
            } => {
                let sets: Vec<String> = set
                    .iter()
                    .map(|(name, value)| {
                        let name = placeholders.name(&attribute_name(name));
                        format!("{name} = {}", placeholders.value(attribute_value(value)))
                    })
                    .collect();
                // ADD counts a missing attribute as 0 and refuses anything but a number.
                let adds: Vec<String> = add
                    .iter()
                    .map(|(name, delta)| {
                        let name = placeholders.name(&attribute_name(name));
                        let delta = placeholders.value(AttributeValue::N(delta.to_string()));
                        format!("{name} {delta}")
                    })
                    .collect();
                let mut clauses = Vec::with_capacity(2);
                if !sets.is_empty() {
                    clauses.push(format!("SET {}", sets.join(", ")));
                }
                if !adds.is_empty() {
                    clauses.push(format!("ADD {}", adds.join(", ")));
                }
                if clauses.is_empty() {
                    // An update expression cannot be empty, yet an update that changes
                    // nothing must still create a missing item, which any UpdateItem does.
                    clauses.push(format!("REMOVE {}", placeholders.name(NEVER_STORED)));
                }
                let action = Action::Update {
                    key: codec::key(key),
                    expression: clauses.join(" "),
                };
                (action, condition)
            }
            Write::Delete { key, condition } => (Action::Delete(codec::key(key)), condition),
            Write::Check { key, condition } => (Action::Check(codec::key(key)), condition),
        };
        let repeatable = *condition == Condition::Always
            && !matches!(write, Write::Update { add, .. } if !add.is_empty())
            && !matches!(write, Write::Check { .. });
        let condition = placeholders.condition(condition, now);
        let (names, values) = placeholders.into_maps();
        Prepared {
            repeatable,
            action,
            condition,
            names,
            values,
        }
    }
}

/// The `#name` and `:value` placeholders of one request's expressions, which keep names
/// and values of any spelling out of the expression syntax.
#[derive(Default)]
struct Placeholders {
    names: HashMap<String, String>,
    by_name: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Placeholders {
    fn name(&mut self, stored: &str) -> String {
        if let Some(placeholder) = self.by_name.get(stored) {
            return placeholder.clone();
        }
        let placeholder = format!("#n{}", self.names.len());
        self.names.insert(placeholder.clone(), stored.to_owned());
        self.by_name.insert(stored.to_owned(), placeholder.clone());
        placeholder
    }

    fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    /// The condition expression, in which an item expired at `now` is missing: it exists
    /// only when not expired, and has no attribute then.
    fn condition(&mut self, condition: &Condition, now: i64) -> Option<String> {
        let expired = |placeholders: &mut Self| {
            let expires_at = placeholders.name(EXPIRES_AT);
            let now = placeholders.value(AttributeValue::N(now.to_string()));
            // False when the item or its expiry is absent, as every comparison with an
            // absent attribute is.
            format!("({expires_at} <= {now})")
        };
        match condition {
            Condition::Always => None,
            Condition::NotExists => {
                Some(format!("attribute_not_exists({PK}) OR {}", expired(self)))
            }
            Condition::Exists => Some(format!("attribute_exists({PK}) AND NOT {}", expired(self))),
            // DynamoDB's `=` compares type and value, lists in order and maps by their
            // entries, and is false for an absent attribute, even against NULL: JSON
            // equality, as the port asks. On a missing item every attribute is absent.
            Condition::AttrEquals(name, value) => {
                let name = self.name(&attribute_name(name));
                let value = self.value(attribute_value(value));
                Some(format!("{name} = {value} AND NOT {}", expired(self)))
            }
            Condition::AttrAbsent(name) => {
                let name = self.name(&attribute_name(name));
                Some(format!("attribute_not_exists({name}) OR {}", expired(self)))
            }
        }
    }

    /// The maps to send; DynamoDB refuses empty ones.
    #[allow(clippy::type_complexity)]
    fn into_maps(
        self,
    ) -> (
        Option<HashMap<String, String>>,
        Option<HashMap<String, AttributeValue>>,
    ) {
        (
            (!self.names.is_empty()).then_some(self.names),
            (!self.values.is_empty()).then_some(self.values),
        )
    }
}

fn invalid(err: impl std::fmt::Display) -> StoreError {
    StoreError::Invalid(err.to_string())
}
