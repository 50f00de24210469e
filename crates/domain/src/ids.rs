//! Server-generated identifiers: UUID v7, so that ids sort by creation time.

use uuid::Uuid;

/// A new id, later than every id this process generated before.
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}

/// Parses an id from a path segment or a field; `None` when it is not a UUID.
pub fn parse_id(text: &str) -> Option<Uuid> {
    Uuid::parse_str(text).ok()
}
