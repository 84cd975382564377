//! Canary assignment (placeholder until the full module lands): see docs/runtime.md.

use sha2::{Digest, Sha256};

/// Basis points in 100 %.
pub const BASIS_POINTS: u32 = 10_000;

/// The rollout id of a canary `canary` beside `stable`: `"3:4"`.
pub fn rollout_id(stable: u32, canary: u32) -> String {
    format!("{stable}:{canary}")
}

/// The key's bucket in 0..10000.
pub fn bucket(prompt: &str, rollout_id: &str, key: &str) -> u32 {
    let mut hasher = Sha256::new();
    hasher.update(prompt.as_bytes());
    hasher.update([0]);
    hasher.update(rollout_id.as_bytes());
    hasher.update([0]);
    hasher.update(key.as_bytes());
    let digest = hasher.finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % BASIS_POINTS
}

/// Whether `key` is in the canary at `basis_points`.
pub fn in_canary(prompt: &str, rollout_id: &str, key: &str, basis_points: u32) -> bool {
    bucket(prompt, rollout_id, key) < basis_points
}

/// A percentage (0 to 100, at most two decimals) in basis points.
pub fn percent_to_basis_points(percent: f64) -> Result<u32, String> {
    if !percent.is_finite() || !(0.0..=100.0).contains(&percent) {
        return Err(format!("{percent} is not a share between 0 and 100"));
    }
    let scaled = percent * 100.0;
    let rounded = scaled.round();
    if (scaled - rounded).abs() > 1e-6 {
        return Err(format!("{percent} has more than two decimals"));
    }
    Ok(rounded as u32)
}

/// `1000` → `"10 %"`, `1250` → `"12.5 %"`.
pub fn basis_points_display(basis_points: u32) -> String {
    let whole = basis_points / 100;
    let fraction = basis_points % 100;
    if fraction == 0 {
        format!("{whole} %")
    } else if fraction % 10 == 0 {
        format!("{whole}.{} %", fraction / 10)
    } else {
        format!("{whole}.{fraction:02} %")
    }
}
