//! `agent-runner`: the entrypoint of the shared agent image. See `devagents::runner` for the
//! exit-code contract.

use clap::{Parser, Subcommand};
use devagents::api::ProbeParams;
use devagents::runner::{self, EXIT_USAGE};

#[derive(Parser)]
#[command(
    name = "agent-runner",
    version,
    about = "Runs one devagents agent inside its Pod"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the agent of the job this Pod belongs to (what the operator's Pods run).
    Run,
    /// Run any agent here, without a cluster, on a job manifest: progress to stderr, the
    /// result as JSON to stdout, artifacts into a directory.
    Local(Box<runner::local::LocalArgs>),
    /// The built-in diagnostic agent: sleep, produce a result, exit with a chosen code.
    Probe {
        #[arg(long, default_value_t = 0)]
        sleep_ms: i64,
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(i32).range(0..=255))]
        exit_code: i32,
        #[arg(long, default_value_t = 0)]
        result_bytes: i64,
        #[arg(long)]
        message: Option<String>,
    },
    /// A pull request's tests in a sandbox Pod (started by the operator): unpack the source
    /// from its artifact chunks, check its digest, run `go test -vet=off -cover PACKAGES`.
    SandboxTest {
        #[arg(long)]
        source: std::path::PathBuf,
        #[arg(long)]
        digest: String,
        #[arg(long)]
        work: std::path::PathBuf,
        #[arg(last = true, required = true)]
        packages: Vec<String>,
    },
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("agent-runner: cannot start runtime: {e}");
            runner::write_termination_message(&format!("runtime: {e}"));
            std::process::exit(runner::EXIT_TRANSIENT);
        }
    };
    let code = rt.block_on(async {
        match cli.command {
            Command::Run => runner::run_job().await,
            Command::Local(args) => runner::local::run(*args).await,
            Command::SandboxTest {
                source,
                digest,
                work,
                packages,
            } => {
                devagents::agents::reviewer::sandbox::sandbox_test(
                    &runner::container_path(&source.to_string_lossy()),
                    &digest,
                    &runner::container_path(&work.to_string_lossy()),
                    &packages,
                )
                .await
            }
            Command::Probe {
                sleep_ms,
                exit_code,
                result_bytes,
                message,
            } => {
                let params = ProbeParams {
                    sleep_ms,
                    exit_code,
                    result_bytes,
                    message,
                    ..ProbeParams::default()
                };
                let out = devagents::agents::probe::work::run(&params, 1).await;
                println!("{}", out.message);
                runner::write_termination_message(&out.message);
                out.exit_code
            }
        }
    });
    std::process::exit(code);
}
