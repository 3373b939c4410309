//! `agent-operator`: the devagents controller, and the CRD generator.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use devagents::controller::{self, Config, config::parse_agent_limits};

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
    /// Run the controller (leader-elected; several replicas may run).
    Run(Box<RunArgs>),
    /// Print the CustomResourceDefinitions as YAML (or write one file per CRD with --out-dir).
    Crds {
        /// Write `<crd-name>.yaml` files into this directory instead of printing.
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
}

#[derive(Args)]
struct RunArgs {
    /// The operator's namespace (leader Lease, lock Leases).
    #[arg(long, env = "POD_NAMESPACE", default_value = "devagents-system")]
    namespace: String,
    /// Watch AgentJobs in this namespace only (default: all namespaces).
    #[arg(long, env = "DEVAGENTS_WATCH_NAMESPACE")]
    watch_namespace: Option<String>,
    /// Image of the agent pods.
    #[arg(
        long,
        env = "DEVAGENTS_AGENT_IMAGE",
        default_value = "ghcr.io/devagents/devagents-agent:0.1.0"
    )]
    agent_image: String,
    #[arg(long, default_value = "IfNotPresent")]
    image_pull_policy: String,
    /// Jobs running at once, all agents together (the plan: 4).
    #[arg(long, env = "DEVAGENTS_MAX_RUNNING", default_value_t = 4)]
    max_running: usize,
    /// Per-agent limits, e.g. `generator=1,reviewer=2`.
    #[arg(long, env = "DEVAGENTS_AGENT_LIMITS", default_value = "")]
    agent_limits: String,
    #[arg(long, default_value = "100m")]
    cpu_request: String,
    #[arg(long, default_value = "100Mi")]
    memory_request: String,
    #[arg(long, default_value = "2")]
    cpu_limit: String,
    #[arg(long, default_value = "1Gi")]
    memory_limit: String,
    /// Lock Lease duration (renewed every third of it while the job runs).
    #[arg(long, default_value_t = 15)]
    lock_lease_seconds: u64,
    /// Leader Lease duration.
    #[arg(long, default_value_t = 15)]
    leader_lease_seconds: u64,
    /// A Pod not started after this long counts as never started (retryable).
    #[arg(long, default_value_t = 300)]
    start_timeout_seconds: u64,
    /// Where /metrics, /healthz and /readyz are served.
    #[arg(long, env = "DEVAGENTS_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    metrics_addr: SocketAddr,
    /// Where the agent API listens (HTTPS); `off` disables it.
    #[arg(long, env = "DEVAGENTS_AGENT_API_ADDR", default_value = "0.0.0.0:8443")]
    agent_api_addr: String,
    /// URL agent Pods use to reach the agent API (default: the operator Service).
    #[arg(long, env = "DEVAGENTS_AGENT_API_URL")]
    agent_api_url: Option<String>,
    /// Serving certificate and key (PEM) for the agent API; self-signed when not given.
    #[arg(long, env = "DEVAGENTS_TLS_CERT_FILE", requires = "tls_key_file")]
    tls_cert_file: Option<PathBuf>,
    #[arg(long, env = "DEVAGENTS_TLS_KEY_FILE")]
    tls_key_file: Option<PathBuf>,
    /// The CA that signed `--tls-cert-file` (agent Pods and the webhooks trust it; default: the
    /// certificate itself, self-signed).
    #[arg(long, env = "DEVAGENTS_TLS_CA_FILE", requires = "tls_cert_file")]
    tls_ca_file: Option<PathBuf>,
    /// LLM provider: `anthropic` or `openai` (any OpenAI-compatible endpoint); none: LLM
    /// steps are skipped and the results say so.
    #[arg(long, env = "DEVAGENTS_LLM_PROVIDER", value_parser = ["anthropic", "openai"])]
    llm_provider: Option<String>,
    /// Provider base URL (default: Anthropic's; an Ollama/vLLM/llama.cpp server for openai).
    #[arg(long, env = "DEVAGENTS_LLM_BASE_URL")]
    llm_base_url: Option<String>,
    #[arg(long, env = "DEVAGENTS_LLM_MODEL", default_value = "claude-sonnet-4-5")]
    llm_model: String,
    /// OpenAI-compatible providers: the field of the output limit (`max_completion_tokens`,
    /// OpenAI's; `max_tokens` for servers that know only the old one).
    #[arg(
        long,
        env = "DEVAGENTS_LLM_MAX_TOKENS_FIELD",
        default_value = "max_completion_tokens"
    )]
    llm_max_tokens_field: devagents::llm::gateway::MaxTokensField,
    /// File holding the provider API key (mounted from a Secret; the key never reaches agents).
    #[arg(long, env = "DEVAGENTS_LLM_API_KEY_FILE")]
    llm_api_key_file: Option<PathBuf>,
    /// Cluster-wide LLM requests per minute (the plan: 50).
    #[arg(long, default_value_t = 50)]
    llm_requests_per_minute: usize,
    #[arg(long, default_value_t = 400_000)]
    llm_tokens_per_minute: u64,
    /// How long a request may queue for the rate limit before it fails.
    #[arg(long, default_value_t = 300)]
    llm_max_wait_seconds: u64,
    /// The window of the LLM rate limits (requests and tokens "per minute" are per this many
    /// seconds; the plan's is 60).
    #[arg(long, default_value_t = 60)]
    llm_rate_window_seconds: u64,
    /// This replica's own address (IP:port of its agent API) for the other replicas: with
    /// it, a standby forwards LLM calls to the leader, so the rate limits and the response
    /// cache hold for the whole deployment. The chart sets it from the Pod IP.
    #[arg(long)]
    peer_address: Option<String>,
    /// Response cache TTL (the plan: 1 h).
    #[arg(long, default_value_t = 3600)]
    llm_cache_ttl_seconds: u64,
    /// Prices in US dollars per million tokens, `MODEL=IN/OUT[/CACHED],…` (`*`: every other
    /// model). Default: the plan's $3 / $15, cache reads $0.30.
    #[arg(long, env = "DEVAGENTS_LLM_PRICES", default_value = "*=3/15/0.3")]
    llm_prices: devagents::llm::pricing::PriceTable,
    /// The GitHub REST API agents use (GitHub Enterprise: `https://<host>/api/v3`).
    #[arg(long, env = "DEVAGENTS_GITHUB_API_URL", default_value = devagents::services::github::DEFAULT_API_URL)]
    github_api_url: String,
    /// Egress rules for agent Pods besides the agent API (a JSON list of NetworkPolicy egress
    /// rules): the operator applies the NetworkPolicy `devagents-agents` in every namespace
    /// where it starts agents. Unset: no agent NetworkPolicy.
    #[arg(long, env = "DEVAGENTS_AGENT_EGRESS", value_parser = parse_egress)]
    agent_egress: Option<EgressRules>,
    /// The deployer's environments (YAML: `environments: [...]`; the Helm chart mounts its
    /// `environments` value here).
    #[arg(long, env = "DEVAGENTS_ENVIRONMENTS_FILE")]
    environments: Option<std::path::PathBuf>,
    /// Register the admission webhooks with this base URL (e.g. `https://127.0.0.1:8443`) —
    /// for local runs; the Helm chart installs them with a Service instead.
    #[arg(long)]
    register_webhooks: Option<String>,
    /// Per-job artifact quota: stored (compressed) bytes of all its artifacts together.
    #[arg(long, env = "DEVAGENTS_ARTIFACT_MAX_BYTES", default_value_t = 32 * 1024 * 1024)]
    artifact_max_bytes: u64,
    /// Per-job artifact quota: number of artifacts.
    #[arg(long, env = "DEVAGENTS_ARTIFACT_MAX_COUNT", default_value_t = 16)]
    artifact_max_count: usize,
    /// Artifact uploads per job per minute.
    #[arg(long, default_value_t = 12)]
    artifact_uploads_per_minute: usize,
    /// Identity in the leader election (default: POD_NAME, else host name and pid).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// A file holding the job archive's PostgreSQL URL (the chart mounts it from a Secret);
    /// without it, finished jobs are not archived.
    #[arg(long, env = "DEVAGENTS_ARCHIVE_DATABASE_URL_FILE")]
    archive_database_url_file: Option<std::path::PathBuf>,
    /// How long archived jobs are kept: `30d`, `12h`, `90m`, `45s`.
    #[arg(long, env = "DEVAGENTS_ARCHIVE_RETENTION", default_value = "30d", value_parser = devagents::services::archive::parse_period)]
    archive_retention: Duration,
    /// Log lines as JSON (one object per line, for Fluent Bit, Elasticsearch, Loki) or text.
    #[arg(long, env = "DEVAGENTS_LOG_FORMAT", default_value = "text")]
    log_format: devagents::services::logging::LogFormat,
}

