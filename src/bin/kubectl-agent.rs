//! `kubectl-agent`: the kubectl plugin (`kubectl agent ...`). This build has `approve`,
//! `reject` and `result`; the rest of the plugin (run, list, jobs, logs …) is its own issue.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use devagents::api::AgentApproval;
use kube::api::{Api, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};

#[derive(Parser)]
#[command(
    name = "kubectl-agent",
    version,
    about = "Run, follow and approve devagents AgentJobs"
)]
struct Cli {
    #[command(flatten)]
    kube: KubeArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct KubeArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true)]
    kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long, global = true)]
    context: Option<String>,
    /// Namespace (default: the context's).
    #[arg(short, long, global = true)]
    namespace: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Approve an AgentApproval as yourself (the apiserver's identity of you decides who you are).
    Approve {
        name: String,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Reject an AgentApproval as yourself.
    Reject {
        name: String,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Print a job's result; reassemble its large artifacts byte-exact.
    Result {
        job: String,
        /// The artifact to write (default: the summary and the list of artifacts).
        #[arg(long)]
        artifact: Option<String>,
        /// Write the artifact here instead of stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
}

async fn result(
    k: &KubeArgs,
    job: &str,
    artifact: Option<String>,
    output: Option<PathBuf>,
) -> anyhow::Result<()> {
    let (client, ns) = client(k).await?;
    let api: Api<devagents::api::AgentJob> = Api::namespaced(client.clone(), &ns);
    let Some(j) = api.get_opt(job).await? else {
        anyhow::bail!("agentjob {job:?} not found in namespace {ns}")
    };
    let st = j.status.unwrap_or_default();
    let Some(r) = st.result else {
        anyhow::bail!(
            "agentjob {job} has no result yet (phase {:?})",
            st.phase.unwrap_or_default()
        )
    };
    match artifact {
        None => {
            println!("{}", r.summary);
            if let Some(d) = r.data {
                println!("{}", serde_json::to_string_pretty(&d)?);
            }
            for a in &r.artifacts {
                println!("artifact {}: {} bytes, {}", a.name, a.size, a.digest);
            }
        }
        Some(name) => {
            let Some(a) = r.artifacts.iter().find(|a| a.name == name) else {
                anyhow::bail!("agentjob {job} has no artifact {name:?}")
            };
            let bytes = devagents::agentapi::results::fetch(&client, &ns, a).await?;
            match output {
                Some(p) => std::fs::write(p, &bytes)?,
                None => std::io::Write::write_all(&mut std::io::stdout(), &bytes)?,
            }
        }
    }
    Ok(())
}

async fn client(k: &KubeArgs) -> anyhow::Result<(kube::Client, String)> {
    let opts = KubeConfigOptions {
        context: k.context.clone(),
        ..Default::default()
    };
    let config = match &k.kubeconfig {
        Some(p) => kube::Config::from_custom_kubeconfig(Kubeconfig::read_from(p)?, &opts).await?,
        None => kube::Config::from_kubeconfig(&opts).await?,
    };
    let ns = k
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    Ok((kube::Client::try_from(config)?, ns))
}

async fn decide(
    k: &KubeArgs,
    name: &str,
    decision: &str,
    comment: Option<String>,
) -> anyhow::Result<()> {
    let (client, ns) = client(k).await?;
    let api: Api<AgentApproval> = Api::namespaced(client, &ns);
    let a = match api.get_opt(name).await? {
        Some(a) => a,
        None => anyhow::bail!("agentapproval {name:?} not found in namespace {ns}"),
    };
    // "self": the mutating webhook writes in who the apiserver says you are.
    let d = serde_json::json!({ "user": devagents::agentapi::webhook::SELF_USER, "decision": decision, "comment": comment });
    let ops = if a.spec.decisions.is_empty() {
        serde_json::json!([{ "op": "add", "path": "/spec/decisions", "value": [d] }])
    } else {
        serde_json::json!([{ "op": "add", "path": "/spec/decisions/-", "value": d }])
    };
    let patch: json_patch::Patch = serde_json::from_value(ops)?;
    match api
        .patch(name, &PatchParams::default(), &Patch::<()>::Json(patch))
        .await
    {
        Ok(_) => {
            println!("agentapproval/{name} {}d", decision.to_lowercase());
            Ok(())
        }
        Err(kube::Error::Api(s)) => anyhow::bail!("{}", s.message),
        Err(e) => Err(e.into()),
    }
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let r = match cli.command {
        Command::Approve { name, comment } => decide(&cli.kube, &name, "Approve", comment).await,
        Command::Reject { name, comment } => decide(&cli.kube, &name, "Reject", comment).await,
        Command::Result {
            job,
            artifact,
            output,
        } => result(&cli.kube, &job, artifact, output).await,
    };
    if let Err(e) = r {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
