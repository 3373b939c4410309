//! `devagents-bench`: the e2e benchmarks (run by `just bench-dispatch`, not by the tests).
//!
//! - `dispatch`: on one apiserver, creation → Pod-created latency of probe AgentJobs (through
//!   `agent-operator`) against batch/v1 Jobs running the same Pod (through the real
//!   kube-controller-manager), raw Pod-create throughput as the floor, and the operator's API
//!   writes per AgentJob lifecycle (from its own request counter).
//! - `rss`: the operator's resident memory with N finished AgentJobs in its cache.
//! - `deploy`: the deployer's time from AgentJob creation to rollout confirmed (median, p90)
//!   against the same image change patched directly and followed until the rollout is done
//!   (what `kubectl set image` + `kubectl rollout status` would take on the same apiserver).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    Dispatch {
        #[arg(long, default_value_t = 500)]
        jobs: usize,
        /// Concurrent create calls (the same for every kind).
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        #[arg(long)]
        operator: PathBuf,
    },
    /// The reviewer against its seeded corpus: recall and precision per category, and
    /// anything reported on a line the pull request does not add.
    ReviewQuality,
    /// LLM gateway overhead over the provider's own latency, and cache-hit latency.
    Llm {
        #[arg(long, default_value_t = 2000)]
        requests: usize,
    },
    /// Deployer: creation → rollout confirmed, against a direct patch + rollout watch.
    Deploy {
        #[arg(long, default_value_t = 20)]
        jobs: usize,
        #[arg(long, default_value_t = 2)]
        replicas: i32,
        #[arg(long)]
        operator: PathBuf,
    },
    /// A queue deeper than the limits: N probe jobs behind the default 4 slots, against one
    /// batch/v1 Job doing the same work (makespan, overhead, writes, apiserver CPU, RSS).
    Queue {
        /// Queue sizes, comma-separated.
        #[arg(long, value_delimiter = ',', default_values_t = vec![500, 2000])]
        jobs: Vec<usize>,
        #[arg(long, default_value_t = 4)]
        slots: usize,
        #[arg(long, default_value_t = 200)]
        sleep_ms: u64,
        /// Runs of each side per queue size, alternating which side goes first.
        #[arg(long, default_value_t = 2)]
        rounds: usize,
        /// Run the operator with its admission webhooks registered, as the chart does by
        /// default (`--webhooks false`: without, the operator adds its finalizer itself).
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        webhooks: bool,
        #[arg(long)]
        operator: PathBuf,
        /// The kube-apiserver's process (its CPU time is measured).
        #[arg(long)]
        apiserver_pid: u32,
        /// The control plane's processes, one "PID NAME" per line: their CPU time (children
        /// included: the node stand-in's agent processes) is reported per job.
        #[arg(long)]
        pids_file: Option<PathBuf>,
    },
    Rss {
        #[arg(long, default_value_t = 10_000)]
        jobs: usize,
        /// Jobs waiting in the queue besides the finished ones (the operator admits none).
        #[arg(long, default_value_t = 2_000)]
        queued: usize,
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        #[arg(long)]
        operator: PathBuf,
    },
}

use devagents::testing::bench::queue::queue;
use devagents::testing::bench::*;

use devagents::controller::metrics::api_writes as writes;