fn llm_gateway(
    args: &RunArgs,
    metrics: std::sync::Arc<controller::metrics::Metrics>,
) -> anyhow::Result<Option<std::sync::Arc<devagents::llm::gateway::Gateway>>> {
    use devagents::llm::gateway::{Gateway, Provider, ProviderKind};
    let Some(kind) = args.llm_provider.as_deref() else {
        return Ok(None);
    };
    let kind = if kind == "openai" {
        ProviderKind::OpenAi
    } else {
        ProviderKind::Anthropic
    };
    let base_url = match (&args.llm_base_url, kind) {
        (Some(u), _) => u.clone(),
        (None, ProviderKind::Anthropic) => "https://api.anthropic.com".into(),
        (None, ProviderKind::OpenAi) => {
            anyhow::bail!("--llm-base-url is required for an OpenAI-compatible provider")
        }
    };
    let api_key = match &args.llm_api_key_file {
        Some(p) => std::fs::read_to_string(p)?.trim().to_string(),
        None => std::env::var("ANTHROPIC_API_KEY")
            .or_else(|_| std::env::var("OPENAI_API_KEY"))
            .unwrap_or_default(),
    };
    Ok(Some(std::sync::Arc::new(
        Gateway::new(
            Provider {
                kind,
                base_url,
                api_key,
                model: args.llm_model.clone(),
                max_tokens_field: args.llm_max_tokens_field,
            },
            devagents::llm::limiter::Limiter::new(
                Duration::from_secs(args.llm_rate_window_seconds.max(1)),
                args.llm_requests_per_minute,
                args.llm_tokens_per_minute,
                Duration::from_secs(args.llm_max_wait_seconds),
            ),
            devagents::llm::cache::ResponseCache::new(
                Duration::from_secs(args.llm_cache_ttl_seconds),
                10_000,
            ),
            devagents::llm::retry::RetryPolicy::default(),
            args.llm_prices.clone(),
        )
        .with_metrics(metrics),
    )))
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
        Command::Run(args) => {
            limit_malloc_arenas();
            devagents::services::logging::init(args.log_format, "info,kube=warn");
            let metrics = std::sync::Arc::new(controller::metrics::Metrics::default());
            let llm = llm_gateway(&args, metrics.clone())?;
            let cfg = Config {
                namespace: args.namespace,
                watch_namespace: args.watch_namespace,
                agent_image: args.agent_image,
                github_api_url: args.github_api_url.clone(),
                agent_egress: args.agent_egress.clone().map(|e| e.0),
                environments: std::sync::Arc::new(match &args.environments {
                    Some(p) => devagents::api::environment::Environments::parse(
                        &std::fs::read_to_string(p)
                            .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
                    )
                    .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
                    None => Default::default(),
                }),
                image_pull_policy: args.image_pull_policy,
                max_running: args.max_running,
                agent_limits: parse_agent_limits(&args.agent_limits).map_err(anyhow::Error::msg)?,
                resources: controller::config::Resources {
                    cpu_request: args.cpu_request,
                    memory_request: args.memory_request,
                    cpu_limit: args.cpu_limit,
                    memory_limit: args.memory_limit,
                },
                lock_lease: Duration::from_secs(args.lock_lease_seconds.max(1)),
                start_timeout: Duration::from_secs(args.start_timeout_seconds),
                peer_address: args.peer_address.clone(),
                archive: match &args.archive_database_url_file {
                    Some(p) => Some(std::sync::Arc::new(
                        devagents::services::archive::Archive::new(
                            &std::fs::read_to_string(p)
                                .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
                        ),
                    )),
                    None => None,
                },
                archive_retention: args.archive_retention,
                log_format: args.log_format,
                ..Config::default()
            };
            // The agents' operator-side hooks, from the registry, over the environments.
            let cfg = Config {
                agents: devagents::agents::operator_side(cfg.environments.clone()),
                ..cfg
            };
            let identity = args.identity.unwrap_or_else(|| {
                let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
                format!("{}-{}", host.trim(), std::process::id())
            });
            let _ = rustls::crypto::ring::default_provider().install_default();
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(async {
                tokio::spawn(trim_malloc());
                let client = controller::counting_client(metrics.clone()).await?;
                let mut cfg = cfg;
                if args.agent_api_addr != "off" {
                    let addr: SocketAddr = args.agent_api_addr.parse()?;
                    let ns = &cfg.namespace;
                    let tls = match (&args.tls_cert_file, &args.tls_key_file) {
                        (Some(c), Some(k)) => devagents::agentapi::Tls::from_files(c, k)?,
                        _ => {
                            devagents::agentapi::Tls::shared(
                                &client,
                                ns,
                                &[
                                    "localhost".into(),
                                    "127.0.0.1".into(),
                                    "devagents-operator".into(),
                                    format!("devagents-operator.{ns}"),
                                    format!("devagents-operator.{ns}.svc"),
                                ],
                            )
                            .await?
                        }
                    };
                    let url = args.agent_api_url.clone().unwrap_or_else(|| {
                        format!("https://devagents-operator.{ns}.svc:{}", addr.port())
                    });
                    let ca_pem = match &args.tls_ca_file {
                        Some(p) => std::fs::read_to_string(p)
                            .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
                        None => tls.cert_pem.clone(),
                    };
                    cfg.seal_key = controller::config::SealKey::from_secret(tls.key_der());
                    cfg.agent_api = Some(controller::config::AgentApi {
                        url: url.clone(),
                        ca_pem: ca_pem.clone(),
                    });
                    let state = devagents::agentapi::ApiState::new(
                        client.clone(),
                        llm,
                        cfg.agents.clone(),
                        devagents::agentapi::Limits {
                            artifacts: devagents::agentapi::results::Quota {
                                max_bytes: args.artifact_max_bytes,
                                max_count: args.artifact_max_count,
                            },
                            uploads_per_minute: args.artifact_uploads_per_minute,
                            ..Default::default()
                        },
                        cfg.job_cache.clone(),
                    );
                    if cfg.peer_address.is_some() {
                        let _ = state.peers.set(std::sync::Arc::new(
                            devagents::agentapi::forward::Peers::new(
                                client.clone(),
                                cfg.namespace.clone(),
                                identity.clone(),
                                metrics.clone(),
                                &url,
                                ca_pem.clone(),
                                tls.key_der(),
                            ),
                        ));
                    }
                    let app = devagents::agentapi::router(
                        state,
                        devagents::agents::api_routes(cfg.environments.clone()),
                    );
                    tokio::spawn(async move {
                        if let Err(e) = devagents::agentapi::serve_tls(addr, &tls, app).await {
                            tracing::error!(error = %e, "agent API stopped");
                            std::process::exit(1);
                        }
                    });
                    if let Some(base) = &args.register_webhooks {
                        devagents::agentapi::webhook::register(
                            &client,
                            base,
                            &ca_pem,
                            cfg.watch_namespace.as_deref(),
                        )
                        .await?;
                    }
                }
                controller::run(
                    metrics,
                    client,
                    cfg,
                    args.metrics_addr,
                    identity,
                    args.leader_lease_seconds,
                )
                .await
            })?;
        }
    }
    Ok(())
}

