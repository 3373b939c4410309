//! The LLM gateway (in the operator; agents reach it through the agent API): providers
//! (Anthropic Messages, OpenAI-compatible), the cluster-wide rate limiter, the response cache,
//! retries, streaming (server-sent events), the price table and the structured-output helper.

pub mod cache;
pub mod gateway;
pub mod limiter;
pub mod pricing;
pub mod retry;
pub mod sse;
pub mod structured;

/// Where the gateway reports what it does (the operator's Prometheus metrics implement it;
/// handed to the gateway, so the gateway needs nothing above it).
pub trait Observer: Send + Sync {
    /// Time a call waited for the rate limiter.
    fn rate_limit_wait(&self, seconds: f64);
    /// An answer served from the response cache.
    fn cache_hit(&self);
    /// A provider answer for `agent`: its latency, tokens by kind and cost.
    fn answered(&self, agent: &str, seconds: f64, tokens: [(&str, u64); 4], cost_usd: f64);
    /// What became of a prefix marked for the provider's prompt cache: `read` (a hit),
    /// `write` (cached now) or `miss` (neither).
    fn prompt_cache(&self, outcome: &str);
}
