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
pub mod run;
pub mod sql;
pub mod validate;

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::json;

use super::form::{self, Block, RunForm, Shared};
use super::{DynHost, Failed, Outcome, RunJob};
use crate::api::{AgentJob, AgentKind};
use crate::controller::agent::OperatorSide;
use crate::controller::pod;

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
    fn implemented(&self) -> bool {
        true
    }
    fn operator(&self, _setup: &super::Setup) -> Arc<dyn OperatorSide> {
        Arc::new(Ops)
    }
    fn run<'a>(&'a self, host: &'a dyn DynHost, job: &'a RunJob) -> BoxFuture<'a, Outcome> {
        Box::pin(entry(host, job))
    }
}

/// The migrator's operator side: its repository, and the validation database's Secret
/// mounted read-only (optional: a missing Secret fails the job with a reason instead of a
/// Pod that never starts).
struct Ops;

impl OperatorSide for Ops {
    fn needs_repository(&self) -> bool {
        true
    }
    fn pod(&self, job: &AgentJob, spec: &mut k8s_openapi::api::core::v1::PodSpec) {
        let Some(secret) = job
            .spec
            .migrator
            .as_ref()
            .and_then(|m| m.database_secret.as_ref())
        else {
            return;
        };
        pod::mount_secret(spec, "database", secret, crate::contract::DATABASE_DIR);
    }
}

/// The key of `databaseSecret` that holds the URL.
pub const DATABASE_URL_KEY: &str = "DATABASE_URL";

/// The validation database: `databaseSecret`'s URL (mounted by the operator; `agent-runner
/// local` reads `$DATABASE_URL`), else a throwaway local PostgreSQL.
fn database(secret: Option<&str>) -> Result<run::Database, String> {
    let Some(secret) = secret else {
        return Ok(run::Database::Local);
    };
    let file =
        crate::contract::container_path(crate::contract::DATABASE_DIR).join(DATABASE_URL_KEY);
    match std::fs::read_to_string(&file) {
        Ok(u) if !u.trim().is_empty() => Ok(run::Database::Url(u.trim().to_string())),
        _ => match std::env::var(DATABASE_URL_KEY) {
            Ok(u) if !u.trim().is_empty() => Ok(run::Database::Url(u.trim().to_string())),
            _ => Err(format!(
                "migrator.databaseSecret {secret:?}: no key {DATABASE_URL_KEY} (is the Secret there, with that key?)"
            )),
        },
    }
}

async fn entry(host: &dyn DynHost, job: &RunJob) -> Outcome {
    let (Some(repo), Some(params)) = (&job.spec.repository, &job.spec.migrator) else {
        return Err(Failed::agent(
            "the migrator needs spec.repository and spec.migrator",
        ));
    };
    let database = database(params.database_secret.as_deref()).map_err(Failed::agent)?;
    let setup = run::Setup {
        workdir: job.workdir.clone(),
        github_api: job.github_api.clone(),
        credentials: job.credentials.clone(),
        short_id: job.short_id(),
        attempt: job.attempt,
        publish: job.publish,
        database,
        approval: job.spec.approval.clone(),
    };
    match run::run(host, repo, params, &setup).await {
        Ok(out) => {
            host.result(&out.summary, Some(run::result_data(&out)), &[])
                .await?;
            Ok(out.summary)
        }
        Err(f) => {
            // What was found (statements, labels, the report) stays in the result.
            let first_line = f.message.lines().next().unwrap_or_default().to_string();
            let data = f.partial.as_deref().map(run::result_data);
            host.result(&first_line, data, &[]).await?;
            Err(Failed::of(f.transient, f.message))
        }
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
    /// Foreign-key constraints for the edges (added NOT VALID, then validated).
    #[arg(long)]
    foreign_keys: bool,
}

impl RunForm for Form {
    fn block(self, _: Shared<'_>) -> Result<Block, String> {
        let prefix = format!("migrate-{}", form::slug(&self.migration));
        let mut p = json!({"name": self.migration});
        form::set_opt(&mut p, "fromRef", self.from_ref);
        form::set_opt(&mut p, "toRef", self.to_ref);
        form::set_opt(&mut p, "databaseSecret", self.database_secret);
        if self.foreign_keys {
            p["foreignKeys"] = json!(true);
        }
        Ok(Block {
            params: p,
            name_prefix: prefix,
        })
    }
}
