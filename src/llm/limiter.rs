//! Cluster-wide rate limits (the plan: 50 requests/min) on requests and tokens per window,
//! queueing callers (first come, first served) instead of failing while the wait stays under a
//! bound. A sliding window: at most `max_requests` requests and `max_tokens` tokens in any
//! window, each request counted from when its answer came back (so the provider, which counts
//! arrivals, never sees more than the limit in one of its windows).

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
    /// Held by the caller whose turn it is, so callers are admitted in arrival order.
    turn: Mutex<()>,
    /// Admitted requests inside the window, oldest first.
    state: std::sync::Mutex<Window>,
}

#[derive(Default)]
struct Window {
    entries: VecDeque<Entry>,
    next_id: u64,
}

struct Entry {
    /// When the request counts as made: its start, moved to when its answer came back.
    at: Instant,
    tokens: u64,
    id: u64,
}

/// An admitted request; hand it back to [`Limiter::settle`] when the provider has answered.
#[derive(Debug)]
pub struct Permit {
    id: u64,
    /// How long the caller queued for the limit.
    pub waited: Duration,
}

impl Limiter {
    pub fn new(window: Duration, max_requests: usize, max_tokens: u64, max_wait: Duration) -> Self {
        Limiter {
            window,
            max_requests: max_requests.max(1),
            max_tokens: max_tokens.max(1),
            max_wait,
            turn: Mutex::new(()),
            state: std::sync::Mutex::new(Window::default()),
        }
    }

    /// The plan's default: 50 requests per minute.
    pub fn per_minute(requests: usize, tokens: u64, max_wait: Duration) -> Self {
        Self::new(Duration::from_secs(60), requests, tokens, max_wait)
    }

    fn window(&self) -> std::sync::MutexGuard<'_, Window> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wait for room for one request of `tokens` estimated tokens.
    pub async fn acquire(&self, tokens: u64) -> Result<Permit, LimitError> {
        if tokens > self.max_tokens {
            return Err(LimitError::TooLarge(tokens, self.max_tokens));
        }
        let arrived = Instant::now();
        let _turn = self.turn.lock().await;
        loop {
            let until = {
                let mut w = self.window();
                let now = Instant::now();
                let window = self.window;
                w.entries.retain(|e| now.duration_since(e.at) < window);
                let used: u64 = w.entries.iter().map(|e| e.tokens).sum();
                if w.entries.len() < self.max_requests && used + tokens <= self.max_tokens {
                    w.next_id += 1;
                    let id = w.next_id;
                    w.entries.push_back(Entry {
                        at: now,
                        tokens,
                        id,
                    });
                    return Ok(Permit {
                        id,
                        waited: now.duration_since(arrived),
                    });
                }
                // The earliest instant at which enough old entries leave the window.
                let mut freed_tokens = 0;
                let mut until = None;
                let n = w.entries.len();
                for (i, e) in w.entries.iter().enumerate() {
                    freed_tokens += e.tokens;
                    let enough_requests = n - (i + 1) < self.max_requests;
                    let enough_tokens = used - freed_tokens + tokens <= self.max_tokens;
                    if enough_requests && enough_tokens {
                        until = Some(e.at + self.window);
                        break;
                    }
                }
                until.unwrap_or(now + self.window)
            };
            let total = until.duration_since(arrived);
            if total > self.max_wait {
                return Err(LimitError::WaitTooLong(total, self.max_wait));
            }
            // Entries may move later meanwhile (settled); the loop looks again.
            tokio::time::sleep_until(until).await;
        }
    }

    /// The provider has answered the request of `permit`: it counts from now. The provider
    /// counts a request when it receives it, which is at most now, so a window measured from
    /// here never lets more than the limit arrive within one of the provider's windows,
    /// however long the request took to get there.
    pub fn settle(&self, permit: Permit) {
        let now = Instant::now();
        let mut w = self.window();
        if let Some(e) = w.entries.iter_mut().find(|e| e.id == permit.id) {
            e.at = e.at.max(now);
        }
        w.entries.make_contiguous().sort_by_key(|e| e.at);
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
                    let p = l.acquire(100).await.unwrap();
                    l.settle(p);
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
        assert_eq!(l.acquire(8_000).await.unwrap().waited, Duration::ZERO);
        // 3,000 more would exceed 10,000 until the first leaves the window (60 s > 30 s bound).
        assert!(matches!(
            l.acquire(3_000).await,
            Err(LimitError::WaitTooLong(_, _))
        ));
        assert_eq!(l.acquire(2_000).await.unwrap().waited, Duration::ZERO);
        assert_eq!(
            l.acquire(20_000).await.unwrap_err(),
            LimitError::TooLarge(20_000, 10_000)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_request_counts_from_its_answer() {
        let l = Limiter::per_minute(1, 1_000_000, Duration::from_secs(600));
        let t0 = Instant::now();
        let p = l.acquire(1).await.unwrap();
        // The provider took 5 s to answer: the next request may start 60 s after that.
        tokio::time::sleep(Duration::from_secs(5)).await;
        l.settle(p);
        let p2 = l.acquire(1).await.unwrap();
        assert_eq!(Instant::now().duration_since(t0), Duration::from_secs(65));
        assert_eq!(p2.waited, Duration::from_secs(60));
    }
}
