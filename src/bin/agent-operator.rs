//! `agent-operator`: the devagents controller. This build provides the CRD generator.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "agent-operator",
    version,
    about = "The devagents Kubernetes operator"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the CustomResourceDefinitions as YAML (or write one file per CRD with --out-dir).
    Crds {
        /// Write `<crd-name>.yaml` files into this directory instead of printing.
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Crds { out_dir: None } => print!("{}", devagents::api::crds_yaml()?),
        Command::Crds { out_dir: Some(dir) } => {
            std::fs::create_dir_all(&dir)?;
            for (name, body) in devagents::api::crd_files()? {
                std::fs::write(dir.join(&name), body)?;
                eprintln!("wrote {}", dir.join(name).display());
            }
        }
    }
    Ok(())
}
