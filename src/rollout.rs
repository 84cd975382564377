//! Canary rollouts (issue 20): which of an environment's two versions, the stable one or the
//! canary, a caller gets. The answer is a sticky function of the prompt, the rollout and a key
//! the caller chooses (a user id, a tenant, a session): a key keeps its version while the canary's
//! share grows, and every implementation (this module, which the Rust runtime and
//! `promptctl serve` call, and the TypeScript registry that `codegen --lang typescript` writes)
//! computes the same answer. The specification, which docs/runtime.md ("Canary assignment")
//! states too and `tests/conformance/rollout-vectors.json` pins with test vectors:
//!
//! - The rollout id of a rollout from stable version `s` to canary version `c` is the text
//!   `"{s}:{c}"`, both numbers in decimal (`rollout_id(3, 4)` is `"3:4"`). A new rollout (another
//!   canary, or another stable version) is a new id, and so a new draw of keys.
//! - The bucket of a key is the first 4 bytes, read as a big-endian unsigned 32-bit integer, of
//!   SHA-256 over the UTF-8 bytes of the prompt's name, a 0x00 byte, the rollout id, a 0x00 byte
//!   and the key; then modulo 10000: a value in 0..=9999. (Neither a prompt name nor a rollout id
//!   holds a 0x00 byte, so no two inputs hash the same bytes; the key, last, may be anything,
//!   including empty. The modulo's bias is below 10⁻⁵ of a share.)
//! - A canary's share is in basis points, 0..=10000 (percent × 100): a key is in the canary if and
//!   only if its bucket is less than the share. 0 serves nobody the canary, 10000 everybody, and
//!   raising the share never moves a key out of the canary.
//! - A share given in percent is accepted from 0 to 100 with at most two decimals (10, 12.5,
//!   0.25), see `percent_to_basis_points`.
//!
//! The functions run per request: `bucket` feeds the hasher the pieces (no concatenated copy, no
//! allocation) and `in_canary` skips the hash when the share is 0 or everybody.

#![warn(missing_docs)]

use sha2::{Digest, Sha256};

/// The number of buckets, and the share (in basis points) that serves everybody the canary.
pub const BUCKETS: u32 = 10_000;

/// The id of the rollout from version `stable` to version `canary`: `"3:4"`.
pub fn rollout_id(stable: u32, canary: u32) -> String {
    format!("{stable}:{canary}")
}

/// The bucket (0..=9999) of `key` in the rollout `rollout_id` of `prompt`: the first 4 bytes,
/// big-endian, of SHA-256(prompt ‖ 0x00 ‖ rollout_id ‖ 0x00 ‖ key), modulo 10000.
pub fn bucket(prompt: &str, rollout_id: &str, key: &str) -> u32 {
    let mut hasher = Sha256::new();
    hasher.update(prompt.as_bytes());
    hasher.update([0u8]);
    hasher.update(rollout_id.as_bytes());
    hasher.update([0u8]);
    hasher.update(key.as_bytes());
    let digest = hasher.finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % BUCKETS
}

/// Whether `key` gets the canary of the rollout `rollout_id` of `prompt` when the canary serves
/// `basis_points` (0..=10000; more counts as 10000) of the traffic: `bucket < basis_points`.
pub fn in_canary(prompt: &str, rollout_id: &str, key: &str, basis_points: u32) -> bool {
    match basis_points {
        0 => false,
        BUCKETS.. => true,
        _ => bucket(prompt, rollout_id, key) < basis_points,
    }
}

/// A share in percent as basis points: 0 ≤ `percent` ≤ 100 with at most two decimals (`12.5` →
/// 1250, `0.25` → 25). Refuses NaN, negative shares, shares above 100 and more decimals (a share
/// is counted in hundredths of a percent) with a message saying why.
pub fn percent_to_basis_points(percent: f64) -> Result<u32, String> {
    if percent.is_nan() {
        return Err("a canary share must be a number of percent from 0 to 100, not NaN".into());
    }
    if percent < 0.0 {
        return Err(format!(
            "a canary share cannot be negative ({percent} %): give a percent from 0 to 100"
        ));
    }
    if percent > 100.0 {
        return Err(format!(
            "a canary share cannot be more than 100 % ({percent} %): give a percent from 0 to 100"
        ));
    }
    // The shortest decimal text that reads back as `percent`, which is what was written unless it
    // had more than 17 significant digits (Display never uses an exponent).
    let text = percent.to_string();
    let decimals = text.split_once('.').map_or(0, |(_, decimals)| decimals.len());
    if decimals > 2 {
        return Err(format!(
            "a canary share has at most two decimals ({text} % has {decimals}): shares are counted \
             in hundredths of a percent, e.g. 10, 12.5 or 0.25"
        ));
    }
    // At most two decimals and at most 100: `percent * 100` is within a rounding error of an
    // integer in 0..=10000.
    Ok((percent * 100.0).round() as u32)
}

