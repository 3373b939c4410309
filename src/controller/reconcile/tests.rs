//! The reconciler's calls against a mocked apiserver: the end of a running job, in order.

use std::sync::Arc;

use http::{Request, Response};
use kube::Client;
use kube::client::Body;
use serde_json::json;

use super::apply;
use crate::api::{AgentJob, AgentJobSpec, AgentKind};
use crate::controller::scenario::{Stores, anything, apiserver, context, step};
use crate::controller::{FINALIZER, locks};

const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/devagents-system/leases";

fn running_job() -> AgentJob {
    let mut spec = AgentJobSpec::new(AgentKind::Probe);
    spec.probe = Some(Box::default());
    spec.locks = vec!["repo".into()];
    serde_json::from_value(json!({
        "apiVersion": "devagents.io/v1alpha1", "kind": "AgentJob",
        "metadata": {"name": "j", "namespace": "team", "uid": "uid-1", "resourceVersion": "9",
                     "finalizers": [FINALIZER]},
        "spec": spec,
        "status": {"phase": "Running", "startedAt": "2026-12-01T10:00:00Z",
                   "serviceAccountUID": "sa-1",
                   "attempts": [{"attempt": 1, "pod": "j-1", "startedAt": "2026-12-01T10:00:00Z"}]},
    }))
    .unwrap()
}

fn pod(phase: &str, exit_code: i32, message: &str) -> k8s_openapi::api::core::v1::Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "j-1", "namespace": "team", "uid": "pod-1"},
        "status": {"phase": phase, "startTime": "2026-12-01T10:00:01Z", "containerStatuses": [{
            "name": "agent", "ready": false, "restartCount": 0, "image": "agent", "imageID": "",
            "state": {"terminated": {"exitCode": exit_code, "message": message,
                                     "startedAt": "2026-12-01T10:00:01Z",
                                     "finishedAt": "2026-12-01T10:00:05Z"}}}]},
    }))
    .unwrap()
}

fn held_lease() -> k8s_openapi::api::coordination::v1::Lease {
    serde_json::from_value(json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": locks::lease_name("team/repo"), "namespace": "devagents-system",
                     "resourceVersion": "7",
                     "annotations": {"devagents.io/lock-name": "team/repo"},
                     "labels": {"devagents.io/lock": "true"}},
        "spec": {"holderIdentity": "uid-1", "leaseDurationSeconds": 15,
                 "renewTime": "2026-12-01T10:00:02.000000Z"}}))
    .unwrap()
}

/// The end of a job: the lock goes back first, then the final status, then the Event —
/// so the next waiter never waits on this job's status write.
async fn ends(pod_phase: &str, exit_code: i32, message: &str, check: fn(&serde_json::Value)) {
    let (mock, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let lease = held_lease();
    let ctx = context(
        Client::new(mock, "default"),
        Stores {
            pods: vec![pod(pod_phase, exit_code, message)],
            leases: vec![lease.clone()],
        },
    );
    let job = running_job();
    let lease_path = format!("{LEASES}/{}", locks::lease_name("team/repo"));
    let lease_json = serde_json::to_value(&lease).unwrap();
    let server = tokio::spawn(apiserver(
        handle,
        vec![
            step("GET", &lease_path, 200, lease_json.clone(), anything),
            step("PUT", &lease_path, 200, lease_json, |v| {
                assert!(v["spec"]["holderIdentity"].is_null(), "{v}");
            }),
            step(
                "PATCH",
                "/apis/devagents.io/v1alpha1/namespaces/team/agentjobs/j/status",
                200,
                serde_json::to_value(job.clone()).unwrap(),
                check,
            ),
            step(
                "POST",
                "/apis/events.k8s.io/v1/namespaces/team/events",
                201,
                json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
                       "metadata": {"name": "e", "namespace": "team"}, "eventTime": null}),
                anything,
            ),
        ],
    ));
    apply(Arc::new(job), &ctx).await.unwrap();
    drop(ctx);
    server.await.unwrap();
}

#[tokio::test]
async fn a_pod_that_succeeded_ends_the_job_succeeded_after_its_lock_goes_back() {
    ends("Succeeded", 0, "all good", |v| {
        assert_eq!(v["metadata"]["resourceVersion"], "9");
        let st = &v["status"];
        assert_eq!(st["phase"], "Succeeded", "{v}");
        assert_eq!(st["attempts"][0]["exitCode"], 0);
        assert!(st["completedAt"].is_string(), "{v}");
    })
    .await;
}

#[tokio::test]
async fn an_agents_own_failure_ends_the_job_failed_with_its_message_and_no_retry() {
    ends("Failed", 1, "generator: make test failed", |v| {
        let st = &v["status"];
        assert_eq!(st["phase"], "Failed", "{v}");
        assert_eq!(st["reason"], "AgentFailed", "{v}");
        assert!(
            st["message"].as_str().unwrap().contains("make test failed"),
            "{v}"
        );
        assert!(st["nextAttemptAt"].is_null(), "{v}");
    })
    .await;
}

/// A finished job as the operator caches it (its history slimmed away) whose Pod was seen
/// ending: its slot was handed on when the Pod ended, so its reconcile wakes no second
/// scheduler pass (one did for every job, doubling the passes of a deep queue); a finished
/// job whose Pod was not seen ending still wakes one.
#[tokio::test]
async fn a_finished_job_wakes_the_scheduler_only_when_its_pod_was_not_seen_ending() {
    async fn finished(pod_phase: &str) -> u64 {
        let (mock, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let ctx = context(
            Client::new(mock, "default"),
            Stores {
                pods: vec![pod(pod_phase, 0, "all good")],
                leases: vec![],
            },
        );
        let mut job = running_job();
        job.spec.locks = vec![];
        let st = job.status.as_mut().unwrap();
        st.phase = Some(crate::api::Phase::Succeeded);
        st.attempts.insert(
            0,
            serde_json::from_value(json!({"attempt": 0, "pod": "j-0"})).unwrap(),
        );
        crate::controller::slim_job(&mut job);
        let server = tokio::spawn(apiserver(handle, vec![]));
        apply(Arc::new(job), &ctx).await.unwrap();
        let wakes = ctx.wake.count("job_ended");
        drop(ctx);
        server.await.unwrap();
        wakes
    }
    assert_eq!(finished("Succeeded").await, 0);
    assert_eq!(finished("Running").await, 1);
}
