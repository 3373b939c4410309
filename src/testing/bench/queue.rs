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

/// One phase's numbers: one side (AgentJobs or the batch/v1 Job) running N jobs once.
#[derive(Default)]
pub struct Phase {
    makespan: f64,
    /// kube-apiserver CPU seconds.
    api_cpu: f64,
    stages: Stages,
    /// Every request the apiserver served during the phase (all clients: operator, node
    /// stand-in, agent processes, kube-controller-manager, this benchmark's watches), by
    /// (verb, resource[/subresource]).
    requests: HashMap<(String, String), f64>,
    /// CPU seconds of each process (children included).
    cpu: Vec<(String, f64)>,
    /// The operator's own API writes by (verb, resource), Events and reviews left out
    /// (AgentJob phases only), its scheduler passes and their seconds, its peak RSS.
    writes: HashMap<(String, String), f64>,
    passes: f64,
    pass_secs: f64,
    peak_rss_mib: f64,
}

/// One queue size's phases, in the order they ran.
pub struct QueueRun {
    n: usize,
    aj: Vec<Phase>,
    job: Vec<Phase>,
}

fn delta(
    before: &HashMap<(String, String), f64>,
    after: &HashMap<(String, String), f64>,
) -> HashMap<(String, String), f64> {
    after
        .iter()
        .map(|(k, a)| (k.clone(), a - before.get(k).copied().unwrap_or(0.0)))
        .filter(|(_, d)| *d > 0.0)
        .collect()
}

/// CPU seconds of each process, its waited-for children included.
fn cpu_of(procs: &[(u32, String)]) -> Vec<(String, f64)> {
    procs
        .iter()
        .map(|(pid, name)| (name.clone(), super::cpu_secs_with_children(*pid)))
        .collect()
}

fn cpu_delta(before: &[(String, f64)], after: &[(String, f64)]) -> Vec<(String, f64)> {
    before
        .iter()
        .zip(after)
        .map(|((name, b), (_, a))| (name.clone(), a - b))
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

/// Per-job counts from the phases' totals, largest first, tiny ones left out.
fn per_job<'a>(
    totals: impl Iterator<Item = &'a HashMap<(String, String), f64>>,
    jobs: usize,
) -> Vec<((String, String), f64)> {
    let mut sum: HashMap<(String, String), f64> = HashMap::new();
    for t in totals {
        for (k, v) in t {
            *sum.entry(k.clone()).or_default() += v;
        }
    }
    let mut v: Vec<_> = sum
        .into_iter()
        .map(|(k, t)| (k, t / jobs.max(1) as f64))
        .filter(|(_, d)| *d >= 0.05)
        .collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
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

/// A phase's readings at its start: the apiserver's request counts and CPU, the processes'
/// CPU, the clock.
struct Meter {
    apiserver_pid: u32,
    procs: Vec<(u32, String)>,
    requests: HashMap<(String, String), f64>,
    cpu: Vec<(String, f64)>,
    api_cpu: f64,
    t0: Instant,
}

impl Meter {
    async fn start(client: &Client, apiserver_pid: u32, procs: Vec<(u32, String)>) -> Meter {
        Meter {
            apiserver_pid,
            requests: apiserver_requests(client).await,
            cpu: cpu_of(&procs),
            procs,
            api_cpu: cpu_secs(apiserver_pid),
            t0: Instant::now(),
        }
    }

    /// What the phase took since the start: makespan, CPU, the requests the apiserver served.
    async fn stop(&self, client: &Client) -> Phase {
        Phase {
            makespan: self.t0.elapsed().as_secs_f64(),
            api_cpu: cpu_secs(self.apiserver_pid) - self.api_cpu,
            cpu: cpu_delta(&self.cpu, &cpu_of(&self.procs)),
            requests: delta(&self.requests, &apiserver_requests(client).await),
            ..Phase::default()
        }
    }
}

/// What every phase shares: the control plane's processes and the run's shape.
pub struct Bench<'a> {
    pub client: &'a Client,
    pub slots: usize,
    pub sleep_ms: u64,
    pub operator: &'a PathBuf,
    pub apiserver_pid: u32,
    pub procs: &'a [(u32, String)],
    /// Register the operator's admission webhooks (the chart's default).
    pub webhooks: bool,
}

