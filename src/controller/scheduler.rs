//! The admission loop: one pass at a time (so decisions never race each other), planned by
//! [`planner::plan`] from the caches, executed concurrently.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::ObjectRef;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tokio::sync::Semaphore;
use tracing::{debug, warn};

use super::lifecycle::{admitted_status, waiting_phase, waiting_status};
use super::metrics::WakeLabel;
use super::planner::{self, Decision, JobState, JobView, Limits, LockHolder};
use super::{Context, locks, pod};
use crate::api::{AgentJob, Phase};

/// How many admissions run at once.
const ADMISSION_CONCURRENCY: usize = 64;

/// The shortest pause between two scheduler passes.
const MIN_GAP: Duration = Duration::from_millis(2);

/// While every slot is taken, how long a change of waiting jobs only (one arrived, its
/// finalizer landed) may wait for the pass that shows it in the queue.
const QUEUE_GAP: Duration = Duration::from_millis(250);

/// What wakes the scheduler. A change that may free capacity (a Pod or a job ended, a lock
/// was released, an approval decided, an admission failed) runs a pass at once. A change of a
/// waiting job only runs one at once while a slot is free (the job may start); while every
/// slot is taken it can only be queued, and such changes are served together, at most every
/// [`QUEUE_GAP`]: a burst of arrivals into a full queue costs a few passes, not one per job.
#[derive(Default)]
pub struct Wake {
    now: tokio::sync::Notify,
    queued: tokio::sync::Notify,
    /// `devagents_scheduler_wakes_total`, by reason.
    counted: Family<WakeLabel, Counter>,
    /// Jobs whose Pods changed since the last pass (their views are observed again).
    touched: std::sync::Mutex<Touched>,
}

/// What changed since the last pass.
#[derive(Default)]
struct Touched {
    /// Jobs whose Pods changed (by UID): their views are observed again.
    jobs: std::collections::HashSet<String>,
    /// A Pod no job owns changed (one made by someone else under an attempt's name): every
    /// view is observed again, as if nothing were kept.
    all: bool,
    /// Jobs the job watch saw change or go (by UID): their views are built again from the
    /// cache.
    changed: HashMap<String, ObjectRef<AgentJob>>,
    /// The job watch listed everything again (a restart, an expired watch): every view is
    /// checked against the cache.
    relisted: bool,
}

impl Wake {
    /// Wake-ups counted in `wakes` (the operator's metric family).
    pub fn counted(wakes: Family<WakeLabel, Counter>) -> Self {
        Wake {
            counted: wakes,
            ..Wake::default()
        }
    }

    /// How often `reason` woke the scheduler.
    #[cfg(test)]
    pub fn count(&self, reason: &'static str) -> u64 {
        self.counted.get_or_create(&WakeLabel { reason }).get()
    }

    /// Capacity may have freed (`reason`: see [`super::metrics::WakeLabel`]): pass at once.
    pub fn notify(&self, reason: &'static str) {
        self.counted.get_or_create(&WakeLabel { reason }).inc();
        self.now.notify_one();
    }

