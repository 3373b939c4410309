//! `devagents-node`: the kubelet stand-in for the e2e tests and the demo (see `devagents::node`).

use std::path::PathBuf;

use clap::Parser;
use devagents::node::{NodeConfig, serve};
use regex::Regex;

#[derive(Parser)]
#[command(
    name = "devagents-node",
    version,
    about = "Plays the kubelet on a real control plane without one"
)]
struct Cli {
    #[arg(long, default_value = "devagents-node")]
    node_name: String,
    /// Per-pod directories are created here.
    #[arg(long)]
    work_dir: PathBuf,
    /// Directory holding `agent-runner` (the agent image's binaries).
    #[arg(long)]
    agent_bin_dir: PathBuf,
    /// Regex on the image: these Pods run as local processes.
    #[arg(long, default_value = r"^(.*/)?devagents-agent(:.*)?$")]
    agent_image: String,
    /// Regex on the image: these Pods never become Ready.
    #[arg(long, default_value = r":broken(-.*)?$")]
    broken_image: String,
    /// Regex on the image: these Pods run to completion (exit 0; exit 1 if also broken).
    #[arg(
        long,
        default_value = r"^(.*/)?(kaniko-project/executor|devagents-smoke)(:.*)?$"
    )]
    complete_image: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cli = Cli::parse();
    let cfg = NodeConfig {
        node_name: cli.node_name,
        work_dir: std::path::absolute(&cli.work_dir)?,
        agent_bin_dir: std::path::absolute(&cli.agent_bin_dir)?,
        agent_image: Regex::new(&cli.agent_image)?,
        broken_image: Regex::new(&cli.broken_image)?,
        complete_image: Regex::new(&cli.complete_image)?,
        api_server: None,
    };
    let kube_cfg = kube::Config::infer().await?;
    let cfg = NodeConfig {
        api_server: kube_cfg.cluster_url.host().map(|h| {
            (
                h.to_string(),
                kube_cfg.cluster_url.port_u16().unwrap_or(443),
            )
        }),
        ..cfg
    };
    let client = kube::Client::try_from(kube_cfg)?;
    serve(client, cfg).await?;
    Ok(())
}
