//! Test and demo support (never part of a deployment): a fixture repository in the Simple
//! Admin Core layout on a real git server on loopback (`git http-backend`, Basic auth), and a
//! TEST DOUBLE of GitHub's REST API. Prints the two URLs, then serves until stopped.
//!
//! `devagents-fixtures --dir DIR --token TOKEN`

use clap::Parser;
use devagents::testing::fixtures::simple_admin_repo;
use devagents::testing::git_server::{GitServer, bare_repo_with};
use devagents::testing::github_double::GitHubDouble;

#[derive(Parser)]
struct Cli {
    /// Where the bare repositories live (created).
    #[arg(long)]
    dir: std::path::PathBuf,
    /// The token both servers require (`x-access-token:<token>` for git).
    #[arg(long)]
    token: String,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    std::fs::create_dir_all(&cli.dir)?;
    if !cli.dir.join("acme/core.git").exists() {
        bare_repo_with(&cli.dir, "acme/core", "main", &simple_admin_repo())?;
    }
    let git = GitServer::start(&cli.dir, Some(("x-access-token", &cli.token))).await?;
    let github = GitHubDouble::start(&cli.token).await?;
    println!("GIT_URL={}", git.url("acme/core"));
    println!("GITHUB_URL={}", github.url);
    tokio::signal::ctrl_c().await?;
    Ok(())
}
