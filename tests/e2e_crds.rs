//! Acceptance (platform): the CRDs on the real apiserver — Established, every agent's valid
//! job accepted, invalid jobs rejected with a message naming the offending field.

mod common;

use std::collections::BTreeSet;

use devagents::api::{AgentApproval, AgentJob, AgentKind};
use kube::api::{Api, ApiResource, DynamicObject, PostParams};

#[tokio::test]
async fn crds_reach_established_with_columns_and_short_names() {
    let client = common::client().await;
    let crds = common::ensure_crds(&client).await;
    let names: BTreeSet<_> = crds
        .iter()
        .filter_map(|c| c.metadata.name.clone())
        .collect();
    assert_eq!(
        names,
        ["agentapprovals.devagents.io", "agentjobs.devagents.io"]
            .map(String::from)
            .into(),
    );
    let job = crds
        .iter()
        .find(|c| c.spec.names.kind == "AgentJob")
        .unwrap();
    assert_eq!(
        job.spec.names.short_names.as_deref(),
        Some(&["aj".to_string()][..])
    );
    let v = &job.spec.versions[0];
    assert!(
        v.subresources
            .as_ref()
            .and_then(|s| s.status.as_ref())
            .is_some(),
        "status subresource"
    );
    let cols: Vec<_> = v
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| c.name.as_str())
        .collect();
    for want in ["Agent", "Phase", "Priority", "Age"] {
        assert!(
            cols.contains(&want),
            "printer column {want} missing: {cols:?}"
        );
    }
    let aa = crds
        .iter()
        .find(|c| c.spec.names.kind == "AgentApproval")
        .unwrap();
    assert_eq!(
        aa.spec.names.short_names.as_deref(),
        Some(&["aa".to_string()][..])
    );
}

fn load_examples() -> Vec<(String, serde_json::Value)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/agentjobs");
    let mut out = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    paths.sort();
    for p in paths {
        let text = std::fs::read_to_string(&p).unwrap();
        out.push((
            p.display().to_string(),
            serde_yaml::from_str(&text).unwrap(),
        ));
    }
    out
}

fn dyn_api<K: kube::Resource<DynamicType = ()>>(
    client: &kube::Client,
    ns: &str,
) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), ns, &ApiResource::erase::<K>(&()))
}

#[tokio::test]
async fn a_valid_job_of_every_agent_is_accepted() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-valid").await;
    let api: Api<AgentJob> = Api::namespaced(client.clone(), &ns);
    let mut seen = BTreeSet::new();
    for (path, value) in load_examples() {
        let job: AgentJob = serde_json::from_value(value).unwrap_or_else(|e| panic!("{path}: {e}"));
        let created = api
            .create(&PostParams::default(), &job)
            .await
            .unwrap_or_else(|e| panic!("{path} was rejected: {e}"));
        // What the apiserver stored is what we sent (nothing pruned).
        assert_eq!(
            created.spec, job.spec,
            "{path}: the apiserver changed the spec"
        );
        seen.insert(created.spec.agent);
    }
    let all: BTreeSet<_> = AgentKind::ALL.into_iter().collect();
    assert_eq!(seen, all, "examples/agentjobs must hold one job per agent");
    common::delete_namespace(&client, &ns).await;
}