    /// A Pod changed: its owning job's view (or, for a Pod no job owns, every view) is
    /// observed again by the next pass.
    pub fn pod_changed(&self, pod: &k8s_openapi::api::core::v1::Pod) {
        let mut t = self.touched.lock().unwrap_or_else(|e| e.into_inner());
        let owner = pod
            .metadata
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.kind == "AgentJob");
        match owner {
            Some(o) => {
                t.jobs.insert(o.uid.clone());
            }
            None => t.all = true,
        }
    }

    /// The job watch saw `job` change or go: its view is built again from the cache.
    pub fn job_changed(&self, job: &AgentJob) {
        if let Some(uid) = job.metadata.uid.clone() {
            let mut t = self.touched.lock().unwrap_or_else(|e| e.into_inner());
            t.changed.insert(uid, ObjectRef::from_obj(job));
        }
    }

    /// The job watch listed every job again (events may have been lost meanwhile).
    pub fn jobs_relisted(&self) {
        self.touched
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .relisted = true;
    }

    fn take_touched(&self) -> Touched {
        std::mem::take(&mut *self.touched.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// A waiting job changed.
    pub fn queue_changed(&self) {
        self.counted
            .get_or_create(&WakeLabel { reason: "queue" })
            .inc();
        self.queued.notify_one();
    }

    /// Wait for the next reason to pass; `full`: the last pass left no slot free.
    async fn next(&self, full: bool) {
        tokio::select! {
            _ = self.now.notified() => {}
            _ = self.queued.notified() => {
                if full {
                    tokio::select! {
                        _ = self.now.notified() => {}
                        _ = tokio::time::sleep(QUEUE_GAP) => {}
                    }
                }
            }
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

pub async fn run(ctx: Arc<Context>) {
    if let Err(e) = ctx.jobs.wait_until_ready().await {
        warn!(error = %e, "job cache never became ready");
        return;
    }
    let permits = Arc::new(Semaphore::new(ADMISSION_CONCURRENCY));
    let mut views = Views::default();
    loop {
        let t = std::time::Instant::now();
        let full = pass(&ctx, &permits, &mut views).await;
        // Coalesce: every wake-up that arrives while a pass runs, or during the pause after
        // it, is served by one next pass (Notify keeps a single permit). The pause is as long
        // as the pass took (at least MIN_GAP), so a burst of events costs at most about one
        // pass per two pass-lengths, and the scheduler never takes more than half a core.
        tokio::time::sleep(t.elapsed().max(MIN_GAP)).await;
        ctx.wake.next(full).await;
    }
}

/// Ended for good: a terminal phase recorded (nothing of it is left to schedule; its locks
/// were released when it ended).
fn ended(job: &AgentJob) -> bool {
    job.status
        .as_ref()
        .and_then(|s| s.phase)
        .is_some_and(|p| p.is_terminal())
}

/// Queue status writes (Queued, a new reason) in flight at once. Without a bound, 2,000 jobs
/// arriving together were 2,000 writes at once: as many connections to the apiserver, each
/// with its TLS state and buffers, kept in the client's pool after the burst (operator RSS).
pub const QUEUE_WRITES_IN_FLIGHT: usize = 8;

pub fn queue_write_permits() -> Arc<Semaphore> {
    Arc::new(Semaphore::new(QUEUE_WRITES_IN_FLIGHT))
}

/// Attempts recorded in status.
fn attempts(job: &AgentJob) -> i32 {
    job.status
        .as_ref()
        .map(|s| s.attempts.len() as i32)
        .unwrap_or(0)
}

/// The planner's views of the live jobs, kept between passes and kept up to date from what
/// changed, not rebuilt from the cache: a job's view is built again when the job watch saw it
/// change ([`Wake::job_changed`]); a pass observes again only what lies outside the job
/// object and changed (the jobs whose Pods changed, whose admission by this process began or
/// ended, and those with an approval to wait for). So a pass touches what changed plus the
/// compact views the planner orders, never the job objects of a deep queue or of the finished
/// jobs the cache holds. Every [`FULL_SYNC`] (and after the job watch re-listed) the views are
/// checked against the whole cache, which also repairs anything a lost event left behind.
#[derive(Default)]
pub struct Views {
    by_uid: HashMap<String, Cached>,
    /// Views with something outside the job to observe at every pass (an approval), or this
    /// process's admission recorded in them.
    watched: std::collections::HashSet<String>,
    synced_at: Option<std::time::Instant>,
    counted_at: Option<std::time::Instant>,
}

/// How often the views are checked against the whole job cache.
const FULL_SYNC: Duration = Duration::from_secs(10);
/// How often the job gauges (every job by agent and phase) are counted from the cache.
const COUNT_EVERY: Duration = Duration::from_secs(1);

struct Cached {
    /// The version of the job viewed (the cache's own copy: its address tells whether the
    /// cache holds a newer one).
    job: Arc<AgentJob>,
    view: JobView,
    fixed: planner::Fixed,
    /// This process's admission of the job (its attempt) when the view was last observed.
    admitted: Option<i32>,
    /// Its status shows it queued for a slot (most of a deep queue): nothing to write.
    shows_slot: bool,
}

impl Cached {
    fn new(ctx: &Context, job: Arc<AgentJob>) -> Self {
        let (view, fixed) = planner::fixed_view(&job, &ctx.cfg.agents, true);
        let shows_slot = job.status.as_ref().is_some_and(|st| {
            st.phase == Some(Phase::Queued) && st.waiting_for.as_deref() == Some("slot")
        });
        Cached {
            job,
            view,
            fixed,
            admitted: None,
            shows_slot,
        }
    }
}

/// Re-observe `job`'s view: whether its next attempt started, its last Pod ended, its
/// approval was given.
fn observe(ctx: &Context, job: &AgentJob, c: &mut Cached, admitted: &HashMap<String, i32>) {
    let ns = job.metadata.namespace.as_deref().unwrap_or_default();
    let next = attempts(job) + 1;
    let next_pod = ObjectRef::new(&pod::pod_name(
        job.metadata.name.as_deref().unwrap_or_default(),
        next,
    ))
    .within(ns);
    let started = job
        .metadata
        .uid
        .as_deref()
        .is_some_and(|u| admitted.get(u).is_some_and(|a| *a >= next))
        || ctx.pods.get(&next_pod).is_some_and(|p| {
            // Only the operator's own Pod (a Pod someone else made under that name is not
            // the attempt, and holds no slot).
            pod::sealed_account(&p, &ctx.cfg.seal_key, job, next).is_some()
        });
    // Only an approval the operator issued for this job UID, with the expected pins (they
    // are in its name) and deciders, can admit it.
    let approved = |name: &str| {
        ctx.approvals
            .get(&ObjectRef::new(name).within(ns))
            .filter(|a| super::approval::verify(a, job, &ctx.cfg.agents).is_ok())
            .and_then(|a| a.status.as_ref().and_then(|s| s.phase))
            == Some(crate::api::ApprovalPhase::Approved)
    };
    // Only a Running job's Pod can free its slot by ending (the planner asks no other).
    let running = job.status.as_ref().and_then(|s| s.phase) == Some(Phase::Running);
    let pod_finished = running
        && job
            .status
            .as_ref()
            .and_then(|s| s.attempts.last())
            .and_then(|a| ctx.pods.get(&ObjectRef::new(&a.pod).within(ns)))
            .and_then(|p| {
                p.status
                    .as_ref()
                    .and_then(|s| s.phase.as_deref())
                    .map(|ph| ph == "Succeeded" || ph == "Failed")
            })
            .unwrap_or(false);
    planner::observe(
        &mut c.view,
        &c.fixed,
        job,
        &planner::Observed {
            agents: &ctx.cfg.agents,
            operator: true,
            started,
            pod_finished,
            approved: &approved,
        },
    );
}

/// Bring `uid`'s view in line with the cache's `job`: built again when the cache holds another
/// version of it, dropped when it ended or went. Whether a view was built.
fn refresh(ctx: &Context, cache: &mut Views, uid: &str, job: Option<Arc<AgentJob>>) -> bool {
    match job.filter(|j| !ended(j) && j.metadata.uid.as_deref() == Some(uid)) {
        Some(j) => {
            if cache
                .by_uid
                .get(uid)
                .is_some_and(|c| Arc::ptr_eq(&c.job, &j))
            {
                return false;
            }
            cache.by_uid.insert(uid.to_string(), Cached::new(ctx, j));
            true
        }
        None => {
            cache.by_uid.remove(uid);
            cache.watched.remove(uid);
            false
        }
    }
}

/// The job gauges: every job in the cache, finished ones too, by agent and phase.
fn count_jobs(ctx: &Context) {
    let mut counts: HashMap<(crate::api::AgentKind, Phase), i64> = HashMap::new();
    for j in ctx.jobs.state() {
        let phase = j.status.as_ref().and_then(|s| s.phase).unwrap_or_default();
        *counts.entry((j.spec.agent, phase)).or_default() += 1;
    }
    ctx.metrics.jobs.clear();
    for ((agent, phase), n) in counts {
        ctx.metrics
            .jobs
            .get_or_create(&super::metrics::AgentPhase {
                agent: agent.to_string(),
                phase: format!("{phase:?}"),
            })
            .set(n);
    }
}

/// One pass; returns whether it left every slot taken (no job can start before capacity
/// frees).
async fn pass(ctx: &Arc<Context>, permits: &Arc<Semaphore>, cache: &mut Views) -> bool {
    let started = std::time::Instant::now();
    let now = Timestamp::now();
    let touched = ctx.wake.take_touched();
    // The gauges count every job, finished ones too: once a second, not at every pass (a pass
    // costs what the queue holds, not what the cache holds).
    if cache.counted_at.is_none_or(|t| t.elapsed() >= COUNT_EVERY) {
        cache.counted_at = Some(started);
        count_jobs(ctx);
    }
    // The views built again: those of the jobs the watch saw change, or, at a full sync, of
    // every live job the cache holds in another version than the one viewed.
    let mut fresh: Vec<String> = Vec::new();
    if touched.relisted || cache.synced_at.is_none_or(|t| t.elapsed() >= FULL_SYNC) {
        cache.synced_at = Some(started);
        let live: HashMap<String, Arc<AgentJob>> = ctx
            .jobs
            .state()
            .into_iter()
            .filter(|j| !ended(j))
            .filter_map(|j| Some((j.metadata.uid.clone()?, j)))
            .collect();
        cache.by_uid.retain(|uid, _| live.contains_key(uid));
        cache.watched.retain(|uid| live.contains_key(uid));
        for (uid, j) in live {
            if refresh(ctx, cache, &uid, Some(j)) {
                fresh.push(uid);
            }
        }
    } else {
        for (uid, r) in touched.changed {
            if refresh(ctx, cache, &uid, ctx.jobs.get(&r)) {
                fresh.push(uid);
            }
        }
    }
    {
        let mut admitted = ctx.admitted.lock().await;
        // Observed again: the views just built, those whose Pods changed, those waiting for an
        // approval, and those whose admission by this process began or ended.
        let mut again: std::collections::HashSet<String> = fresh.into_iter().collect();
        if touched.all {
            again.extend(cache.by_uid.keys().cloned());
        } else {
            again.extend(touched.jobs);
        }
        again.extend(cache.watched.iter().cloned());
        again.extend(admitted.keys().cloned());
        for uid in &again {
            let Some(c) = cache.by_uid.get_mut(uid) else {
                continue;
            };
            let job = c.job.clone();
            c.admitted = admitted.get(uid).copied().filter(|a| attempts(&job) < *a);
            observe(ctx, &job, c, &admitted);
            if c.fixed.approval.is_some() || c.admitted.is_some() {
                cache.watched.insert(uid.clone());
            } else {
                cache.watched.remove(uid);
            }
        }
        // This process's admissions the cache does not show yet are kept; the others (the
        // cache shows them, or their job is gone) are forgotten.
        admitted.retain(|uid, _| cache.by_uid.get(uid).is_some_and(|c| c.admitted.is_some()));
    }
    // The views, side by side with their jobs (a decision's index is into both).
    let entries: Vec<&Cached> = cache.by_uid.values().collect();
    let views: Vec<&JobView> = entries.iter().map(|c| &c.view).collect();
    let lock_state: HashMap<String, LockHolder> = ctx
        .leases
        .state()
        .iter()
        .filter_map(|l| locks::lock_key(l).map(|k| (k, locks::holder(l))))
        .collect();
    let limits = Limits {
        max_running: ctx.cfg.max_running,
        per_agent: ctx.cfg.agent_limits.clone(),
    };
    let decisions = planner::plan(&views, &lock_state, &limits, now);

    // Metrics from the same snapshot.
    let waiting = views
        .iter()
        .filter(|v| v.state == JobState::Waiting)
        .count();
    let running = views
        .iter()
        .filter(|v| v.state == JobState::Running)
        .count();
    ctx.metrics.queue_depth.set(waiting as i64);
    ctx.metrics.running.set(running as i64);

    let admits = decisions
        .iter()
        .filter(|d| matches!(d, Decision::Admit { .. }))
        .count();
    let full = running + admits >= ctx.cfg.max_running;
    let mut ahead = 0;
    // Writes on their way from earlier passes, to forget once the cache shows them.
    let writes_pending = !ctx
        .queue_writes
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .is_empty();
    for d in decisions {
        match d {
            Decision::Admit { index, .. } => {
                let Some(job) = entries.get(index).map(|c| c.job.clone()) else {
                    continue;
                };
                let uid = job.uid().unwrap_or_default();
                let backing_off = ctx
                    .admit_backoff
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&uid)
                    .is_some_and(|(_, at)| *at > std::time::Instant::now());
                if backing_off {
                    continue;
                }
                let attempt = attempts(&job) + 1;
                let span = tracing::info_span!(parent: &super::job_span(&job), "admit", attempt);
                span.in_scope(|| debug!("admitting"));
                ctx.admitted
                    .lock()
                    .await
                    .insert(job.uid().unwrap_or_default(), attempt);
                let (ctx, permits) = (ctx.clone(), permits.clone());
                tokio::spawn(tracing::Instrument::instrument(
                    async move {
                        let _permit = permits.acquire_owned().await;
                        let result = admit(&ctx, &job, attempt).await;
                        let uid = job.uid().unwrap_or_default();
                        let retry_in = {
                            let mut backoff =
                                ctx.admit_backoff.lock().unwrap_or_else(|e| e.into_inner());
                            match &result {
                                Ok(()) => {
                                    backoff.remove(&uid);
                                    None
                                }
                                Err(_) => {
                                    // Failures in a row back off (0.5 s, doubling, at most 30 s): a
                                    // lasting error is retried, never in a hot loop.
                                    let e = backoff
                                        .entry(uid)
                                        .or_insert((0, std::time::Instant::now()));
                                    e.0 += 1;
                                    let d = Duration::from_millis(500)
                                        .saturating_mul(1 << e.0.min(6).saturating_sub(1))
                                        .min(Duration::from_secs(30));
                                    e.1 = std::time::Instant::now() + d;
                                    Some(d)
                                }
                            }
                        };
                        if let Err(e) = result {
                            warn!(error = %e, retry_in = ?retry_in, "admission failed; will retry");
                            ctx.metrics
                                .reconcile_errors
                                .get_or_create(&super::metrics::ErrorLabel {
                                    kind: format!("admit_{}", e.metric_label()),
                                })
                                .inc();
                            ctx.admitted
                                .lock()
                                .await
                                .remove(&job.uid().unwrap_or_default());
                            tokio::time::sleep(retry_in.unwrap_or_default()).await;
                            ctx.wake.notify("admission");
                        }
                    },
                    span,
                ));
            }
            Decision::Wait {
                index, waiting_for, ..
            } => {
                let Some(c) = entries.get(index) else {
                    continue;
                };
                if !c.view.has_finalizer {
                    // Its finalizer is being added; writing now would only conflict.
                    continue;
                }
                let job = &c.job;
                // Name an approval in status only once it exists (the job's reconcile issues
                // it): whoever reads the status can decide it at once.
                if let Some(a) = waiting_for.strip_prefix("approval:")
                    && ctx
                        .approvals
                        .get(&ObjectRef::new(a).within(&job.namespace().unwrap_or_default()))
                        .is_none()
                {
                    continue;
                }
                if waiting_for == "slot" && ahead < ctx.cfg.max_running {
                    // Next in line: its account now, so its admission only creates its Pod.
                    ahead += 1;
                    prepare_account(ctx, job);
                }
                // Most waiting jobs already say so: decided from the view (a deep queue costs
                // a look at each view, not at each job object).
                let shown = if waiting_for == "slot" {
                    c.shows_slot
                } else {
                    job.status.as_ref().is_some_and(|st| {
                        st.phase == Some(waiting_phase(&waiting_for))
                            && st.waiting_for.as_deref() == Some(&*waiting_for)
                    })
                };
                if shown && !writes_pending {
                    continue;
                }
                let uid = job.metadata.uid.as_deref().unwrap_or_default();
                let rv = job.metadata.resource_version.as_deref().unwrap_or_default();
                {
                    let mut writes = ctx.queue_writes.lock().unwrap_or_else(|e| e.into_inner());
                    if shown {
                        // The cache shows it: nothing to write, nothing in flight.
                        writes.remove(uid);
                        continue;
                    }
                    // The same write against the same version was sent already (in flight, or
                    // refused because the cache was behind): not again until the cache moves.
                    if writes
                        .get(uid)
                        .is_some_and(|(w, v)| *w == *waiting_for && v == rv)
                    {
                        continue;
                    }
                    writes.insert(uid.to_string(), (waiting_for.to_string(), rv.to_string()));
                }
                let job = job.clone();
                let next = waiting_status(
                    job.status.as_ref().unwrap_or(&Default::default()),
                    &waiting_for,
                    now,
                );
                ctx.metrics.queue_status_writes.inc();
                let ctx = ctx.clone();
                let permits = ctx.queue_write_permits.clone();
                let span = super::job_span(&job);
                tokio::spawn(tracing::Instrument::instrument(
                    async move {
                        // In arrival order, a few at a time (the semaphore is fair).
                        let Ok(_permit) = permits.acquire_owned().await else {
                            return;
                        };
                        if let Err(e) = super::reconcile::patch_status(&ctx, &job, &next).await {
                            debug!(error = %e, "queue status not written (will retry)");
                        }
                    },
                    span,
                ));
            }
        }
    }
    // Forget write records of jobs that no longer wait.
    // What is kept per waiting job is kept for waiting jobs only (looked up in the views:
    // a lookup per kept entry, not a set of every waiting job per pass).
    let waiting = |uid: &str| {
        cache
            .by_uid
            .get(uid)
            .is_some_and(|c| c.view.state == JobState::Waiting)
    };
    ctx.queue_writes
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|uid, _| waiting(uid));
    {
        let admitted = ctx.admitted.lock().await;
        ctx.accounts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|uid, _| waiting(uid) || admitted.contains_key(uid));
    }
    ctx.admit_backoff
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|uid, _| waiting(uid));
    ctx.metrics.scheduler_passes.inc();
    ctx.metrics
        .scheduler_pass_seconds
        .observe(started.elapsed().as_secs_f64());
    full
}

