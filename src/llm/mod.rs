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
