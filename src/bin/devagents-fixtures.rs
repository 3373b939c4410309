//! Test and demo support (never part of a deployment): a fixture repository in the Simple
//! Admin Core layout on a real git server on loopback (`git http-backend`, Basic auth), and a
//! TEST DOUBLE of GitHub's REST API. Prints the two URLs, then serves until stopped.
//!
//! With `--postgres`, also a throwaway PostgreSQL (Debian's, as the migrator's tests start
//! it) for the migrator's validation, printed as `DATABASE_URL=`.
//!
//! `devagents-fixtures --dir DIR --token TOKEN [--postgres]`

use clap::Parser;
use devagents::testing::fixtures::simple_admin_repo;
use devagents::testing::git_server::{GitServer, bare_repo_with};
use devagents::testing::github_double::GitHubDouble;
use devagents::testing::migrator_cases;

#[derive(Parser)]
struct Cli {
    /// Where the bare repositories live (created).
    #[arg(long)]
    dir: std::path::PathBuf,
    /// The token both servers require (`x-access-token:<token>` for git).
    #[arg(long)]
    token: String,
    /// Start a PostgreSQL server too (stopped with the fixtures).
    #[arg(long)]
    postgres: bool,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    std::fs::create_dir_all(&cli.dir)?;
    if !cli.dir.join("acme/core.git").exists() {
        bare_repo_with(&cli.dir, "acme/core", "main", &simple_admin_repo())?;
    }
    if !cli
        .dir
        .join(format!("{}.git", migrator_cases::REPOSITORY))
        .exists()
    {
        migrator_cases::bare_repository(&cli.dir)?;
    }
    let postgres = if cli.postgres {
        Some(
            devagents::services::postgres::LocalServer::start(&cli.dir)
                .map_err(anyhow::Error::msg)?,
        )
    } else {
        None
    };
    let git = GitServer::start(&cli.dir, Some(("x-access-token", &cli.token))).await?;
    let github = GitHubDouble::start(&cli.token).await?;
    println!("GIT_URL={}", git.url("acme/core"));
    println!("MIGRATOR_GIT_URL={}", git.url(migrator_cases::REPOSITORY));
    if let Some(pg) = &postgres {
        println!("DATABASE_URL={}", pg.url);
    }
    println!("GITHUB_URL={}", github.url);
    // Stopped by SIGINT or SIGTERM; the PostgreSQL server goes with it (its Drop).
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    drop(postgres);
    Ok(())
}
