//! `probe`: the built-in diagnostic agent (health checks, tests, benchmarks): it sleeps,
//! exits with a chosen code, fails chosen attempts, asks for an approval, calls the LLM
//! gateway and writes a result of a chosen size, as its parameters say.

use serde_json::json;

use super::form::{self, Block, RunForm, Shared};
use crate::api::AgentKind;

pub struct Probe;

impl super::Agent for Probe {
    fn kind(&self) -> AgentKind {
        AgentKind::Probe
    }
    fn description(&self) -> &'static str {
        "the built-in diagnostic agent"
    }
    fn run_form(&self) -> clap::Command {
        form::command::<Form>(self.kind().as_str(), "The built-in diagnostic agent.")
    }
    fn run_block(&self, m: &clap::ArgMatches, s: Shared<'_>) -> Result<Block, String> {
        form::parse::<Form>(m, s)
    }
}

/// `kubectl agent run probe [--message M] [--sleep-ms N] [--exit-code C]`.
#[derive(clap::Args, Clone, Debug)]
pub struct Form {
    #[arg(long)]
    message: Option<String>,
    #[arg(long, default_value_t = 0)]
    sleep_ms: i64,
    #[arg(long, default_value_t = 0)]
    exit_code: i32,
}

impl RunForm for Form {
    fn block(self, _: Shared<'_>) -> Result<Block, String> {
        let mut p = json!({"sleepMs": self.sleep_ms, "exitCode": self.exit_code});
        form::set_opt(&mut p, "message", self.message);
        Ok(Block {
            params: p,
            name_prefix: "probe".into(),
        })
    }
}
