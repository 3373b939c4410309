//! Response cache for identical requests (the plan: 1 h TTL), keyed by provider, model and
//! the full request body.

use std::collections::HashMap;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::Mutex;
use tokio::time::Instant;

pub struct ResponseCache {
    ttl: Duration,
    max_entries: usize,
    entries: Mutex<HashMap<[u8; 32], (Instant, serde_json::Value)>>,
}

pub fn key(provider: &str, model: &str, request: &serde_json::Value) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(provider.as_bytes());
    h.update([0]);
    h.update(model.as_bytes());
    h.update([0]);
    // serde_json keeps object keys sorted (no preserve_order), so equal requests hash equal.
    h.update(request.to_string().as_bytes());
    h.finalize().into()
}

impl ResponseCache {
    pub fn new(ttl: Duration, max_entries: usize) -> Self {
        ResponseCache {
            ttl,
            max_entries: max_entries.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub async fn get(&self, k: &[u8; 32]) -> Option<serde_json::Value> {
        let mut m = self.entries.lock().await;
        match m.get(k) {
            Some((at, v)) if at.elapsed() < self.ttl => Some(v.clone()),
            Some(_) => {
                m.remove(k);
                None
            }
            None => None,
        }
    }

    pub async fn put(&self, k: [u8; 32], v: serde_json::Value) {
        let mut m = self.entries.lock().await;
        if m.len() >= self.max_entries {
            let ttl = self.ttl;
            m.retain(|_, (at, _)| at.elapsed() < ttl);
            if m.len() >= self.max_entries
                && let Some(oldest) = m.iter().min_by_key(|(_, (at, _))| *at).map(|(k, _)| *k)
            {
                m.remove(&oldest);
            }
        }
        m.insert(k, (Instant::now(), v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn identical_requests_hit_until_the_ttl() {
        let c = ResponseCache::new(Duration::from_secs(3600), 10);
        let req =
            serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
        let k = key("anthropic", "m", &req);
        assert_eq!(
            k,
            key(
                "anthropic",
                "m",
                &serde_json::from_str(&req.to_string()).unwrap()
            )
        );
        assert_ne!(k, key("openai", "m", &req));
        assert!(c.get(&k).await.is_none());
        c.put(k, serde_json::json!({"content": "hello"})).await;
        assert_eq!(c.get(&k).await.unwrap()["content"], "hello");
        tokio::time::advance(Duration::from_secs(3601)).await;
        assert!(c.get(&k).await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn bounded() {
        let c = ResponseCache::new(Duration::from_secs(3600), 2);
        for i in 0..5u8 {
            c.put([i; 32], serde_json::json!(i)).await;
            tokio::time::advance(Duration::from_millis(1)).await;
        }
        assert!(c.entries.lock().await.len() <= 2);
        assert!(c.get(&[4; 32]).await.is_some());
    }
}
