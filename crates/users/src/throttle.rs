//! Login throttling. Attempts are counted per (e-mail, client address) and per client
//! address, in the store, so every users replica shares one count. An attempt takes its
//! place in both counts before the password is looked at, atomically (a transaction
//! conditional on the counts it read), so no burst of concurrent attempts can get more than
//! the limit through to a password check. Past either limit, attempts from that address are
//! refused with 429 until the window that began with the first counted attempt ends; the
//! same e-mail from another address is not affected, so the owner is never throttled by
//! other people's failures. A successful login gives its places back. A count expires in the
//! store when its window ends (`store::EXPIRES_AT`), so counts of addresses that never come
//! back do not pile up.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use domain::timestamp::Micros;
use serde::{Deserialize, Serialize};
use store::{Condition, Key, Record, Store, StoreError, Write};

use crate::UsersError;

/// How long a count lasts, from its first attempt.
const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Attempts for one e-mail from one address within a window.
const PER_ACCOUNT_AND_ADDRESS: i64 = 5;
/// Attempts from one address, over all e-mails, within a window.
const PER_ADDRESS: i64 = 50;
/// How often a reservation whose reads went stale (another attempt took a place meanwhile)
/// is made again; each round lets at least one competing attempt through, so a burst settles
/// in about as many rounds as there are places left.
const ROUNDS: usize = 64;

/// One count of attempts: `throttle#{address}` / `email#{e-mail}` or `address`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct AttemptsRecord {
    count: i64,
    /// When the window began: the first attempt counted in it.
    since: Micros,
    /// Grows by one with each write, which is conditional on the revision it read.
    revision: i64,
    /// When the window ends, in whole epoch seconds rounded up: the store forgets the count
    /// then (`store::EXPIRES_AT`), by which time it no longer counts anyway. Counts written
    /// before counts expired have none (read as 0, never used); their next write sets it.
    #[serde(default)]
    expires_at: i64,
}

impl Record for AttemptsRecord {
    const KIND: &'static str = "login attempts";
}

/// The attribute a count write's condition names.
const REVISION: &str = "revision";

fn window_micros() -> Micros {
    Micros::try_from(WINDOW.as_micros()).unwrap_or(Micros::MAX)
}

impl AttemptsRecord {
    /// The count as it stands at `now`: nothing once its window is over.
    fn live(stored: Option<&Self>, now: Micros) -> Option<&Self> {
        stored.filter(|record| now - record.since < window_micros())
    }

    /// The second the window beginning at `since` ends in, rounded up, so that the store never
    /// forgets a count before its window is over.
    fn window_end_secs(since: Micros) -> i64 {
        (since.saturating_add(window_micros()) + 999_999).div_euclid(1_000_000)
    }

    /// Whole seconds until the window ends, rounded up (at least 1).
    fn seconds_left(&self, now: Micros) -> u64 {
        let left = self.since + window_micros() - now;
        u64::try_from((left + 999_999).div_euclid(1_000_000))
            .unwrap_or(1)
            .max(1)
    }
}

fn pair_key(email: &str, address: IpAddr) -> Key {
    Key::new(format!("throttle#{address}"), format!("email#{email}"))
}

fn address_key(address: IpAddr) -> Key {
    Key::new(format!("throttle#{address}"), "address")
}

/// The write moving a count from `stored` by `delta` at `now`, conditional on `stored`.
fn count_write(
    key: Key,
    stored: Option<&AttemptsRecord>,
    delta: i64,
    now: Micros,
) -> Result<Write, StoreError> {
    let live = AttemptsRecord::live(stored, now);
    let since = live.map_or(now, |r| r.since);
    let record = AttemptsRecord {
        count: (live.map_or(0, |r| r.count) + delta).max(0),
        since,
        revision: stored.map_or(0, |r| r.revision) + 1,
        expires_at: AttemptsRecord::window_end_secs(since),
    };
    let condition = match stored {
        None => Condition::NotExists,
        Some(stored) => store::attr_equals(REVISION, &stored.revision)?,
    };
    Ok(Write::Put {
        item: record.to_item(key)?,
        condition,
    })
}

/// Counts login attempts in the store.
pub struct LoginThrottle {
    store: Arc<dyn Store>,
}

impl LoginThrottle {
    pub fn new(store: Arc<dyn Store>) -> Self {
        LoginThrottle { store }
    }

    /// Takes a place for one attempt of `email` from `address`, or answers
    /// [`UsersError::Throttled`] with the seconds until the fuller window ends.
    pub async fn reserve(&self, email: &str, address: IpAddr) -> Result<(), UsersError> {
        let keys = [pair_key(email, address), address_key(address)];
        for _ in 0..ROUNDS {
            let (pair, whole) = self.read(&keys).await?;
            let now = domain::timestamp::now_micros();
            let full = [
                (
                    AttemptsRecord::live(pair.as_ref(), now),
                    PER_ACCOUNT_AND_ADDRESS,
                ),
                (AttemptsRecord::live(whole.as_ref(), now), PER_ADDRESS),
            ]
            .into_iter()
            .filter_map(|(live, limit)| live.filter(|r| r.count >= limit))
            .map(|r| r.seconds_left(now))
            .max();
            if let Some(retry_after_secs) = full {
                return Err(UsersError::Throttled { retry_after_secs });
            }
            let writes = vec![
                count_write(keys[0].clone(), pair.as_ref(), 1, now)?,
                count_write(keys[1].clone(), whole.as_ref(), 1, now)?,
            ];
            match self.store.transact(writes).await {
                Ok(()) => return Ok(()),
                Err(StoreError::ConditionFailed { .. }) => continue,
                Err(other) => return Err(other.into()),
            }
        }
        Err(StoreError::Unavailable("login attempts kept changing; try again".into()).into())
    }