/// (case, spec as JSON, substring the message must hold — it names the field)
fn invalid_jobs() -> Vec<(&'static str, serde_json::Value, &'static str)> {
    use serde_json::json;
    vec![
        (
            "unknown agent",
            json!({"agent": "hacker", "probe": {}}),
            "spec.agent: Unsupported value: \"hacker\"",
        ),
        (
            "priority above 1000",
            json!({"agent": "probe", "priority": 1001, "probe": {}}),
            "spec.priority",
        ),
        (
            "priority below 0",
            json!({"agent": "probe", "priority": -1, "probe": {}}),
            "spec.priority",
        ),
        (
            "timeout too short",
            json!({"agent": "probe", "timeoutSeconds": 5, "probe": {}}),
            "spec.timeoutSeconds",
        ),
        (
            "timeout too long",
            json!({"agent": "probe", "timeoutSeconds": 86401, "probe": {}}),
            "spec.timeoutSeconds",
        ),
        (
            "two agent blocks",
            json!({"agent": "probe", "probe": {}, "reviewer": {"pullRequest": 1}}),
            "\"spec\" must validate one and only one schema (oneOf). Found 2 valid alternatives",
        ),
        (
            "no agent block",
            json!({"agent": "probe"}),
            "\"spec\" must validate one and only one schema (oneOf). Found none valid",
        ),
        (
            "block of another agent",
            json!({"agent": "reviewer", "probe": {}}),
            "spec.agent: Unsupported value: \"reviewer\"",
        ),
        (
            "malformed branch name",
            json!({"agent": "probe", "probe": {}, "repository": {"url": "https://github.com/a/b.git", "baseBranch": "feature..x"}}),
            "spec.repository.baseBranch",
        ),
        (
            "path outside the repository",
            json!({"agent": "probe", "probe": {}, "repository": {"url": "https://github.com/a/b.git", "allowedPaths": ["../etc"]}}),
            "spec.repository.allowedPaths: Invalid value: \"../etc\"",
        ),
        (
            "missing required param",
            json!({"agent": "reviewer", "reviewer": {}}),
            "spec.reviewer.pullRequest: Required value",
        ),
        (
            "entity not CamelCase",
            json!({"agent": "generator", "generator": {"entity": "department", "description": "x y z"}}),
            "spec.generator.entity",
        ),
        (
            "generator without fields or description",
            json!({"agent": "generator", "generator": {"entity": "Department"}}),
            "spec.generator",
        ),
        (
            "unknown field type",
            json!({"agent": "generator", "generator": {"entity": "Department", "fields": [{"name": "name", "type": "varchar"}]}}),
            "spec.generator.fields.type",
        ),
        (
            "bad image tag",
            json!({"agent": "deployer", "deployer": {"environment": "staging", "version": "-v1"}}),
            "spec.deployer.version",
        ),
        (
            "retry limit",
            json!({"agent": "probe", "probe": {}, "retries": {"limit": 11}}),
            "spec.retries.limit",
        ),
        (
            "lock name",
            json!({"agent": "probe", "probe": {}, "locks": ["Deploy/Prod"]}),
            "spec.locks: Invalid value: \"Deploy/Prod\"",
        ),
        (
            "approval quorum",
            json!({"agent": "probe", "probe": {}, "approval": {"policy": "before-run", "required": 0}}),
            "spec.approval.required",
        ),
        (
            "approval policy",
            json!({"agent": "probe", "probe": {}, "approval": {"policy": "whenever"}}),
            "spec.approval.policy",
        ),
        (
            "probe exit code",
            json!({"agent": "probe", "probe": {"exitCode": 256}}),
            "spec.probe.exitCode",
        ),
        (
            "coverage target",
            json!({"agent": "test-gen", "testGen": {"packages": ["rpc/internal/logic/x"], "coverageTarget": 101}}),
            "spec.testGen.coverageTarget",
        ),
        (
            "empty package list",
            json!({"agent": "test-gen", "testGen": {"packages": []}}),
            "spec.testGen.packages",
        ),
    ]
}

#[tokio::test]
async fn invalid_jobs_are_rejected_naming_the_field() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-invalid").await;
    let api = dyn_api::<AgentJob>(&client, &ns);
    let cases = invalid_jobs();
    assert!(cases.len() >= 8);
    let mut failures = Vec::new();
    for (i, (case, spec, want)) in cases.into_iter().enumerate() {
        let obj: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "devagents.io/v1alpha1", "kind": "AgentJob",
            "metadata": { "name": format!("invalid-{i}") }, "spec": spec,
        }))
        .unwrap();
        match api.create(&PostParams::default(), &obj).await {
            Ok(_) => failures.push(format!("{case}: accepted")),
            Err(kube::Error::Api(s)) => {
                if s.code != 422 || !s.message.contains(want) {
                    failures.push(format!(
                        "{case}: got {} {:?}, want 422 naming {want:?}",
                        s.code, s.message
                    ));
                }
            }
            Err(e) => failures.push(format!("{case}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    common::delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn approvals_validate_decisions_and_pins() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let ns = common::namespace(&client, "e2e-approval").await;
    let api = dyn_api::<AgentApproval>(&client, &ns);
    let make = |name: &str, spec: serde_json::Value| -> DynamicObject {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "devagents.io/v1alpha1", "kind": "AgentApproval",
            "metadata": { "name": name }, "spec": spec,
        }))
        .unwrap()
    };
    let ok = make(
        "ok",
        serde_json::json!({"jobName": "deploy-prod", "action": "deploy", "required": 2,
            "approvers": ["alice", "group:leads"],
            "pins": [{"name": "imageDigest", "value": "sha256:abc"}]}),
    );
    api.create(&PostParams::default(), &ok)
        .await
        .expect("valid approval accepted");
    for (name, spec, want) in [
        (
            "bad-decision",
            serde_json::json!({"jobName": "j", "action": "run", "decisions": [{"user": "alice", "decision": "Maybe"}]}),
            "spec.decisions.decision: Unsupported value: \"Maybe\"",
        ),
        (
            "no-job",
            serde_json::json!({"action": "run"}),
            "spec.jobName: Required value",
        ),
        (
            "bad-approver",
            serde_json::json!({"jobName": "j", "action": "run", "approvers": ["bob smith"]}),
            "spec.approvers: Invalid value: \"bob smith\"",
        ),
    ] {
        match api.create(&PostParams::default(), &make(name, spec)).await {
            Err(kube::Error::Api(s)) if s.code == 422 => {
                assert!(
                    s.message.contains(want),
                    "{name}: {:?} should name {want}",
                    s.message
                )
            }
            other => panic!("{name}: expected 422, got {other:?}"),
        }
    }
    common::delete_namespace(&client, &ns).await;
}