/// Start attempt `attempt` of `job`: take its locks, then apply the attempt's objects (its
/// ServiceAccount, the rights its agent holds for the job's life, its Pod — deterministic name:
/// AlreadyExists means a previous try made it), then record it. One rollback: whatever fails
/// before the Pod exists gives the locks back.
async fn admit(ctx: &Context, job: &AgentJob, attempt: i32) -> super::Result<()> {
    let ns = job.namespace().ok_or(super::Error::Missing("namespace"))?;
    let name = job.name_any();
    let uid = job.uid().ok_or(super::Error::Missing("uid"))?;
    let taken = match take_locks(ctx, job, &uid).await {
        Ok(Some(t)) => t,
        // Another holder was faster (the planner's view was older): the job waits on.
        other => {
            ctx.admitted.lock().await.remove(&uid);
            ctx.wake.notify("admission");
            return other.map(|_| ());
        }
    };
    let now = Timestamp::now();
    let created = job
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0)
        .unwrap_or(now);
    if !taken.is_empty() {
        ctx.metrics
            .lock_wait
            .observe(created.duration_until(now).as_secs_f64().max(0.0));
    }
    let made = match apply(ctx, job, &ns, attempt).await {
        Ok(m) => m,
        Err(e) => {
            release(ctx, &taken, &uid).await;
            ctx.admitted.lock().await.remove(&uid);
            return Err(e);
        }
    };
    if attempt == 1 {
        ctx.metrics.dispatch_latency.observe(
            created
                .duration_until(Timestamp::now())
                .as_secs_f64()
                .max(0.0),
        );
    }
    let pod_name = pod::pod_name(&name, attempt);
    if let Err(e) = record_admission(ctx, job, attempt, &pod_name, &made).await {
        // The Pod exists; once this process forgets the admission, the reconciler adopts it.
        debug!(error = %e, "admission status not written; the reconciler adopts the pod");
        ctx.admitted.lock().await.remove(&uid);
        return Ok(());
    }
    super::reconcile::publish(
        ctx,
        job,
        Event {
            type_: EventType::Normal,
            reason: "Started".into(),
            note: Some(format!("attempt {attempt}: pod {pod_name}")),
            action: "Admit".into(),
            secondary: None,
        },
    )
    .await;
    Ok(())
}

