//! Services shared by the operator and the agents: secret redaction, the git workspace,
//! GitHub, Slack and Notion clients, a throwaway local PostgreSQL.

pub mod archive;
pub mod git;
pub mod github;
pub mod http;
pub mod logging;
pub mod notion;
pub mod postgres;
pub mod redact;
pub mod slack;
pub mod termination;
