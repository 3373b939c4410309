//! Security acceptance, tried as an attacker would, on the real control plane with the token
//! users (alice, bob, carol, dave) and real RBAC: approvals nobody but the operator issues and
//! nobody can re-point, deploy approvals decided by the environment's approvers, a job token
//! that does not outlive its job, and limits on everything an agent Pod sends.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use common::{Operator, api_ca, http, is_terminal, probe_job, token};
use devagents::api::environment::Environments;
use devagents::api::{AgentApproval, AgentJob, ApprovalPhase, Phase};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

/// `role` (a ClusterRole when `cluster`, else a Role of `ns`) bound to `users` in `ns`.
async fn bind(client: &Client, ns: &str, role: &str, cluster: bool, users: &[&str]) {
    let subjects: Vec<_> = users
        .iter()
        .map(|u| json!({"kind": "User", "name": u, "apiGroup": "rbac.authorization.k8s.io"}))
        .collect();
    let kind = if cluster { "ClusterRole" } else { "Role" };
    let b: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": format!("{role}-binding")},
        "roleRef": {"kind": kind, "name": role, "apiGroup": "rbac.authorization.k8s.io"},
        "subjects": subjects
    }))
    .unwrap();
    Api::<RoleBinding>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &b)
        .await
        .unwrap();
}

async fn role(client: &Client, ns: &str, name: &str, approval_verbs: Value) {
    let r: Role = serde_json::from_value(json!({
        "metadata": {"name": name},
        "rules": [{"apiGroups": ["devagents.io"], "resources": ["agentapprovals"], "verbs": approval_verbs}]
    }))
    .unwrap();
    Api::<Role>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &r)
        .await
        .unwrap();
}

fn err_text(e: kube::Error) -> String {
    format!("{e}")
}

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
    let envs = Environments::default();
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

/// An HTTPS client for the agent API that opens a connection per request: the server closes
/// a connection whose oversized body it refused unread, and a pooled one would be reused.
fn http_once(ca: &str) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca.as_bytes()).unwrap()])
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

/// A request the server must refuse with `code`, or by closing the connection on the body it
/// did not read (the client may still be sending it).
fn refused(r: Result<reqwest::Response, reqwest::Error>, code: u16) {
    match r {
        Ok(r) => assert_eq!(r.status().as_u16(), code),
        Err(e) => assert!(e.is_request() || e.is_body(), "{e:?}"),
    }
}

/// The operator's resident memory (KiB).
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap()
}

