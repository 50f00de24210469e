//! The actors service's part of `moviebook verify` (see `platform::audit`): it reads the
//! actors it owns; it derives nothing itself.

use platform::audit::{self, ActorFacts, Finding, Records, Stored};
use store::Record;

use crate::record::ActorRecord;

/// Reads the actors into `records`; a record that does not decode is a finding.
pub fn read_records(stored: &Stored, records: &mut Records) -> Vec<Finding> {
    let mut unreadable = Vec::new();
    for (key, attrs) in stored.under("actor#").filter(|(key, _)| key.sk == "actor") {
        match ActorRecord::from_attrs(attrs) {
            Ok(actor) => {
                let facts = ActorFacts {
                    name: actor.name,
                    thumbnail_url: actor.thumbnail_url,
                    created_at: actor.created_at,
                    photo: None,
                };
                records.actors.insert(actor.id, facts);
            }
            Err(error) => unreadable.push(audit::unreadable("actors", key, error)),
        }
    }
    unreadable
}