/// Take every lock of `job`, or none: a lock another holder has (`None`) or an error gives
/// back the ones taken so far.
async fn take_locks(
    ctx: &Context,
    job: &AgentJob,
    uid: &str,
) -> super::Result<Option<Vec<String>>> {
    let lease_api = ctx.lease_api();
    let mut taken = Vec::new();
    for k in locks::job_locks(job, &ctx.cfg.agents) {
        let seen: Option<Arc<Lease>> = ctx
            .leases
            .get(&ObjectRef::new(&locks::lease_name(&k)).within(&ctx.cfg.namespace));
        match locks::acquire(&lease_api, &k, uid, lease_secs(ctx), seen.as_deref()).await {
            Ok(true) => taken.push(k),
            other => {
                debug!(lock = %k, result = ?other, "lock not taken");
                release(ctx, &taken, uid).await;
                return other.map(|_| None).map_err(Into::into);
            }
        }
    }
    Ok(Some(taken))
}

/// Give back locks `keys` held by `uid` (best effort: an expired one is taken over anyway).
async fn release(ctx: &Context, keys: &[String], uid: &str) {
    let lease_api = ctx.lease_api();
    for k in keys {
        let _ = locks::release(&lease_api, k, uid).await;
    }
}

/// An attempt's Pod as made: the UIDs of the account it runs as and of the Pod itself (both
/// pinned in status with the admission).
struct Made {
    sa_uid: String,
    pod_uid: Option<String>,
}

