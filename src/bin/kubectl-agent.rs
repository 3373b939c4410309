//! `kubectl-agent`: the kubectl plugin (`kubectl agent ...`).

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "kubectl-agent",
    version,
    about = "Run and follow devagents AgentJobs"
)]
struct Cli {}

fn main() {
    let _ = Cli::parse();
}