/// glibc gives each thread that allocates its own arena (up to 8 per core), and the memory a
/// cache's initial list freed stays spread over them. The operator's caches are filled by
/// a few threads and then mostly read: two arenas serve it (release RSS, issue 15).
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: called before any other thread exists; mallopt only sets an allocator knob.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Hand memory freed at the top of the heap back to the system now and then (after an
/// initial list or a burst, glibc keeps it otherwise).
async fn trim_malloc() {
    loop {
        tokio::time::sleep(Duration::from_secs(10)).await;
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: malloc_trim only releases free memory; it is thread-safe.
        unsafe {
            libc::malloc_trim(0);
        }
    }
}

/// `--agent-egress`: NetworkPolicy egress rules, checked against the Kubernetes type.
#[derive(Clone, Debug)]
struct EgressRules(Vec<serde_json::Value>);

fn parse_egress(raw: &str) -> Result<EgressRules, String> {
    let rules: Vec<serde_json::Value> =
        serde_json::from_str(raw).map_err(|e| format!("not a JSON list: {e}"))?;
    for (i, r) in rules.iter().enumerate() {
        serde_json::from_value::<k8s_openapi::api::networking::v1::NetworkPolicyEgressRule>(
            r.clone(),
        )
        .map_err(|e| format!("rule {i}: not a NetworkPolicy egress rule: {e}"))?;
    }
    Ok(EgressRules(rules))
}
