//! Acceptance (approvals): before-run approvals (approve, reject, timeout), approvals asked
//! for mid-run, voiding on changed pins, and the audit trail's approval references.

mod common;

use std::time::Duration;

use common::{Operator, is_terminal, probe_job};
use devagents::api::{AgentApproval, AgentJob, ApprovalPhase, Phase};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

fn before_run(approvers: &[&str], timeout: i64) -> serde_json::Value {
    json!({"approval": {"policy": "before-run", "approvers": approvers, "required": 1, "timeoutSeconds": timeout}})
}

async fn decide(api: &Api<AgentApproval>, name: &str, user: &str, decision: &str, comment: &str) {
    let patch =
        json!({"spec": {"decisions": [{"user": user, "decision": decision, "comment": comment}]}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
}

#[tokio::test]
async fn before_run_approval_starts_rejection_fails_timeout_rejects() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-before-run").await;
    let jobs: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    let approvals: Api<AgentApproval> = Api::namespaced(client.clone(), &ns);
    let _op = Operator::start(&ns, "op-a", &[]);
    let pp = PostParams::default();
    jobs.create(
        &pp,
        &probe_job("approve-me", 1, json!({}), before_run(&["alice"], 600)),
    )
    .await
    .unwrap();
    jobs.create(
        &pp,
        &probe_job("reject-me", 1, json!({}), before_run(&["bob"], 600)),
    )
    .await
    .unwrap();
    jobs.create(
        &pp,
        &probe_job("forget-me", 1, json!({}), before_run(&["alice"], 60)),
    )
    .await
    .unwrap();

    // All three wait (forget-me is checked now: its 60 s run out while the others proceed).
    common::waiting_approval(&jobs, "forget-me").await;
    // Approved by an allowed user → it runs.
    let a = common::waiting_approval(&jobs, "approve-me").await;
    let pending = approvals.get(&a).await.unwrap();
    assert_eq!(pending.spec.action, "run");
    assert_eq!(pending.spec.pins[0].name, "specHash");
    assert!(
        jobs.get("approve-me")
            .await
            .unwrap()
            .status
            .unwrap()
            .attempts
            .is_empty(),
        "ran before approval"
    );
    decide(&approvals, &a, "alice", "Approve", "lgtm").await;
    let done = common::wait_for(&jobs, "approve-me", 60, "finished", is_terminal).await;
    assert_eq!(common::phase(&done), Some(Phase::Succeeded));
    let a_st = approvals.get(&a).await.unwrap().status.unwrap();
    assert_eq!(a_st.phase, Some(ApprovalPhase::Approved));
    assert_eq!(a_st.approved_by, vec!["alice".to_string()]);

    // Rejected → Failed, with the rejecting user and the comment in status.
    let r = common::waiting_approval(&jobs, "reject-me").await;
    decide(&approvals, &r, "bob", "Reject", "not during the freeze").await;
    let rejected = common::wait_for(&jobs, "reject-me", 60, "finished", is_terminal).await;
    let st = rejected.status.unwrap();
    assert_eq!(st.phase, Some(Phase::Failed));
    assert_eq!(st.reason.as_deref(), Some("ApprovalRejected"));
    let msg = st.message.unwrap();
    assert!(
        msg.contains("bob") && msg.contains("not during the freeze"),
        "{msg}"
    );
    assert!(st.attempts.is_empty());

    // Nobody decides within timeoutSeconds (60, the minimum) → expired = rejected.
    let expired = common::wait_for(&jobs, "forget-me", 120, "finished", is_terminal).await;
    let st = expired.status.unwrap();
    assert_eq!(
        (st.phase, st.reason.as_deref()),
        (Some(Phase::Failed), Some("ApprovalExpired"))
    );
    common::delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn an_agent_asking_mid_run_blocks_until_decided_and_the_trail_references_it() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-mid-run").await;
    let jobs: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    let approvals: Api<AgentApproval> = Api::namespaced(client.clone(), &ns);
    let _op = Operator::start(&ns, "op-a", &[]);
    let digest = format!("sha256:{}", "ab".repeat(32));
    jobs.create(
        &PostParams::default(),
        &probe_job(
            "deployish",
            1,
            json!({"approval": {"action": "deploy", "digest": digest}}),
            json!({"approval": {"policy": "before-actions", "approvers": ["alice"], "required": 1}}),
        ),
    )
    .await
    .unwrap();
    // The agent's request shows up as an AgentApproval pinned to the digest.
    let list = loop {
        let l = approvals.list(&ListParams::default()).await.unwrap();
        if !l.items.is_empty() {
            break l;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let a = &list.items[0];
    assert_eq!(a.spec.action, "deploy");
    assert_eq!(a.spec.pins[0].value, digest);
    let name = a.metadata.name.clone().unwrap();
    // It blocks: still running, nothing recorded, a second later too.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let j = jobs.get("deployish").await.unwrap();
    let st = j.status.unwrap();
    assert_eq!(st.phase, Some(Phase::Running));
    assert!(st.actions.is_empty() && st.result.is_none());
    decide(&approvals, &name, "alice", "Approve", "ship it").await;
    let done = common::wait_for(&jobs, "deployish", 60, "finished", is_terminal).await;
    let st = done.status.unwrap();
    assert_eq!(st.phase, Some(Phase::Succeeded), "{st:#?}");
    let action = st
        .actions
        .iter()
        .find(|a| a.target == "probe://deploy")
        .expect("the approved action is in the trail");
    assert_eq!(action.approval.as_deref(), Some(name.as_str()));
    assert!(action.requires_approval);
    assert_eq!(action.digest.as_deref(), Some(digest.as_str()));
    common::delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn changing_the_pinned_digest_voids_the_approval() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-void").await;
    let approvals: Api<AgentApproval> = Api::namespaced(client.clone(), &ns);
    let _op = Operator::start(&ns, "op-a", &[]);
    // An approval as the operator issues it for a job's agent (POST /approvals).
    let jobs: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    let job = jobs
        .create(
            &PostParams::default(),
            &probe_job(
                "some-job",
                1,
                json!({"sleepMs": 300000}),
                json!({"approval": {"policy": "before-actions", "approvers": ["alice"], "required": 1}}),
            ),
        )
        .await
        .unwrap();
    let pins = vec![devagents::api::Pin {
        name: "commitSHA".into(),
        value: "a".repeat(40),
    }];
    let name = devagents::controller::approval::approval_name("some-job", "git_push", &pins);
    let a = devagents::controller::approval::build(
        &job,
        &Default::default(),
        &name,
        "git_push",
        "push",
        pins,
        k8s_openapi::jiff::Timestamp::now(),
    );
    approvals.create(&PostParams::default(), &a).await.unwrap();
    decide(&approvals, &name, "alice", "Approve", "").await;
    common::wait_for(
        &approvals,
        &name,
        30,
        "Approved",
        |a: Option<&AgentApproval>| {
            a.and_then(|a| a.status.as_ref()).and_then(|s| s.phase) == Some(ApprovalPhase::Approved)
        },
    )
    .await;
    let patch = json!({"spec": {"pins": [{"name": "commitSHA", "value": "b".repeat(40)}]}});
    approvals
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let voided = common::wait_for(
        &approvals,
        &name,
        30,
        "Voided",
        |a: Option<&AgentApproval>| {
            a.and_then(|a| a.status.as_ref()).and_then(|s| s.phase) == Some(ApprovalPhase::Voided)
        },
    )
    .await;
    // (The webhook refuses such an edit; without it, the operator still voids the approval.)
    let msg = voided.status.unwrap().message.unwrap();
    assert!(msg.contains("does not match its action and pins"), "{msg}");
    common::cancel(&jobs, "some-job").await;
    common::delete_namespace(&client, &ns).await;
}
