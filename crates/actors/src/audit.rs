//! The actors service's part of `moviebook verify` (see `platform::audit`): it reads the
//! actors it owns, with their photos; it derives nothing itself.

use pictures::audited_picture;
use platform::audit::{self, ActorFacts, Finding, Records, Stored};
use store::Record;

use crate::record::ActorRecord;

/// Reads the actors into `records`; a record that does not decode is a finding.
pub fn read_records(stored: &Stored, records: &mut Records) -> Vec<Finding> {
    let mut unreadable = Vec::new();
    for (key, attrs) in stored.under("actor#").filter(|(key, _)| key.sk == "actor") {
        match ActorRecord::from_attrs(attrs) {
            Ok(actor) => {
                let photo_key = ActorRecord::photo_key(&actor.id);
                let facts = ActorFacts {
                    name: actor.name,
                    thumbnail_url: actor.thumbnail_url,
                    created_at: actor.created_at,
                    photo: audited_picture(stored, "actors", &photo_key, &mut unreadable),
                };
                records.actors.insert(actor.id, facts);
            }
            Err(error) => unreadable.push(audit::unreadable("actors", key, error)),
        }
    }
    unreadable
}
