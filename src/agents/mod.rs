//! The agents that run inside the runner, one folder each.

pub mod generator;
pub mod reviewer;
