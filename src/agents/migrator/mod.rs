//! `migrator`: the plan's @migrator: forward and rollback SQL from Ent schema changes, validated on
//! PostgreSQL, in a versioned migration file.
//!
//! Not built yet: the descriptor is here (its name, what it will do, that it needs a
//! repository), so its jobs are validated, queued and run, and end `Failed` with the reason
//! "the migrator agent is not available in this build".

use crate::api::AgentKind;

pub struct Migrator;

impl super::Agent for Migrator {
    fn kind(&self) -> AgentKind {
        AgentKind::Migrator
    }
    fn description(&self) -> &'static str {
        "forward + rollback SQL from Ent schema changes"
    }
    fn needs_repository(&self) -> bool {
        true
    }
}
