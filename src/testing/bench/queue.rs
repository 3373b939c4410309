//! `devagents-bench queue`: N probe AgentJobs behind the operator's slots against the same
//! work as one Indexed batch/v1 Job on the same node stand-in.

use super::*;
use crate::controller::metrics::api_writes as writes;
use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use serde_json::json;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One queue run's numbers.
pub struct QueueRun {
    n: usize,
    aj_makespan: f64,
    job_makespan: f64,
    writes_per_job: f64,
    writes: Vec<(String, String, f64)>,
    aj_api_cpu: f64,
    job_api_cpu: f64,
    peak_rss_mib: f64,
    passes: f64,
    /// Seconds the scheduler's passes took, summed.
    pass_secs: f64,
    aj_stages: Stages,
    job_stages: Stages,
    /// Every request the apiserver served during each side's run (all clients: operator,
    /// node stand-in, agent processes, kube-controller-manager, this benchmark's watches),
    /// per job, by (verb, resource).
    aj_requests: Vec<((String, String), f64)>,
    job_requests: Vec<((String, String), f64)>,
    /// CPU milliseconds per job of each process (children included), for each side.
    aj_cpu: Vec<(String, f64)>,
    job_cpu: Vec<(String, f64)>,
}

/// CPU seconds of each process, its waited-for children included.
fn cpu_of(procs: &[(u32, String)]) -> Vec<(String, f64)> {
    procs
        .iter()
        .map(|(pid, name)| (name.clone(), super::cpu_secs_with_children(*pid)))
        .collect()
}

fn cpu_per_job(before: &[(String, f64)], after: &[(String, f64)], n: usize) -> Vec<(String, f64)> {
    before
        .iter()
        .zip(after)
        .map(|((name, b), (_, a))| (name.clone(), (a - b) / n as f64 * 1000.0))
        .collect()
}

/// `apiserver_request_total` summed by (verb, resource[/subresource]), from the apiserver's
/// own /metrics.
async fn apiserver_requests(client: &Client) -> HashMap<(String, String), f64> {
    let mut out = HashMap::new();
    let Ok(req) = http::Request::get("/metrics").body(Vec::new()) else {
        return out;
    };
    let Ok(text) = client.request_text(req).await else {
        return out;
    };
    for line in text
        .lines()
        .filter(|l| l.starts_with("apiserver_request_total{"))
    {
        let Some((labels, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let get = |k: &str| {
            labels
                .split(&format!(",{k}=\""))
                .nth(1)
                .or_else(|| labels.split(&format!("{{{k}=\"")).nth(1))
                .and_then(|r| r.split('"').next())
                .unwrap_or("")
                .to_string()
        };
        let (sub, res) = (get("subresource"), get("resource"));
        let res = if sub.is_empty() {
            res
        } else {
            format!("{res}/{sub}")
        };
        *out.entry((get("verb"), res)).or_default() += value.parse::<f64>().unwrap_or(0.0);
    }
    out
}

/// Per-job request counts between two readings, largest first, tiny ones left out.
fn per_job(
    before: &HashMap<(String, String), f64>,
    after: &HashMap<(String, String), f64>,
    n: usize,
) -> Vec<((String, String), f64)> {
    let mut v: Vec<_> = after
        .iter()
        .map(|(k, a)| {
            (
                k.clone(),
                (a - before.get(k).copied().unwrap_or(0.0)) / n as f64,
            )
        })
        .filter(|(_, d)| *d >= 0.05)
        .collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1));
    v
}

/// When a watch first saw each Pod created, bound to the node, running and ended.
#[derive(Default, Clone)]
pub struct PodTimes {
    created: Option<Instant>,
    bound: Option<Instant>,
    running: Option<Instant>,
    ended: Option<Instant>,
}

pub fn watch_timeline(client: &Client, ns: &str) -> Arc<Mutex<HashMap<String, PodTimes>>> {
    fold_pods(client, ns, |m, p: &Pod, now| {
        let phase = p
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_default();
        let bound = p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some();
        let t: &mut PodTimes = m.entry(p.name_any()).or_default();
        t.created.get_or_insert(now);
        if bound {
            t.bound.get_or_insert(now);
        }
        if phase == "Running" {
            t.running.get_or_insert(now);
        }
        if phase == "Succeeded" || phase == "Failed" {
            t.ended.get_or_insert(now);
        }
    })
}

/// Mean milliseconds of each stage of a slot's cycle: the refill (a Pod ended → the Pod that
/// takes its slot created: the k-th creation against the (k-slots)-th end), then created →
/// bound → running → ended as the node stand-in reports them.
#[derive(Default, Clone, Copy)]
pub struct Stages {
    refill: f64,
    bind: f64,
    start: f64,
    run: f64,
}

