//! The operator: AgentJob lifecycle, admission queue, Lease locks, retries, timeouts.
//!
//! Shape (kube-rs/controller-rs): a [`Context`] shared by a kube-runtime `Controller` over
//! AgentJobs (owning Pods) and the admission [`scheduler`]; one `thiserror` [`Error`] with a
//! metric label; server-side apply with one field manager; Events through a `Recorder`.
//! The decisions are pure functions ([`planner::plan`], [`lifecycle::step`]); this module
//! and its I/O siblings only fetch and apply.
//!
//! Only the leader (a Lease held through kube-lease-manager) runs the controller and the
//! scheduler; every replica keeps its caches warm and serves metrics and health.

pub mod agent;
pub mod approval;
pub mod archive;
pub mod config;
pub mod lifecycle;
pub mod locks;
pub mod metrics;
pub mod netpol;
pub mod planner;
pub mod pod;
pub mod publish;
mod reconcile;
#[cfg(test)]
mod scenario;
mod scheduler;
pub mod status;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource};
use tokio::sync::Mutex;
use tracing::{error, info, warn};

use crate::api::AgentJob;
pub use config::Config;
use metrics::Metrics;

pub use crate::contract::{FIELD_MANAGER, FINALIZER};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
    #[error("serialization: {0}")]
    Serde(#[from] serde_json::Error),
    #[error("object without {0}")]
    Missing(&'static str),
    #[error("{0}")]
    Archive(#[from] crate::services::archive::ArchiveError),
}

impl Error {
    /// Label for the reconcile-error metric.
    pub fn metric_label(&self) -> String {
        match self {
            Error::Kube(kube::Error::Api(s)) => format!("api_{}", s.code),
            Error::Kube(_) => "kube".into(),
            Error::Finalizer(_) => "finalizer".into(),
            Error::Serde(_) => "serde".into(),
            Error::Missing(_) => "missing".into(),
            Error::Archive(_) => "archive".into(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The span of work done for `job`: every line logged in it names the job, its namespace and
/// agent (the JSON log format puts them beside the message).
pub fn job_span(job: &AgentJob) -> tracing::Span {
    tracing::info_span!(
        "job",
        job = %kube::ResourceExt::name_any(job),
        namespace = %kube::ResourceExt::namespace(job).unwrap_or_default(),
        agent = %job.spec.agent
    )
}

/// Everything the reconcilers share.
pub struct Context {
    pub client: Client,
    pub cfg: Arc<Config>,
    pub jobs: Store<AgentJob>,
    pub pods: Store<Pod>,
    pub leases: Store<Lease>,
    pub approvals: Store<crate::api::AgentApproval>,
    pub metrics: Arc<Metrics>,
    pub recorder: Recorder,
    /// Wakes the scheduler (a job finished, arrived, or its backoff ended).
    pub wake: Arc<scheduler::Wake>,
    /// Jobs admitted by this process that the job cache may not show as Running yet:
    /// uid → attempt. Cleared once the cache catches up.
    pub admitted: Mutex<HashMap<String, i32>>,
    /// Queue status writes sent: uid → (waitingFor, the resourceVersion written against).
    /// The same write is not sent again until the cache shows a newer version.
    pub queue_writes: std::sync::Mutex<HashMap<String, (String, String)>>,
    /// Queue status writes in flight at once ([`scheduler::QUEUE_WRITES_IN_FLIGHT`]): a burst
    /// of arrivals waits for these, instead of opening a connection to the apiserver per job.
    pub queue_write_permits: Arc<tokio::sync::Semaphore>,
    /// Namespaces whose agent NetworkPolicy this process applied.
    pub network_policies: netpol::Applied,
    /// ServiceAccounts made ahead for the jobs next in line (job uid → the account's UID once
    /// this process made it; an admission waits for a create in flight), so that their
    /// admission only creates the Pod.
    pub accounts: std::sync::Mutex<HashMap<String, Arc<tokio::sync::OnceCell<Option<String>>>>>,
    /// Jobs whose admission failed: uid → (failures in a row, not again before).
    pub admit_backoff: std::sync::Mutex<HashMap<String, (u32, std::time::Instant)>>,
}

impl Context {
    pub fn job_api(&self, ns: &str) -> Api<AgentJob> {
        Api::namespaced(self.client.clone(), ns)
    }
    pub fn pod_api(&self, ns: &str) -> Api<Pod> {
        Api::namespaced(self.client.clone(), ns)
    }
    pub fn approval_api(&self, ns: &str) -> Api<crate::api::AgentApproval> {
        Api::namespaced(self.client.clone(), ns)
    }
    pub fn lease_api(&self) -> Api<Lease> {
        Api::namespaced(self.client.clone(), &self.cfg.namespace)
    }
}

fn api_for<K>(client: &Client, ns: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Drop what the caches never read (managed fields, last-applied), keeping memory flat.
fn slim<K: Resource>(obj: &mut K) {
    obj.meta_mut().managed_fields = None;
    if let Some(a) = obj.meta_mut().annotations.as_mut() {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

/// A client whose every request is counted in `devagents_api_requests_total`.
pub async fn counting_client(metrics: Arc<Metrics>) -> anyhow::Result<Client> {
    let config = kube::Config::infer().await?;
    let layer = tower::util::MapRequestLayer::new(move |req: http::Request<kube::client::Body>| {
        let (verb, resource) =
            metrics::classify(req.method().as_str(), req.uri().path(), req.uri().query());
        metrics
            .api_requests
            .get_or_create(&metrics::RequestLabel { verb, resource })
            .inc();
        req
    });
    Ok(kube::client::ClientBuilder::try_from(config)?
        .with_layer(&layer)
        .build())
}

/// A finished job is never written again by the controller: its cached copy keeps only what
/// the queue, the lock release, the TTL and the approvals read (the status history stays on
/// the API object), and its last attempt's Pod name (whether that Pod was seen ending decides
/// whether the job's end still has a slot to hand on). Keeps the cache of thousands of
/// finished jobs small.
pub(crate) fn slim_job(job: &mut AgentJob) {
    slim(job);
    if let Some(st) = job.status.as_mut()
        && st.phase.is_some_and(|p| p.is_terminal())
    {
        st.attempts = st
            .attempts
            .pop()
            .map(|a| crate::api::Attempt {
                attempt: a.attempt,
                pod: a.pod,
                ..Default::default()
            })
            .into_iter()
            .collect();
        st.conditions = Vec::new();
        st.actions = Vec::new();
        st.result = None;
        st.message = None;
        st.llm = None;
    }
}

/// The ConfigMap (operator namespace) describing the agents this operator runs: image,
/// limits, and which agents this build implements (`kubectl agent list` shows it).
pub const REGISTRY_CONFIGMAP: &str = "devagents-agents";

async fn publish_registry(client: &Client, cfg: &Config) -> kube::Result<()> {
    let limits: std::collections::BTreeMap<String, usize> = cfg
        .agent_limits
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect();
    let registry = serde_json::json!({
        "image": cfg.agent_image,
        "maxRunning": cfg.max_running,
        "limits": limits,
        "implemented": cfg.agents.implemented().iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        "environments": cfg.environments.names(),
        // The operator's one queue spans these jobs (null: every namespace).
        "watchNamespace": cfg.watch_namespace,
    });
    let cm = serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": { "name": REGISTRY_CONFIGMAP, "labels": { pod::MANAGED_BY: pod::MANAGER } },
        "data": { "registry.json": registry.to_string() },
    });
    let api: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(client.clone(), &cfg.namespace);
    api.patch(
        REGISTRY_CONFIGMAP,
        &kube::api::PatchParams::apply(FIELD_MANAGER).force(),
        &kube::api::Patch::Apply(&cm),
    )
    .await?;
    Ok(())
}

/// Run the operator until SIGTERM / Ctrl-C, or until leadership is lost.
pub async fn run(
    metrics: Arc<Metrics>,
    client: Client,
    cfg: Config,
    metrics_addr: SocketAddr,
    identity: String,
    leader_lease_secs: u64,
) -> anyhow::Result<()> {
    let cfg = Arc::new(cfg);
    let ready = Arc::new(AtomicBool::new(false));
    tokio::spawn(metrics::serve(
        metrics_addr,
        metrics::HttpState {
            metrics: metrics.clone(),
            ready: ready.clone(),
        },
    ));

    // The lock cache (every replica keeps it warm). Its events wake the scheduler, so a
    // released lock is handed to the next waiter at once.
    let watch_ns = cfg.watch_namespace.as_deref();
    let managed = format!("{}={}", pod::MANAGED_BY, pod::MANAGER);
    let wake = Arc::new(scheduler::Wake::counted(metrics.scheduler_wakes.clone()));
    let (leases_reader, leases_writer) = reflector::store::<Lease>();
    let lease_stream = reflector::reflector(
        leases_writer,
        watcher(
            Api::<Lease>::namespaced(client.clone(), &cfg.namespace),
            watcher::Config::default()
                .labels(&format!("{}=true", locks::LABEL_LOCK))
                .any_semantic(),
        )
        .modify(slim)
        .backoff(config::WatchBackoff::default()),
    );
    let lease_wake = wake.clone();
    let lease_pump = tokio::spawn(lease_stream.for_each(move |_| {
        lease_wake.notify("lease");
        futures::future::ready(())
    }));
    leases_reader.wait_until_ready().await?;
    ready.store(true, Ordering::SeqCst);
    info!(identity, "caches synced; waiting for leadership");

    let leader =
        kube_lease_manager::LeaseManagerBuilder::new(client.clone(), "devagents-operator-leader")
            .with_namespace(cfg.namespace.clone())
            .with_identity(identity.clone())
            .with_duration(leader_lease_secs)
            .with_grace((leader_lease_secs / 3).max(1))
            .with_field_manager(FIELD_MANAGER)
            .build()
            .await?;
    let (mut leading, leader_task) = leader.watch().await;
    while !*leading.borrow_and_update() {
        tokio::select! {
            r = leading.changed() => r?,
            _ = shutdown_signal() => { drop(leading); let _ = leader_task.await; return Ok(()); }
        }
    }
    info!(identity, "became leader");
    if let Some(api) = &cfg.agent_api
        && let Err(e) = publish::publish_ca(&client, &cfg.namespace, &api.ca_pem).await
    {
        warn!(error = %e, "could not publish the agent API CA");
    }
    if let Err(e) = publish_registry(&client, &cfg).await {
        warn!(error = %e, "could not publish the agent registry");
    }
    if let Some(addr) = &cfg.peer_address
        && let Err(e) = publish::publish_leader(&client, &cfg.namespace, &identity, addr).await
    {
        warn!(error = %e, "could not publish the leader's peer address");
    }
    metrics.is_leader.set(1);

    // The AgentJob and Pod caches and the controller run only on the leader. The Pod cache's
    // stream is also the controller's trigger, so a reconcile always sees the Pod change that
    // triggered it.
    let (pods_reader, pods_writer) = reflector::store::<Pod>();
    let pod_stream = reflector::reflector(
        pods_writer,
        watcher(
            api_for::<Pod>(&client, watch_ns),
            watcher::Config::default().labels(&managed).any_semantic(),
        )
        .modify(slim)
        .backoff(config::WatchBackoff::default()),
    )
    .touched_objects()
    // A Pod that ended frees its job's slot: the scheduler hands it on without waiting for
    // the job's reconcile.
    .inspect({
        let wake = wake.clone();
        move |r| {
            if let Ok(p) = r {
                wake.pod_changed(p);
            }
            let ended = r
                .as_ref()
                .ok()
                .and_then(|p| p.status.as_ref())
                .is_some_and(|s| matches!(s.phase.as_deref(), Some("Succeeded") | Some("Failed")));
            if ended {
                wake.notify("pod_ended");
            }
        }
    });
    let approval_controller = kube::runtime::Controller::new(
        api_for::<crate::api::AgentApproval>(&client, watch_ns),
        watcher::Config::default().any_semantic(),
    )
    .trigger_backoff(config::WatchBackoff::default());
    let approvals_reader = approval_controller.store();
    // A job's spec change can void its before-run approval: re-evaluate the job's approvals.
    // The job events come from the controller's own AgentJob watch (one watch, one cache).
    let approvals_of_job = approvals_reader.clone();
    let (approval_tx, approval_rx) =
        futures::channel::mpsc::unbounded::<ObjectRef<crate::api::AgentApproval>>();
    let approval_controller = approval_controller.reconcile_on(approval_rx);
    let (jobs_reader, jobs_writer) = reflector::store::<AgentJob>();
    let job_stream = reflector::reflector(
        jobs_writer,
        watcher(
            api_for::<AgentJob>(&client, watch_ns),
            watcher::Config::default().any_semantic(),
        )
        .modify(slim_job)
        .backoff(config::WatchBackoff::default()),
    )
    // The scheduler keeps its views up to date from what this watch sees change.
    .inspect({
        let wake = wake.clone();
        move |ev| match ev {
            Ok(watcher::Event::Apply(j) | watcher::Event::Delete(j)) => wake.job_changed(j),
            Ok(watcher::Event::InitDone) => wake.jobs_relisted(),
            _ => {}
        }
    })
    .applied_objects()
    .inspect(move |r| {
        if let Ok(job) = r
            && let Some(uid) = kube::ResourceExt::uid(job)
        {
            for a in approvals_of_job.state() {
                if a.spec.job_uid.as_deref() == Some(uid.as_str()) {
                    let _ = approval_tx.unbounded_send(ObjectRef::from_obj(&*a));
                }
            }
        }
    });
    cfg.job_cache.set(jobs_reader.clone());
    let ctx = Arc::new(Context {
        client: client.clone(),
        cfg: cfg.clone(),
        jobs: jobs_reader.clone(),
        pods: pods_reader.clone(),
        leases: leases_reader.clone(),
        approvals: approvals_reader,
        metrics: metrics.clone(),
        recorder: Recorder::new(
            client.clone(),
            Reporter {
                controller: FIELD_MANAGER.into(),
                instance: Some(identity.clone()),
            },
        ),
        wake,
        admitted: Mutex::new(HashMap::new()),
        queue_writes: std::sync::Mutex::new(HashMap::new()),
        queue_write_permits: scheduler::queue_write_permits(),
        accounts: std::sync::Mutex::new(HashMap::new()),
        admit_backoff: std::sync::Mutex::new(HashMap::new()),
        network_policies: netpol::Applied::default(),
    });
    let controller = kube::runtime::Controller::for_stream(job_stream, jobs_reader)
        .owns_stream(pod_stream)
        .trigger_backoff(config::WatchBackoff::default())
        .owns(
            api_for::<crate::api::AgentApproval>(&client, watch_ns),
            watcher::Config::default().any_semantic(),
        )
        .with_config(kube::runtime::controller::Config::default().concurrency(64))
        .run(reconcile::reconcile, reconcile::error_policy, ctx.clone())
        .for_each(|r| async move {
            if let Err(e) = r {
                warn!(error = %e, "reconcile failed");
            }
        });

    let approval_controller = approval_controller
        .run(
            reconcile::reconcile_approval,
            reconcile::approval_error_policy,
            ctx.clone(),
        )
        .for_each(|r| async move {
            if let Err(e) = r {
                warn!(error = %e, "approval reconcile failed");
            }
        });

    let result = tokio::select! {
        _ = controller => Err(anyhow::anyhow!("controller stopped")),
        _ = approval_controller => Err(anyhow::anyhow!("approval controller stopped")),
        _ = scheduler::run(ctx.clone()) => Err(anyhow::anyhow!("scheduler stopped")),
        _ = scheduler::renew_locks(ctx.clone()) => Err(anyhow::anyhow!("lock renewal stopped")),
        _ = archive::retention(ctx.clone()) => Err(anyhow::anyhow!("archive retention stopped")),
        r = async { loop { leading.changed().await?; if !*leading.borrow_and_update() { break; } } anyhow::Ok(()) } => {
            error!("lost leadership; exiting so a fresh process can take over cleanly");
            r.and(Err(anyhow::anyhow!("lost leadership")))
        }
        _ = shutdown_signal() => Ok(()),
    };
    metrics.is_leader.set(0);
    lease_pump.abort();
    drop(leading);
    // Give the lease back so a standby takes over without waiting for expiry.
    let _ = tokio::time::timeout(Duration::from_secs(5), leader_task).await;
    result
}

async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(t) => t,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
}

/// Delete `DeleteParams` that hold only for the object with `uid` (not one re-made under its
/// name meanwhile).
pub(crate) fn exactly(uid: Option<String>) -> kube::api::DeleteParams {
    kube::api::DeleteParams {
        preconditions: uid.map(|u| kube::api::Preconditions {
            uid: Some(u),
            resource_version: None,
        }),
        ..kube::api::DeleteParams::default()
    }
}