impl Bench<'_> {
    fn deadline(&self, n: usize) -> Duration {
        Duration::from_secs(60 + (n as u64 * self.sleep_ms) / 100)
    }

    /// N probe AgentJobs of `sleep_ms` through the operator at `--max-running slots`, with
    /// its admission webhooks registered as the chart installs them by default.
    async fn agent_jobs(&self, n: usize, ns: &str) -> anyhow::Result<Phase> {
        let client = self.client;
        namespace(client, ns).await?;
        let slots = self.slots.to_string();
        let args = ["--max-running", slots.as_str()];
        let op = if self.webhooks {
            OperatorProc::start_with_webhooks(self.operator, ns, &args)?
        } else {
            OperatorProc::start(self.operator, ns, &args)?
        };
        op.wait_leader().await?;
        let jobs: Api<crate::api::AgentJob> = Api::namespaced(client.clone(), ns);
        if self.webhooks {
            admitted_by_webhook(&jobs).await?;
        }
        let times = watch_timeline(client, ns);
        let before_m = op.metrics().await;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let rss = sample_rss(op.child.id(), stop.clone());
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
        let mut procs = self.procs.to_vec();
        procs.push((op.child.id(), "agent-operator".into()));
        let meter = Meter::start(client, self.apiserver_pid, procs).await;
        create_probes(&jobs, "aj", n, self.sleep_ms).await?;
        let deadline = Instant::now() + self.deadline(n);
        while done.lock().map(|d| d.len()).unwrap_or(0) < n {
            anyhow::ensure!(Instant::now() < deadline, "AgentJobs did not all finish");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let measured = meter.stop(client).await;
        watch.abort();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let after_m = op.metrics().await;
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let peak = rss.await.unwrap_or(0);
        let failed = jobs
            .list(&ListParams::default())
            .await?
            .items
            .iter()
            .filter(|j| {
                j.status.as_ref().and_then(|s| s.phase) != Some(crate::api::Phase::Succeeded)
            })
            .count();
        anyhow::ensure!(failed == 0, "{failed} AgentJobs did not succeed");
        let written = |m: &str| writes(m).into_iter().collect::<HashMap<_, _>>();
        let writes = delta(&written(&before_m), &written(&after_m))
            .into_iter()
            .filter(|(k, _)| k.1 != "events" && !k.1.ends_with("reviews"))
            .collect();
        let m = |name: &str| {
            crate::controller::metrics::sample(&after_m, name)
                - crate::controller::metrics::sample(&before_m, name)
        };
        let (passes, pass_secs) = (
            m("devagents_scheduler_passes_total"),
            m("devagents_scheduler_pass_seconds_sum"),
        );
        drop(op);
        self.finish(
            ns,
            &times,
            Phase {
                writes,
                passes,
                pass_secs,
                peak_rss_mib: peak as f64 / 1024.0,
                ..measured
            },
        )
        .await
    }

    /// A phase's end: its Pods finished, its namespace gone, the stages of its slots' cycles.
    async fn finish(
        &self,
        ns: &str,
        times: &Arc<Mutex<HashMap<String, PodTimes>>>,
        phase: Phase,
    ) -> anyhow::Result<Phase> {
        drain(self.client, ns).await?;
        clean_up(self.client, ns).await?;
        Ok(Phase {
            stages: stages(times, self.slots),
            ..phase
        })
    }

    /// The same work as one batch/v1 Job through kube-controller-manager.
    async fn batch_job(&self, n: usize, ns: &str) -> anyhow::Result<Phase> {
        let client = self.client;
        namespace(client, ns).await?;
        let kjobs: Api<Job> = Api::namespaced(client.clone(), ns);
        let mut tpl = pod_template();
        tpl["spec"]["containers"][0]["command"] = json!(["agent-runner", "probe"]);
        tpl["spec"]["containers"][0]["args"] = json!(["--sleep-ms", self.sleep_ms.to_string()]);
        let j: Job = serde_json::from_value(json!({
            "metadata": {"name": "queue"},
            // Kubernetes 1.20 has no Indexed completion mode (alpha in 1.21): a NonIndexed Job
            // with the same completions and parallelism runs the same work.
            "spec": {"completions": n, "parallelism": self.slots, "backoffLimit": 0, "template": tpl}
        }))?;
        let times = watch_timeline(client, ns);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let meter = Meter::start(client, self.apiserver_pid, self.procs.to_vec()).await;
        kjobs.create(&PostParams::default(), &j).await?;
        let mut w = watcher(kjobs.clone(), watcher::Config::default())
            .default_backoff()
            .applied_objects()
            .boxed();
        let complete = tokio::time::timeout(self.deadline(n), async {
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
        let measured = meter.stop(client).await;
        drop(w);
        self.finish(ns, &times, measured).await
    }

    /// Queue size `n`, `rounds` times each side, alternating which side goes first (A B B A
    /// …), so that a control plane that drifts slower or faster over the run weighs on both
    /// sides alike rather than on whichever ran second.
    pub async fn run(&self, n: usize, rounds: usize) -> anyhow::Result<QueueRun> {
        let mut run = QueueRun {
            n,
            aj: Vec::new(),
            job: Vec::new(),
        };
        for round in 0..rounds {
            let stamp = format!("{}-{n}-{round}", std::process::id());
            let (aj_ns, job_ns) = (format!("bq-aj-{stamp}"), format!("bq-job-{stamp}"));
            if round % 2 == 0 {
                run.aj.push(self.agent_jobs(n, &aj_ns).await?);
                run.job.push(self.batch_job(n, &job_ns).await?);
            } else {
                run.job.push(self.batch_job(n, &job_ns).await?);
                run.aj.push(self.agent_jobs(n, &aj_ns).await?);
            }
        }
        Ok(run)
    }
}

/// Wait until the apiserver calls the operator's webhooks for the namespace of `jobs` (it
/// picks up new webhook configurations asynchronously): a dry-run create comes back with the
/// operator's finalizer.
async fn admitted_by_webhook(jobs: &Api<crate::api::AgentJob>) -> anyhow::Result<()> {
    let probe: crate::api::AgentJob = serde_json::from_value(json!({
        "apiVersion": "devagents.io/v1alpha1", "kind": "AgentJob",
        "metadata": {"name": "webhook-check"},
        "spec": {"agent": "probe", "probe": {"sleepMs": 1}}
    }))?;
    let pp = PostParams {
        dry_run: true,
        ..Default::default()
    };
    for _ in 0..300 {
        if let Ok(j) = jobs.create(&pp, &probe).await
            && j.finalizers()
                .iter()
                .any(|f| f == crate::contract::FINALIZER)
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("the apiserver never called the operator's admission webhooks")
}

/// Delete a phase's namespace and wait until it is gone, so that the next phase measures a
/// quiet control plane (not the namespace controller deleting the last phase's Pods, accounts
/// and Secrets). The operator has stopped, so its webhook configurations for the namespace go
/// first and the finished AgentJobs' finalizers are taken off here, again until the apiserver
/// no longer calls the stopped webhook.
async fn clean_up(client: &Client, ns: &str) -> anyhow::Result<()> {
    use k8s_openapi::api::admissionregistration::v1::{
        MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
    };
    let hooks = format!("devagents-{ns}");
    let _ = Api::<MutatingWebhookConfiguration>::all(client.clone())
        .delete(&hooks, &Default::default())
        .await;
    let _ = Api::<ValidatingWebhookConfiguration>::all(client.clone())
        .delete(&hooks, &Default::default())
        .await;
    let api: Api<Namespace> = Api::all(client.clone());
    let _ = api.delete(ns, &Default::default()).await;
    let jobs: Api<crate::api::AgentJob> = Api::namespaced(client.clone(), ns);
    let unfinalize = kube::api::Patch::Merge(json!({"metadata": {"finalizers": null}}));
    let deadline = Instant::now() + Duration::from_secs(600);
    while api.get_opt(ns).await?.is_some() {
        anyhow::ensure!(Instant::now() < deadline, "namespace {ns} was not deleted");
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
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}

impl QueueRun {
    fn sum(v: &[Phase], f: impl Fn(&Phase) -> f64) -> f64 {
        v.iter().map(f).sum()
    }

    /// Jobs run by each side over all its phases.
    fn jobs(&self, v: &[Phase]) -> usize {
        self.n * v.len()
    }

    /// Makespan of one side, the mean over its phases.
    fn makespan(&self, v: &[Phase]) -> f64 {
        Self::sum(v, |p| p.makespan) / v.len().max(1) as f64
    }

    /// kube-apiserver CPU milliseconds per job of one side, over all its phases.
    fn api_cpu_ms(&self, v: &[Phase]) -> f64 {
        Self::sum(v, |p| p.api_cpu) / self.jobs(v).max(1) as f64 * 1000.0
    }

    fn stages(v: &[Phase]) -> Stages {
        let k = v.len().max(1) as f64;
        Stages {
            refill: Self::sum(v, |p| p.stages.refill) / k,
            bind: Self::sum(v, |p| p.stages.bind) / k,
            start: Self::sum(v, |p| p.stages.start) / k,
            run: Self::sum(v, |p| p.stages.run) / k,
        }
    }

    /// CPU milliseconds per job of each process, over all the side's phases.
    fn cpu_ms(&self, v: &[Phase]) -> Vec<(String, f64)> {
        let mut out: Vec<(String, f64)> = Vec::new();
        for p in v {
            for (name, secs) in &p.cpu {
                match out.iter_mut().find(|(n, _)| n == name) {
                    Some((_, t)) => *t += secs,
                    None => out.push((name.clone(), *secs)),
                }
            }
        }
        for (_, t) in &mut out {
            *t *= 1000.0 / self.jobs(v).max(1) as f64;
        }
        out
    }
}

pub async fn queue(
    client: Client,
    sizes: Vec<usize>,
    rounds: usize,
    bench: (usize, u64, bool),
    operator: PathBuf,
    apiserver_pid: u32,
    procs: Vec<(u32, String)>,
) -> anyhow::Result<()> {
    let (slots, sleep_ms, webhooks) = bench;
    let b = Bench {
        client: &client,
        slots,
        sleep_ms,
        operator: &operator,
        apiserver_pid,
        procs: &procs,
        webhooks,
    };
    let mut runs = Vec::new();
    for n in sizes {
        eprintln!(
            "queue benchmark: {n} jobs of {sleep_ms} ms behind {slots} slots, {rounds} rounds ..."
        );
        runs.push(b.run(n, rounds).await?);
    }
    println!(
        "queue benchmark: probe jobs of {sleep_ms} ms behind {slots} slots (AgentJobs, operator \
         --max-running {slots}, {}) against one batch/v1 Job (completions N, parallelism {slots}) on the same apiserver and \
         node stand-in; release builds; {rounds} rounds per N, the sides alternating which goes \
         first (AgentJob, Job, Job, AgentJob, ...); times are means over the rounds, the ratio \
         is of the summed makespans",
        if webhooks {
            "its admission webhooks registered as the chart installs them"
        } else {
            "no admission webhooks"
        }
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
    let overhead = |r: &QueueRun| (r.makespan(&r.aj) - ideal(r.n)) / r.n as f64;
    for r in &runs {
        let writes = QueueRun::sum(&r.aj, |p| p.writes.values().sum()) / r.jobs(&r.aj) as f64;
        let rss = r.aj.iter().map(|p| p.peak_rss_mib).fold(0.0, f64::max);
        println!(
            "  {:>6} {:>9.1} {:>11.1} {:>11.1} {:>7.2} {:>10.1} ms {:>13.2} {:>7.1}ms {:>8.1}ms {:>8.1}",
            r.n,
            ideal(r.n),
            r.makespan(&r.aj),
            r.makespan(&r.job),
            r.makespan(&r.aj) / r.makespan(&r.job),
            overhead(r) * 1000.0,
            writes,
            r.api_cpu_ms(&r.aj),
            r.api_cpu_ms(&r.job),
            rss
        );
    }
    if let (Some(a), Some(b)) = (runs.first(), runs.last())
        && runs.len() > 1
    {
        println!(
            "  overhead per job grows {:.2}x from N={} to N={} (goal: within 1.2x)",
            overhead(b) / overhead(a),
            a.n,
            b.n
        );
    }
    println!(
        "  each round (makespan s, kube-apiserver CPU ms per job, requests it served per job):"
    );
    for r in &runs {
        let requests = |p: &Phase| p.requests.values().sum::<f64>() / r.n as f64;
        for (i, (a, j)) in r.aj.iter().zip(&r.job).enumerate() {
            println!(
                "    N={:<5} round {}  AgentJob {:6.1} s {:5.1} ms {:5.1}   Job {:6.1} s {:5.1} ms {:5.1}   ratio {:.2}",
                r.n,
                i + 1,
                a.makespan,
                a.api_cpu / r.n as f64 * 1000.0,
                requests(a),
                j.makespan,
                j.api_cpu / r.n as f64 * 1000.0,
                requests(j),
                a.makespan / j.makespan
            );
        }
    }
    println!(
        "  a slot's cycle, mean ms (refill: a Pod ended -> the next Pod created; bind: created -> \
         bound; start: bound -> running; run: running -> ended, {sleep_ms} ms of it the work):"
    );
    for r in &runs {
        for (who, v) in [("AgentJob", &r.aj), ("Job", &r.job)] {
            let st = QueueRun::stages(v);
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
        for (who, v) in [("AgentJob", &r.aj), ("Job", &r.job)] {
            let cpu = r.cpu_ms(v);
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
        let (passes, pass_secs) = (
            QueueRun::sum(&r.aj, |p| p.passes),
            QueueRun::sum(&r.aj, |p| p.pass_secs),
        );
        let jobs = r.jobs(&r.aj) as f64;
        println!(
            "  N={}: {:.0} scheduler passes per round ({:.2} per job, {:.2} ms each, {:.1} ms per job); writes per job by kind:",
            r.n,
            passes / r.aj.len().max(1) as f64,
            passes / jobs,
            pass_secs / passes.max(1.0) * 1000.0,
            pass_secs / jobs * 1000.0
        );
        for ((verb, res), v) in per_job(r.aj.iter().map(|p| &p.writes), r.jobs(&r.aj)) {
            println!("    {verb:6} {res:24} {v:.2}");
        }
        for (who, v) in [("AgentJob", &r.aj), ("Job", &r.job)] {
            let reqs = per_job(v.iter().map(|p| &p.requests), r.jobs(v));
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
