//! devagents: a Kubernetes operator that runs AI development agents as pods.

pub mod api;
#[cfg(feature = "node-standin")]
pub mod node;
pub mod runner;