/// Points 5–7 and 9–11: what one agent token (or no token) can send is bounded.
#[tokio::test]
async fn an_agent_token_cannot_bloat_its_job_fill_etcd_overwrite_others_or_outlive_its_job() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-sec-limits").await;
    let jobs: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    let op = Operator::start(
        &ns,
        "op-a",
        &[
            "--artifact-max-bytes",
            "1048576",
            "--artifact-uploads-per-minute",
            "6",
        ],
    );
    let victim = common::running_probe(&jobs, "victim").await;
    common::running_probe(&jobs, "victim-data").await;
    let ca = api_ca(&client, &ns).await;
    let http = http_once(&ca);
    let url = |job: &str, rest: &str| format!("{}/v1/jobs/{ns}/{job}{rest}", op.api_url);
    let t_victim = token(&client, &ns, "agent-victim", "devagents.io").await;
    let t_data = token(&client, &ns, "agent-victim-data", "devagents.io").await;

    // 5. Huge digests: refused; bounded actions beyond the trail's length keep the job small.
    let huge = json!({"type": "api_call", "target": "x", "digest": "d".repeat(100_000)});
    let r = http
        .post(url("victim", "/actions"))
        .bearer_auth(&t_victim)
        .json(&huge)
        .send()
        .await;
    refused(r, 413);
    let long = json!({"type": "api_call", "target": "t".repeat(1024), "digest": "d".repeat(257)});
    let r = http
        .post(url("victim", "/actions"))
        .bearer_auth(&t_victim)
        .json(&long)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("digest must be 1..256"));
    for i in 0..120 {
        let a = json!({"type": "api_call", "target": format!("{i}:{}", "t".repeat(1000)), "digest": "d".repeat(256)});
        let r = http
            .post(url("victim", "/actions"))
            .bearer_auth(&t_victim)
            .json(&a)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204, "action {i}");
    }
    let j = jobs.get("victim").await.unwrap();
    let st = j.status.as_ref().unwrap();
    assert_eq!(st.actions.len(), devagents::agentapi::ACTIONS_KEPT);
    assert!(
        st.actions[0].target.starts_with("20:"),
        "the oldest actions go first"
    );
    let size = serde_json::to_vec(&j).unwrap().len();
    eprintln!("measured: the job is {size} bytes after 120 maximal actions");
    assert!(
        size < devagents::agentapi::STATUS_MAX + 16 * 1024,
        "the job is {size} bytes"
    );

    // 10. `victim-data` + `result` and `victim` + `data-result` no longer share objects.
    let a_bytes = b"victim-data's own result".to_vec();
    let b_bytes = b"victim's data-result".to_vec();
    let r = http
        .put(url("victim", "/artifacts/data-result"))
        .bearer_auth(&t_victim)
        .body(b_bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let ref_b: devagents::api::ArtifactRef = r.json().await.unwrap();
    let r = http
        .put(url("victim-data", "/artifacts/result"))
        .bearer_auth(&t_data)
        .body(a_bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let ref_a: devagents::api::ArtifactRef = r.json().await.unwrap();
    assert_eq!(
        devagents::agentapi::results::fetch(&client, &ns, &ref_a)
            .await
            .unwrap(),
        a_bytes
    );
    assert_eq!(
        devagents::agentapi::results::fetch(&client, &ns, &ref_b)
            .await
            .unwrap(),
        b_bytes
    );

    // 6. The per-job quota (1 MiB stored here) and upload rate (6 a minute here).
    let noise = |n: usize, seed: u64| -> Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    };
    let r = http
        .put(url("victim", "/artifacts/big-one"))
        .bearer_auth(&t_victim)
        .body(noise(600 * 1024, 7))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .put(url("victim", "/artifacts/big-two"))
        .bearer_auth(&t_victim)
        .body(noise(600 * 1024, 9))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert!(r.text().await.unwrap().contains("may hold 1048576 bytes"));
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let held: usize = cms
        .list(
            &ListParams::default()
                .labels(&format!("devagents.io/job-uid={}", victim.uid().unwrap())),
        )
        .await
        .unwrap()
        .items
        .iter()
        .filter(|c| c.labels().contains_key("devagents.io/artifact"))
        .map(|c| c.binary_data.as_ref().map_or(0, |d| d["chunk"].0.len()))
        .sum();
    assert!(held <= 1024 * 1024, "{held} bytes stored, over the quota");
    let mut codes = Vec::new();
    for i in 0..4 {
        let r = http
            .put(url("victim", &format!("/artifacts/small-{i}")))
            .bearer_auth(&t_victim)
            .body("x")
            .send()
            .await
            .unwrap();
        codes.push(r.status().as_u16());
    }
    assert_eq!(
        codes,
        vec![200, 200, 200, 429],
        "uploads 4..7 of the minute"
    );

    // 9. Secrets the first redaction missed, sent as progress (a private key line by line).
    let lines = [
        "DB_PASSWORD=Sup3rS3cretDb",
        "GITHUB_TOKEN=abcd1234efgh5678",
        r#"{"password": "Hunter2Hunter2", "client_secret": "cl1entS3cret"}"#,
        "glpat-Zx9Yw8Vu7TZx9Yw8Vu7T",
        "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
        "-----BEGIN OPENSSH PRIVATE KEY-----",
    ];
    let r = http
        .post(url("victim", "/progress"))
        .bearer_auth(&t_victim)
        .json(&json!({"lines": lines}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    for line in [
        "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ",
        "-----END OPENSSH PRIVATE KEY-----",
        "after the key",
    ] {
        let r = http
            .post(url("victim", "/progress"))
            .bearer_auth(&t_victim)
            .json(&json!({"lines": [line]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    }
    let log = cms
        .get(&devagents::agentapi::progress_configmap("victim"))
        .await
        .unwrap()
        .data
        .unwrap()["log"]
        .clone();
    for needle in [
        "Sup3rS3cretDb",
        "abcd1234efgh5678",
        "Hunter2Hunter2",
        "cl1entS3cret",
        "Zx9Yw8Vu7TZx9Yw8Vu7T",
        "SyA1b2C3d4E5f6G7h8I9",
        "b3BlbnNzaC1rZXkt",
    ] {
        assert!(
            !log.contains(needle),
            "{needle} leaked into the progress log:\n{log}"
        );
    }
    assert!(log.contains("after the key"), "{log}");

    // 7. No token, a 100 MiB body, four at once: refused from the headers, never buffered.
    let pid = op.child.id();
    let before = rss_kib(pid);
    let peak = Arc::new(AtomicU64::new(before));
    let watcher = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        })
    };
    let mut sends = Vec::new();
    let flood = axum::body::Bytes::from(vec![b'x'; 100 * 1024 * 1024]);
    for _ in 0..4 {
        let (http, u, body) = (
            http.clone(),
            url("victim", "/artifacts/flood"),
            flood.clone(),
        );
        sends.push(tokio::spawn(async move {
            http.put(u).bearer_auth("bogus").body(body).send().await
        }));
    }
    for s in sends {
        refused(s.await.unwrap(), 401);
    }
    // Authenticated, but over the route's limit: 413.
    let r = http
        .post(url("victim", "/progress"))
        .bearer_auth(&t_victim)
        .json(&json!({"lines": ["y".repeat(2 * 1024 * 1024)]}))
        .send()
        .await;
    refused(r, 413);
    watcher.abort();
    let grew = peak.load(Ordering::Relaxed).saturating_sub(before);
    eprintln!(
        "measured: operator RSS {before} KiB before, grew by {grew} KiB at peak under 4 x 100 MiB unauthenticated uploads"
    );
    assert!(
        grew < 64 * 1024,
        "the operator grew by {grew} KiB under 4 × 100 MiB of unauthenticated bodies"
    );

    // 11. A token of a deleted job's account does not open a re-created job of that name.
    common::running_probe(&jobs, "reborn").await;
    let old = token(&client, &ns, "agent-reborn", "devagents.io").await;
    assert_eq!(
        http.get(url("reborn", ""))
            .bearer_auth(&old)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let uid = jobs.get("reborn").await.unwrap().uid().unwrap();
    let sas: Api<k8s_openapi::api::core::v1::ServiceAccount> = Api::namespaced(client.clone(), &ns);
    let sa_uid = sas.get("agent-reborn").await.unwrap().uid().unwrap();
    jobs.delete("reborn", &DeleteParams::default())
        .await
        .unwrap();
    common::wait_gone(&jobs, "reborn", &uid, 60).await;
    common::wait_gone(&sas, "agent-reborn", &sa_uid, 60).await;
    common::running_probe(&jobs, "reborn").await;
    let r = http
        .get(url("reborn", ""))
        .bearer_auth(&old)
        .send()
        .await
        .unwrap();
    let (code, body) = (r.status(), r.text().await.unwrap());
    // Refused: by the operator while its cached review lasts (403, the account's UID differs),
    // or, once that expired (a slow machine), by the apiserver (401: the account is gone).
    match code.as_u16() {
        403 => assert!(
            body.contains("not of the serviceaccount the operator made for job"),
            "{body}"
        ),
        401 => assert!(body.contains("not valid for audience"), "{body}"),
        other => panic!("{other}: {body}"),
    }

    for n in ["victim", "victim-data", "reborn"] {
        common::cancel(&jobs, n).await;
    }
    common::delete_namespace(&client, &ns).await;
}

/// Point 4: the sandbox that runs a pull request's tests takes only the reviewer's own
/// source, plain package paths and small bodies, and no other agent gets one.
#[tokio::test]
async fn a_sandbox_runs_only_a_reviewers_own_source_and_no_other_agent_gets_one() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-sec-sandbox").await;
    // A GitHub API that accepts connections and never answers: the reviewer stays Running.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((c, _)) = silent.accept().await {
            held.push(c);
        }
    });
    let op = Operator::start(
        &ns,
        "op-a",
        &[
            "--github-api-url",
            &silent_url,
            "--agent-egress",
            r#"[{"ports": [{"port": 53, "protocol": "UDP"}]}]"#,
        ],
    );
    let jobs: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    let reviewer: AgentJob = serde_json::from_value(json!({
        "apiVersion": "devagents.io/v1alpha1", "kind": "AgentJob", "metadata": {"name": "rev"},
        "spec": {"agent": "reviewer", "timeoutSeconds": 300,
                 "repository": {"url": "https://github.com/acme/shop", "baseBranch": "main",
                                "credentialsSecret": "github-token"},
                 "reviewer": {"pullRequest": 7, "checks": ["tests"]}}
    }))
    .unwrap();
    common::token_secret(
        &client,
        &ns,
        "github-token",
        "ghp_sandboxtest0123456789abcdefghij",
    )
    .await;
    jobs.create(&PostParams::default(), &reviewer)
        .await
        .unwrap();
    common::wait_for(&jobs, "rev", 60, "Running", |j: Option<&AgentJob>| {
        j.and_then(|j| j.status.as_ref()).and_then(|s| s.phase) == Some(Phase::Running)
    })
    .await;
    let other = common::running_probe(&jobs, "other").await;
    // The agent NetworkPolicy came first: it covers both agent Pods, deny-all ingress, egress
    // to the operator and DNS only.
    let np: Api<k8s_openapi::api::networking::v1::NetworkPolicy> =
        Api::namespaced(client.clone(), &ns);
    let spec = np
        .get(devagents::controller::netpol::NAME)
        .await
        .unwrap()
        .spec
        .unwrap();
    assert!(spec.ingress.unwrap_or_default().is_empty());
    assert_eq!(spec.egress.as_ref().unwrap().len(), 2);
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let agent_pod = &other.status.as_ref().unwrap().attempts[0].pod;
    let labels = pods.get(agent_pod).await.unwrap().metadata.labels.unwrap();
    for e in spec.pod_selector.unwrap().match_expressions.unwrap() {
        let has = labels.get(&e.key);
        let holds = match e.operator.as_str() {
            "Exists" => has.is_some(),
            "NotIn" => has.is_none_or(|v| !e.values.clone().unwrap_or_default().contains(v)),
            op => panic!("unexpected operator {op}"),
        };
        assert!(holds, "{e:?} does not select {labels:?}");
    }
    let http = http(&api_ca(&client, &ns).await);
    let url = |job: &str| format!("{}/v1/jobs/{ns}/{job}/sandbox", op.api_url);
    let t_rev = token(&client, &ns, "agent-rev", "devagents.io").await;
    let t_other = token(&client, &ns, "agent-other", "devagents.io").await;
    // `other` uploads a "source" of its own; the reviewer tries to have it run.
    let r = http
        .put(format!(
            "{}/v1/jobs/{ns}/other/artifacts/source",
            op.api_url
        ))
        .bearer_auth(&t_other)
        .body("not the reviewer's code")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let foreign: devagents::api::ArtifactRef = r.json().await.unwrap();
    let ask = |job: &'static str, t: &str, body: Value| {
        let (http, u, t) = (http.clone(), url(job), t.to_string());
        async move { common::post_json(&http, &u, &t, &body).await }
    };
    let (code, body) = ask(
        "rev",
        &t_rev,
        json!({"source": foreign, "packages": ["./pkg/db"]}),
    )
    .await;
    assert_eq!(code, 403, "{body}");
    assert!(
        body.contains("is not a chunk of this job's source artifact"),
        "{body}"
    );
    for bad in ["../../etc", "-exec=/bin/sh", "./a;rm -rf /"] {
        let (code, body) = ask("rev", &t_rev, json!({"source": foreign, "packages": [bad]})).await;
        assert_eq!(code, 400, "{bad}: {body}");
        assert!(body.contains("is not a package path"), "{body}");
    }
    let (code, body) = ask(
        "other",
        &t_other,
        json!({"source": foreign, "packages": ["."]}),
    )
    .await;
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("is not a reviewer"), "{body}");
    let huge = json!({"source": foreign, "packages": vec!["./p"; 10_000]});
    let (code, _) = ask("rev", &t_rev, huge).await;
    assert_eq!(code, 413);
    let started = pods
        .list(&ListParams::default().labels("devagents.io/sandbox=true"))
        .await
        .unwrap();
    assert!(started.items.is_empty(), "no sandbox Pod was started");
    hold.abort();
    for n in ["rev", "other"] {
        common::cancel(&jobs, n).await;
    }
    common::delete_namespace(&client, &ns).await;
}

