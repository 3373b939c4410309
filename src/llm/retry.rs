//! Retries of provider calls: 429, 5xx and timeouts, with exponential backoff and full
//! jitter, honouring `retry-after` (seconds or an HTTP date is not needed: providers send
//! seconds).

use std::time::Duration;

#[derive(Clone, Debug)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base: Duration::from_millis(500),
            cap: Duration::from_secs(30),
        }
    }
}

/// Whether a provider answer is worth another try.
pub fn retryable(status: u16) -> bool {
    status == 429 || status == 408 || status == 529 || (500..600).contains(&status)
}

/// A random number in [0, 1) for full jitter (no RNG crate needed for this).
pub fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    (h.finish() % 10_000) as f64 / 10_000.0
}

impl RetryPolicy {
    /// The wait before retry `n` (1-based): `retry-after` when the provider sent one (capped),
    /// otherwise a random point in [0, min(cap, base · 2^(n-1))] (full jitter).
    pub fn delay(&self, n: u32, retry_after: Option<&str>, jitter: f64) -> Duration {
        if let Some(secs) = retry_after
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| *s >= 0.0)
        {
            return Duration::from_secs_f64(secs).min(self.cap);
        }
        let exp = self
            .base
            .saturating_mul(1u32 << (n.saturating_sub(1)).min(20))
            .min(self.cap);
        exp.mul_f64(jitter.clamp(0.0, 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn honours_retry_after_and_backs_off() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(1, Some("2"), 0.5), Duration::from_secs(2));
        assert_eq!(p.delay(1, Some("3600"), 0.5), Duration::from_secs(30));
        assert_eq!(p.delay(1, None, 1.0), Duration::from_millis(500));
        assert_eq!(p.delay(3, None, 1.0), Duration::from_secs(2));
        assert_eq!(p.delay(3, None, 0.5), Duration::from_secs(1));
        assert_eq!(p.delay(30, None, 1.0), Duration::from_secs(30));
        assert!(
            retryable(429)
                && retryable(503)
                && retryable(529)
                && !retryable(400)
                && !retryable(401)
        );
    }
}