/// The attempt's objects, in order: the namespace's agent NetworkPolicy (no agent Pod starts
/// unprotected), the job's ServiceAccount, the rights its agent holds for the job's life, the
/// sealed Pod.
async fn apply(ctx: &Context, job: &AgentJob, ns: &str, attempt: i32) -> super::Result<Made> {
    super::netpol::ensure(ctx, ns).await?;
    let uid = job.uid().unwrap_or_default();
    let ahead = ctx
        .accounts
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&uid);
    let made = match ahead {
        // Made ahead, or being made: wait for that create rather than race it.
        Some(cell) => cell.get_or_init(|| async { None }).await.clone(),
        None => None,
    };
    let sa_uid = account(ctx, job, ns, attempt, made.filter(|_| attempt == 1)).await?;
    ctx.cfg
        .agents
        .of(job.spec.agent)
        .grant(&ctx.client, job)
        .await?;
    create_pod(ctx, job, ns, attempt, &sa_uid).await
}

/// Write the admission into status; on a conflict (a queue-status write landed first), re-read
/// and apply it on top of the latest status.
async fn record_admission(
    ctx: &Context,
    job: &AgentJob,
    attempt: i32,
    pod_name: &str,
    made: &Made,
) -> super::Result<()> {
    let mut current = job.clone();
    for _ in 0..3 {
        let mut st = admitted_status(
            &current.status.clone().unwrap_or_default(),
            attempt,
            pod_name,
            made.pod_uid.as_deref(),
            Timestamp::now(),
        );
        st.service_account_uid = Some(made.sa_uid.clone());
        match super::reconcile::patch_status(ctx, &current, &st).await {
            Ok(()) => return Ok(()),
            Err(super::Error::Kube(kube::Error::Api(s))) if s.code == 409 => {
                let ns = job.namespace().ok_or(super::Error::Missing("namespace"))?;
                current = ctx.job_api(&ns).get(&job.name_any()).await?;
                if attempts(&current) >= attempt {
                    return Ok(());
                }
            }
            Err(e) => return Err(e),
        }
    }
    Err(super::Error::Missing("a conflict-free status write"))
}