/// A share in basis points as percent for people: `"10 %"`, `"12.5 %"`, `"0.25 %"`, `"100 %"`.
pub fn basis_points_display(basis_points: u32) -> String {
    let (whole, hundredths) = (basis_points / 100, basis_points % 100);
    if hundredths == 0 {
        format!("{whole} %")
    } else if hundredths % 10 == 0 {
        format!("{whole}.{} %", hundredths / 10)
    } else {
        format!("{whole}.{hundredths:02} %")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// The bucket as the specification states it, over the concatenated bytes.
    fn bucket_of_concatenation(prompt: &str, rollout_id: &str, key: &str) -> u32 {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(prompt.as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(rollout_id.as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(key.as_bytes());
        let digest = Sha256::digest(&bytes);
        u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % 10_000
    }

    #[test]
    fn rollout_ids_are_the_two_numbers() {
        assert_eq!(rollout_id(3, 4), "3:4");
        assert_eq!(rollout_id(10, 2), "10:2");
        assert_eq!(rollout_id(0, u32::MAX), "0:4294967295");
    }

    #[test]
    fn bucket_hashes_the_pieces_as_the_specification_concatenates_them() {
        let long = "k".repeat(1000);
        for (prompt, id, key) in [
            ("p", "3:4", "user-1"),
            ("qa-system-prompt", "1:2", ""),
            ("qa-system-prompt", "1:2", "é"),
            ("qa-system-prompt", "1:2", "👋 héllo"),
            ("a", "10:11", long.as_str()),
            ("a", "1:2", "key\0with\0nul"),
        ] {
            let found = bucket(prompt, id, key);
            assert_eq!(found, bucket_of_concatenation(prompt, id, key), "{prompt} {id} {key:?}");
            assert!(found < BUCKETS);
        }
        // Checked with `printf 'p\0003:4\000user-1' | sha256sum`: 7757893c… = 2002225468.
        assert_eq!(bucket("p", "3:4", "user-1"), 2_002_225_468 % 10_000);
        // The separators count: moving a byte from one piece to the next is another input.
        assert_ne!(bucket("ab", "1:2", "c"), bucket("a", "1:2", "bc"));
    }

    #[test]
    fn shares_of_nobody_and_everybody() {
        for key in ["", "user-1", "é", "🙂", "a much longer key than most callers would use"] {
            assert!(!in_canary("p", "1:2", key, 0), "{key:?}");
            assert!(in_canary("p", "1:2", key, 10_000), "{key:?}");
            assert!(in_canary("p", "1:2", key, 20_000), "{key:?}");
            let bucket = bucket("p", "1:2", key);
            assert!(!in_canary("p", "1:2", key, bucket));
            assert!(in_canary("p", "1:2", key, bucket + 1));
        }
        // The empty key and a non-ASCII key are keys like others, and deterministic.
        assert_eq!(bucket("p", "1:2", ""), bucket("p", "1:2", ""));
        assert_ne!(bucket("p", "1:2", "é"), bucket("p", "1:2", "e\u{301}"), "bytes, not text");
    }

    #[test]
    fn percent_to_basis_points_accepts_two_decimals() {
        for (percent, expected) in [
            (0.0, 0),
            (-0.0, 0),
            (0.01, 1),
            (0.25, 25),
            (0.29, 29),
            (1.0, 100),
            (10.0, 1000),
            (12.5, 1250),
            (33.33, 3333),
            (57.57, 5757),
            (99.99, 9999),
            (100.0, 10_000),
        ] {
            assert_eq!(percent_to_basis_points(percent), Ok(expected), "{percent}");
        }
        // Every share in basis points survives display and parsing.
        for basis_points in 0..=10_000 {
            let display = basis_points_display(basis_points);
            let percent: f64 = display.strip_suffix(" %").unwrap().parse().unwrap();
            assert_eq!(percent_to_basis_points(percent), Ok(basis_points), "{display}");
        }
    }

    #[test]
    fn percent_to_basis_points_refuses_what_is_not_a_share() {
        let refused = |percent: f64| percent_to_basis_points(percent).unwrap_err();
        assert!(refused(f64::NAN).contains("not NaN"));
        assert!(refused(-1.0).contains("cannot be negative (-1 %)"), "{}", refused(-1.0));
        assert!(refused(-0.01).contains("negative"));
        assert!(refused(f64::NEG_INFINITY).contains("negative"));
        assert!(refused(100.01).contains("more than 100 % (100.01 %)"), "{}", refused(100.01));
        assert!(refused(f64::INFINITY).contains("more than 100 %"));
        assert_eq!(
            refused(12.345),
            "a canary share has at most two decimals (12.345 % has 3): shares are counted in \
             hundredths of a percent, e.g. 10, 12.5 or 0.25"
        );
        assert!(refused(0.001).contains("has 3"));
        assert!(refused(1e-9).contains("0.000000001 % has 9"), "{}", refused(1e-9));
        assert!(refused(0.1 + 0.2).contains("at most two decimals"), "0.30000000000000004");
    }

    #[test]
    fn basis_points_read_as_percent() {
        assert_eq!(basis_points_display(0), "0 %");
        assert_eq!(basis_points_display(1), "0.01 %");
        assert_eq!(basis_points_display(25), "0.25 %");
        assert_eq!(basis_points_display(1000), "10 %");
        assert_eq!(basis_points_display(1250), "12.5 %");
        assert_eq!(basis_points_display(1205), "12.05 %");
        assert_eq!(basis_points_display(10_000), "100 %");
    }

    /// splitmix64: a small, seeded, deterministic generator of test keys.
    struct SplitMix64(u64);

    impl SplitMix64 {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
    }

    /// Over 1,000,000 random keys: the shares come out as asked (±0.5 percentage points) for two
    /// rollouts, every key in the canary at 1 % is in it at 10 % and 50 %, every bucket is drawn,
    /// and two rollouts draw independently (the share of keys in both is the product of the shares).
    #[test]
    fn random_keys_get_their_share_monotonically_and_independently() {
        const KEYS: u32 = 1_000_000;
        const SHARES: [u32; 3] = [100, 1000, 5000];
        let rollouts = [rollout_id(3, 4), rollout_id(4, 5)];
        let mut random = SplitMix64(0x5eed_0020);
        let mut key = String::new();
        let mut counts = [[0u32; 3]; 2];
        let mut both = [0u32; 3];
        let mut drawn = vec![false; BUCKETS as usize];
        for n in 0..KEYS {
            key.clear();
            std::fmt::Write::write_fmt(&mut key, format_args!("user-{:x}", random.next())).unwrap();
            let buckets = rollouts.each_ref().map(|id| bucket("qa", id, &key));
            drawn[buckets[0] as usize] = true;
            for (rollout, id) in rollouts.iter().enumerate() {
                let bucket = buckets[rollout];
                for (share, &basis_points) in SHARES.iter().enumerate() {
                    counts[rollout][share] += u32::from(bucket < basis_points);
                }
                // Monotone: in at 1 %, in at 10 % and at 50 % (asked of `in_canary` itself).
                if in_canary("qa", id, &key, 100) {
                    assert!(in_canary("qa", id, &key, 1000), "{key} left the canary at 10 %");
                    assert!(in_canary("qa", id, &key, 5000), "{key} left the canary at 50 %");
                }
                // `in_canary` is `bucket < basis_points` (asked of a sample, the hash is slow
                // unoptimised).
                if n % 64 == 0 {
                    for basis_points in SHARES {
                        let inside = in_canary("qa", id, &key, basis_points);
                        assert_eq!(inside, bucket < basis_points, "{key} at {basis_points}");
                    }
                }
            }
            for (share, &basis_points) in SHARES.iter().enumerate() {
                both[share] += u32::from(buckets.iter().all(|&bucket| bucket < basis_points));
            }
        }
        let percent = |count: u32| f64::from(count) * 100.0 / f64::from(KEYS);
        for (share, &basis_points) in SHARES.iter().enumerate() {
            let expected = f64::from(basis_points) / 100.0;
            for (rollout, counts) in counts.iter().enumerate() {
                let observed = percent(counts[share]);
                assert!(
                    (observed - expected).abs() <= 0.5,
                    "rollout {} at {expected} %: {observed} % of the keys",
                    rollouts[rollout]
                );
            }
            // Independent draws: P(in both) = P(in the first) · P(in the second).
            let product = expected * expected / 100.0;
            let observed = percent(both[share]);
            assert!(
                (observed - product).abs() <= 0.1 + product / 100.0,
                "in both rollouts at {expected} %: {observed} % of the keys, not about {product} %"
            );
        }
        assert!(drawn.iter().all(|&drawn| drawn), "every bucket is drawn");
    }

    /// `tests/conformance/rollout-vectors.json`, which the TypeScript registry's test checks too.
    #[test]
    fn conformance_vectors() {
        let vectors: Value =
            serde_json::from_str(include_str!("../tests/conformance/rollout-vectors.json"))
                .expect("the vectors are JSON");
        let cases = vectors["cases"].as_array().expect("cases");
        assert!(cases.len() >= 30, "{} cases", cases.len());
        for case in cases {
            let prompt = case["prompt"].as_str().expect("prompt");
            let stable = u32::try_from(case["stable"].as_u64().expect("stable")).unwrap();
            let canary = u32::try_from(case["canary"].as_u64().expect("canary")).unwrap();
            let key = case["key"].as_str().expect("key");
            let id = rollout_id(stable, canary);
            assert_eq!(case["rollout_id"], id.as_str(), "{case}");
            assert_eq!(case["bucket"], bucket(prompt, &id, key), "{case}");
            let shares = case["in_canary"].as_object().expect("in_canary");
            assert_eq!(shares.len(), 3, "{case}");
            for (share, expected) in shares {
                let basis_points: u32 = share.parse().expect("a share in basis points");
                let found = in_canary(prompt, &id, key, basis_points);
                assert_eq!(expected.as_bool(), Some(found), "{case} at {share}");
            }
        }
    }
}
