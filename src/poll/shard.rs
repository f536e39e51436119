//! Sharding: which streams this replica watches. Each stream belongs to the shard that scores
//! highest for its key (rendezvous hashing: SHA-256 of the key and the shard number), so all
//! shards together watch every stream exactly once, and changing `sharding.total` from N to
//! N+1 moves only about 1/(N+1) of the streams. No coordination: every replica computes the
//! same owner from the key alone.
//!
//! The key is the stream's ARN, built from the target's account (`GetCallerIdentity`), the
//! region and the name before any `DescribeDeliveryStream` (Firehose ARNs are
//! `arn:PARTITION:firehose:REGION:ACCOUNT:deliverystream/NAME`): a replica never describes
//! another shard's streams, a stream whose describe fails (after a restart) still lands on its
//! own shard, and `orders-to-s3` of two accounts are two keys.

use sha2::{Digest, Sha256};

use crate::config::ShardingSettings;

/// The shard (0-based, below `total`) that owns `key` (a stream's ARN).
pub fn owner(key: &str, total: u32) -> u32 {
    (0..total.max(1))
        .max_by_key(|shard| {
            let mut h = Sha256::new();
            h.update(key.as_bytes());
            h.update(shard.to_be_bytes());
            let d = h.finalize();
            u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
        })
        .unwrap_or(0)
}

/// Whether this replica watches the stream keyed `key`.
pub fn owns(s: &ShardingSettings, key: &str) -> bool {
    s.total <= 1 || owner(key, s.total) == s.index
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn arns(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("arn:aws:firehose:us-east-1:111122223333:deliverystream/s-{i}"))
            .collect()
    }

    #[test]
    fn shards_split_the_streams_into_disjoint_sets_that_cover_them_all() {
        let all = arns(100);
        let shard = |index| -> BTreeSet<&String> {
            all.iter()
                .filter(|a| owns(&ShardingSettings { total: 2, index }, a))
                .collect()
        };
        let (a, b) = (shard(0), shard(1));
        assert!(a.is_disjoint(&b));
        assert_eq!(a.len() + b.len(), 100);
        // Roughly even.
        assert!(a.len() > 30 && b.len() > 30, "{} / {}", a.len(), b.len());
        // One shard (the default) watches everything.
        assert!(all
            .iter()
            .all(|x| owns(&ShardingSettings { total: 1, index: 0 }, x)));
    }

    #[test]
    fn a_new_shard_moves_few_streams() {
        let all = arns(3000);
        let moved = all.iter().filter(|a| owner(a, 3) != owner(a, 4)).count();
        // Rendezvous: about a quarter move (to the new shard), never between old shards.
        assert!(moved > 600 && moved < 900, "{moved} of 3000 moved");
        assert!(all
            .iter()
            .filter(|a| owner(a, 3) != owner(a, 4))
            .all(|a| owner(a, 4) == 3));
    }
}
