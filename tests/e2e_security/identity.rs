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