    /// The attempt logged in: the e-mail's count from this address starts again, and the
    /// address gets its place back.
    pub async fn succeeded(&self, email: &str, address: IpAddr) -> Result<(), UsersError> {
        self.release(email, address, true).await
    }

    /// The attempt's password was never checked (the server was too busy): both counts get
    /// its place back.
    pub async fn give_back(&self, email: &str, address: IpAddr) -> Result<(), UsersError> {
        self.release(email, address, false).await
    }

    async fn release(
        &self,
        email: &str,
        address: IpAddr,
        forget_pair: bool,
    ) -> Result<(), UsersError> {
        let keys = [pair_key(email, address), address_key(address)];
        for _ in 0..ROUNDS {
            let (pair, whole) = self.read(&keys).await?;
            let now = domain::timestamp::now_micros();
            let pair_write = if forget_pair {
                Write::delete(keys[0].clone())
            } else {
                count_write(keys[0].clone(), pair.as_ref(), -1, now)?
            };
            let writes = vec![
                pair_write,
                count_write(keys[1].clone(), whole.as_ref(), -1, now)?,
            ];
            match self.store.transact(writes).await {
                Ok(()) => return Ok(()),
                Err(StoreError::ConditionFailed { .. }) => continue,
                Err(other) => return Err(other.into()),
            }
        }
        Err(StoreError::Unavailable("login attempts kept changing; try again".into()).into())
    }

    async fn read(
        &self,
        keys: &[Key; 2],
    ) -> Result<(Option<AttemptsRecord>, Option<AttemptsRecord>), StoreError> {
        let items = self.store.batch_get(keys).await?;
        let decode = |i: usize| {
            items
                .get(i)
                .and_then(Option::as_ref)
                .map(AttemptsRecord::from_item)
                .transpose()
        };
        Ok((decode(0)?, decode(1)?))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn record(count: i64, since: Micros) -> AttemptsRecord {
        AttemptsRecord {
            count,
            since,
            revision: 3,
            expires_at: AttemptsRecord::window_end_secs(since),
        }
    }

    #[test]
    fn a_count_keeps_its_attribute_names() {
        let attrs = record(2, 7).to_attrs().unwrap();
        assert_eq!(attrs.get(REVISION), Some(&json!(3)));
        assert_eq!(attrs.get(store::EXPIRES_AT), Some(&json!(901)));
        assert_eq!(attrs.len(), 4);
        assert_eq!(attrs["count"], json!(2));
        assert_eq!(attrs["since"], json!(7));
    }

    #[test]
    fn a_count_expires_in_the_store_when_its_window_ends_not_before() {
        let start = 1_000_000_000_000_000;
        // A first count's window starts now.
        let first_count_expires = |now: Micros| {
            let Write::Put { item, .. } =
                count_write(address_key([10, 0, 0, 1].into()), None, 1, now).unwrap()
            else {
                panic!("a count is put whole");
            };
            item.attrs[store::EXPIRES_AT].as_i64().unwrap()
        };
        // On a whole second the window ends on it; within a second, at the next one.
        assert_eq!(first_count_expires(start), 1_000_000_000 + 900);
        assert_eq!(first_count_expires(start + 1), 1_000_000_000 + 901);
        // A count carried on keeps its window's end.
        let stored = record(2, start);
        let Write::Put { item, .. } = count_write(
            address_key([10, 0, 0, 1].into()),
            Some(&stored),
            1,
            start + 60_000_000,
        )
        .unwrap() else {
            panic!("a count is put whole");
        };
        assert_eq!(item.attrs[store::EXPIRES_AT], json!(1_000_000_000 + 900));
    }

    #[test]
    fn a_count_lasts_its_window_from_the_first_attempt() {
        let start = 1_000_000_000;
        let stored = record(5, start);
        let end = start + window_micros();
        assert!(AttemptsRecord::live(Some(&stored), end - 1).is_some());
        assert!(AttemptsRecord::live(Some(&stored), end).is_none());
        assert_eq!(stored.seconds_left(start), 900);
        assert_eq!(stored.seconds_left(start + 1), 900);
        assert_eq!(stored.seconds_left(start + 600_000_000), 300);
        assert_eq!(stored.seconds_left(end - 1), 1);
    }

    #[test]
    fn a_count_write_starts_a_new_window_once_the_old_one_is_over() {
        let start = 1_000_000_000;
        let stored = record(5, start);
        let later = start + window_micros() + 1;
        let Write::Put { item, condition } =
            count_write(address_key([10, 0, 0, 1].into()), Some(&stored), 1, later).unwrap()
        else {
            panic!("a count is put whole");
        };
        assert_eq!(condition, Condition::AttrEquals(REVISION.into(), json!(3)));
        let written = AttemptsRecord::from_item(&item).unwrap();
        assert_eq!(
            (written.count, written.since, written.revision),
            (1, later, 4)
        );
        let Write::Put { condition, .. } =
            count_write(address_key([10, 0, 0, 1].into()), None, 1, later).unwrap()
        else {
            panic!("a count is put whole");
        };
        assert_eq!(condition, Condition::NotExists);
    }
}
