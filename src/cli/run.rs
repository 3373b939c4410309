//! `kubectl agent run AGENT …`: the plan's command forms, turned into an AgentJob (pure; the
//! CRD schema and the webhook still judge the result).

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::api::AgentJob;

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
    /// Print the AgentJob as YAML instead of creating it.
    #[arg(long, global = true)]
    pub dry_run: bool,
}

#[derive(Subcommand, Clone, Debug)]
pub enum Agent {
    /// @generator: a CRUD module for an entity.
    Generator {
        #[command(subcommand)]
        action: GeneratorAction,
    },
    /// @reviewer: one review of a pull request.
    Reviewer {
        /// The pull request number.
        #[arg(long)]
        pr: i64,
        /// Review only these checks (lint, i18n, tests, security, llm; repeatable).
        #[arg(long = "check")]
        checks: Vec<String>,
        /// Report only; post no review.
        #[arg(long)]
        no_comment: bool,
        /// Review exactly this head commit (the job fails if the PR moved on).
        #[arg(long)]
        head_sha: Option<String>,
    },
    /// @deployer: roll a version out to an environment.
    Deployer {
        /// The environment (operator configuration).
        #[arg(long = "env")]
        environment: String,
        /// The image tag to roll out.
        #[arg(long)]
        version: String,
        /// Only these services (repeatable; default: all, in the environment's order).
        #[arg(long = "service")]
        services: Vec<String>,
        /// Commit the tag to the environment's manifests instead of patching.
        #[arg(long)]
        gitops: bool,
        /// Build the images first (from --repo at the version's tag).
        #[arg(long)]
        build: bool,
    },
    /// @doc-sync: swagger, doc sections, changelog, Notion after API changes.
    DocSync {
        #[arg(long)]
        pr: Option<i64>,
        #[arg(long)]
        base_ref: Option<String>,
        #[arg(long)]
        head_ref: Option<String>,
    },
    /// @test-gen: table-driven Go tests for packages or functions.
    TestGen {
        /// Go packages (repeatable), e.g. `./rpc/internal/logic/department`.
        #[arg(long = "package")]
        packages: Vec<String>,
        /// Functions (repeatable), e.g. `CreateDepartment`.
        #[arg(long = "function")]
        functions: Vec<String>,
        /// Coverage to reach, in percent.
        #[arg(long)]
        coverage: Option<i32>,
    },
    /// @migrator: forward + rollback SQL from Ent schema changes.
    Migrator {
        /// The migration's name, e.g. `add_department`.
        migration: String,
        #[arg(long)]
        from_ref: Option<String>,
        #[arg(long)]
        to_ref: Option<String>,
        /// Secret with the database URL to validate against.
        #[arg(long)]
        database_secret: Option<String>,
    },
    /// @spec-writer: spec.md / plan.md / tasks.md for a feature.
    SpecWriter {
        /// The feature's name (made into a slug: "Department tree" → department-tree).
        feature: String,
        /// The requirements text.
        #[arg(long)]
        requirements: String,
    },
    /// The built-in diagnostic agent.
    Probe {
        #[arg(long)]
        message: Option<String>,
        #[arg(long, default_value_t = 0)]
        sleep_ms: i64,
        #[arg(long, default_value_t = 0)]
        exit_code: i32,
    },
}

#[derive(Subcommand, Clone, Debug)]
pub enum GeneratorAction {
    /// Generate the module for ENTITY (e.g. Department).
    CreateModule {
        entity: String,
        /// Let the LLM derive the fields from this description.
        #[arg(long)]
        description: Option<String>,
        /// A field `name:type[:optional]` (repeatable), e.g. `parent_id:uint64:optional`.
        #[arg(long = "field")]
        fields: Vec<String>,
        /// Ent mixins (repeatable): id, uuid, status, sort, tenant …
        #[arg(long = "mixin")]
        mixins: Vec<String>,
        /// Replace an existing module.
        #[arg(long)]
        overwrite: bool,
    },
}

