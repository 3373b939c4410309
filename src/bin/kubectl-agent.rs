//! `kubectl-agent`: the kubectl plugin (`kubectl agent …`); see `devagents::cli`.

#[tokio::main]
async fn main() {
    std::process::exit(devagents::cli::main().await);
}
