//! Approvals nobody but the operator issues, nobody re-points, and only the right people decide.

use super::*;

/// Points 1 and 2 of the security issue, through the webhooks: a production deploy whose job
/// names a friendly approver is still decided by the environment's approver; nobody re-points
/// the approval (approvers, jobName), creates one, or approves as the requester.
#[tokio::test]
async fn deploy_approvals_belong_to_the_environment_and_cannot_be_edited_or_forged() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-sec-approvals").await;
    // Users: alice requests with plain `edit`; bob is her friend with the approve verb (and
    // patch, to try); carol is production's approver; dave was given `create` on approvals.
    bind(&client, &ns, "edit", true, &["alice"]).await;
    role(
        &client,
        &ns,
        "approver",
        json!(["get", "list", "watch", "update", "patch", "approve"]),
    )
    .await;
    bind(&client, &ns, "approver", false, &["bob", "carol"]).await;
    role(&client, &ns, "creator", json!(["get", "create"])).await;
    bind(&client, &ns, "creator", false, &["dave"]).await;

    let dir = std::env::temp_dir().join(format!("{ns}-envs"));
    std::fs::create_dir_all(&dir).unwrap();
    let envs = dir.join("environments.yaml");
    std::fs::write(
        &envs,
        serde_yaml::to_string(&json!({"environments": [
            {"name": "production", "namespace": ns, "approvers": ["carol"],
             "services": [{"name": "api", "image": "registry.local:5000/shop/api"}]},
            {"name": "locked", "namespace": ns, "allowedNamespaces": ["elsewhere"],
             "services": [{"name": "api", "image": "registry.local:5000/shop/api"}]},
            {"name": "sre-only", "namespace": ns, "allowedGroups": ["sre"],
             "services": [{"name": "api", "image": "registry.local:5000/shop/api"}]}
        ]}))
        .unwrap(),
    )
    .unwrap();
    let port = common::free_port();
    let hooks = format!("https://127.0.0.1:{port}");
    let _op = Operator::start_with_api_port(
        &ns,
        "op-a",
        port,
        &[
            "--register-webhooks",
            &hooks,
            "--environments",
            envs.to_str().unwrap(),
        ],
    );
    common::webhooks_live(&client, &ns).await;

    let alice_jobs: Api<AgentJob> = Api::namespaced(common::user_client("alice").await, &ns);
    let job: AgentJob = serde_json::from_value(json!({
        "apiVersion": "devagents.io/v1alpha1", "kind": "AgentJob", "metadata": {"name": "ship"},
        "spec": {"agent": "deployer", "deployer": {"environment": "production", "version": "v9"},
                 "approval": {"policy": "before-run", "approvers": ["bob"], "required": 1}}
    }))
    .unwrap();
    alice_jobs
        .create(&PostParams::default(), &job)
        .await
        .expect("alice (edit) creates the deploy job");
    let jobs: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    let name = common::waiting_approval(&jobs, "ship").await;
    let approvals: Api<AgentApproval> = Api::namespaced(client.clone(), &ns);
    let a = approvals.get(&name).await.unwrap();
    assert_eq!(
        a.spec.approvers,
        vec!["carol".to_string()],
        "the job replaced the environment's approvers"
    );

    // The friend the job named is not an approver of a production deploy.
    let bob: Api<AgentApproval> = Api::namespaced(common::user_client("bob").await, &ns);
    let approve = json!({"spec": {"decisions": [{"user": "self", "decision": "Approve"}]}});
    let e = err_text(
        bob.patch(&name, &PatchParams::default(), &Patch::Merge(&approve))
            .await
            .unwrap_err(),
    );
    assert!(e.contains("bob is not among the approvers"), "{e}");
    // Re-pointing the approval: new approvers, or a decoy job with no approvers.
    for edit in [
        json!({"spec": {"approvers": ["bob"]}}),
        json!({"spec": {"jobName": "decoy", "approvers": null}}),
        json!({"spec": {"required": 1, "expiresAt": "2099-01-01T00:00:00Z"}}),
    ] {
        let e = err_text(
            bob.patch(&name, &PatchParams::default(), &Patch::Merge(&edit))
                .await
                .unwrap_err(),
        );
        assert!(e.contains("only spec.decisions may change"), "{edit}: {e}");
    }
    // Even the cluster admin cannot re-point it.
    let e = err_text(
        approvals
            .patch(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"approvers": ["bob"]}})),
            )
            .await
            .unwrap_err(),
    );
    assert!(e.contains("only spec.decisions may change"), "{e}");
    // The requester with `edit` may not touch approvals at all (RBAC), nor decide her own job.
    let alice: Api<AgentApproval> = Api::namespaced(common::user_client("alice").await, &ns);
    match alice
        .patch(&name, &PatchParams::default(), &Patch::Merge(&approve))
        .await
    {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 403, "{s:?}"),
        other => panic!("alice patched an approval: {other:?}"),
    }
    // Someone given `create` still cannot issue an approval: only the operator does.
    let mut forged = a.clone();
    forged.metadata = kube::api::ObjectMeta {
        name: Some("forged".into()),
        ..Default::default()
    };
    forged.spec.approvers = vec!["dave".into()];
    let dave: Api<AgentApproval> = Api::namespaced(common::user_client("dave").await, &ns);
    let e = err_text(
        dave.create(&PostParams::default(), &forged)
            .await
            .unwrap_err(),
    );
    assert!(e.contains("dave may not create AgentApprovals"), "{e}");
    assert_eq!(
        common::phase(&jobs.get("ship").await.unwrap()),
        Some(Phase::WaitingForApproval)
    );

    // The environment's approver decides; the decision records her groups.
    let carol: Api<AgentApproval> = Api::namespaced(common::user_client("carol").await, &ns);
    carol
        .patch(&name, &PatchParams::default(), &Patch::Merge(&approve))
        .await
        .expect("carol approves");
    let a = common::wait_for(
        &approvals,
        &name,
        60,
        "approved",
        |a: Option<&AgentApproval>| {
            a.and_then(|a| a.status.as_ref()).and_then(|s| s.phase) == Some(ApprovalPhase::Approved)
        },
    )
    .await;
    assert_eq!(a.status.unwrap().approved_by, vec!["carol".to_string()]);
    assert_eq!(
        a.spec.decisions[0].groups,
        vec![
            "devagents:users".to_string(),
            "system:authenticated".to_string()
        ]
    );
    common::cancel(&jobs, "ship").await;

    // Environments closed to this namespace, or to people outside a group, refuse the job.
    for (job_name, env, why) in [
        (
            "to-locked",
            "locked",
            format!("jobs of namespace {ns} may not deploy to \"locked\""),
        ),
        (
            "to-sre",
            "sre-only",
            "alice may not deploy to \"sre-only\"".to_string(),
        ),
    ] {
        let job: AgentJob = serde_json::from_value(json!({
            "apiVersion": "devagents.io/v1alpha1", "kind": "AgentJob", "metadata": {"name": job_name},
            "spec": {"agent": "deployer", "deployer": {"environment": env, "version": "v9"}}
        }))
        .unwrap();
        alice_jobs
            .create(&PostParams::default(), &job)
            .await
            .unwrap();
        let done = common::wait_for(&jobs, job_name, 60, "finished", is_terminal).await;
        let st = done.status.unwrap();
        assert_eq!(
            (st.phase, st.reason.as_deref()),
            (Some(Phase::Failed), Some("InvalidSpec"))
        );
        assert!(
            st.message.as_deref().unwrap_or("").contains(&why),
            "{:?}",
            st.message
        );
        assert!(st.attempts.is_empty());
    }
    common::delete_namespace(&client, &ns).await;
}

