//! Services shared by the operator and the agents.

pub mod redact;
