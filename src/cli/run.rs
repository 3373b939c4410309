//! `kubectl agent run AGENT …`: the plan's command forms, turned into an AgentJob (pure; the
//! CRD schema and the webhook still judge the result).

use clap::{Args, Subcommand};
use serde_json::json;

use crate::agents::form::{Block, Shared};
use crate::agents::{self as agent, REGISTRY};
use crate::api::{AgentJob, AgentKind};

/// Options every agent shares.
#[derive(Args, Clone, Debug, Default)]
pub struct Common {
    /// The job's name (default: generated from the agent's name).
    #[arg(long, global = true)]
    pub name: Option<String>,
    /// Higher runs first.
    #[arg(long, global = true)]
    pub priority: Option<i32>,
    /// Seconds before an attempt is stopped.
    #[arg(long, global = true)]
    pub timeout: Option<i64>,
    /// Repository: an https URL, or `owner/name` on GitHub.
    #[arg(long, global = true)]
    pub repo: Option<String>,
    /// Base branch of the repository.
    #[arg(long, global = true, default_value = "main")]
    pub base: String,
    /// Secret with the repository token (key `token`).
    #[arg(long, global = true)]
    pub repo_secret: Option<String>,
    /// Paths the agent may change (repeatable, globs).
    #[arg(long = "allowed-path", global = true)]
    pub allowed_paths: Vec<String>,
    /// Delete the job this many seconds after it finished.
    #[arg(long, global = true)]
    pub ttl: Option<i64>,
    /// Follow the job's progress until it ends; exit non-zero unless it succeeded.
    #[arg(long, global = true)]
    pub wait: bool,
    /// Answer the job's clarifying questions here as soon as it asks them, then follow it to
    /// its end (spec-writer).
    #[arg(long, global = true, conflicts_with_all = ["dry_run", "local"])]
    pub interactive: bool,
    /// Print the AgentJob as YAML instead of creating it.
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// Run the agent here, without a cluster (`agent-runner local`, found beside this plugin
    /// or on the PATH): progress on stderr, the result as JSON on stdout.
    #[arg(long, global = true)]
    pub local: bool,
    /// With --local: keep branches local, open no pull request, post no review.
    #[arg(long, global = true, requires = "local")]
    pub no_push: bool,
}

/// `run AGENT …`: the agent's own form, from the agents' registry (each agent's folder has
/// its clap arguments and turns them into its parameter block).
#[derive(Clone, Debug)]
pub struct AgentForm {
    pub kind: AgentKind,
    matches: Box<clap::ArgMatches>,
}

impl clap::FromArgMatches for AgentForm {
    fn from_arg_matches(m: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let Some((name, sub)) = m.subcommand() else {
            return Err(clap::Error::raw(
                clap::error::ErrorKind::MissingSubcommand,
                "name an agent",
            ));
        };
        let kind = AgentKind::parse(name).ok_or_else(|| {
            clap::Error::raw(
                clap::error::ErrorKind::InvalidSubcommand,
                format!("{name:?} is not an agent"),
            )
        })?;
        Ok(AgentForm {
            kind,
            matches: Box::new(sub.clone()),
        })
    }
    fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl Subcommand for AgentForm {
    fn augment_subcommands(cmd: clap::Command) -> clap::Command {
        REGISTRY
            .iter()
            .fold(cmd, |cmd, a| cmd.subcommand(a.run_form()))
    }
    fn augment_subcommands_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_subcommands(cmd)
    }
    fn has_subcommand(name: &str) -> bool {
        REGISTRY.iter().any(|a| a.kind().as_str() == name)
    }
}

/// `owner/name` → the GitHub clone URL; URLs stay as they are.
pub fn repo_url(repo: &str) -> String {
    if repo.contains("://") {
        repo.to_string()
    } else {
        format!("https://github.com/{}.git", repo.trim_end_matches(".git"))
    }
}

