//! Cluster-wide rate limits (the plan: 50 requests/min) on requests and tokens per window,
//! queueing callers (first come, first served) instead of failing while the wait stays under a
//! bound. A sliding window: at most `max_requests` starts and `max_tokens` tokens in any window.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LimitError {
    #[error("rate limit: the wait would be {0:?}, over the bound of {1:?}")]
    WaitTooLong(Duration, Duration),
    #[error("a request of {0} tokens can never fit the {1} tokens-per-window limit")]
    TooLarge(u64, u64),
}

pub struct Limiter {
    window: Duration,
    max_requests: usize,
    max_tokens: u64,
    max_wait: Duration,
    /// (start, tokens) of admitted requests inside the window. Behind an async mutex held
    /// while waiting, so callers are admitted in arrival order.
    state: Mutex<VecDeque<(Instant, u64)>>,
}

impl Limiter {
    pub fn new(window: Duration, max_requests: usize, max_tokens: u64, max_wait: Duration) -> Self {
        Limiter {
            window,
            max_requests: max_requests.max(1),
            max_tokens: max_tokens.max(1),
            max_wait,
            state: Mutex::new(VecDeque::new()),
        }
    }

    /// The plan's default: 50 requests per minute.
    pub fn per_minute(requests: usize, tokens: u64, max_wait: Duration) -> Self {
        Self::new(Duration::from_secs(60), requests, tokens, max_wait)
    }

    /// Wait for room for one request of `tokens` estimated tokens; returns how long it waited.
    pub async fn acquire(&self, tokens: u64) -> Result<Duration, LimitError> {
        if tokens > self.max_tokens {
            return Err(LimitError::TooLarge(tokens, self.max_tokens));
        }
        let arrived = Instant::now();
        let mut q = self.state.lock().await;
        loop {
            let now = Instant::now();
            while q
                .front()
                .is_some_and(|(t, _)| now.duration_since(*t) >= self.window)
            {
                q.pop_front();
            }
            let used: u64 = q.iter().map(|(_, n)| n).sum();
            if q.len() < self.max_requests && used + tokens <= self.max_tokens {
                q.push_back((now, tokens));
                return Ok(now.duration_since(arrived));
            }
            // The earliest instant at which enough old entries leave the window.
            let mut freed_tokens = 0;
            let mut until = None;
            for (i, (t, n)) in q.iter().enumerate() {
                freed_tokens += n;
                let enough_requests = q.len() - (i + 1) < self.max_requests;
                let enough_tokens = used - freed_tokens + tokens <= self.max_tokens;
                if enough_requests && enough_tokens {
                    until = Some(*t + self.window);
                    break;
                }
            }
            let until = until.unwrap_or(now + self.window);
            let total = until.duration_since(arrived);
            if total > self.max_wait {
                return Err(LimitError::WaitTooLong(total, self.max_wait));
            }
            tokio::time::sleep_until(until).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn one_hundred_twenty_at_fifty_per_minute_none_early() {
        let l = Arc::new(Limiter::per_minute(
            50,
            u64::MAX / 4,
            Duration::from_secs(600),
        ));
        let t0 = Instant::now();
        let handles: Vec<_> = (0..120)
            .map(|_| {
                let l = l.clone();
                tokio::spawn(async move {
                    l.acquire(100).await.unwrap();
                    Instant::now().duration_since(t0)
                })
            })
            .collect();
        let mut times = Vec::new();
        for h in handles {
            times.push(h.await.unwrap());
        }
        times.sort();
        // 50 at once, 50 after one minute, 20 after two: never more than 50 in any minute.
        assert!(times[..50].iter().all(|t| *t < Duration::from_secs(1)));
        assert!(
            times[50..100]
                .iter()
                .all(|t| *t >= Duration::from_secs(60) && *t < Duration::from_secs(61))
        );
        assert!(
            times[100..]
                .iter()
                .all(|t| *t >= Duration::from_secs(120) && *t < Duration::from_secs(121))
        );
        for (i, t) in times.iter().enumerate() {
            let in_window = times
                .iter()
                .filter(|u| **u >= *t && **u < *t + Duration::from_secs(60))
                .count();
            assert!(
                in_window <= 50,
                "{in_window} requests in the minute from request {i}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn token_limit_and_wait_bound() {
        let l = Limiter::per_minute(1000, 10_000, Duration::from_secs(30));
        assert_eq!(l.acquire(8_000).await.unwrap(), Duration::ZERO);
        // 3,000 more would exceed 10,000 until the first leaves the window (60 s > 30 s bound).
        assert!(matches!(
            l.acquire(3_000).await,
            Err(LimitError::WaitTooLong(_, _))
        ));
        assert_eq!(l.acquire(2_000).await.unwrap(), Duration::ZERO);
        assert_eq!(
            l.acquire(20_000).await,
            Err(LimitError::TooLarge(20_000, 10_000))
        );
    }
}
