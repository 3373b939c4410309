//! Services shared by the operator and the agents: secret redaction, the git workspace,
//! GitHub, Slack and Notion clients.

pub mod git;
pub mod github;
pub mod http;
pub mod notion;
pub mod redact;
pub mod slack;
pub mod termination;
