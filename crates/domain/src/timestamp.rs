//! Time as the API shows it (RFC 3339 UTC, whole seconds) and as sort keys need it
//! (fixed-width microseconds, so that text order is time order).

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Microseconds since the Unix epoch: the one way timestamps are stored.
pub type Micros = i64;

/// The current time in microseconds.
pub fn now_micros() -> Micros {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000) as Micros
}

/// RFC 3339 UTC text with whole seconds, e.g. `2026-11-25T17:00:00Z`.
pub fn to_rfc3339(micros: Micros) -> String {
    let seconds = micros.div_euclid(1_000_000);
    OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
}

/// A sort-key fragment whose text order is time order (for non-negative times).
pub fn sort_key(micros: Micros) -> String {
    format!("{:020}", micros.max(0))
}

/// A sort-key fragment whose text order is reverse time order: newest first.
pub fn reverse_sort_key(micros: Micros) -> String {
    format!("{:020}", i64::MAX - micros.max(0))
}

/// The current calendar year (UTC), for rules such as "release year at most ten years ahead".
pub fn current_year() -> i32 {
    OffsetDateTime::now_utc().year()
}

/// Today's date (UTC).
pub fn today() -> time::Date {
    OffsetDateTime::now_utc().date()
}