/// Point 2's second line, with no webhook in the way: an approval made before the operator
/// saw the job, at the very name the operator would use, listing a friend who approved it,
/// never admits the job.
#[tokio::test]
async fn an_approval_the_operator_did_not_issue_never_admits_a_job() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-sec-forged").await;
    let jobs: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    let created = jobs
        .create(
            &PostParams::default(),
            &probe_job(
                "gated",
                1,
                json!({}),
                json!({"approval": {"policy": "before-run", "approvers": ["carol"], "required": 1}}),
            ),
        )
        .await
        .unwrap();
    let envs = devagents::agents::operator_side(Default::default());
    let (name, pins) = devagents::controller::approval::run_approval(&created, &envs).unwrap();
    let mut forged = devagents::controller::approval::build(
        &created,
        &envs,
        &name,
        "run",
        "looks legit",
        pins,
        k8s_openapi::jiff::Timestamp::now(),
    );
    forged.spec.approvers = vec!["friend".into()];
    forged.spec.decisions = vec![devagents::api::Decision {
        user: "friend".into(),
        groups: vec![],
        decision: devagents::api::DecisionKind::Approve,
        comment: None,
        decided_at: None,
    }];
    let approvals: Api<AgentApproval> = Api::namespaced(client.clone(), &ns);
    approvals
        .create(&PostParams::default(), &forged)
        .await
        .unwrap();

    let _op = Operator::start(&ns, "op-a", &[]);
    let done = common::wait_for(&jobs, "gated", 60, "finished", is_terminal).await;
    let st = done.status.unwrap();
    assert_eq!(
        (st.phase, st.reason.as_deref()),
        (Some(Phase::Failed), Some("ApprovalInvalid"))
    );
    assert!(
        st.message
            .unwrap_or_default()
            .contains("not issued by the operator")
    );
    assert!(st.attempts.is_empty(), "the job ran");
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    assert!(
        pods.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let a = approvals.get(&name).await.unwrap().status.unwrap();
    assert_eq!(a.phase, Some(ApprovalPhase::Voided));
    common::delete_namespace(&client, &ns).await;
}