pub fn stages(times: &Arc<Mutex<HashMap<String, PodTimes>>>, slots: usize) -> Stages {
    let m = times.lock().map(|m| m.clone()).unwrap_or_default();
    let mean = |v: Vec<f64>| {
        if v.is_empty() {
            f64::NAN
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    };
    let ms = |a: Option<Instant>, b: Option<Instant>| match (a, b) {
        (Some(a), Some(b)) => Some(b.saturating_duration_since(a).as_secs_f64() * 1000.0),
        _ => None,
    };
    let mut created: Vec<Instant> = m.values().filter_map(|t| t.created).collect();
    let mut ended: Vec<Instant> = m.values().filter_map(|t| t.ended).collect();
    created.sort();
    ended.sort();
    let refill = created
        .iter()
        .skip(slots)
        .zip(ended.iter())
        .map(|(c, e)| c.saturating_duration_since(*e).as_secs_f64() * 1000.0)
        .collect();
    Stages {
        refill: mean(refill),
        bind: mean(m.values().filter_map(|t| ms(t.created, t.bound)).collect()),
        start: mean(m.values().filter_map(|t| ms(t.bound, t.running)).collect()),
        run: mean(m.values().filter_map(|t| ms(t.running, t.ended)).collect()),
    }
}

/// N probe AgentJobs of `sleep_ms` at `--max-running slots`, against one batch/v1 Job
/// (completions N, parallelism `slots`) whose Pods run the same probe for the same time.
pub async fn queue_run(
    client: &Client,
    n: usize,
    slots: usize,
    sleep_ms: u64,
    operator: &PathBuf,
    apiserver_pid: u32,
    procs: &[(u32, String)],
) -> anyhow::Result<QueueRun> {
    let stamp = format!("{}-{n}", std::process::id());
    let (aj_ns, job_ns) = (format!("bq-aj-{stamp}"), format!("bq-job-{stamp}"));
    for ns in [&aj_ns, &job_ns] {
        namespace(client, ns).await?;
    }

    // 1. AgentJobs through the operator, with its default limit.
    let op = OperatorProc::start(operator, &aj_ns, &["--max-running", &slots.to_string()])?;
    op.wait_leader().await?;
    let aj_times = watch_timeline(client, &aj_ns);
    let before_m = op.metrics().await;
    let before = writes(&before_m);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let rss = sample_rss(op.child.id(), stop.clone());
    let jobs: Api<crate::api::AgentJob> = Api::namespaced(client.clone(), &aj_ns);
    let done = Arc::new(Mutex::new(std::collections::HashSet::<String>::new()));
    let (d, api) = (done.clone(), jobs.clone());
    let watch = tokio::spawn(async move {
        let mut w = watcher(api, watcher::Config::default())
            .default_backoff()
            .applied_objects()
            .boxed();
        while let Some(Ok(j)) = w.next().await {
            if j.status
                .as_ref()
                .and_then(|s| s.phase)
                .is_some_and(|p| p.is_terminal())
                && let Ok(mut d) = d.lock()
            {
                d.insert(j.name_any());
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut aj_procs = procs.to_vec();
    aj_procs.push((op.child.id(), "agent-operator".into()));
    let req0 = apiserver_requests(client).await;
    let procs0 = cpu_of(&aj_procs);
    let cpu0 = cpu_secs(apiserver_pid);
    let t0 = Instant::now();
    create_probes(&jobs, "aj", n, sleep_ms).await?;
    let deadline = Instant::now() + Duration::from_secs(60 + (n as u64 * sleep_ms) / 100);
    while done.lock().map(|d| d.len()).unwrap_or(0) < n {
        anyhow::ensure!(Instant::now() < deadline, "AgentJobs did not all finish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let aj_makespan = t0.elapsed().as_secs_f64();
    let aj_api_cpu = cpu_secs(apiserver_pid) - cpu0;
    let aj_cpu = cpu_per_job(&procs0, &cpu_of(&aj_procs), n);
    let aj_requests = per_job(&req0, &apiserver_requests(client).await, n);
    watch.abort();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after_m = op.metrics().await;
    let after = writes(&after_m);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let peak = rss.await.unwrap_or(0);
    let failed = jobs
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .filter(|j| j.status.as_ref().and_then(|s| s.phase) != Some(crate::api::Phase::Succeeded))
        .count();
    anyhow::ensure!(failed == 0, "{failed} AgentJobs did not succeed");
    let mut rows = Vec::new();
    let mut total = 0.0;
    for (k, v) in &after {
        let d = v - before.get(k).copied().unwrap_or(0.0);
        if d <= 0.0 || k.1 == "events" || k.1.ends_with("reviews") {
            continue;
        }
        total += d;
        rows.push((k.0.clone(), k.1.clone(), d / n as f64));
    }
    let m = |name: &str| {
        crate::controller::metrics::sample(&after_m, name)
            - crate::controller::metrics::sample(&before_m, name)
    };
    let passes = m("devagents_scheduler_passes_total");
    let pass_secs = m("devagents_scheduler_pass_seconds_sum");
    drop(op);
    drain(client, &aj_ns).await?;

    // 2. The same work as one batch/v1 Job through kube-controller-manager.
    let kjobs: Api<Job> = Api::namespaced(client.clone(), &job_ns);
    let mut tpl = pod_template();
    tpl["spec"]["containers"][0]["command"] = json!(["agent-runner", "probe"]);
    tpl["spec"]["containers"][0]["args"] = json!(["--sleep-ms", sleep_ms.to_string()]);
    let j: Job = serde_json::from_value(json!({
        "metadata": {"name": "queue"},
        // Kubernetes 1.20 has no Indexed completion mode (alpha in 1.21): a NonIndexed Job
        // with the same completions and parallelism runs the same work.
        "spec": {"completions": n, "parallelism": slots, "backoffLimit": 0, "template": tpl}
    }))?;
    let job_times = watch_timeline(client, &job_ns);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let req0 = apiserver_requests(client).await;
    let procs0 = cpu_of(procs);
    let cpu0 = cpu_secs(apiserver_pid);
    let t0 = Instant::now();
    kjobs.create(&PostParams::default(), &j).await?;
    let mut w = watcher(kjobs.clone(), watcher::Config::default())
        .default_backoff()
        .applied_objects()
        .boxed();
    let deadline = Duration::from_secs(60 + (n as u64 * sleep_ms) / 100);
    let complete = tokio::time::timeout(deadline, async {
        while let Some(Ok(j)) = w.next().await {
            let st = j.status.unwrap_or_default();
            if st.succeeded.unwrap_or(0) as usize >= n {
                return true;
            }
            if st.failed.unwrap_or(0) > 0 {
                return false;
            }
        }
        false
    })
    .await;
    anyhow::ensure!(
        complete == Ok(true),
        "the batch/v1 Job did not complete ({complete:?})"
    );
    let job_makespan = t0.elapsed().as_secs_f64();
    let job_api_cpu = cpu_secs(apiserver_pid) - cpu0;
    let job_cpu = cpu_per_job(&procs0, &cpu_of(procs), n);
    let job_requests = per_job(&req0, &apiserver_requests(client).await, n);
    drain(client, &job_ns).await?;
    clean_up(client, &[&aj_ns, &job_ns]).await?;
    Ok(QueueRun {
        n,
        aj_makespan,
        job_makespan,
        writes_per_job: total / n as f64,
        writes: rows,
        aj_api_cpu,
        job_api_cpu,
        peak_rss_mib: peak as f64 / 1024.0,
        passes,
        pass_secs,
        aj_stages: stages(&aj_times, slots),
        job_stages: stages(&job_times, slots),
        aj_requests,
        job_requests,
        aj_cpu,
        job_cpu,
    })
}

/// Delete a run's namespaces and wait until they are gone, so that the next run measures a
/// quiet control plane (not the namespace controller deleting the last run's Pods, accounts
/// and Secrets). The operator has stopped, so the finished AgentJobs' finalizers are taken off
/// here.
async fn clean_up(client: &Client, namespaces: &[&str]) -> anyhow::Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    for ns in namespaces {
        let _ = api.delete(ns, &Default::default()).await;
        let jobs: Api<crate::api::AgentJob> = Api::namespaced(client.clone(), ns);
        let unfinalize = kube::api::Patch::Merge(json!({"metadata": {"finalizers": null}}));
        for j in jobs.list(&ListParams::default()).await?.items {
            if !j.finalizers().is_empty() {
                let _ = jobs
                    .patch(
                        &j.name_any(),
                        &kube::api::PatchParams::default(),
                        &unfinalize,
                    )
                    .await;
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    for ns in namespaces {
        while api.get_opt(ns).await?.is_some() {
            anyhow::ensure!(Instant::now() < deadline, "namespace {ns} was not deleted");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    Ok(())
}

pub async fn queue(
    client: Client,
    sizes: Vec<usize>,
    slots: usize,
    sleep_ms: u64,
    operator: PathBuf,
    apiserver_pid: u32,
    procs: Vec<(u32, String)>,
) -> anyhow::Result<()> {
    let mut runs = Vec::new();
    for n in sizes {
        eprintln!("queue benchmark: {n} jobs of {sleep_ms} ms behind {slots} slots ...");
        runs.push(
            queue_run(
                &client,
                n,
                slots,
                sleep_ms,
                &operator,
                apiserver_pid,
                &procs,
            )
            .await?,
        );
    }
    println!(
        "queue benchmark: probe jobs of {sleep_ms} ms behind {slots} slots (AgentJobs, operator \
         --max-running {slots}) against one batch/v1 Job (completions N, parallelism {slots}) on \
         the same apiserver and node stand-in; release builds"
    );
    println!("  {}", super::control_plane_note());
    let ideal = |n: usize| n as f64 * sleep_ms as f64 / 1000.0 / slots as f64;
    println!(
        "  {:>6} {:>9} {:>11} {:>11} {:>7} {:>13} {:>13} {:>9} {:>10} {:>8}",
        "N",
        "ideal s",
        "AgentJob s",
        "Job s",
        "ratio",
        "overhead/job",
        "writes/job",
        "apiCPU/AJ",
        "apiCPU/Job",
        "RSS MiB"
    );
    for r in &runs {
        let ovh = (r.aj_makespan - ideal(r.n)) / r.n as f64 * 1000.0;
        println!(
            "  {:>6} {:>9.1} {:>11.1} {:>11.1} {:>7.2} {:>10.1} ms {:>13.2} {:>7.1}ms {:>8.1}ms {:>8.1}",
            r.n,
            ideal(r.n),
            r.aj_makespan,
            r.job_makespan,
            r.aj_makespan / r.job_makespan,
            ovh,
            r.writes_per_job,
            r.aj_api_cpu / r.n as f64 * 1000.0,
            r.job_api_cpu / r.n as f64 * 1000.0,
            r.peak_rss_mib
        );
    }
    if let (Some(a), Some(b)) = (runs.first(), runs.last())
        && runs.len() > 1
    {
        let o = |r: &QueueRun| (r.aj_makespan - ideal(r.n)) / r.n as f64;
        println!(
            "  overhead per job grows {:.2}x from N={} to N={} (goal: within 1.2x)",
            o(b) / o(a),
            a.n,
            b.n
        );
    }
    println!(
        "  a slot's cycle, mean ms (refill: a Pod ended -> the next Pod created; bind: created -> \
         bound; start: bound -> running; run: running -> ended, {sleep_ms} ms of it the work):"
    );
    for r in &runs {
        for (who, st) in [("AgentJob", r.aj_stages), ("Job", r.job_stages)] {
            println!(
                "    N={:<5} {who:9} refill {:7.1}  bind {:6.1}  start {:6.1}  run {:7.1}  cycle {:7.1}",
                r.n,
                st.refill,
                st.bind,
                st.start,
                st.run,
                st.refill + st.bind + st.start + st.run
            );
        }
    }
    for r in &runs {
        for (who, cpu) in [("AgentJob", &r.aj_cpu), ("Job", &r.job_cpu)] {
            if cpu.is_empty() {
                continue;
            }
            let total: f64 = cpu.iter().map(|(_, v)| v).sum();
            let each: Vec<String> = cpu.iter().map(|(p, v)| format!("{p} {v:.1}")).collect();
            println!(
                "  N={}: CPU ms per {who}: {total:.1} ({})",
                r.n,
                each.join(", ")
            );
        }
    }
    for r in &runs {
        println!(
            "  N={}: {:.0} scheduler passes ({:.2} per job, {:.2} ms each, {:.1} ms per job); writes per job by kind:",
            r.n,
            r.passes,
            r.passes / r.n as f64,
            r.pass_secs / r.passes.max(1.0) * 1000.0,
            r.pass_secs / r.n as f64 * 1000.0
        );
        for (verb, res, v) in &r.writes {
            println!("    {verb:6} {res:24} {v:.2}");
        }
        for (who, reqs) in [("AgentJob", &r.aj_requests), ("Job", &r.job_requests)] {
            let total: f64 = reqs.iter().map(|(_, v)| v).sum();
            println!(
                "  N={}: requests the apiserver served per {who} (every client): {total:.1}",
                r.n
            );
            for ((verb, res), v) in reqs {
                println!("    {verb:8} {res:32} {v:.2}");
            }
        }
    }
    Ok(())
}
