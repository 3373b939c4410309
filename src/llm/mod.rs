//! The LLM gateway's building blocks (the gateway itself, its providers and its wiring into
//! the agent API are the next step): the cluster-wide rate limiter, the response cache, the
//! retry policy and the price table.

pub mod cache;
pub mod gateway;
pub mod limiter;
pub mod pricing;
pub mod retry;
pub mod structured;
