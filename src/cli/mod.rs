//! `kubectl agent`: the kubectl plugin. Kube configuration is loaded like kubectl does
//! (`--kubeconfig`, `$KUBECONFIG`, `~/.kube/config`; `--context`; `-n`), errors are one clear
//! line and a non-zero exit code.

pub mod answer;
pub mod follow;
pub mod history;
pub mod queue;
pub mod run;
pub mod table;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::api::{AgentApproval, AgentJob};

#[derive(Parser)]
#[command(
    name = "kubectl-agent",
    bin_name = "kubectl agent",
    version,
    about = "Run, follow and approve devagents AgentJobs"
)]
pub struct Cli {
    #[command(flatten)]
    pub kube: KubeArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Clone, Debug, Default)]
pub struct KubeArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true)]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// Namespace (default: the context's).
    #[arg(short, long, global = true)]
    pub namespace: Option<String>,
    /// Where the operator runs: it publishes the agent registry (limits) and keeps its lock
    /// Leases there.
    #[arg(
        long,
        global = true,
        env = "DEVAGENTS_OPERATOR_NAMESPACE",
        default_value = "devagents-system"
    )]
    pub operator_namespace: String,
}

#[derive(Subcommand)]
pub enum Command {
    /// Create an AgentJob: `run generator create-module Department --description …`,
    /// `run reviewer --pr 123`, `run deployer --env staging --version v1.7.2` …
    Run {
        #[command(flatten)]
        common: run::Common,
        #[command(subcommand)]
        agent: run::AgentForm,
    },
    /// The agents: what they do, their image and limits, and how their recent jobs went.
    List {
        /// Count jobs of every namespace.
        #[arg(short = 'A', long)]
        all_namespaces: bool,
    },
    /// AgentJobs, like `kubectl get agentjobs`.
    Jobs {
        #[arg(short = 'A', long)]
        all_namespaces: bool,
        /// Output: wide, json or yaml.
        #[arg(short, long)]
        output: Option<table::Output>,
        /// Only jobs of this agent.
        #[arg(long)]
        agent: Option<String>,
    },
    /// Waiting AgentJobs in queue order, with their position and what they wait for
    /// (computed now by the scheduler's planner; positions are not stored in status).
    Queue {
        /// Show the waiting jobs of every namespace (positions are always global).
        #[arg(short = 'A', long)]
        all_namespaces: bool,
        /// Only jobs of this agent (positions stay those of the whole queue).
        #[arg(long)]
        agent: Option<String>,
        /// Output: json or yaml.
        #[arg(short, long)]
        output: Option<table::Output>,
    },
    /// Finished jobs from the job archive (PostgreSQL), newest first — also those whose
    /// object is gone. Every namespace unless `-n` is given.
    History {
        /// Only jobs of this agent.
        #[arg(long)]
        agent: Option<String>,
        /// Only jobs that ended so (Succeeded, Failed, RolledBack, Cancelled).
        #[arg(long)]
        phase: Option<String>,
        /// Only jobs finished within this period: 24h, 7d …
        #[arg(long)]
        since: Option<String>,
        /// Output: json or yaml.
        #[arg(short, long)]
        output: Option<table::Output>,
        #[command(flatten)]
        archive: history::ArchiveArgs,
    },
    /// Per agent and namespace over a period, from the archive: jobs, success rate, median and
    /// p95 duration, LLM tokens and cost, deploys per day and rollback rate, reviews posted.
    Report {
        /// The period: 30d, 7d, 24h …
        #[arg(long, default_value = "30d")]
        since: String,
        /// Output: json or yaml.
        #[arg(short, long)]
        output: Option<table::Output>,
        #[command(flatten)]
        archive: history::ArchiveArgs,
    },
    /// One AgentJob in detail.
    Get {
        job: String,
        #[arg(short, long)]
        output: Option<table::Output>,
    },
    /// A job's progress log; `-f` follows it until the job ends.
    Logs {
        job: String,
        #[arg(short, long)]
        follow: bool,
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
    /// Answer the clarifying questions a job waits on (spec-writer): on a terminal one by one
    /// (an option's number or your own words), else from --answers FILE.
    Answer {
        job: String,
        /// YAML: a list of {question, answer}, a map question → answer, or the answers in order.
        #[arg(long)]
        answers: Option<PathBuf>,
    },
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
    /// Cancel a job (a running one is stopped, a waiting one never starts).
    Cancel { job: String },
    /// Delete a job (its Pods, ServiceAccount and results go with it).
    Delete { job: String },
    /// Shell completions: `source <(kubectl-agent completion bash)`.
    Completion { shell: clap_complete::Shell },
}

/// A failure shown to the user as one line.
#[derive(Debug)]
pub struct CliError(pub String);

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub type Result<T, E = CliError> = std::result::Result<T, E>;

fn fail<T>(msg: impl Into<String>) -> Result<T> {
    Err(CliError(msg.into()))
}

/// The cluster as the user's kubeconfig describes it.
pub struct Cluster {
    pub client: kube::Client,
    pub namespace: String,
    pub url: String,
    pub operator_namespace: String,
}

impl Cluster {
    pub async fn connect(k: &KubeArgs) -> Result<Cluster> {
        let opts = KubeConfigOptions {
            context: k.context.clone(),
            ..Default::default()
        };
        let config = match &k.kubeconfig {
            Some(p) => {
                let kc = Kubeconfig::read_from(p).map_err(|e| {
                    CliError(format!(
                        "cannot read kubeconfig {}: {}",
                        p.display(),
                        root(&e)
                    ))
                })?;
                kube::Config::from_custom_kubeconfig(kc, &opts).await
            }
            None if k.context.is_some() => kube::Config::from_kubeconfig(&opts).await,
            None => kube::Config::infer()
                .await
                .map_err(|e| kube::config::KubeconfigError::LoadContext(root(&e))),
        };
        let mut config = config.map_err(|e| {
            CliError(format!(
                "no usable kubeconfig ({}); set KUBECONFIG or pass --kubeconfig",
                root(&e)
            ))
        })?;
        config.connect_timeout = Some(Duration::from_secs(10));
        config.read_timeout = Some(Duration::from_secs(60));
        let url = config.cluster_url.to_string();
        let namespace = k
            .namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone());
        let client = kube::Client::try_from(config)
            .map_err(|e| CliError(format!("cannot build a client for {url}: {}", root(&e))))?;
        Ok(Cluster {
            client,
            namespace,
            url,
            operator_namespace: k.operator_namespace.clone(),
        })
    }