/// Make the ServiceAccount of a job that is next in line, once per process.
fn prepare_account(ctx: &Arc<Context>, job: &Arc<AgentJob>) {
    let (Some(uid), Some(ns)) = (job.uid(), job.namespace()) else {
        return;
    };
    if attempts(job) > 0 {
        return;
    }
    let cell = {
        let mut accounts = ctx.accounts.lock().unwrap_or_else(|e| e.into_inner());
        if accounts.contains_key(&uid) {
            return;
        }
        let cell = Arc::new(tokio::sync::OnceCell::new());
        accounts.insert(uid, cell.clone());
        cell
    };
    let (ctx, job) = (ctx.clone(), job.clone());
    tokio::spawn(async move {
        // Only an account this process made itself counts (one that exists already is
        // checked at admission).
        cell.get_or_init(|| async {
            sa_api(&ctx, &ns)
                .create(&PostParams::default(), &pod::service_account(&job))
                .await
                .ok()
                .and_then(|sa| sa.uid())
        })
        .await;
    });
}

fn sa_api(ctx: &Context, ns: &str) -> Api<ServiceAccount> {
    Api::namespaced(ctx.client.clone(), ns)
}

/// The UID of the job's ServiceAccount as the operator made it: `made` (by this process just
/// now), else the one pinned in status if that very account still exists, else a new one — an
/// account of that name the operator cannot vouch for (made before a restart, or deleted and
/// re-made by someone else) is replaced, so that the agent API only ever trusts an account
/// whose UID the operator got from its own create. One exception keeps that promise: the account
/// this attempt's Pod runs as when the operator sealed that Pod (an admission interrupted after
/// the Pod and before its status write — the seal names the account UID the operator made), so a
/// retried admission never pulls the account from under a Pod that is already running.
async fn account(
    ctx: &Context,
    job: &AgentJob,
    ns: &str,
    attempt: i32,
    made: Option<String>,
) -> super::Result<String> {
    if let Some(u) = made {
        return Ok(u);
    }
    let api = sa_api(ctx, ns);
    let want = pod::service_account(job);
    let name = want.name_any();
    let pinned = job
        .status
        .as_ref()
        .and_then(|s| s.service_account_uid.clone());
    // A later attempt: the account pinned at the first admission, if it is still that one
    // (a read, no write). The first attempt: a new account, or find one in the way.
    let existing = match &pinned {
        Some(p) => match api.get_opt(&name).await? {
            Some(sa) if sa.uid().as_ref() == Some(p) => return Ok(p.clone()),
            other => other,
        },
        None => match api.create(&PostParams::default(), &want).await {
            Ok(sa) => return sa.uid().ok_or(super::Error::Missing("serviceaccount uid")),
            Err(kube::Error::Api(s)) if s.code == 409 => api.get_opt(&name).await?,
            Err(e) => return Err(e.into()),
        },
    };
    if let Some(sa) = existing {
        let pod = ctx
            .pod_api(ns)
            .get_opt(&pod::pod_name(&job.name_any(), attempt))
            .await?;
        let sealed = pod.and_then(|p| pod::sealed_account(&p, &ctx.cfg.seal_key, job, attempt));
        if let (Some(s), Some(u)) = (sealed, sa.uid()) {
            if s == u {
                return Ok(u);
            }
        }
        let dp = super::exactly(sa.uid());
        match api.delete(&name, &dp).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
    }
    // A 409 here (the old account still terminating) fails this admission; it is retried.
    let sa = api.create(&PostParams::default(), &want).await?;
    sa.uid().ok_or(super::Error::Missing("serviceaccount uid"))
}

