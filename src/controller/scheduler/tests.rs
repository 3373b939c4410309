//! The admission's calls against a mocked apiserver (kube-rs controller-rs's scenario style):
//! every request the scheduler sends, in order, with what it sends and what it gets back.

use http::{Request, Response};
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};

use super::admit;
use crate::api::{AgentJob, AgentJobSpec, AgentKind};
use crate::controller::locks;
use crate::controller::scenario::{Step, Stores, anything, apiserver, context, failure, step};

fn job() -> AgentJob {
    let mut spec = AgentJobSpec::new(AgentKind::Probe);
    spec.probe = Some(Box::default());
    spec.locks = vec!["repo".into()];
    let mut j = AgentJob::new("j", spec);
    j.metadata.namespace = Some("team".into());
    j.metadata.uid = Some("uid-1".into());
    j.metadata.resource_version = Some("5".into());
    j
}

const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/devagents-system/leases";

fn lease_held() -> Value {
    json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
           "metadata": {"name": locks::lease_name("team/repo"), "namespace": "devagents-system",
                        "resourceVersion": "7"},
           "spec": {"holderIdentity": "uid-1", "leaseDurationSeconds": 15}})
}

fn service_account() -> Value {
    json!({"apiVersion": "v1", "kind": "ServiceAccount",
           "metadata": {"name": "agent-j", "namespace": "team", "uid": "sa-1"}})
}

fn takes_the_lock(v: &Value) {
    assert_eq!(v["spec"]["holderIdentity"], "uid-1", "{v}");
    assert_eq!(
        v["metadata"]["annotations"]["devagents.io/lock-name"],
        "team/repo"
    );
}

fn the_jobs_account(v: &Value) {
    assert_eq!(v["metadata"]["name"], "agent-j");
    assert_eq!(v["automountServiceAccountToken"], false);
    assert_eq!(v["metadata"]["ownerReferences"][0]["uid"], "uid-1");
}

/// The last request of an admission: its Started Event.
fn the_started_event() -> Step {
    step(
        "POST",
        "/apis/events.k8s.io/v1/namespaces/team/events",
        201,
        json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
               "metadata": {"name": "e", "namespace": "team"}, "eventTime": null,
               "reason": "Started"}),
        |v| assert_eq!(v["reason"], "Started"),
    )
}

/// The first two requests of every admission that gets as far as its objects.
fn the_lock_and_the_account() -> Vec<Step> {
    vec![
        step("POST", LEASES, 201, lease_held(), takes_the_lock),
        step(
            "POST",
            "/api/v1/namespaces/team/serviceaccounts",
            201,
            service_account(),
            the_jobs_account,
        ),
    ]
}

#[tokio::test]
async fn an_admission_takes_the_lock_then_makes_the_account_and_the_sealed_pod_then_records_it() {
    let (mock, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let ctx = context(Client::new(mock, "default"), Stores::default());
    let job = job();
    let server = tokio::spawn(apiserver(
        handle,
        [
            the_lock_and_the_account(),
            vec![
                step(
                    "POST",
                    "/api/v1/namespaces/team/pods",
                    201,
                    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "j-1"}}),
                    |v| {
                        assert_eq!(v["metadata"]["name"], "j-1");
                        assert_eq!(v["spec"]["serviceAccountName"], "agent-j");
                        let a = &v["metadata"]["annotations"];
                        assert_eq!(a["devagents.io/service-account-uid"], "sa-1", "{v}");
                        assert!(a["devagents.io/seal"].is_string(), "{v}");
                    },
                ),
                step(
                    "PATCH",
                    "/apis/devagents.io/v1alpha1/namespaces/team/agentjobs/j/status",
                    200,
                    serde_json::to_value(job.clone()).unwrap(),
                    |v| {
                        // Server-side apply at the version the scheduler planned against.
                        assert_eq!(v["metadata"]["resourceVersion"], "5");
                        assert_eq!(v["status"]["phase"], "Running", "{v}");
                        assert_eq!(v["status"]["serviceAccountUID"], "sa-1");
                        assert_eq!(v["status"]["attempts"][0]["pod"], "j-1");
                    },
                ),
                the_started_event(),
            ],
        ]
        .concat(),
    ));
    admit(&ctx, &job, 1).await.unwrap();
    drop(ctx);
    server.await.unwrap();
}

