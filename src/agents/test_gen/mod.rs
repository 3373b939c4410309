//! `test-gen`: the plan's @test-gen: table-driven Go tests, mocks and fixtures until coverage is
//! reached, kept only when they build, pass and raise coverage.
//!
//! [`gosrc`] lists a package's functions with tree-sitter-go, [`coverage`] measures with
//! `go test -coverprofile`, [`keep`] decides what is kept (build, vet, five runs, coverage, a
//! zero-return mutation), [`characterize`] writes characterization tests when there is no LLM,
//! and [`run`] does the rounds, the branch and the pull request.

pub mod characterize;
pub mod coverage;
pub mod gosrc;
pub mod keep;
pub mod run;

use futures::future::BoxFuture;
use serde_json::json;

use super::form::{self, Block, RunForm, Shared};
use super::{DynHost, Failed, Outcome, RunJob};
use crate::api::AgentKind;

pub struct TestGen;

impl super::Agent for TestGen {
    fn kind(&self) -> AgentKind {
        AgentKind::TestGen
    }
    fn description(&self) -> &'static str {
        "table-driven Go tests until coverage is reached"
    }
    fn needs_repository(&self) -> bool {
        true
    }
    fn run_form(&self) -> clap::Command {
        form::command::<Form>(
            self.kind().as_str(),
            "@test-gen: table-driven Go tests for packages or functions.",
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
    let (Some(repo), Some(params)) = (&job.spec.repository, &job.spec.test_gen) else {
        return Err(Failed::agent(
            "test-gen needs spec.repository and spec.testGen",
        ));
    };
    let setup = run::Setup {
        workdir: job.workdir.clone(),
        github_api: job.github_api.clone(),
        credentials: job.credentials.clone(),
        short_id: job.short_id(),
        publish: job.publish,
    };
    let r = run::run(host, repo, params, &setup).await;
    super::step::finish(host, r, |o| o.summary.clone()).await
}

#[derive(clap::Args, Clone, Debug)]
pub struct Form {
    /// Go packages (repeatable), e.g. `./rpc/internal/logic/department`.
    #[arg(long = "package")]
    packages: Vec<String>,
    /// Functions (repeatable), e.g. `CreateDepartment`.
    #[arg(long = "function")]
    functions: Vec<String>,
    /// Coverage to reach, in percent.
    #[arg(long)]
    coverage: Option<i32>,
    /// Rounds of asking for tests (default 3).
    #[arg(long)]
    max_rounds: Option<i32>,
}

impl RunForm for Form {
    fn block(self, _: Shared<'_>) -> Result<Block, String> {
        let mut p = json!({});
        if !self.packages.is_empty() {
            // Go's `./pkg` spelling; the API wants the plain relative path.
            let packages: Vec<&str> = self
                .packages
                .iter()
                .map(|p| match p.trim_start_matches("./").trim_end_matches('/') {
                    // `./...` is every package (Go's spelling).
                    "" | "." => "...",
                    p => p,
                })
                .collect();
            p["packages"] = json!(packages);
        }
        if !self.functions.is_empty() {
            p["functions"] = json!(self.functions);
        }
        form::set_opt(&mut p, "coverageTarget", self.coverage);
        form::set_opt(&mut p, "maxRounds", self.max_rounds);
        Ok(Block {
            params: p,
            name_prefix: "test-gen".into(),
        })
    }
}