/// The AgentJob for `agent` with the common options (name or generateName).
pub fn build(agent: &AgentForm, c: &Common) -> Result<AgentJob, String> {
    let kind = agent.kind;
    let shared = Shared {
        repo: c.repo.as_deref(),
    };
    let Block {
        params: block,
        name_prefix: prefix,
    } = match agent::agent(kind) {
        Some(a) => a.run_block(&agent.matches, shared)?,
        None => return Err(format!("the {kind} agent is not in this build")),
    };
    let block_key = kind.params_field();
    let mut spec = json!({"agent": kind});
    spec[block_key] = block;
    if let Some(p) = c.priority {
        spec["priority"] = json!(p);
    }
    if let Some(t) = c.timeout {
        spec["timeoutSeconds"] = json!(t);
    }
    if let Some(t) = c.ttl {
        spec["ttlSecondsAfterFinished"] = json!(t);
    }
    if let Some(r) = &c.repo {
        let mut repo = json!({"url": repo_url(r), "baseBranch": c.base});
        if let Some(s) = &c.repo_secret {
            repo["credentialsSecret"] = json!(s);
        }
        if !c.allowed_paths.is_empty() {
            repo["allowedPaths"] = json!(c.allowed_paths);
        }
        spec["repository"] = repo;
    }
    let metadata = match &c.name {
        Some(n) => json!({"name": n}),
        None => json!({"generateName": format!("{prefix}-")}),
    };
    serde_json::from_value(json!({
        "apiVersion": "devagents.io/v1alpha1", "kind": "AgentJob",
        "metadata": metadata, "spec": spec,
    }))
    .map_err(|e| format!("building the AgentJob: {e}"))
}

/// `run … --local`: the job, run here by `agent-runner local`; its exit code.
pub fn local(job: &AgentJob, no_push: bool) -> Result<i32, String> {
    let runner = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("agent-runner")))
        .filter(|p| p.exists())
        .unwrap_or_else(|| "agent-runner".into());
    let dir = std::env::temp_dir();
    let file = dir.join(format!("devagents-local-job-{}.yaml", std::process::id()));
    let yaml = serde_yaml::to_string(job).map_err(|e| e.to_string())?;
    // A new file only (never one someone placed there first).
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&file)
        .and_then(|mut f| std::io::Write::write_all(&mut f, yaml.as_bytes()))
        .map_err(|e| format!("{}: {e}", file.display()))?;
    let mut cmd = std::process::Command::new(&runner);
    cmd.arg("local").arg("--job").arg(&file);
    if no_push {
        cmd.arg("--no-push");
    }
    let status = cmd.status();
    let _ = std::fs::remove_file(&file);
    let status = status.map_err(|e| format!("{}: {e}", runner.display()))?;
    Ok(status.code().unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        agent: AgentForm,
    }

    fn job(args: &[&str]) -> Result<AgentJob, String> {
        let t = T::try_parse_from(std::iter::once("run").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        build(&t.agent, &t.common)
    }

    #[test]
    fn the_plans_forms() {
        let j = job(&[
            "generator",
            "create-module",
            "Department",
            "--description",
            "departments with a parent",
            "--repo",
            "acme/core",
            "--repo-secret",
            "github-token",
        ])
        .unwrap();
        assert_eq!(
            j.metadata.generate_name.as_deref(),
            Some("generate-department-")
        );
        let g = j.spec.generator.unwrap();
        assert_eq!(g.entity, "Department");
        assert_eq!(
            j.spec.repository.unwrap().url,
            "https://github.com/acme/core.git"
        );

        let j = job(&["reviewer", "--pr", "123", "--repo", "acme/core"]).unwrap();
        let r = j.spec.reviewer.unwrap();
        assert_eq!(
            (r.pull_request, r.repo.as_deref()),
            (123, Some("acme/core"))
        );

        let j = job(&[
            "deployer",
            "--env",
            "staging",
            "--version",
            "v1.7.2",
            "--name",
            "ship",
        ])
        .unwrap();
        assert_eq!(j.metadata.name.as_deref(), Some("ship"));
        let d = j.spec.deployer.unwrap();
        assert_eq!(
            (d.environment.as_str(), d.version.as_str()),
            ("staging", "v1.7.2")
        );

        for args in [
            vec!["doc-sync", "--pr", "7"],
            vec!["test-gen", "--package", "./rpc/internal/logic/department"],
            vec!["migrator", "add_department"],
            vec![
                "spec-writer",
                "Department tree",
                "--requirements",
                "nested departments",
            ],
            vec!["probe", "--message", "hi"],
        ] {
            let j = job(&args).unwrap();
            assert_eq!(j.spec.agent.to_string(), args[0]);
        }
    }

    #[test]
    fn bad_forms_say_what_is_wrong() {
        let e = job(&["generator", "create-module", "Department"]).unwrap_err();
        assert!(e.contains("--description or --field"), "{e}");
        let e = job(&["generator", "create-module", "D", "--field", "name"]).unwrap_err();
        assert!(e.contains("want name:type"), "{e}");
        assert!(job(&["deployer", "--env", "staging"]).is_err());
    }
}
