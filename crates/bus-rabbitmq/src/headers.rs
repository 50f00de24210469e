//! The message properties and headers the adapter writes and reads. Events are persistent
//! JSON messages whose message id is the event id; the headers carry what the retry and
//! dead-letter machinery needs, so that the body stays the exact envelope the publisher sent.

use std::time::Duration;

use domain::events::{Envelope, TraceContext};
use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};

/// How many times handlers have failed this message (absent on first delivery).
pub const ATTEMPT: &str = "x-moviebook-attempt";
/// Why the message was dead-lettered.
pub const REASON: &str = "x-moviebook-reason";
/// The consumer that dead-lettered it.
pub const CONSUMER: &str = "x-moviebook-consumer";
/// The routing key the event was first published with (its event type).
pub const ROUTING_KEY: &str = "x-moviebook-routing-key";
/// When it was dead-lettered, in microseconds since the Unix epoch.
pub const DEAD_LETTERED_AT: &str = "x-moviebook-dead-lettered-at";

/// Headers RabbitMQ adds when it dead-letters a message (here: when a retry queue hands a
/// message back). The adapter's own headers say the same, so they are dropped on republish
/// rather than grow with every retry.
const BROKER_DEATH_HEADERS: [&str; 7] = [
    "x-death",
    "x-first-death-exchange",
    "x-first-death-queue",
    "x-first-death-reason",
    "x-last-death-exchange",
    "x-last-death-queue",
    "x-last-death-reason",
];

/// Reasons are free text from handlers; they are cut so a header never dwarfs the event.
const MAX_REASON: usize = 2000;

pub const PERSISTENT: u8 = 2;
pub const JSON: &str = "application/json";

/// The properties of an event as the publisher sends it.
pub fn event_properties(envelope: &Envelope) -> BasicProperties {
    let seconds = u64::try_from(envelope.occurred_at.div_euclid(1_000_000)).unwrap_or(0);
    BasicProperties::default()
        .with_delivery_mode(PERSISTENT)
        .with_content_type(ShortString::from(JSON))
        .with_message_id(ShortString::from(envelope.id.to_string()))
        .with_type(ShortString::from(envelope.event.event_type().as_str()))
        .with_timestamp(seconds)
        .with_app_id(ShortString::from("moviebook"))
}

/// A copy of a delivered message's properties with changed headers, for republishing it to a
/// retry or dead-letter queue: persistent whatever the original said.
pub fn republished(properties: &BasicProperties, headers: FieldTable) -> BasicProperties {
    properties
        .clone()
        .with_delivery_mode(PERSISTENT)
        .with_headers(headers)
}

/// The message's headers without the broker's dead-lettering records.
pub fn own_headers(properties: &BasicProperties) -> FieldTable {
    let mut table = FieldTable::default();
    if let Some(headers) = properties.headers() {
        for (key, value) in headers.inner() {
            if !BROKER_DEATH_HEADERS.contains(&key.as_str()) {
                table.insert(key.clone(), value.clone());
            }
        }
    }
    table
}

/// Removes a header (FieldTable has no remove of its own).
pub fn without(table: &FieldTable, keys: &[&str]) -> FieldTable {
    let mut kept = FieldTable::default();
    for (key, value) in table.inner() {
        if !keys.contains(&key.as_str()) {
            kept.insert(key.clone(), value.clone());
        }
    }
    kept
}

pub fn set_text(table: &mut FieldTable, key: &str, value: &str) {
    table.insert(
        ShortString::from(key),
        AMQPValue::LongString(LongString::from(value.as_bytes().to_vec())),
    );
}

pub fn set_int(table: &mut FieldTable, key: &str, value: i64) {
    table.insert(ShortString::from(key), AMQPValue::LongLongInt(value));
}

pub fn get<'a>(properties: &'a BasicProperties, key: &str) -> Option<&'a AMQPValue> {
    properties.headers().as_ref()?.inner().get(key)
}

pub fn text(value: &AMQPValue) -> Option<String> {
    match value {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        _ => None,
    }
}

pub fn int(value: &AMQPValue) -> Option<i64> {
    match *value {
        AMQPValue::ShortShortInt(v) => Some(v.into()),
        AMQPValue::ShortShortUInt(v) => Some(v.into()),
        AMQPValue::ShortInt(v) => Some(v.into()),
        AMQPValue::ShortUInt(v) => Some(v.into()),
        AMQPValue::LongInt(v) => Some(v.into()),
        AMQPValue::LongUInt(v) => Some(v.into()),
        AMQPValue::LongLongInt(v) => Some(v),
        AMQPValue::Timestamp(v) => i64::try_from(v).ok(),
        _ => None,
    }
}

