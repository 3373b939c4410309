//! One deploy per environment at a time; production waits for an approval of its images.

use super::*;

/// Acceptance 4: two deploys of one environment never overlap; production waits for an
/// approval pinned to its images, and another version voids it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploys_never_overlap_and_production_waits_for_an_approval_of_its_images() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-deploy").await;
    let app_ns = common::namespace(&client, "e2e-shop").await;
    let prod_ns = common::namespace(&client, "e2e-prod").await;
    app(&client, &app_ns, "api", "v1").await;
    app(&client, &prod_ns, "api", "v1").await;
    let mut smoke = smoke_server(false).await;
    let dir = tempfile::tempdir().unwrap();
    let _op = operator(
        &ns,
        dir.path(),
        json!([
            {"name": "staging", "namespace": app_ns, "services": [services()[0].clone()],
             "smokeTest": {"http": [{"url": format!("{}/{{service}}/health", smoke.served.url()), "timeoutSeconds": 60, "retries": 1}]}},
            {"name": "production", "namespace": prod_ns, "services": [services()[0].clone()], "approvers": ["alice"]},
        ]),
    );
    let jobs: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    jobs.create(
        &PostParams::default(),
        &deploy_job("first", "staging", "v2", json!({})),
    )
    .await
    .unwrap();
    // The first deploy is in its smoke test (holding the environment's lock) ...
    assert_eq!(smoke.hits.recv().await.as_deref(), Some("api"));
    jobs.create(
        &PostParams::default(),
        &deploy_job("second", "staging", "v3", json!({})),
    )
    .await
    .unwrap();
    // ... so the second waits for the lock, and says so.
    let waiting = common::wait_for(
        &jobs,
        "second",
        60,
        "waiting for the lock",
        |j: Option<&AgentJob>| {
            j.and_then(|j| j.status.as_ref())
                .and_then(|s| s.waiting_for.as_deref())
                .is_some_and(|w| w.contains("deploy/"))
        },
    )
    .await;
    let w = waiting.status.clone().unwrap().waiting_for.unwrap();
    assert!(w.contains(&format!("deploy/{app_ns}/staging")), "{w}");
    assert!(
        waiting
            .status
            .as_ref()
            .is_none_or(|s| s.attempts.is_empty())
    );
    smoke.gate.send(true).unwrap();
    let first = common::wait_for(&jobs, "first", 120, "finished", is_terminal).await;
    let second = common::wait_for(&jobs, "second", 120, "finished", is_terminal).await;
    assert_eq!(common::phase(&first), Some(Phase::Succeeded));
    assert_eq!(common::phase(&second), Some(Phase::Succeeded));
    let first_done = first.status.unwrap().completed_at.unwrap().0;
    let second_start = second.status.clone().unwrap().attempts[0]
        .created_at
        .clone()
        .unwrap()
        .0;
    assert!(second_start >= first_done, "{second_start} < {first_done}");
    assert_eq!(
        image_of(&rolled_out(&client, &app_ns, "api").await),
        format!("{REGISTRY}/api:v3")
    );

    // Production: an approval pinned to the exact image.
    jobs.create(
        &PostParams::default(),
        &deploy_job("prod", "production", "v2", json!({})),
    )
    .await
    .unwrap();
    let a1 = common::waiting_approval(&jobs, "prod").await;
    let approvals: Api<AgentApproval> = Api::namespaced(client.clone(), &ns);
    let a = common::wait_for(
        &approvals,
        &a1,
        60,
        "created",
        |a: Option<&AgentApproval>| a.is_some(),
    )
    .await;
    assert_eq!(a.spec.action, "deploy");
    assert!(
        a.spec
            .pins
            .iter()
            .any(|p| p.name == "imageApi" && p.value == format!("{REGISTRY}/api:v2")),
        "{:?}",
        a.spec.pins
    );
    assert_eq!(a.spec.approvers, vec!["alice".to_string()]);
    // Nothing happened in production yet.
    assert_eq!(
        image_of(&rolled_out(&client, &prod_ns, "api").await),
        format!("{REGISTRY}/api:v1")
    );
    // Changing the requested version voids that approval and asks for a new one.
    jobs.patch(
        "prod",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"deployer": {"version": "v3"}}})),
    )
    .await
    .unwrap();
    common::wait_for(
        &approvals,
        &a1,
        60,
        "voided",
        |a: Option<&AgentApproval>| {
            a.and_then(|a| a.status.as_ref()).and_then(|s| s.phase) == Some(ApprovalPhase::Voided)
        },
    )
    .await;
    let a2 = common::wait_for(
        &jobs,
        "prod",
        60,
        "waiting for a new approval",
        |j: Option<&AgentJob>| {
            j.and_then(|j| j.status.as_ref())
                .and_then(|s| s.waiting_for.as_deref())
                .is_some_and(|w| w.starts_with("approval:") && !w.ends_with(&a1))
        },
    )
    .await
    .status
    .unwrap()
    .waiting_for
    .unwrap()
    .trim_start_matches("approval:")
    .to_string();
    let a = common::wait_for(
        &approvals,
        &a2,
        60,
        "created",
        |a: Option<&AgentApproval>| a.is_some(),
    )
    .await;
    assert!(
        a.spec
            .pins
            .iter()
            .any(|p| p.value == format!("{REGISTRY}/api:v3"))
    );
    approvals
        .patch(
            &a2,
            &PatchParams::default(),
            &Patch::Merge(
                json!({"spec": {"decisions": [{"user": "alice", "decision": "Approve"}]}}),
            ),
        )
        .await
        .unwrap();
    let j = common::wait_for(&jobs, "prod", 120, "finished", is_terminal).await;
    assert_eq!(common::phase(&j), Some(Phase::Succeeded), "{:#?}", j.status);
    assert_eq!(
        image_of(&rolled_out(&client, &prod_ns, "api").await),
        format!("{REGISTRY}/api:v3")
    );
    for n in [&ns, &app_ns, &prod_ns] {
        common::delete_namespace(&client, n).await;
    }
}
