//! A job's identity: its Pod and its ServiceAccount cannot be passed off by someone else.

use super::*;

/// A user with plain `edit` in the job's namespace tries to take over a job's identity:
/// (1) a Pod of her own under the name of the job's next attempt is not taken as the attempt,
/// holds no slot, and is replaced by the operator's own Pod at admission; (2) the job's
/// ServiceAccount deleted and re-made with a forged ownerReference to the job gives tokens
/// the agent API refuses.
#[tokio::test]
async fn an_edit_user_cannot_pass_her_pod_or_account_off_as_a_jobs() {
    use futures::{StreamExt, TryStreamExt};
    use kube::runtime::WatchStreamExt;
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-sec-identity").await;
    bind(&client, &ns, "edit", true, &["alice"]).await;
    let alice = common::user_client("alice").await;
    let jobs: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    let op = Operator::start(&ns, "op-a", &["--max-running", "1"]);
    let blocker = common::running_probe(&jobs, "blocker").await;
    let target = jobs
        .create(
            &PostParams::default(),
            &probe_job("target", 1, json!({"sleepMs": 200}), json!({})),
        )
        .await
        .unwrap();
    common::wait_for(&jobs, "target", 60, "Queued", |j: Option<&AgentJob>| {
        j.and_then(common::phase) == Some(Phase::Queued)
    })
    .await;

    // (1) Alice's own Pod named like the target's first attempt, owned by the job and
    // labelled like the operator's.
    let alice_pods: Api<Pod> = Api::namespaced(alice.clone(), &ns);
    let impostor: Pod = serde_json::from_value(json!({
        "metadata": {
            "name": "target-1",
            "labels": {
                "app.kubernetes.io/managed-by": "devagents",
                "devagents.io/job": "target",
                "devagents.io/job-uid": target.uid().unwrap(),
                "devagents.io/agent": "probe",
                "devagents.io/attempt": "1",
            },
            "annotations": {"devagents.io/seal": "0".repeat(64), "devagents.io/service-account-uid": "x"},
            "ownerReferences": [{
                "apiVersion": "devagents.io/v1alpha1", "kind": "AgentJob", "name": "target",
                "uid": target.uid().unwrap(), "controller": true,
            }],
        },
        "spec": {"containers": [{"name": "agent", "image": "alice/anything:1"}]},
    }))
    .unwrap();
    let impostor_uid = alice_pods
        .create(&PostParams::default(), &impostor)
        .await
        .unwrap()
        .uid()
        .unwrap();
    // The operator sees it and says so ...
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), &ns);
    let seen = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        kube::runtime::watcher(events, kube::runtime::watcher::Config::default())
            .applied_objects()
            .try_filter(|e| futures::future::ready(e.reason.as_deref() == Some("ForeignPod")))
            .boxed()
            .try_next(),
    )
    .await
    .expect("no ForeignPod event within 60 s")
    .unwrap()
    .unwrap();
    assert!(seen.note.unwrap_or_default().contains("target-1"));
    // ... but does not take it as the attempt: the target still waits for the slot.
    let t = jobs.get("target").await.unwrap();
    assert_eq!(common::phase(&t), Some(Phase::Queued), "{:?}", t.status);
    assert!(t.status.as_ref().unwrap().attempts.is_empty());
    // The slot frees: the operator replaces the impostor with its own sealed Pod, and the
    // job runs through to the end under the account the operator made.
    common::cancel(&jobs, "blocker").await;
    let done = common::wait_for(&jobs, "target", 120, "finished", is_terminal).await;
    let st = done.status.unwrap();
    assert_eq!(st.phase, Some(Phase::Succeeded), "{:?}", st.message);
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let p = pods.get("target-1").await.unwrap();
    assert_ne!(
        p.uid().unwrap(),
        impostor_uid,
        "the impostor ran as the attempt"
    );
    assert!(p.annotations().contains_key("devagents.io/seal"));
    let sas: Api<k8s_openapi::api::core::v1::ServiceAccount> = Api::namespaced(client.clone(), &ns);
    assert_eq!(
        st.service_account_uid,
        sas.get("agent-target").await.unwrap().uid()
    );
    drop(blocker);

    // (2) A running job's account, deleted and re-made by Alice with a forged owner.
    let victim = common::running_probe(&jobs, "victim").await;
    let pinned = victim.status.as_ref().unwrap().service_account_uid.clone();
    assert!(pinned.is_some(), "the account is pinned at admission");
    let ca = api_ca(&client, &ns).await;
    let http = http_once(&ca);
    let url = |rest: &str| format!("{}/v1/jobs/{ns}/victim{rest}", op.api_url);
    let alice_sas: Api<k8s_openapi::api::core::v1::ServiceAccount> =
        Api::namespaced(alice.clone(), &ns);
    let real = alice_sas.get("agent-victim").await.unwrap();
    assert_eq!(real.uid(), pinned);
    alice_sas
        .delete("agent-victim", &DeleteParams::default())
        .await
        .unwrap();
    common::wait_gone(&sas, "agent-victim", &real.uid().unwrap(), 60).await;
    let forged: k8s_openapi::api::core::v1::ServiceAccount = serde_json::from_value(json!({
        "metadata": {
            "name": "agent-victim",
            "labels": real.labels(),
            "annotations": real.annotations(),
            "ownerReferences": real.owner_references(),
        },
    }))
    .unwrap();
    alice_sas
        .create(&PostParams::default(), &forged)
        .await
        .unwrap();
    // The token a Pod of hers running as that account gets (minted here directly: `edit`
    // may run Pods with any account of the namespace).
    let stolen = token(&client, &ns, "agent-victim", "devagents.io").await;
    let r = http.get(url("")).bearer_auth(&stolen).send().await.unwrap();
    let (code, body) = (r.status().as_u16(), r.text().await.unwrap());
    assert_eq!(code, 403, "{body}");
    assert!(
        body.contains("not of the serviceaccount the operator made"),
        "{body}"
    );
    let r = http
        .post(url("/result"))
        .bearer_auth(&stolen)
        .json(&json!({"summary": "done by alice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let v = jobs.get("victim").await.unwrap();
    assert_eq!(common::phase(&v), Some(Phase::Running));
    assert!(v.status.unwrap().result.is_none(), "alice's result landed");
    common::cancel(&jobs, "victim").await;
    common::delete_namespace(&client, &ns).await;
}

/// A user with plain `edit` swaps a running job's Pod for her own: while the operator is down
/// she deletes the attempt's Pod and makes another under its name, its seal, labels and
/// owner copied, running the agent image as the job's own account but with no agent API, so
/// that it ends "successfully" with a result of hers in its termination message. The
/// operator, back, does not take that end or that result as the attempt's (the Pod's UID is
/// not the one pinned at admission): the attempt ends `PodReplaced` and is retried; and her
/// Pod's own token is refused by the agent API.
#[tokio::test]
async fn an_edit_user_cannot_swap_a_running_jobs_pod_for_her_own() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-sec-podswap").await;
    bind(&client, &ns, "edit", true, &["alice"]).await;
    let alice = common::user_client("alice").await;
    let jobs: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    let mut op = Operator::start(&ns, "op-a", &[]);
    jobs.create(
        &PostParams::default(),
        &probe_job(
            "swap",
            1,
            json!({"sleepMs": 300000}),
            json!({"retries": {"limit": 1, "backoffSeconds": 1}}),
        ),
    )
    .await
    .unwrap();
    let job = common::wait_for(&jobs, "swap", 60, "Running", |j: Option<&AgentJob>| {
        j.and_then(common::phase) == Some(Phase::Running)
    })
    .await;
    let pinned = job.status.as_ref().unwrap().attempts[0].pod_uid.clone();
    let pods: Api<Pod> = Api::namespaced(alice.clone(), &ns);
    let real = pods.get("swap-1").await.unwrap();
    assert_eq!(pinned, real.uid(), "the attempt's Pod UID is pinned");

    op.kill();
    pods.delete("swap-1", &DeleteParams::default())
        .await
        .unwrap();
    common::wait_gone(&pods, "swap-1", &real.uid().unwrap(), 60).await;
    let mut spec = real.spec.clone().unwrap();
    spec.node_name = None;
    for c in &mut spec.containers {
        // No agent API: the runner puts its result into the termination message.
        c.env
            .get_or_insert_with(Vec::new)
            .retain(|e| !e.name.starts_with("DEVAGENTS_API"));
        for e in c.env.iter_mut().flatten() {
            if e.name == "DEVAGENTS_JOB_SPEC" {
                let mut v: Value = serde_json::from_str(e.value.as_deref().unwrap()).unwrap();
                v["probe"]["sleepMs"] = json!(7);
                e.value = Some(v.to_string());
            }
        }
    }
    let forged = Pod {
        metadata: kube::api::ObjectMeta {
            name: Some("swap-1".into()),
            labels: Some(real.labels().clone()),
            annotations: Some(real.annotations().clone()),
            owner_references: Some(real.owner_references().to_vec()),
            ..Default::default()
        },
        spec: Some(spec),
        status: None,
    };
    let forged_uid = pods
        .create(&PostParams::default(), &forged)
        .await
        .unwrap()
        .uid()
        .unwrap();
    let ended = common::wait_for(&pods, "swap-1", 60, "her Pod ended", |p: Option<&Pod>| {
        p.and_then(|p| p.status.as_ref())
            .and_then(|s| s.phase.as_deref())
            == Some("Succeeded")
    })
    .await;
    let message = ended.status.unwrap().container_statuses.unwrap()[0]
        .state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .and_then(|t| t.message.clone())
        .unwrap_or_default();
    assert!(
        message.contains("probe finished after 7 ms"),
        "her Pod carries a result: {message}"
    );

    // Back up: the attempt ends as one whose Pod was deleted, her result nowhere, and the
    // job's retry runs in a Pod of the operator's.
    let op = Operator::start_with_api_port(&ns, "op-a", op.api_port, &[]);
    let after = common::wait_for(
        &jobs,
        "swap",
        90,
        "attempt 2 running",
        |j: Option<&AgentJob>| {
            j.and_then(|j| j.status.as_ref())
                .is_some_and(|s| s.attempts.len() == 2 && s.phase == Some(Phase::Running))
        },
    )
    .await;
    let st = after.status.unwrap();
    assert_eq!(
        st.attempts[0].reason.as_deref(),
        Some("PodReplaced"),
        "{:?}",
        st.attempts
    );
    assert!(st.result.is_none(), "{:?}", st.result);
    let shown = serde_json::to_string(&st).unwrap();
    assert!(!shown.contains("after 7 ms"), "her result landed: {shown}");

    // Her Pod's own token (bound to it, as a kubelet mints it) is refused.
    let bound = common::pod_token(
        &client,
        &ns,
        "agent-swap",
        "devagents.io",
        ("swap-1", &forged_uid),
    )
    .await;
    let ca = api_ca(&client, &ns).await;
    let r = http_once(&ca)
        .post(format!("{}/v1/jobs/{ns}/swap/result", op.api_url))
        .bearer_auth(&bound)
        .json(&json!({"summary": "done by alice"}))
        .send()
        .await
        .unwrap();
    let (code, body) = (r.status().as_u16(), r.text().await.unwrap());
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("not a pod the operator made"), "{body}");
    common::cancel(&jobs, "swap").await;
    common::delete_namespace(&client, &ns).await;
}