/// A test double of the Anthropic Messages API that, like the real one, writes as many output
/// tokens as `max_tokens` allows (here: all of them); returns its URL and the tokens it wrote.
async fn generous_anthropic_double() -> (String, Arc<AtomicU64>) {
    use axum::routing::post;
    let written = Arc::new(AtomicU64::new(0));
    let w = written.clone();
    let app = axum::Router::new().route(
        "/v1/messages",
        post(move |body: axum::Json<Value>| {
            let w = w.clone();
            async move {
                let out = body["max_tokens"].as_u64().unwrap_or(0);
                w.fetch_add(out + 5, Ordering::SeqCst);
                // A slow provider: concurrent calls overlap.
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                axum::Json(json!({
                    "id": "msg_b", "type": "message", "role": "assistant", "model": body["model"],
                    "content": [{"type": "text", "text": "words ".repeat(out as usize)}],
                    "stop_reason": "max_tokens",
                    "usage": {"input_tokens": 5, "output_tokens": out}
                }))
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (format!("http://{addr}"), written)
}

/// Point 8: twenty concurrent calls of a job with a 1,000-token budget stay within it.
#[tokio::test]
async fn concurrent_llm_calls_cannot_overrun_the_jobs_budget() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-sec-budget").await;
    let jobs: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    let (provider, written) = generous_anthropic_double().await;
    let key_file = std::env::temp_dir().join(format!("{ns}-llm-key"));
    std::fs::write(&key_file, "test-key").unwrap();
    let op = Operator::start(
        &ns,
        "op-a",
        &[
            "--llm-provider",
            "anthropic",
            "--llm-base-url",
            &provider,
            "--llm-api-key-file",
            key_file.to_str().unwrap(),
        ],
    );
    jobs.create(
        &PostParams::default(),
        &probe_job(
            "thrifty",
            1,
            json!({"sleepMs": 300000}),
            json!({"budget": {"maxTokens": 1000}}),
        ),
    )
    .await
    .unwrap();
    common::wait_for(&jobs, "thrifty", 60, "Running", |j: Option<&AgentJob>| {
        j.and_then(common::phase) == Some(Phase::Running)
    })
    .await;
    let ca = api_ca(&client, &ns).await;
    let http = http(&ca);
    let t = token(&client, &ns, "agent-thrifty", "devagents.io").await;
    let mut calls = Vec::new();
    for i in 0..20 {
        let (http, t) = (http.clone(), t.clone());
        let u = format!("{}/v1/jobs/{ns}/thrifty/llm", op.api_url);
        calls.push(tokio::spawn(async move {
            let req = json!({"system": "be brief", "maxTokens": 1000,
                "messages": [{"role": "user", "content": format!("question number {i:02} of twenty")}]});
            http.post(u).bearer_auth(t).json(&req).send().await.unwrap().status().as_u16()
        }));
    }
    for c in calls {
        assert_eq!(c.await.unwrap(), 200);
    }
    let j = jobs.get("thrifty").await.unwrap();
    let llm = j.status.unwrap().llm.unwrap();
    let used = llm.input_tokens + llm.output_tokens;
    eprintln!(
        "measured: 20 concurrent calls used {used} tokens of a 1000-token budget in {} provider calls",
        llm.requests
    );
    assert!(
        used <= 1000,
        "the job used {used} tokens of a 1000-token budget"
    );
    assert!(
        written.load(Ordering::SeqCst) <= 1000,
        "the provider wrote {} tokens",
        written.load(Ordering::SeqCst)
    );
    assert!(llm.skipped.unwrap_or_default().contains("budget is spent"));
    common::cancel(&jobs, "thrifty").await;
    common::delete_namespace(&client, &ns).await;
}

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
