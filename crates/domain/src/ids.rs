//! Server-generated identifiers: UUID v7, so that ids sort by creation time, and the shard an
//! id falls in, for the lists and the outbox that spread over several partitions.

use uuid::Uuid;

/// A new id, later than every id this process generated before.
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}

/// Parses an id from a path segment or a field; `None` when it is not a UUID.
pub fn parse_id(text: &str) -> Option<Uuid> {
    Uuid::parse_str(text).ok()
}

/// The shard (`0..shards`) that `id` belongs to among `shards` partitions; zero shards count
/// as one. A v7 id's last four bytes are random (the uuid crate keeps its counter in the
/// bytes before them), so ids spread evenly. For a shard count that divides 256, such as the
/// four in use, this is the id's last byte modulo the count, the rule stored data was
/// sharded by.
pub fn shard_of(id: &Uuid, shards: u32) -> u32 {
    let bytes = id.as_bytes();
    let random = u32::from_be_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
    random % shards.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shard_is_in_range() {
        for shards in [0, 1, 3, 4, 7, 256, 1000] {
            for _ in 0..200 {
                assert!(shard_of(&new_id(), shards) < shards.max(1));
            }
        }
    }

    #[test]
    fn ids_spread_evenly_over_the_shards() {
        for shards in [4, 7, 1000] {
            let ids = 1000 * shards;
            let mut counts = vec![0u32; shards as usize];
            for _ in 0..ids {
                counts[shard_of(&new_id(), shards) as usize] += 1;
            }
            // 1000 expected per shard; six standard deviations (~190) on either side.
            assert!(
                counts.iter().all(|count| (800..1200).contains(count)),
                "{shards} shards: {counts:?}"
            );
        }
    }

    #[test]
    fn a_count_that_divides_256_keeps_the_last_byte_rule() {
        for _ in 0..1000 {
            let id = new_id();
            let last = u32::from(id.as_bytes()[15]);
            assert_eq!(shard_of(&id, 4), last % 4);
            assert_eq!(shard_of(&id, 256), last);
        }
    }
}