    pub fn jobs(&self) -> Api<AgentJob> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Explain a failed request in one line (`what`: what was asked, e.g. `agentjob "x"`).
    pub async fn explain(&self, e: kube::Error, what: &str) -> CliError {
        match &e {
            kube::Error::Api(s) if s.code == 404 => {
                if !self.crds_installed().await {
                    return CliError(
                        "the devagents CRDs are not installed in this cluster (kubectl apply -f crds/, or install the Helm chart)"
                            .into(),
                    );
                }
                CliError(format!("{what} not found in namespace {}", self.namespace))
            }
            kube::Error::Api(s) if s.code == 403 => CliError(format!("forbidden: {}", s.message)),
            kube::Error::Api(s) if s.code == 401 => CliError(format!(
                "unauthorized: {} rejected the credentials of your kubeconfig",
                self.url
            )),
            kube::Error::Api(s) => CliError(format!("{what}: {}", s.message)),
            other => CliError(format!(
                "cannot reach the Kubernetes API at {}: {}",
                self.url,
                root(other)
            )),
        }
    }

    async fn crds_installed(&self) -> bool {
        self.client
            .list_api_group_resources(&format!("{}/{}", crate::api::GROUP, crate::api::VERSION))
            .await
            .map(|l| l.resources.iter().any(|r| r.name == "agentjobs"))
            .unwrap_or(false)
    }
}

