//! `migrator`: the plan's @migrator: forward and rollback SQL from Ent schema changes, validated on
//! PostgreSQL, in a versioned migration file.
//!
//! The pure part: [`goparse`] reads Go with tree-sitter-go, [`ent`] turns Ent schemas into the
//! tables Ent's migration engine creates, [`sql`] diffs two schemas into changes with their
//! rollbacks and lint labels, [`files`] writes them as golang-migrate or Atlas files;
//! [`validate`] proves them on a real PostgreSQL.

pub mod ent;
pub mod files;
pub mod goparse;
pub mod sql;
pub mod validate;

use serde_json::json;

use super::form::{self, Block, RunForm, Shared};
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
    fn run_form(&self) -> clap::Command {
        form::command::<Form>(
            self.kind().as_str(),
            "@migrator: forward + rollback SQL from Ent schema changes.",
        )
    }
    fn run_block(&self, m: &clap::ArgMatches, s: Shared<'_>) -> Result<Block, String> {
        form::parse::<Form>(m, s)
    }
}

#[derive(clap::Args, Clone, Debug)]
pub struct Form {
    /// The migration's name, e.g. `add_department`.
    migration: String,
    #[arg(long)]
    from_ref: Option<String>,
    #[arg(long)]
    to_ref: Option<String>,
    /// Secret with the database URL to validate against.
    #[arg(long)]
    database_secret: Option<String>,
}

impl RunForm for Form {
    fn block(self, _: Shared<'_>) -> Result<Block, String> {
        let prefix = format!("migrate-{}", form::slug(&self.migration));
        let mut p = json!({"name": self.migration});
        form::set_opt(&mut p, "fromRef", self.from_ref);
        form::set_opt(&mut p, "toRef", self.to_ref);
        form::set_opt(&mut p, "databaseSecret", self.database_secret);
        Ok(Block {
            params: p,
            name_prefix: prefix,
        })
    }
}
