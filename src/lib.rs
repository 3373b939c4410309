//! devagents: a Kubernetes operator that runs AI development agents as pods.

pub mod agentapi;
pub mod agents;
pub mod api;
pub mod cli;
pub mod contract;
pub mod controller;
pub mod llm;
#[cfg(feature = "node-standin")]
pub mod node;
pub mod runner;
pub mod services;
#[cfg(feature = "testing")]
pub mod testing;