/// The innermost cause of an error, which is what a user can act on.
fn root(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

async fn job_or_explain(c: &Cluster, name: &str) -> Result<AgentJob> {
    match c.jobs().get(name).await {
        Ok(j) => Ok(j),
        Err(e) => Err(c.explain(e, &format!("agentjob {name:?}")).await),
    }
}

pub async fn execute(cli: Cli) -> Result<i32> {
    if let Command::Completion { shell } = &cli.command {
        let mut cmd = Cli::command();
        clap_complete::generate(*shell, &mut cmd, "kubectl-agent", &mut std::io::stdout());
        return Ok(0);
    }
    if let Command::Run { common, agent } = &cli.command
        && common.local
    {
        let job = run::build(agent, common).map_err(CliError)?;
        return run::local(&job, common.no_push).map_err(CliError);
    }
    if let Command::Run { common, agent } = &cli.command
        && common.dry_run
    {
        let mut job = run::build(agent, common).map_err(CliError)?;
        if job.metadata.namespace.is_none() {
            job.metadata.namespace = cli.kube.namespace.clone();
        }
        print!(
            "{}",
            serde_yaml::to_string(&job).map_err(|e| CliError(e.to_string()))?
        );
        return Ok(0);
    }
    // The archive is read without the cluster.
    match &cli.command {
        Command::History {
            agent,
            phase,
            since,
            output,
            archive,
        } => {
            return history::history(
                archive,
                cli.kube.namespace.clone(),
                agent.clone(),
                phase.clone(),
                since.clone(),
                *output,
            )
            .await;
        }
        Command::Report {
            since,
            output,
            archive,
        } => {
            return history::report_cmd(archive, cli.kube.namespace.clone(), since, *output).await;
        }
        _ => {}
    }
    let c = Cluster::connect(&cli.kube).await?;
    match cli.command {
        Command::History { .. } | Command::Report { .. } => Ok(0),
        Command::Completion { .. } => Ok(0),
        Command::Run { common, agent } => {
            let job = run::build(&agent, &common).map_err(CliError)?;
            let created = match c.jobs().create(&PostParams::default(), &job).await {
                Ok(j) => j,
                Err(e) => return Err(c.explain(e, "agentjobs").await),
            };
            let name = kube::ResourceExt::name_any(&created);
            println!("agentjob/{name} created");
            if common.interactive {
                answer::interactive(&c, &name).await?;
                return follow::wait(&c, &name).await;
            }
            if common.wait {
                return follow::wait(&c, &name).await;
            }
            Ok(0)
        }
        Command::List { all_namespaces } => {
            let jobs = list_jobs(&c, all_namespaces).await?;
            // Readable by whoever may read ConfigMaps there; without it the columns say "-".
            let registry = queue::registry(&c).await;
            print!("{}", table::agents(&jobs, registry.as_ref()));
            Ok(0)
        }
        Command::Queue {
            all_namespaces,
            agent,
            output,
        } => {
            let (jobs, leases, registry, note) = queue::fetch(&c).await?;
            let now = k8s_openapi::jiff::Timestamp::now();
            let mut entries = queue::plan(&jobs, &leases, registry.as_ref(), now);
            entries.retain(|e| {
                (all_namespaces || e.namespace == c.namespace)
                    && agent.as_ref().is_none_or(|a| &e.agent == a)
            });
            if let Some(n) = note {
                eprintln!("{n}");
            }
            print!(
                "{}",
                queue::render(&entries, output, all_namespaces, now).map_err(CliError)?
            );
            Ok(0)
        }
        Command::Jobs {
            all_namespaces,
            output,
            agent,
        } => {
            let mut jobs = list_jobs(&c, all_namespaces).await?;
            if let Some(a) = agent {
                jobs.retain(|j| j.spec.agent.to_string() == a);
            }
            let positions = if output == Some(table::Output::Wide) {
                queue_positions(&c).await?
            } else {
                Default::default()
            };
            print!(
                "{}",
                table::jobs(&jobs, output, all_namespaces, &positions).map_err(CliError)?
            );
            Ok(0)
        }
        Command::Get { job, output } => {
            let j = job_or_explain(&c, &job).await?;
            let positions = if output.is_none()
                && !j
                    .status
                    .as_ref()
                    .and_then(|s| s.phase)
                    .is_some_and(|p| p.is_terminal() || p == crate::api::Phase::Running)
            {
                queue_positions(&c).await?
            } else {
                Default::default()
            };
            print!(
                "{}",
                table::describe(&j, output, &positions).map_err(CliError)?
            );
            Ok(0)
        }
        Command::Logs { job, follow } => {
            job_or_explain(&c, &job).await?;
            if follow {
                follow::logs_follow(&c, &job).await
            } else {
                print!("{}", follow::progress_log(&c, &job).await?);
                Ok(0)
            }
        }
        Command::Result {
            job,
            artifact,
            output,
        } => result(&c, &job, artifact, output).await.map(|_| 0),
        Command::Answer { job, answers } => answer::answer(&c, &job, answers.as_deref()).await,
        Command::Approve { name, comment } => {
            decide(&c, &name, "Approve", comment).await.map(|_| 0)
        }
        Command::Reject { name, comment } => decide(&c, &name, "Reject", comment).await.map(|_| 0),
        Command::Cancel { job } => {
            let patch = serde_json::json!({"spec": {"cancel": true}});
            match c
                .jobs()
                .patch(&job, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => {
                    println!("agentjob/{job} cancel requested");
                    Ok(0)
                }
                Err(e) => Err(c.explain(e, &format!("agentjob {job:?}")).await),
            }
        }
        Command::Delete { job } => match c.jobs().delete(&job, &DeleteParams::background()).await {
            Ok(_) => {
                println!("agentjob/{job} deleted");
                Ok(0)
            }
            Err(e) => Err(c.explain(e, &format!("agentjob {job:?}")).await),
        },
    }
}

/// Queue positions by `namespace/name`, from the scheduler's planner.
async fn queue_positions(c: &Cluster) -> Result<std::collections::BTreeMap<String, (i32, String)>> {
    let (jobs, leases, registry, _) = queue::fetch(c).await?;
    let entries = queue::plan(
        &jobs,
        &leases,
        registry.as_ref(),
        k8s_openapi::jiff::Timestamp::now(),
    );
    Ok(queue::positions(&entries))
}

async fn list_jobs(c: &Cluster, all: bool) -> Result<Vec<AgentJob>> {
    let api: Api<AgentJob> = if all {
        Api::all(c.client.clone())
    } else {
        c.jobs()
    };
    match api.list(&ListParams::default()).await {
        Ok(l) => Ok(l.items),
        Err(e) => Err(c.explain(e, "agentjobs").await),
    }
}

async fn result(
    c: &Cluster,
    job: &str,
    artifact: Option<String>,
    output: Option<PathBuf>,
) -> Result<()> {
    let j = job_or_explain(c, job).await?;
    let st = j.status.unwrap_or_default();
    let Some(r) = st.result else {
        return fail(format!(
            "agentjob {job} has no result yet (phase {:?})",
            st.phase.unwrap_or_default()
        ));
    };
    let io = |e: std::io::Error| CliError(e.to_string());
    match artifact {
        None => {
            println!("{}", r.summary);
            if let Some(d) = r.data {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&d).map_err(|e| CliError(e.to_string()))?
                );
            }
            for a in &r.artifacts {
                println!("artifact {}: {} bytes, {}", a.name, a.size, a.digest);
            }
        }
        Some(name) => {
            let Some(a) = r.artifacts.iter().find(|a| a.name == name) else {
                return fail(format!("agentjob {job} has no artifact {name:?}"));
            };
            let bytes = crate::agentapi::results::fetch(&c.client, &c.namespace, a)
                .await
                .map_err(|e| CliError(e.to_string()))?;
            match output {
                Some(p) => std::fs::write(p, &bytes).map_err(io)?,
                None => std::io::Write::write_all(&mut std::io::stdout(), &bytes).map_err(io)?,
            }
        }
    }
    Ok(())
}

