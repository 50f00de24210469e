//! The users service's part of `moviebook verify` (see `platform::audit`): it reads the
//! users it owns and audits the e-mail claims that make addresses unique and find a user
//! at login: one per user, naming the user.

use std::collections::BTreeMap;

use platform::audit::{self, Finding, Records, Stored, UserFacts};
use store::{Record, StoreError};

use crate::record::{EmailRecord, UserRecord};

/// Reads the users into `records`; a record that does not decode is a finding.
pub fn read_records(stored: &Stored, records: &mut Records) -> Vec<Finding> {
    let mut unreadable = Vec::new();
    for (key, attrs) in stored.under("user#").filter(|(key, _)| key.sk == "user") {
        match UserRecord::from_attrs(attrs) {
            Ok(user) => {
                let facts = UserFacts {
                    name: user.name,
                    email: user.email,
                };
                records.users.insert(user.id, facts);
            }
            Err(error) => unreadable.push(audit::unreadable("users", key, error)),
        }
    }
    unreadable
}

/// Every difference in the e-mail claims.
pub fn check(records: &Records, stored: &Stored) -> Result<Vec<Finding>, StoreError> {
    let mut expected = BTreeMap::new();
    for (user_id, user) in &records.users {
        let claim = EmailRecord { user_id: *user_id };
        expected.insert(EmailRecord::key(&user.email), claim.to_attrs()?);
    }
    Ok(audit::compare_entries(
        "e-mail claims",
        &expected,
        stored.under("email#"),
    ))
}
