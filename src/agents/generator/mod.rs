//! `generator`: a complete Simple Admin Core CRUD module for one entity — the Ent schema,
//! the proto, the go-zero `.api` file and its import, the five RPC logic files and the i18n
//! entries. This module holds the pure part (the model, the templates, the locale edits);
//! the run in a workspace (commands, commit, push, pull request) builds on it.

pub mod i18n;
pub mod model;
pub mod render;
pub mod run;

use futures::future::BoxFuture;
use serde_json::{Value, json};

use super::form::{self, Block, RunForm, Shared};
use super::{DynHost, Failed, Outcome, RunJob};
use crate::api::AgentKind;

pub struct Generator;

impl super::Agent for Generator {
    fn kind(&self) -> AgentKind {
        AgentKind::Generator
    }
    fn description(&self) -> &'static str {
        "CRUD module for an entity: Ent schema, proto, .api, logic, i18n; PR"
    }
    fn needs_repository(&self) -> bool {
        true
    }
    fn run_form(&self) -> clap::Command {
        form::command::<Form>(
            self.kind().as_str(),
            "@generator: a CRUD module for an entity.",
        )
    }
    fn run_block(&self, m: &clap::ArgMatches, s: Shared<'_>) -> Result<Block, String> {
        form::parse::<Form>(m, s)
    }
    fn implemented(&self) -> bool {
        true
    }
    fn run<'a>(&'a self, host: &'a dyn DynHost, job: &'a RunJob) -> BoxFuture<'a, Outcome> {
        Box::pin(entry(host, job))
    }
}

async fn entry(host: &dyn DynHost, job: &RunJob) -> Outcome {
    let (Some(repo), Some(params)) = (&job.spec.repository, &job.spec.generator) else {
        return Err(Failed::agent(
            "the generator needs spec.repository and spec.generator",
        ));
    };
    let setup = run::Setup {
        workdir: job.workdir.join("repo"),
        github_api: job.github_api.clone(),
        credentials: job.credentials.clone(),
        short_id: job.short_id(),
        publish: job.publish,
    };
    match run::run(host, repo, params, &setup).await {
        Ok(out) => {
            host.result(&out.summary, serde_json::to_value(&out).ok(), &[])
                .await?;
            Ok(out.summary)
        }
        Err(f) => {
            // What ran (with its output) is kept in the result, then the job fails.
            let data = json!({ "commands": f.commands });
            let first_line = f.message.lines().next().unwrap_or_default().to_string();
            host.result(&first_line, Some(data), &[]).await?;
            Err(Failed::of(f.transient, f.message))
        }
    }
}

/// `kubectl agent run generator create-module ENTITY …`.
#[derive(clap::Args, Clone, Debug)]
pub struct Form {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand, Clone, Debug)]
enum Action {
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

impl RunForm for Form {
    fn block(self, _: Shared<'_>) -> Result<Block, String> {
        let Action::CreateModule {
            entity,
            description,
            fields,
            mixins,
            overwrite,
        } = self.action;
        let fields = fields
            .iter()
            .map(|f| field(f))
            .collect::<Result<Vec<_>, _>>()?;
        if fields.is_empty() && description.is_none() {
            return Err("generator create-module needs --description or --field".into());
        }
        let mut g = json!({"entity": entity});
        form::set_opt(&mut g, "description", description);
        if !fields.is_empty() {
            g["fields"] = json!(fields);
        }
        if !mixins.is_empty() {
            g["mixins"] = json!(mixins);
        }
        if overwrite {
            g["overwrite"] = json!(true);
        }
        Ok(Block {
            params: g,
            name_prefix: format!("generate-{}", form::slug(&entity)),
        })
    }
}
