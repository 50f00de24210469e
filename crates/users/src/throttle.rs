//! Login throttling. Failed attempts are counted per (e-mail, client address) and per
//! client address. Past either limit, attempts from that address are refused with 429 for
//! the rest of the window; the same e-mail from another address is not affected, so a
//! successful login is never throttled by other people's failures.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use moka::sync::Cache;

/// How long failures are remembered.
const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Failures for one e-mail from one address before that pair is throttled.
const PER_ACCOUNT_AND_ADDRESS: u32 = 5;
/// Failures from one address, over all e-mails, before that address is throttled.
const PER_ADDRESS: u32 = 50;

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    since: Instant,
}

/// Counts failed logins.
pub struct LoginThrottle {
    by_account_and_address: Cache<(String, IpAddr), Failures>,
    by_address: Cache<IpAddr, Failures>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle {
            by_account_and_address: Cache::builder()
                .time_to_live(WINDOW)
                .max_capacity(1_000_000)
                .build(),
            by_address: Cache::builder()
                .time_to_live(WINDOW)
                .max_capacity(1_000_000)
                .build(),
        }
    }
}

impl LoginThrottle {
    /// `Some(seconds to wait)` when attempts for `email` from `address` are refused now.
    pub fn refused_for(&self, email: &str, address: IpAddr) -> Option<u64> {
        let pair = self
            .by_account_and_address
            .get(&(email.to_owned(), address))
            .filter(|f| f.count >= PER_ACCOUNT_AND_ADDRESS);
        let whole = self
            .by_address
            .get(&address)
            .filter(|f| f.count >= PER_ADDRESS);
        [pair, whole]
            .into_iter()
            .flatten()
            .map(|f| WINDOW.saturating_sub(f.since.elapsed()).as_secs().max(1))
            .max()
    }

    /// Counts a failed attempt.
    pub fn failed(&self, email: &str, address: IpAddr) {
        let bump = |previous: Option<Failures>| match previous {
            Some(f) => Failures {
                count: f.count + 1,
                since: f.since,
            },
            None => Failures {
                count: 1,
                since: Instant::now(),
            },
        };
        let key = (email.to_owned(), address);
        self.by_account_and_address
            .insert(key.clone(), bump(self.by_account_and_address.get(&key)));
        self.by_address
            .insert(address, bump(self.by_address.get(&address)));
    }

    /// Forgets the failures of this e-mail from this address after a successful login.
    pub fn succeeded(&self, email: &str, address: IpAddr) {
        self.by_account_and_address
            .invalidate(&(email.to_owned(), address));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttles_the_pair_but_not_other_addresses() {
        let throttle = LoginThrottle::default();
        let attacker: IpAddr = "10.0.0.1".parse().unwrap();
        let owner: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..PER_ACCOUNT_AND_ADDRESS {
            assert_eq!(throttle.refused_for("a@b.c", attacker), None);
            throttle.failed("a@b.c", attacker);
        }
        assert!(
            throttle
                .refused_for("a@b.c", attacker)
                .is_some_and(|s| s > 0 && s <= 900)
        );
        assert_eq!(throttle.refused_for("a@b.c", owner), None);
        assert_eq!(throttle.refused_for("x@b.c", attacker), None);
    }

    #[test]
    fn throttles_an_address_that_fails_on_many_accounts() {
        let throttle = LoginThrottle::default();
        let address: IpAddr = "10.0.0.3".parse().unwrap();
        for i in 0..PER_ADDRESS {
            throttle.failed(&format!("user{i}@b.c"), address);
        }
        assert!(throttle.refused_for("fresh@b.c", address).is_some());
    }

    #[test]
    fn success_clears_the_pair() {
        let throttle = LoginThrottle::default();
        let address: IpAddr = "10.0.0.4".parse().unwrap();
        for _ in 0..PER_ACCOUNT_AND_ADDRESS - 1 {
            throttle.failed("a@b.c", address);
        }
        throttle.succeeded("a@b.c", address);
        throttle.failed("a@b.c", address);
        assert_eq!(throttle.refused_for("a@b.c", address), None);
    }
}
