//! Acceptance (approvals, identity): the admission webhooks on the real apiserver with real
//! RBAC and several token users; `kubectl agent approve|reject` as those users.

mod common;

use common::{Operator, is_terminal, probe_job};
use devagents::api::{AgentApproval, AgentJob, Phase};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

async fn rbac(client: &kube::Client, ns: &str) {
    let roles: Api<Role> = Api::namespaced(client.clone(), ns);
    let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), ns);
    for (name, approval_verbs) in [
        (
            "approver",
            json!(["get", "list", "watch", "update", "patch", "approve"]),
        ),
        ("editor", json!(["get", "list", "watch", "update", "patch"])),
    ] {
        let role: Role = serde_json::from_value(json!({
            "metadata": {"name": name},
            "rules": [
                {"apiGroups": ["devagents.io"], "resources": ["agentapprovals"], "verbs": approval_verbs},
                {"apiGroups": ["devagents.io"], "resources": ["agentjobs"], "verbs": ["get", "list", "watch", "create"]}
            ]
        }))
        .unwrap();
        roles.create(&PostParams::default(), &role).await.unwrap();
    }
    for (role, users) in [
        ("approver", vec!["alice", "bob", "dave"]),
        ("editor", vec!["carol"]),
    ] {
        let subjects: Vec<_> = users
            .iter()
            .map(|u| json!({"kind": "User", "name": u, "apiGroup": "rbac.authorization.k8s.io"}))
            .collect();
        let b: RoleBinding = serde_json::from_value(json!({
            "metadata": {"name": role},
            "roleRef": {"kind": "Role", "name": role, "apiGroup": "rbac.authorization.k8s.io"},
            "subjects": subjects
        }))
        .unwrap();
        bindings.create(&PostParams::default(), &b).await.unwrap();
    }
}

/// `kubectl agent approve|reject` as `user`: (success, stdout+stderr).
fn kubectl_agent(user: &str, ns: &str, args: &[&str]) -> (bool, String) {
    let kc = common::user_kubeconfig(user);
    let mut all = vec!["--kubeconfig", kc.to_str().unwrap(), "-n", ns];
    all.extend_from_slice(args);
    common::run(env!("CARGO_BIN_EXE_kubectl-agent"), &all)
}

#[tokio::test]
async fn only_allowed_users_decide_and_identities_cannot_be_forged() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-webhooks").await;
    rbac(&client, &ns).await;
    let port = common::free_port();
    let hooks = format!("https://127.0.0.1:{port}");
    let _op = Operator::start_with_api_port(&ns, "op-a", port, &["--register-webhooks", &hooks]);
    common::webhooks_live(&client, &ns).await;

    // alice creates a job and tries to claim it was mallory's: requestedBy is stamped from
    // the apiserver's userInfo.
    let alice_jobs: Api<AgentJob> = Api::namespaced(common::user_client("alice").await, &ns);
    let job = probe_job(
        "needs-ok",
        1,
        json!({}),
        json!({"requestedBy": {"username": "mallory"},
               "approval": {"policy": "before-run", "approvers": ["alice", "bob"], "required": 1}}),
    );
    let created = alice_jobs
        .create(&PostParams::default(), &job)
        .await
        .unwrap();
    assert_eq!(
        created.spec.requested_by.as_ref().unwrap().username,
        "alice"
    );
    assert!(
        created
            .spec
            .requested_by
            .unwrap()
            .groups
            .contains(&"devagents:users".to_string())
    );

    let jobs: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    let name = common::waiting_approval(&jobs, "needs-ok").await;

    // The requester cannot approve their own job.
    let (ok, out) = kubectl_agent("alice", &ns, &["approve", &name]);
    assert!(
        !ok && out.contains("alice requested job needs-ok and cannot approve it"),
        "{out}"
    );
    // No `approve` verb → denied.
    let (ok, out) = kubectl_agent("carol", &ns, &["approve", &name]);
    assert!(
        !ok && out.contains("carol may not decide: the verb \"approve\""),
        "{out}"
    );
    // Allowed verb, but not an approver of this job.
    let (ok, out) = kubectl_agent("dave", &ns, &["approve", &name]);
    assert!(
        !ok && out.contains("dave is not among the approvers"),
        "{out}"
    );
    // bob forges alice's name in a decision.
    let bob: Api<AgentApproval> = Api::namespaced(common::user_client("bob").await, &ns);
    let forged = json!({"spec": {"decisions": [{"user": "alice", "decision": "Approve"}]}});
    let err = bob
        .patch(&name, &PatchParams::default(), &Patch::Merge(&forged))
        .await
        .unwrap_err();
    let msg = format!("{err}");
    assert!(
        msg.contains(r#"a decision's user ("alice") must be the requesting user ("bob")"#),
        "{msg}"
    );
    // requestedBy is immutable, for everyone.
    let err = jobs
        .patch(
            "needs-ok",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"requestedBy": {"username": "bob"}}})),
        )
        .await
        .unwrap_err();
    assert!(
        format!("{err}").contains("spec.requestedBy is immutable"),
        "{err}"
    );
    assert_eq!(
        common::phase(&jobs.get("needs-ok").await.unwrap()),
        Some(Phase::WaitingForApproval)
    );

    // bob approves as himself → the job runs.
    let (ok, out) = kubectl_agent("bob", &ns, &["approve", &name, "--comment", "reviewed"]);
    assert!(ok, "{out}");
    let approvals: Api<AgentApproval> = Api::namespaced(client.clone(), &ns);
    let a = approvals.get(&name).await.unwrap();
    assert_eq!(a.spec.decisions.len(), 1);
    assert_eq!(a.spec.decisions[0].user, "bob");
    assert_eq!(a.spec.decisions[0].comment.as_deref(), Some("reviewed"));
    let done = common::wait_for(&jobs, "needs-ok", 60, "finished", is_terminal).await;
    assert_eq!(common::phase(&done), Some(Phase::Succeeded));

    // Cross-field rule the schema cannot express: an unsatisfiable quorum.
    let bad = probe_job(
        "bad-quorum",
        1,
        json!({}),
        json!({"approval": {"policy": "before-run", "approvers": ["bob"], "required": 2}}),
    );
    let err = alice_jobs
        .create(&PostParams::default(), &bad)
        .await
        .unwrap_err();
    assert!(
        format!("{err}").contains("spec.approval.required (2) exceeds the number of approvers (1)"),
        "{err}"
    );
    common::delete_namespace(&client, &ns).await;
}