/// Create the attempt's Pod, sealed. A Pod of that name the operator sealed (made before a
/// restart) is taken as it is, with the account it was sealed for; one someone else made is
/// deleted and this attempt's Pod made in its place.
async fn create_pod(
    ctx: &Context,
    job: &AgentJob,
    ns: &str,
    attempt: i32,
    sa_uid: &str,
) -> super::Result<Made> {
    let pods = ctx.pod_api(ns);
    let mut want = pod::agent_pod(job, attempt, &ctx.cfg);
    pod::seal(&mut want, &ctx.cfg.seal_key, job, attempt, sa_uid);
    let name = want.name_any();
    for _ in 0..2 {
        match pods.create(&PostParams::default(), &want).await {
            Ok(p) => {
                return Ok(Made {
                    sa_uid: sa_uid.to_string(),
                    pod_uid: p.uid(),
                });
            }
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
        let Some(there) = pods.get_opt(&name).await? else {
            continue;
        };
        if let Some(u) = pod::sealed_account(&there, &ctx.cfg.seal_key, job, attempt) {
            return Ok(Made {
                sa_uid: u,
                pod_uid: there.uid(),
            });
        }
        warn!(pod = %name, "a pod the operator did not make has the attempt's name: replacing it");
        let dp = DeleteParams {
            grace_period_seconds: Some(0),
            ..super::exactly(there.uid())
        };
        match pods.delete(&name, &dp).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(super::Error::Missing(
        "the attempt's pod name (taken by a pod being deleted)",
    ))
}

fn lease_secs(ctx: &Context) -> i32 {
    ctx.cfg.lock_lease.as_secs().clamp(1, i32::MAX as u64) as i32
}

/// Renew the locks of running jobs every third of the lease duration.
pub async fn renew_locks(ctx: Arc<Context>) {
    let period = (ctx.cfg.lock_lease / 3).max(Duration::from_millis(500));
    loop {
        tokio::time::sleep(period).await;
        let running: std::collections::HashSet<String> = ctx
            .jobs
            .state()
            .iter()
            .filter(|j| j.status.as_ref().and_then(|s| s.phase) == Some(Phase::Running))
            .filter_map(|j| j.uid())
            .collect();
        let api = ctx.lease_api();
        for lease in ctx.leases.state() {
            let h = locks::holder(&lease);
            if h.holder.as_ref().is_some_and(|uid| running.contains(uid))
                && let Err(e) = locks::renew(&api, &lease).await
            {
                warn!(lease = %lease.name_any(), error = %e, "lock renewal failed");
            }
        }
    }
}

#[cfg(test)]
mod tests;