/// The W3C trace context of the broker's span of an event (when traces are exported):
/// headers, so that any AMQP consumer can continue the trace, kept through retries and dead
/// letters like the adapter's own headers.
pub const TRACEPARENT: &str = "traceparent";
pub const TRACESTATE: &str = "tracestate";

/// The trace context a publisher put on a message.
pub fn trace(properties: &BasicProperties) -> Option<TraceContext> {
    let traceparent = get(properties, TRACEPARENT).and_then(text)?;
    Some(TraceContext {
        traceparent,
        tracestate: get(properties, TRACESTATE).and_then(text),
    })
}

/// The headers that carry `trace`.
pub fn trace_headers(trace: &TraceContext) -> FieldTable {
    let mut table = FieldTable::default();
    set_text(&mut table, TRACEPARENT, &trace.traceparent);
    if let Some(state) = &trace.tracestate {
        set_text(&mut table, TRACESTATE, state);
    }
    table
}

/// How many times handlers have already failed this message.
pub fn attempts(properties: &BasicProperties) -> u32 {
    get(properties, ATTEMPT)
        .and_then(int)
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(0)
}

/// Why RabbitMQ itself dead-lettered a message (for example `delivery_limit`), from the
/// first `x-death` record.
pub fn broker_death_reason(properties: &BasicProperties) -> Option<String> {
    if let Some(reason) = get(properties, "x-first-death-reason").and_then(text) {
        return Some(reason);
    }
    match get(properties, "x-death")? {
        AMQPValue::FieldArray(deaths) => deaths.as_slice().iter().find_map(|death| match death {
            AMQPValue::FieldTable(t) => t.inner().get("reason").and_then(text),
            _ => None,
        }),
        _ => None,
    }
}

pub fn truncate_reason(reason: &str) -> String {
    if reason.len() <= MAX_REASON {
        return reason.to_owned();
    }
    let mut end = MAX_REASON;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &reason[..end])
}

/// Queue arguments: RabbitMQ wants strings as long strings and numbers as integers.
pub fn queue_args(entries: &[(&str, QueueArg<'_>)]) -> FieldTable {
    let mut table = FieldTable::default();
    for (key, value) in entries {
        let value = match value {
            QueueArg::Text(s) => AMQPValue::LongString(LongString::from(s.as_bytes().to_vec())),
            QueueArg::Int(n) => AMQPValue::LongLongInt(*n),
            QueueArg::Bool(b) => AMQPValue::Boolean(*b),
        };
        table.insert(ShortString::from(*key), value);
    }
    table
}

pub enum QueueArg<'a> {
    Text(&'a str),
    Int(i64),
    Bool(bool),
}

pub fn millis(delay: Duration) -> i64 {
    i64::try_from(delay.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trace_context_travels_in_headers_and_through_a_republish() {
        let sent = TraceContext {
            traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
            tracestate: Some("vendor=1".into()),
        };
        let properties = BasicProperties::default().with_headers(trace_headers(&sent));
        assert_eq!(trace(&properties), Some(sent.clone()));
        // A retry or a dead letter keeps it with the adapter's own headers.
        let mut kept = own_headers(&properties);
        set_int(&mut kept, ATTEMPT, 1);
        assert_eq!(trace(&republished(&properties, kept)), Some(sent));
        assert_eq!(trace(&BasicProperties::default()), None);
    }

    #[test]
    fn reasons_are_cut_on_a_character_boundary() {
        let long = "é".repeat(MAX_REASON);
        let cut = truncate_reason(&long);
        assert!(cut.len() <= MAX_REASON + '…'.len_utf8());
        assert!(cut.ends_with('…'));
        assert_eq!(truncate_reason("short"), "short");
    }

    #[test]
    fn republishing_drops_the_brokers_death_records_but_keeps_our_headers() {
        let mut headers = FieldTable::default();
        set_int(&mut headers, ATTEMPT, 2);
        set_text(&mut headers, "x-first-death-reason", "expired");
        headers.insert("x-death".into(), AMQPValue::FieldArray(Default::default()));
        let properties = BasicProperties::default().with_headers(headers);
        assert_eq!(broker_death_reason(&properties).as_deref(), Some("expired"));
        assert_eq!(attempts(&properties), 2);
        let own = own_headers(&properties);
        assert!(own.contains_key(ATTEMPT));
        assert!(!own.contains_key("x-death"));
        assert!(!own.contains_key("x-first-death-reason"));
        assert!(!without(&own, &[ATTEMPT]).contains_key(ATTEMPT));
    }
}