impl Agent {
    pub fn kind(&self) -> &'static str {
        match self {
            Agent::Generator { .. } => "generator",
            Agent::Reviewer { .. } => "reviewer",
            Agent::Deployer { .. } => "deployer",
            Agent::DocSync { .. } => "doc-sync",
            Agent::TestGen { .. } => "test-gen",
            Agent::Migrator { .. } => "migrator",
            Agent::SpecWriter { .. } => "spec-writer",
            Agent::Probe { .. } => "probe",
        }
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

fn field(spec: &str) -> Result<Value, String> {
    let parts: Vec<&str> = spec.split(':').collect();
    match parts.as_slice() {
        [name, ty] => Ok(json!({"name": name, "type": ty})),
        [name, ty, "optional"] => Ok(json!({"name": name, "type": ty, "optional": true})),
        _ => Err(format!(
            "--field {spec:?}: want name:type or name:type:optional"
        )),
    }
}

/// A DNS-safe lower-case slug.
fn slug(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 && !out.ends_with('-') {
            out.push('-');
        }
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').chars().take(40).collect()
}

/// The AgentJob for `agent` with the common options (name or generateName).
pub fn build(agent: &Agent, c: &Common) -> Result<AgentJob, String> {
    let kind = agent.kind();
    let (block, prefix): (Value, String) = match agent {
        Agent::Generator {
            action:
                GeneratorAction::CreateModule {
                    entity,
                    description,
                    fields,
                    mixins,
                    overwrite,
                },
        } => {
            let fields = fields
                .iter()
                .map(|f| field(f))
                .collect::<Result<Vec<_>, _>>()?;
            if fields.is_empty() && description.is_none() {
                return Err("generator create-module needs --description or --field".into());
            }
            let mut g = json!({"entity": entity});
            if let Some(d) = description {
                g["description"] = json!(d);
            }
            if !fields.is_empty() {
                g["fields"] = json!(fields);
            }
            if !mixins.is_empty() {
                g["mixins"] = json!(mixins);
            }
            if *overwrite {
                g["overwrite"] = json!(true);
            }
            (g, format!("generate-{}", slug(entity)))
        }
        Agent::Reviewer {
            pr,
            checks,
            no_comment,
            head_sha,
        } => {
            let mut r = json!({"pullRequest": pr});
            if let Some(h) = head_sha {
                r["headSha"] = json!(h);
            }
            if let Some(repo) = c.repo.as_deref().filter(|r| !r.contains("://")) {
                r["repo"] = json!(repo.trim_end_matches(".git"));
            }
            if !checks.is_empty() {
                r["checks"] = json!(checks);
            }
            if *no_comment {
                r["autoComment"] = json!(false);
            }
            (r, format!("review-pr-{pr}"))
        }
        Agent::Deployer {
            environment,
            version,
            services,
            gitops,
            build,
        } => {
            let mut d = json!({"environment": environment, "version": version});
            if !services.is_empty() {
                d["services"] = json!(services);
            }
            if *gitops {
                d["mode"] = json!("gitops");
            }
            if *build {
                d["build"] = json!({"enabled": true});
            }
            (d, format!("deploy-{}-{}", slug(environment), slug(version)))
        }
        Agent::DocSync {
            pr,
            base_ref,
            head_ref,
        } => {
            let mut d = json!({});
            if let Some(p) = pr {
                d["pullRequest"] = json!(p);
            }
            if let Some(b) = base_ref {
                d["baseRef"] = json!(b);
            }
            if let Some(h) = head_ref {
                d["headRef"] = json!(h);
            }
            (d, "doc-sync".into())
        }
        Agent::TestGen {
            packages,
            functions,
            coverage,
        } => {
            let mut t = json!({});
            if !packages.is_empty() {
                // Go's `./pkg` spelling; the API wants the plain relative path.
                let p: Vec<&str> = packages
                    .iter()
                    .map(|p| p.trim_start_matches("./").trim_end_matches('/'))
                    .collect();
                t["packages"] = json!(p);
            }
            if !functions.is_empty() {
                t["functions"] = json!(functions);
            }
            if let Some(cv) = coverage {
                t["coverageTarget"] = json!(cv);
            }
            (t, "test-gen".into())
        }
        Agent::Migrator {
            migration,
            from_ref,
            to_ref,
            database_secret,
        } => {
            let mut m = json!({"name": migration});
            if let Some(f) = from_ref {
                m["fromRef"] = json!(f);
            }
            if let Some(t) = to_ref {
                m["toRef"] = json!(t);
            }
            if let Some(s) = database_secret {
                m["databaseSecret"] = json!(s);
            }
            (m, format!("migrate-{}", slug(migration)))
        }
        Agent::SpecWriter {
            feature,
            requirements,
        } => (
            // The API's feature is a slug: "Department tree" → department-tree.
            json!({"feature": slug(feature), "requirements": requirements}),
            format!("spec-{}", slug(feature)),
        ),
        Agent::Probe {
            message,
            sleep_ms,
            exit_code,
        } => {
            let mut p = json!({"sleepMs": sleep_ms, "exitCode": exit_code});
            if let Some(m) = message {
                p["message"] = json!(m);
            }
            (p, "probe".into())
        }
    };
    let block_key = crate::api::AgentKind::parse(kind)
        .map(|k| k.params_field())
        .unwrap_or(kind);
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        agent: Agent,
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
        assert_eq!(slug("DictionaryDetail"), "dictionary-detail");
        assert_eq!(slug("v1.7.2"), "v1-7-2");
    }
}
