//! Back-off for writers whose conditional writes collided: the DynamoDB adapter retrying a
//! conflicting transaction, a consumer re-planning over a read model another replica
//! changed first.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// How long to wait before retry `attempt` (1, 2, ...): "full jitter" exponential back-off,
/// which spreads writers that collided so that they do not collide again.
pub fn backoff(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let ceiling = base
        .saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(cap);
    let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(random() % nanos.max(1))
}

/// A random number from the standard library's per-process hash keys, which is all the
/// randomness jitter needs.
fn random() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.subsec_nanos().into()),
    );
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_the_cap_and_is_jittered() {
        let base = Duration::from_millis(10);
        let cap = Duration::from_millis(200);
        for attempt in 1..20 {
            let wait = backoff(attempt, base, cap);
            assert!(wait <= cap);
            assert!(wait <= base * 2u32.pow(attempt.min(10) - 1));
        }
        let waits: Vec<Duration> = (0..20).map(|_| backoff(5, base, cap)).collect();
        assert!(waits.iter().any(|wait| *wait != waits[0]), "jittered");
    }
}