#[tokio::test]
async fn a_pod_that_cannot_be_made_gives_the_lock_back_and_writes_no_status() {
    let (mock, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let ctx = context(Client::new(mock, "default"), Stores::default());
    let job = job();
    let lease = format!("{LEASES}/{}", locks::lease_name("team/repo"));
    let server = tokio::spawn(apiserver(
        handle,
        [
            the_lock_and_the_account(),
            vec![
                step(
                    "POST",
                    "/api/v1/namespaces/team/pods",
                    500,
                    failure(500, "InternalError"),
                    anything,
                ),
                // The one rollback: the lock is read fresh and given back.
                step("GET", &lease, 200, lease_held(), anything),
                step("PUT", &lease, 200, lease_held(), |v| {
                    assert!(v["spec"]["holderIdentity"].is_null(), "{v}");
                }),
            ],
        ]
        .concat(),
    ));
    let e = admit(&ctx, &job, 1).await.unwrap_err();
    assert!(
        e.to_string().contains("500") || e.to_string().contains("Internal"),
        "{e}"
    );
    assert!(ctx.admitted.lock().await.is_empty());
    drop(ctx);
    server.await.unwrap();
}

#[tokio::test]
async fn a_lock_someone_else_holds_ends_the_admission_quietly_with_nothing_made() {
    let (mock, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let ctx = context(Client::new(mock, "default"), Stores::default());
    let mut job = job();
    job.spec.locks = vec!["a".into(), "b".into()];
    let first = format!("{LEASES}/{}", locks::lease_name("team/a"));
    let mut held_a = lease_held();
    held_a["metadata"]["name"] = json!(locks::lease_name("team/a"));
    let server = tokio::spawn(apiserver(
        handle,
        vec![
            step("POST", LEASES, 201, held_a.clone(), anything),
            // Lock b: another holder won the race.
            step("POST", LEASES, 409, failure(409, "AlreadyExists"), anything),
            // Lock a goes back; no account, no Pod, no status.
            step("GET", &first, 200, held_a.clone(), anything),
            step("PUT", &first, 200, held_a, |v| {
                assert!(v["spec"]["holderIdentity"].is_null(), "{v}");
            }),
        ],
    ));
    admit(&ctx, &job, 1).await.unwrap();
    drop(ctx);
    server.await.unwrap();
}

/// A burst of arrivals into a full queue: each job's Queued write goes out, but only
/// [`QUEUE_WRITES_IN_FLIGHT`] at once (not one connection to the apiserver per job); the next
/// one leaves when one is answered.
#[tokio::test(start_paused = true)]
async fn a_burst_of_queued_writes_goes_out_a_few_at_a_time() {
    use super::{QUEUE_WRITES_IN_FLIGHT, Views, pass};
    use std::sync::Arc;
    use std::time::Duration;

    let (mock, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let mut ctx = context(Client::new(mock, "default"), Stores::default());
    // No slot: every job waits.
    ctx.cfg = Arc::new(crate::controller::config::Config {
        max_running: 0,
        ..Default::default()
    });
    let n = 3 * QUEUE_WRITES_IN_FLIGHT;
    let (reader, mut writer) = kube::runtime::reflector::store();
    for i in 0..n {
        let mut j = job();
        j.spec.locks = Vec::new();
        j.metadata.name = Some(format!("j{i}"));
        j.metadata.uid = Some(format!("uid-{i}"));
        j.metadata.finalizers = Some(vec![crate::controller::FINALIZER.to_string()]);
        writer.apply_watcher_event(&kube::runtime::watcher::Event::Apply(j));
    }
    ctx.jobs = reader;
    let ctx = Arc::new(ctx);
    let permits = Arc::new(tokio::sync::Semaphore::new(0));
    pass(&ctx, &permits, &mut Views::default()).await;

    type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;
    type Sent = (
        Request<Body>,
        tower_test::mock::SendResponse<Response<Body>>,
    );
    async fn next(h: &mut Handle) -> Result<Option<Sent>, tokio::time::error::Elapsed> {
        tokio::time::timeout(Duration::from_secs(5), h.next_request()).await
    }
    let mut open = Vec::new();
    for _ in 0..QUEUE_WRITES_IN_FLIGHT {
        let (req, send) = next(&mut handle).await.unwrap().unwrap();
        assert_eq!(req.method(), "PATCH");
        assert!(req.uri().path().ends_with("/status"), "{}", req.uri());
        open.push(send);
    }
    // Every other write waits for one of these to be answered (paused time: the runtime is
    // idle, so the timeout fires only when nothing else can happen).
    assert!(
        next(&mut handle).await.is_err(),
        "more writes in flight than the bound"
    );
    // Each answer lets exactly one more out, until every job's write was sent.
    let mut received = QUEUE_WRITES_IN_FLIGHT;
    while let Some(send) = (!open.is_empty()).then(|| open.remove(0)) {
        send.send_response(
            Response::builder()
                .status(500)
                .body(Body::from(
                    serde_json::to_vec(&failure(500, "test")).unwrap(),
                ))
                .unwrap(),
        );
        if received < n {
            let (_, send) = next(&mut handle).await.unwrap().unwrap();
            received += 1;
            open.push(send);
        }
        assert!(open.len() <= QUEUE_WRITES_IN_FLIGHT);
    }
    assert_eq!(received, n);
    assert!(
        next(&mut handle).await.is_err(),
        "a write beyond one per job"
    );
    assert_eq!(
        ctx.metrics.queue_status_writes.get(),
        n as u64,
        "one Queued write per job"
    );
}

mod wake {
    use super::super::{QUEUE_GAP, Wake};
    use std::time::Duration;
    use tokio::time::{Instant, timeout};

    /// A Pod's change marks its owning job for the next pass (whose view is then observed
    /// again); a Pod no job owns marks every job; a pass takes the marks, the next starts clean.
    #[test]
    fn a_pods_change_marks_its_job_and_an_unowned_pods_change_marks_every_job() {
        let pod = |owner: Option<&str>| -> k8s_openapi::api::core::v1::Pod {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": "j-1", "namespace": "team",
                             "ownerReferences": owner.map(|uid| vec![serde_json::json!({
                                 "apiVersion": "devagents.io/v1alpha1", "kind": "AgentJob",
                                 "name": "j", "uid": uid, "controller": true})])}
            }))
            .unwrap()
        };
        let w = Wake::default();
        w.pod_changed(&pod(Some("uid-1")));
        let t = w.take_touched();
        assert!(t.jobs.contains("uid-1") && !t.all);
        let t = w.take_touched();
        assert!(t.jobs.is_empty() && !t.all);
        w.pod_changed(&pod(None));
        assert!(w.take_touched().all);
    }

    #[tokio::test(start_paused = true)]
    async fn capacity_freed_passes_at_once_whatever_the_queue() {
        let w = Wake::default();
        w.notify("pod_ended");
        let t = Instant::now();
        w.next(true).await;
        assert_eq!(t.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_job_passes_at_once_while_a_slot_is_free() {
        let w = Wake::default();
        w.queue_changed();
        let t = Instant::now();
        w.next(false).await;
        assert_eq!(t.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn arrivals_into_a_full_queue_are_served_together_after_the_gap() {
        let w = Wake::default();
        w.queue_changed();
        let t = Instant::now();
        // Many arrivals while the scheduler waits: still one wake-up, at the gap.
        let next = w.next(true);
        tokio::pin!(next);
        assert!(
            timeout(QUEUE_GAP / 2, &mut next).await.is_err(),
            "a full queue's arrival passed before the gap"
        );
        for _ in 0..100 {
            w.queue_changed();
        }
        next.await;
        assert_eq!(t.elapsed(), QUEUE_GAP);
        // The arrivals during the wait are one permit: the next pass is served by it, once.
        let t = Instant::now();
        w.next(false).await;
        assert_eq!(t.elapsed(), Duration::ZERO);
        let t = Instant::now();
        w.next(false).await;
        assert_eq!(
            t.elapsed(),
            Duration::from_secs(1),
            "only the idle tick was left"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_freed_slot_cuts_the_gap_short() {
        let w = std::sync::Arc::new(Wake::default());
        w.queue_changed();
        let t = Instant::now();
        let w2 = w.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            w2.notify("pod_ended");
        });
        w.next(true).await;
        assert_eq!(t.elapsed(), Duration::from_millis(10));
    }
}

/// An admission interrupted after its Pod and before its status write (the apiserver went away)
/// is tried again: the account the sealed Pod already runs as is kept, never deleted and made
/// again (that left the running agent with the token of a deleted account: 403 at the agent API).
#[tokio::test]
async fn a_retried_admission_keeps_the_account_its_sealed_pod_already_runs_as() {
    use crate::controller::pod;
    let (mock, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let ctx = context(Client::new(mock, "default"), Stores::default());
    let job = job();
    let mut sealed = pod::agent_pod(&job, 1, &ctx.cfg);
    pod::seal(&mut sealed, &ctx.cfg.seal_key, &job, 1, "sa-1");
    let sealed = serde_json::to_value(&sealed).unwrap();
    let pods = "/api/v1/namespaces/team/pods";
    let server = tokio::spawn(apiserver(
        handle,
        vec![
            step("POST", LEASES, 201, lease_held(), takes_the_lock),
            // The account of the interrupted try is there.
            step(
                "POST",
                "/api/v1/namespaces/team/serviceaccounts",
                409,
                failure(409, "AlreadyExists"),
                anything,
            ),
            step(
                "GET",
                "/api/v1/namespaces/team/serviceaccounts/agent-j",
                200,
                service_account(),
                anything,
            ),
            // So is the Pod it sealed for that account: no DELETE of the account follows.
            step("GET", &format!("{pods}/j-1"), 200, sealed.clone(), anything),
            step("POST", pods, 409, failure(409, "AlreadyExists"), anything),
            step("GET", &format!("{pods}/j-1"), 200, sealed, anything),
            step(
                "PATCH",
                "/apis/devagents.io/v1alpha1/namespaces/team/agentjobs/j/status",
                200,
                serde_json::to_value(job.clone()).unwrap(),
                |v| assert_eq!(v["status"]["serviceAccountUID"], "sa-1", "{v}"),
            ),
            the_started_event(),
        ],
    ));
    admit(&ctx, &job, 1).await.unwrap();
    drop(ctx);
    server.await.unwrap();
}

/// The views follow the job watch: a pass builds again only the views of the jobs the watch
/// saw change (a deep queue is not re-read at every pass), drops those of jobs that went, and
/// checks every view against the cache once the watch listed everything again.
#[tokio::test]
async fn a_pass_builds_again_only_the_views_the_job_watch_saw_change() {
    use super::{Views, pass};
    use std::sync::Arc;

    let (mock, _handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let mut ctx = context(Client::new(mock, "default"), Stores::default());
    // No slot: every job waits, and already says so (nothing to write).
    ctx.cfg = Arc::new(crate::controller::config::Config {
        max_running: 0,
        ..Default::default()
    });
    let queued = |i: usize, priority: i32| {
        let mut j = job();
        j.spec.locks = Vec::new();
        j.spec.priority = priority;
        j.metadata.name = Some(format!("j{i}"));
        j.metadata.uid = Some(format!("uid-{i}"));
        j.metadata.finalizers = Some(vec![crate::controller::FINALIZER.to_string()]);
        j.status = Some(crate::api::AgentJobStatus {
            phase: Some(crate::api::Phase::Queued),
            waiting_for: Some("slot".into()),
            ..Default::default()
        });
        j
    };
    let (reader, mut writer) = kube::runtime::reflector::store();
    for i in 0..5 {
        writer.apply_watcher_event(&kube::runtime::watcher::Event::Apply(queued(i, 0)));
    }
    ctx.jobs = reader;
    let ctx = Arc::new(ctx);
    let permits = Arc::new(tokio::sync::Semaphore::new(0));
    let mut views = Views::default();
    pass(&ctx, &permits, &mut views).await;
    let priority = |v: &Views, i: usize| v.by_uid.get(&format!("uid-{i}")).map(|c| c.view.priority);
    assert_eq!(views.by_uid.len(), 5);
    assert_eq!(ctx.metrics.queue_depth.get(), 5);

    // Job 1 changes and job 3 goes; the cache has both, but only job 1's change was seen by
    // the watch so far: only its view is built again.
    writer.apply_watcher_event(&kube::runtime::watcher::Event::Apply(queued(1, 50)));
    writer.apply_watcher_event(&kube::runtime::watcher::Event::Apply(queued(2, 70)));
    writer.apply_watcher_event(&kube::runtime::watcher::Event::Delete(queued(3, 0)));
    ctx.wake.job_changed(&queued(1, 50));
    pass(&ctx, &permits, &mut views).await;
    assert_eq!(
        priority(&views, 1),
        Some(50),
        "a change the watch saw is in its view"
    );
    assert_eq!(
        priority(&views, 2),
        Some(0),
        "an unseen change: the view is not rebuilt"
    );
    assert!(views.by_uid.contains_key("uid-3"));

    // The deletion, once seen, drops its view (and the queue gauge with it).
    ctx.wake.job_changed(&queued(3, 0));
    pass(&ctx, &permits, &mut views).await;
    assert!(!views.by_uid.contains_key("uid-3"));
    assert_eq!(ctx.metrics.queue_depth.get(), 4);

    // After a re-list, every view is checked against the cache.
    ctx.wake.jobs_relisted();
    pass(&ctx, &permits, &mut views).await;
    assert_eq!(priority(&views, 2), Some(70));
    assert_eq!(views.by_uid.len(), 4);
}