async fn decide(c: &Cluster, name: &str, decision: &str, comment: Option<String>) -> Result<()> {
    let api: Api<AgentApproval> = Api::namespaced(c.client.clone(), &c.namespace);
    let a = match api.get(name).await {
        Ok(a) => a,
        Err(e) => return Err(c.explain(e, &format!("agentapproval {name:?}")).await),
    };
    // "self": the mutating webhook writes in who the apiserver says you are.
    let d = serde_json::json!({ "user": crate::agentapi::webhook::SELF_USER, "decision": decision, "comment": comment });
    let ops = if a.spec.decisions.is_empty() {
        serde_json::json!([{ "op": "add", "path": "/spec/decisions", "value": [d] }])
    } else {
        serde_json::json!([{ "op": "add", "path": "/spec/decisions/-", "value": d }])
    };
    let patch: json_patch::Patch =
        serde_json::from_value(ops).map_err(|e| CliError(e.to_string()))?;
    match api
        .patch(name, &PatchParams::default(), &Patch::<()>::Json(patch))
        .await
    {
        Ok(_) => {
            println!("agentapproval/{name} {}d", decision.to_lowercase());
            Ok(())
        }
        Err(kube::Error::Api(s)) if s.code != 404 && s.code != 403 => fail(s.message),
        Err(e) => Err(c.explain(e, &format!("agentapproval {name:?}")).await),
    }
}

/// The plugin's entry point: parse, run, print errors as `error: …`, exit with the code.
pub async fn main() -> i32 {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    match execute(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}