async fn dispatch(client: Client, n: usize, conc: usize, operator: PathBuf) -> anyhow::Result<()> {
    let stamp = std::process::id();
    let (raw_ns, aj_ns, job_ns) = (
        format!("bench-raw-{stamp}"),
        format!("bench-aj-{stamp}"),
        format!("bench-job-{stamp}"),
    );
    for ns in [&raw_ns, &aj_ns, &job_ns] {
        namespace(&client, ns).await?;
    }

    // 1. The floor: raw Pod creates.
    let pods: Api<Pod> = Api::namespaced(client.clone(), &raw_ns);
    let t0 = Instant::now();
    stream::iter(0..n)
        .map(|i| {
            let pods = pods.clone();
            async move {
                let mut v = pod_template();
                v["metadata"] = json!({"name": format!("raw-{i}")});
                let p: Pod = serde_json::from_value(v)?;
                pods.create(&PostParams::default(), &p).await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(conc)
        .try_collect::<Vec<_>>()
        .await?;
    let raw_secs = t0.elapsed().as_secs_f64();
    drain(&client, &raw_ns).await?;

    // 2. AgentJobs through the operator.
    let op = OperatorProc::start(&operator, &aj_ns, &["--max-running", "100000"])?;
    op.wait_leader().await?;
    let before = writes(&op.metrics().await);
    let seen = watch_pods(&client, &aj_ns, |p| {
        p.labels().get("devagents.io/job").cloned()
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let jobs: Api<devagents::api::AgentJob> = Api::namespaced(client.clone(), &aj_ns);
    let starts = Arc::new(Mutex::new(HashMap::new()));
    stream::iter(0..n)
        .map(|i| {
            let (jobs, starts) = (jobs.clone(), starts.clone());
            async move {
                let name = format!("aj-{i}");
                let j: devagents::api::AgentJob = serde_json::from_value(json!({
                    "apiVersion": "devagents.io/v1alpha1", "kind": "AgentJob",
                    "metadata": {"name": name}, "spec": {"agent": "probe", "probe": {}}
                }))?;
                let t = Instant::now();
                jobs.create(&PostParams::default(), &j).await?;
                if let Ok(mut s) = starts.lock() {
                    s.insert(name, t);
                }
                anyhow::Ok(())
            }
        })
        .buffer_unordered(conc)
        .try_collect::<Vec<_>>()
        .await?;
    wait_seen(&seen, n, "agentjobs").await?;
    // Wait for every lifecycle to finish before counting writes.
    for _ in 0..2400 {
        let list = jobs.list(&ListParams::default()).await?;
        if list.items.iter().all(|j| {
            j.status
                .as_ref()
                .and_then(|s| s.phase)
                .is_some_and(|p| p.is_terminal())
        }) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = writes(&op.metrics().await);
    let aj_lat = latencies(&starts.lock().map(|m| m.clone()).unwrap_or_default(), &seen);
    drop(op);
    drain(&client, &aj_ns).await?;

    // 3. batch/v1 Jobs through kube-controller-manager.
    let seen = watch_pods(&client, &job_ns, |p| p.labels().get("job-name").cloned());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let kjobs: Api<Job> = Api::namespaced(client.clone(), &job_ns);
    let starts = Arc::new(Mutex::new(HashMap::new()));
    stream::iter(0..n)
        .map(|i| {
            let (kjobs, starts) = (kjobs.clone(), starts.clone());
            async move {
                let name = format!("job-{i}");
                let j: Job = serde_json::from_value(json!({
                    "metadata": {"name": name},
                    "spec": {"backoffLimit": 0, "template": pod_template()}
                }))?;
                let t = Instant::now();
                kjobs.create(&PostParams::default(), &j).await?;
                if let Ok(mut s) = starts.lock() {
                    s.insert(name, t);
                }
                anyhow::Ok(())
            }
        })
        .buffer_unordered(conc)
        .try_collect::<Vec<_>>()
        .await?;
    wait_seen(&seen, n, "jobs").await?;
    let job_lat = latencies(&starts.lock().map(|m| m.clone()).unwrap_or_default(), &seen);

    // Report.
    println!("dispatch benchmark: {n} each, {conc} concurrent creates, one apiserver");
    println!("  {}", devagents::testing::bench::control_plane_note());
    println!(
        "  raw Pod create throughput (floor): {:.0} pods/s ({n} in {raw_secs:.2}s)",
        n as f64 / raw_secs
    );
    println!("  creation -> Pod created latency (ms):      p50      p99");
    let (a50, a99, j50, j99) = (
        pct(&aj_lat, 0.5),
        pct(&aj_lat, 0.99),
        pct(&job_lat, 0.5),
        pct(&job_lat, 0.99),
    );
    println!("    AgentJob (devagents operator)      {a50:8.1} {a99:8.1}");
    println!("    batch/v1 Job (kube-controller-mgr) {j50:8.1} {j99:8.1}");
    println!(
        "  ratio AgentJob/Job: p50 {:.2}  p99 {:.2}",
        a50 / j50,
        a99 / j99
    );
    println!("  operator API writes per AgentJob lifecycle (Events excluded):");
    let mut total = 0.0;
    for (k, v) in &after {
        let d = v - before.get(k).copied().unwrap_or(0.0);
        if d <= 0.0 || k.1 == "events" {
            continue;
        }
        if k.1.ends_with("reviews") {
            // TokenReview / SubjectAccessReview: questions to the apiserver, nothing stored.
            println!(
                "    {:6} {:24} {:.2}  (a review, not a write: nothing is stored)",
                k.0,
                k.1,
                d / n as f64
            );
            continue;
        }
        total += d;
        println!("    {:6} {:24} {:.2}", k.0, k.1, d / n as f64);
    }
    println!(
        "    total                           {:.2}",
        total / n as f64
    );
    for ns in [&raw_ns, &aj_ns, &job_ns] {
        let api: Api<Namespace> = Api::all(client.clone());
        let _ = api.delete(ns, &Default::default()).await;
    }
    Ok(())
}

async fn rss(
    client: Client,
    n: usize,
    queued: usize,
    conc: usize,
    operator: PathBuf,
) -> anyhow::Result<()> {
    let ns = format!("bench-rss-{}", std::process::id());
    namespace(&client, &ns).await?;
    let jobs: Api<devagents::api::AgentJob> = Api::namespaced(client.clone(), &ns);
    let t0 = Instant::now();
    stream::iter(0..n)
        .map(|i| {
            let jobs = jobs.clone();
            async move {
                let name = format!("done-{i}");
                // As the operator leaves a finished job: finalizer on, status final.
                let j: devagents::api::AgentJob = serde_json::from_value(json!({
                    "apiVersion": "devagents.io/v1alpha1", "kind": "AgentJob",
                    "metadata": {"name": name, "finalizers": [devagents::contract::FINALIZER]},
                    "spec": {"agent": "probe", "probe": {"sleepMs": 100}}
                }))?;
                jobs.create(&PostParams::default(), &j).await?;
                let now = k8s_openapi::jiff::Timestamp::now();
                let status = json!({"status": {
                    "phase": "Succeeded", "reason": "Succeeded", "message": "probe finished after 100 ms",
                    "startedAt": now, "completedAt": now,
                    "attempts": [{"attempt": 1, "pod": format!("{name}-1"), "createdAt": now, "startedAt": now,
                                  "finishedAt": now, "exitCode": 0, "reason": "Succeeded", "message": "probe finished after 100 ms"}],
                    "conditions": [
                        {"type": "Admitted", "status": "True", "reason": "PodCreated", "message": "attempt 1", "lastTransitionTime": now},
                        {"type": "Finished", "status": "True", "reason": "Succeeded", "message": "probe finished", "lastTransitionTime": now}],
                    "result": {"summary": "probe finished after 100 ms"}
                }});
                jobs.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status)).await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(conc)
        .try_collect::<Vec<_>>()
        .await?;
    eprintln!(
        "created {n} finished AgentJobs in {:.1}s",
        t0.elapsed().as_secs_f64()
    );
    // Admits nothing: the queued jobs stay queued.
    let op = OperatorProc::start(&operator, &ns, &["--max-running", "0"])?;
    op.wait_leader().await?;
    create_probes(&jobs, "queued", queued, 100).await?;
    let want = format!("devagents_jobs{{agent=\"probe\",phase=\"Succeeded\"}} {n}");
    let want_q = format!("devagents_jobs{{agent=\"probe\",phase=\"Queued\"}} {queued}");
    for _ in 0..1200 {
        let m = op.metrics().await;
        if m.contains(&want) && (queued == 0 || m.contains(&want_q)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Let the initial reconciles of every job finish.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let m = op.metrics().await;
    anyhow::ensure!(m.contains(&want), "the operator never saw all {n} jobs");
    anyhow::ensure!(
        queued == 0 || m.contains(&want_q),
        "the operator never queued all {queued} jobs"
    );
    let rss = op.rss_kib().unwrap_or(0);
    println!(
        "operator RSS with {n} finished and {queued} queued AgentJobs cached: {:.1} MiB (goal < 64 MiB)",
        rss as f64 / 1024.0
    );
    drop(op);
    let api: Api<Namespace> = Api::all(client.clone());
    // Finished jobs keep their finalizer; remove it so the namespace can go.
    let list = jobs.list(&ListParams::default()).await?;
    stream::iter(list.items)
        .map(|j| {
            let jobs = jobs.clone();
            async move {
                let _ = jobs
                    .patch(
                        &j.name_any(),
                        &PatchParams::default(),
                        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
                    )
                    .await;
            }
        })
        .buffer_unordered(conc)
        .collect::<Vec<_>>()
        .await;
    let _ = api.delete(&ns, &Default::default()).await;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Llm { requests } => llm(requests).await,
        Cmd::ReviewQuality => {
            let dir = std::env::temp_dir().join(format!("review-quality-{}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            let c = devagents::testing::review_corpus::corpus();
            println!(
                "reviewer quality: {} defects seeded by a pull request, {} already in the base on lines it leaves alone; deterministic checks (go vet, staticcheck, security, secrets, i18n, tests), no LLM",
                c.seeded.len(),
                c.preexisting.len()
            );
            let t0 = Instant::now();
            let r = devagents::testing::review_corpus::evaluate(&dir).await;
            let _ = std::fs::remove_dir_all(&dir);
            let r = r?;
            print!("{r}");
            println!("review took {:.1} s", t0.elapsed().as_secs_f64());
            for n in &r.notes {
                println!("note: {n}");
            }
            Ok(())
        }
        Cmd::Dispatch {
            jobs,
            concurrency,
            operator,
        } => dispatch(Client::try_default().await?, jobs, concurrency, operator).await,
        Cmd::Deploy {
            jobs,
            replicas,
            operator,
        } => deploy(Client::try_default().await?, jobs, replicas, operator).await,
        Cmd::Queue {
            jobs,
            slots,
            sleep_ms,
            rounds,
            webhooks,
            operator,
            apiserver_pid,
            pids_file,
        } => {
            let procs = match pids_file {
                Some(f) => std::fs::read_to_string(f)?
                    .lines()
                    .filter_map(|l| {
                        let (pid, name) = l.split_once(' ')?;
                        Some((pid.parse().ok()?, name.trim().to_string()))
                    })
                    .collect(),
                None => Vec::new(),
            };
            queue(
                Client::try_default().await?,
                jobs,
                rounds.max(1),
                (slots, sleep_ms, webhooks),
                operator,
                apiserver_pid,
                procs,
            )
            .await
        }
        Cmd::Rss {
            jobs,
            queued,
            concurrency,
            operator,
        } => {
            rss(
                Client::try_default().await?,
                jobs,
                queued,
                concurrency,
                operator,
            )
            .await
        }
    }
}

/// A local test double of the Anthropic Messages API answering at once; the same requests
/// sent directly and through the gateway (unique prompts, so no cache hits), then one prompt
/// repeated (cache hits).
async fn llm(n: usize) -> anyhow::Result<()> {
    use devagents::llm::gateway::{CompletionRequest, Gateway, Message, Provider, ProviderKind};
    let app = axum::Router::new().route(
        "/v1/messages",
        axum::routing::post(|| async {
            axum::Json(json!({"content": [{"type": "text", "text": "ok"}],
                "usage": {"input_tokens": 10, "output_tokens": 5}}))
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", l.local_addr()?);
    tokio::spawn(async move { axum::serve(l, app).await });
    let gw = Gateway::new(
        Provider::new(ProviderKind::Anthropic, &url, "k", "m"),
        devagents::llm::limiter::Limiter::per_minute(
            usize::MAX / 2,
            u64::MAX / 4,
            Duration::from_secs(1),
        ),
        devagents::llm::cache::ResponseCache::new(Duration::from_secs(3600), 100_000),
        devagents::llm::retry::RetryPolicy::default(),
        devagents::llm::pricing::PriceTable::default(),
    );
    let http = reqwest::Client::new();
    let req = |i: usize| CompletionRequest {
        system: Some("conventions".into()),
        context: None,
        messages: vec![Message {
            role: "user".into(),
            content: format!("prompt {i}"),
        }],
        max_tokens: 64,
    };
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let (mut direct, mut through, mut hits) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        let body = json!({"model": "m", "max_tokens": 64, "messages": [{"role": "user", "content": format!("prompt {i}")}]});
        let t = Instant::now();
        http.post(format!("{url}/v1/messages"))
            .json(&body)
            .send()
            .await?
            .json::<serde_json::Value>()
            .await?;
        direct.push(ms(t.elapsed()));
        let t = Instant::now();
        gw.complete("bench/job", "probe", &req(i)).await?;
        through.push(ms(t.elapsed()));
    }
    for _ in 0..n {
        let t = Instant::now();
        let c = gw.complete("bench/job", "probe", &req(0)).await?;
        hits.push(ms(t.elapsed()));
        anyhow::ensure!(c.from_cache, "expected a cache hit");
    }
    for v in [&mut direct, &mut through, &mut hits] {
        v.sort_by(|a, b| a.total_cmp(b));
    }
    println!("LLM gateway, {n} requests each, provider test double on loopback (ms):");
    println!(
        "  direct to provider   p50 {:.3}  p99 {:.3}",
        pct(&direct, 0.5),
        pct(&direct, 0.99)
    );
    println!(
        "  through the gateway  p50 {:.3}  p99 {:.3}",
        pct(&through, 0.5),
        pct(&through, 0.99)
    );
    println!(
        "  gateway overhead     p50 {:.3}  p99 {:.3}",
        pct(&through, 0.5) - pct(&direct, 0.5),
        pct(&through, 0.99) - pct(&direct, 0.99)
    );
    println!(
        "  cache hit            p50 {:.3}  p99 {:.3}",
        pct(&hits, 0.5),
        pct(&hits, 0.99)
    );
    Ok(())
}

/// Wait until Deployment `name` runs `image` and its rollout is done (kubectl's judgement).
async fn rollout_done(
    api: &Api<k8s_openapi::api::apps::v1::Deployment>,
    name: &str,
    image: &str,
) -> anyhow::Result<()> {
    use devagents::agents::deployer::rollout::{Rollout, status};
    let cond = |d: Option<&k8s_openapi::api::apps::v1::Deployment>| {
        d.is_some_and(|d| {
            let runs = d
                .spec
                .as_ref()
                .and_then(|s| s.template.spec.as_ref())
                .and_then(|s| s.containers.first())
                .and_then(|c| c.image.as_deref())
                == Some(image);
            runs && matches!(status(d), Rollout::Done(_))
        })
    };
    tokio::time::timeout(
        Duration::from_secs(120),
        kube::runtime::wait::await_condition(api.clone(), name, cond),
    )
    .await??;
    Ok(())
}

async fn deploy(client: Client, n: usize, replicas: i32, operator: PathBuf) -> anyhow::Result<()> {
    use devagents::api::AgentJob;
    use k8s_openapi::api::apps::v1::Deployment;
    let suffix = format!("{:x}", std::process::id());
    let ns = format!("bench-deploy-{suffix}");
    let app_ns = format!("bench-shop-{suffix}");
    namespace(&client, &ns).await?;
    namespace(&client, &app_ns).await?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &app_ns);
    let image = |v: &str| format!("registry.local/shop/api:{v}");
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "api"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "api"}},
            "template": {"metadata": {"labels": {"app": "api"}},
                "spec": {"containers": [{"name": "api", "image": image("v0")}]}}}
    }))?;
    deployments.create(&PostParams::default(), &d).await?;
    rollout_done(&deployments, "api", &image("v0")).await?;

    // Baseline: the same change patched directly, followed until the rollout is done.
    let mut direct = Vec::new();
    for i in 1..=n {
        let v = format!("d{i}");
        let t0 = Instant::now();
        deployments
            .patch(
                "api",
                &PatchParams::apply("bench").force(),
                &Patch::Apply(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api"},
                    "spec": {"template": {"spec": {"containers": [{"name": "api", "image": image(&v)}]}}}})),
            )
            .await?;
        rollout_done(&deployments, "api", &image(&v)).await?;
        direct.push(t0.elapsed().as_secs_f64() * 1000.0);
    }

    let dir = std::env::temp_dir().join(format!("devagents-bench-{suffix}"));
    std::fs::create_dir_all(&dir)?;
    let envs = dir.join("environments.yaml");
    std::fs::write(
        &envs,
        format!(
            "environments:\n- name: bench\n  namespace: {app_ns}\n  services:\n  - name: api\n    image: registry.local/shop/api\n"
        ),
    )?;
    let op = OperatorProc::start(
        &operator,
        &ns,
        &["--environments", envs.to_str().unwrap_or_default()],
    )?;
    op.wait_leader().await?;
    let jobs: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    let mut through = Vec::new();
    for i in 1..=n {
        let name = format!("deploy-{i}");
        let job: AgentJob = serde_json::from_value(json!({
            "apiVersion": "devagents.io/v1alpha1", "kind": "AgentJob", "metadata": {"name": name},
            "spec": {"agent": "deployer", "deployer": {"environment": "bench", "version": format!("v{i}")}}
        }))?;
        let created = k8s_openapi::jiff::Timestamp::now();
        jobs.create(&PostParams::default(), &job).await?;
        let done = tokio::time::timeout(
            Duration::from_secs(120),
            kube::runtime::wait::await_condition(jobs.clone(), &name, |j: Option<&AgentJob>| {
                j.and_then(|j| j.status.as_ref())
                    .and_then(|s| s.phase)
                    .is_some_and(|p| p.is_terminal())
            }),
        )
        .await??
        .ok_or_else(|| anyhow::anyhow!("{name} deleted"))?;
        let st = done.status.unwrap_or_default();
        let confirmed = st
            .result
            .as_ref()
            .and_then(|r| r.data.as_ref())
            .and_then(|d| d.get("confirmedAt"))
            .and_then(|v| v.as_str())
            .and_then(|s| s.parse::<k8s_openapi::jiff::Timestamp>().ok())
            .ok_or_else(|| anyhow::anyhow!("{name} ended {:?}: {:?}", st.phase, st.message))?;
        through.push(created.duration_until(confirmed).as_secs_f64() * 1000.0);
    }
    drop(op);
    let _ = std::fs::remove_dir_all(&dir);
    let api_ns: Api<Namespace> = Api::all(client.clone());
    for n in [&ns, &app_ns] {
        let _ = api_ns.delete(n, &Default::default()).await;
    }
    direct.sort_by(f64::total_cmp);
    through.sort_by(f64::total_cmp);
    println!("deploy benchmark: {n} deploys of one Deployment ({replicas} replicas), ms");
    println!(
        "  direct patch → rollout done          median {:8.1}  p90 {:8.1}",
        pct(&direct, 0.5),
        pct(&direct, 0.9)
    );
    println!(
        "  AgentJob created → rollout confirmed median {:8.1}  p90 {:8.1}",
        pct(&through, 0.5),
        pct(&through, 0.9)
    );
    println!(
        "  ratio (deployer / direct)            median {:8.2}",
        pct(&through, 0.5) / pct(&direct, 0.5).max(0.001)
    );
    Ok(())
}
