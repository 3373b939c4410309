//! Admission webhooks (served on the agent API's HTTPS port):
//! - mutating: stamp `spec.requestedBy` on AgentJob creation from the request's userInfo, and
//!   fill decisions whose user is `self` with the requesting user and record the decider's
//!   groups (what `kubectl agent approve` sends);
//! - validating: AgentJob cross-field rules the schema cannot express, `requestedBy` and
//!   `agent` immutable; AgentApprovals are created only by the operator (verb `issue`) and
//!   everything but their decisions is fixed; a decision's user is the requesting user, who
//!   passes a SubjectAccessReview for verb `approve` on `agentapprovals` (like CSR approval),
//!   is among the approvers (a user or a `group:` entry), and did not request the job (found
//!   by UID); nobody changes another user's decision. A request that does not decode is
//!   denied.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::ResourceExt;
use kube::api::{Api, PostParams};
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};
use serde_json::json;
use tracing::warn;

use super::ApiState;
use crate::api::{AgentApproval, AgentJob, AgentJobSpec, ApprovalMode, Decision};
use crate::controller::agent::Agents;

/// The decision user the CLI sends; the mutating webhook replaces it with the caller.
pub const SELF_USER: &str = "self";

/// The admission request in `body` (a few read at a time, each at most `BODY_WEBHOOK`).
async fn admission_request(
    s: &ApiState,
    body: axum::body::Body,
) -> Result<AdmissionRequest<DynamicObject>, AdmissionResponse> {
    let _slot = s
        .webhook_slots
        .acquire()
        .await
        .map_err(|e| AdmissionResponse::invalid(e.to_string()))?;
    let review: AdmissionReview<DynamicObject> = super::read_json(body, super::BODY_WEBHOOK)
        .await
        .map_err(|e| AdmissionResponse::invalid(e.1))?;
    review
        .try_into()
        .map_err(|e: kube::core::admission::ConvertAdmissionReviewError| {
            AdmissionResponse::invalid(e.to_string())
        })
}

pub async fn mutate(
    State(s): State<Arc<ApiState>>,
    body: axum::body::Body,
) -> Json<AdmissionReview<DynamicObject>> {
    let req = match admission_request(&s, body).await {
        Ok(r) => r,
        Err(denied) => return Json(denied.into_review()),
    };
    let resp = AdmissionResponse::from(&req);
    let user = req.user_info.username.clone().unwrap_or_default();
    let mut ops = Vec::new();
    match (req.kind.kind.as_str(), &req.operation, &req.object) {
        ("AgentJob", Operation::Create, Some(obj)) => {
            ops.push(json!({ "op": "add", "path": "/spec/requestedBy", "value": {
                "username": user,
                "uid": req.user_info.uid,
                "groups": req.user_info.groups.clone().unwrap_or_default(),
            }}));
            // The operator's finalizer from the start: no extra write per job to add it.
            ops.extend(finalizer_op(obj.metadata.finalizers.as_deref()));
        }
        ("AgentApproval", Operation::Create | Operation::Update, Some(obj)) => {
            let decisions = obj.data["spec"]["decisions"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let groups = req.user_info.groups.clone().unwrap_or_default();
            for (i, d) in decisions.iter().enumerate() {
                // The decider's own decisions carry the groups the apiserver saw (what
                // `group:` approvers are checked against later).
                if (d["user"] == SELF_USER || d["user"] == user.as_str())
                    && d.get("groups").is_none_or(|g| g != &json!(groups))
                {
                    ops.push(json!({ "op": "add", "path": format!("/spec/decisions/{i}/groups"), "value": groups }));
                }
                if d["user"] == SELF_USER {
                    ops.push(json!({ "op": "replace", "path": format!("/spec/decisions/{i}/user"), "value": user }));
                    if d.get("decidedAt").is_none() {
                        ops.push(json!({ "op": "add", "path": format!("/spec/decisions/{i}/decidedAt"),
                            "value": k8s_openapi::jiff::Timestamp::now().round(k8s_openapi::jiff::Unit::Second).map(|t| t.to_string()).unwrap_or_default() }));
                    }
                }
            }
        }
        _ => {}
    }
    if ops.is_empty() {
        return Json(resp.into_review());
    }
    let resp = match serde_json::from_value::<json_patch::Patch>(serde_json::Value::Array(ops)) {
        Ok(p) => resp
            .with_patch(p)
            .unwrap_or_else(|e| AdmissionResponse::invalid(e.to_string())),
        Err(e) => AdmissionResponse::invalid(e.to_string()),
    };
    Json(resp.into_review())
}

/// The JSON patch operation that adds the operator's finalizer, unless it is there.
fn finalizer_op(finalizers: Option<&[String]>) -> Option<serde_json::Value> {
    let fin = crate::contract::FINALIZER;
    match finalizers {
        Some(f) if f.iter().any(|x| x == fin) => None,
        Some(_) => Some(json!({ "op": "add", "path": "/metadata/finalizers/-", "value": fin })),
        None => Some(json!({ "op": "add", "path": "/metadata/finalizers", "value": [fin] })),
    }
}

pub async fn validate(
    State(s): State<Arc<ApiState>>,
    body: axum::body::Body,
) -> Json<AdmissionReview<DynamicObject>> {
    let req = match admission_request(&s, body).await {
        Ok(r) => r,
        Err(denied) => return Json(denied.into_review()),
    };
    let resp = AdmissionResponse::from(&req);
    let verdict = match req.kind.kind.as_str() {
        "AgentJob" => validate_job(&req, &s.agents),
        "AgentApproval" => validate_approval(&s, &req).await,
        _ => Ok(()),
    };
    Json(match verdict {
        Ok(()) => resp.into_review(),
        Err(msg) => resp.deny(msg).into_review(),
    })
}

/// The request's object (`what`: "object" or "oldObject") as `T`; a body that does not
/// decode is denied, never waved through.
fn parse<T: serde::de::DeserializeOwned>(
    o: &Option<DynamicObject>,
    what: &str,
) -> Result<T, String> {
    let v = o
        .as_ref()
        .ok_or_else(|| format!("the admission request has no {what}"))
        .and_then(|o| serde_json::to_value(o).map_err(|e| e.to_string()))?;
    serde_json::from_value(v).map_err(|e| format!("{what} does not decode: {e}"))
}

/// Cross-field rules of a job spec (pure; also unit-tested); the agent says whether it needs
/// a repository.
pub fn check_job_spec(spec: &AgentJobSpec, agents: &Agents) -> Result<(), String> {
    let blocks = spec.blocks_present();
    if blocks != vec![spec.agent] {
        let names: Vec<&str> = blocks.iter().map(|b| b.params_field()).collect();
        return Err(format!(
            "spec.{}: the {} agent needs exactly its own parameter block (found: {})",
            spec.agent.params_field(),
            spec.agent,
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        ));
    }
    if agents.of(spec.agent).needs_repository() && spec.repository.is_none() {
        return Err(format!(
            "spec.repository is required for the {} agent",
            spec.agent
        ));
    }
    if let Some(a) = &spec.approval
        && a.policy != ApprovalMode::Auto
        && !a.approvers.is_empty()
        && !a.approvers.iter().any(|x| x.starts_with("group:"))
        && a.required as usize > a.approvers.len()
    {
        return Err(format!(
            "spec.approval.required ({}) exceeds the number of approvers ({}); it could never be met",
            a.required,
            a.approvers.len()
        ));
    }
    Ok(())
}

fn validate_job(req: &AdmissionRequest<DynamicObject>, agents: &Agents) -> Result<(), String> {
    if !matches!(req.operation, Operation::Create | Operation::Update) {
        return Ok(());
    }
    let new = parse::<AgentJob>(&req.object, "object")?;
    match req.operation {
        Operation::Create => {
            let user = req.user_info.username.clone().unwrap_or_default();
            if new
                .spec
                .requested_by
                .as_ref()
                .is_some_and(|r| r.username != user)
            {
                return Err(format!(
                    "spec.requestedBy is set by the apiserver's user ({user}), not by the client"
                ));
            }
            check_job_spec(&new.spec, agents)
        }
        Operation::Update => {
            let old = parse::<AgentJob>(&req.old_object, "oldObject")?;
            if old.spec.requested_by != new.spec.requested_by {
                return Err("spec.requestedBy is immutable".into());
            }
            if old.spec.agent != new.spec.agent {
                return Err("spec.agent is immutable".into());
            }
            check_job_spec(&new.spec, agents)
        }
        _ => Ok(()),
    }
}

/// A SubjectAccessReview: may the request's user do `verb` on agentapprovals (`name`) in `ns`?
async fn may(
    s: &ApiState,
    req: &AdmissionRequest<DynamicObject>,
    verb: &str,
    name: Option<String>,
) -> Result<bool, String> {
    let sar = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: req.user_info.username.clone(),
            groups: req.user_info.groups.clone(),
            uid: req.user_info.uid.clone(),
            extra: req.user_info.extra.clone(),
            resource_attributes: Some(ResourceAttributes {
                namespace: req.namespace.clone(),
                verb: Some(verb.into()),
                group: Some("devagents.io".into()),
                resource: Some("agentapprovals".into()),
                name,
                ..ResourceAttributes::default()
            }),
            ..SubjectAccessReviewSpec::default()
        },
        ..SubjectAccessReview::default()
    };
    let api: Api<SubjectAccessReview> = Api::all(s.client.clone());
    match api.create(&PostParams::default(), &sar).await {
        Ok(r) => Ok(r.status.is_some_and(|st| st.allowed)),
        Err(e) => {
            warn!(error = %e, "SubjectAccessReview failed");
            Err(format!("could not check the {verb} permission; try again"))
        }
    }
}

/// Everything of an approval's spec but its decisions (fixed once the operator issued it).
fn fixed_part(a: &AgentApproval) -> serde_json::Value {
    let mut spec = a.spec.clone();
    spec.decisions.clear();
    serde_json::to_value(spec).unwrap_or_default()
}

async fn validate_approval(
    s: &ApiState,
    req: &AdmissionRequest<DynamicObject>,
) -> Result<(), String> {
    if !matches!(req.operation, Operation::Create | Operation::Update) {
        return Ok(());
    }
    let new = parse::<AgentApproval>(&req.object, "object")?;
    let user = req.user_info.username.clone().unwrap_or_default();
    let groups = req.user_info.groups.clone().unwrap_or_default();
    let ns = req.namespace.clone().unwrap_or_default();
    let old_decisions: Vec<Decision> = match req.operation {
        // Only the operator issues approvals (the verb `issue`, which its ClusterRole has and
        // people's roles do not); people only decide them.
        Operation::Create => {
            if !may(s, req, "issue", None).await? {
                return Err(format!(
                    "{user} may not create AgentApprovals: the operator issues them (verb \"issue\"); people decide them with kubectl agent approve|reject"
                ));
            }
            Vec::new()
        }
        _ => {
            let old = parse::<AgentApproval>(&req.old_object, "oldObject")?;
            if fixed_part(&old) != fixed_part(&new) {
                return Err(
                    "spec: only spec.decisions may change; the job, action, pins, approvers, quorum and expiry are fixed by the operator"
                        .into(),
                );
            }
            old.spec.decisions
        }
    };
    // Nobody removes or rewrites another user's decision.
    for d in &old_decisions {
        let same = new.spec.decisions.iter().find(|n| n.user == d.user);
        if same != Some(d) && d.user != user {
            return Err(format!(
                "spec.decisions: the decision of {} can only be changed by {}",
                d.user, d.user
            ));
        }
    }
    let added: Vec<&Decision> = new
        .spec
        .decisions
        .iter()
        .filter(|d| !old_decisions.contains(d))
        .collect();
    for d in added {
        if d.user != user {
            return Err(format!(
                "spec.decisions: a decision's user ({:?}) must be the requesting user ({user:?})",
                d.user
            ));
        }
        if let Some(g) = d.groups.iter().find(|g| !groups.contains(g)) {
            return Err(format!(
                "spec.decisions: {user} is not in group {g:?}; a decision's groups are the requesting user's"
            ));
        }
        if !may(s, req, "approve", new.metadata.name.clone()).await? {
            return Err(format!(
                "{user} may not decide: the verb \"approve\" on agentapprovals.devagents.io in namespace {ns} is required"
            ));
        }
        let me = Decision {
            groups: groups.clone(),
            ..d.clone()
        };
        if !crate::controller::approval::listed(&new.spec.approvers, &me) {
            return Err(format!(
                "{user} is not among the approvers of {} ({})",
                new.metadata.name.clone().unwrap_or_default(),
                new.spec.approvers.join(", ")
            ));
        }
        // The job is the one with the approval's UID (a name alone could be a decoy).
        let jobs: Api<AgentJob> = Api::namespaced(s.client.clone(), &ns);
        let job = jobs
            .get_opt(&new.spec.job_name)
            .await
            .map_err(|e| format!("could not read job {}: {e}; try again", new.spec.job_name))?
            .filter(|j| new.spec.job_uid.is_some() && j.uid() == new.spec.job_uid)
            .ok_or_else(|| {
                format!(
                    "the job of this approval ({}) no longer exists",
                    new.spec.job_name
                )
            })?;
        if job
            .spec
            .requested_by
            .as_ref()
            .is_some_and(|r| r.username == user)
        {
            return Err(format!(
                "{user} requested job {} and cannot approve it",
                new.spec.job_name
            ));
        }
    }
    Ok(())
}

/// Register the webhook configurations (URL clientConfig + caBundle) — for local runs; the
/// Helm chart ships them with a Service clientConfig instead. With `only_namespace`, the
/// webhooks apply to that namespace alone (it gets a label to select it by).
pub async fn register(
    client: &kube::Client,
    base_url: &str,
    ca_pem: &str,
    only_namespace: Option<&str>,
) -> kube::Result<()> {
    use base64::Engine;
    use k8s_openapi::api::admissionregistration::v1::{
        MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
    };
    use k8s_openapi::api::core::v1::Namespace;
    use kube::api::{Patch, PatchParams};

    let pp = PatchParams::apply(crate::contract::FIELD_MANAGER).force();
    let name = match only_namespace {
        Some(ns) => format!("devagents-{ns}"),
        None => "devagents".to_string(),
    };
    let selector = match only_namespace {
        Some(ns) => json!({ "matchLabels": { "devagents.io/webhooks": ns } }),
        None => json!({}),
    };
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem.as_bytes());
    let hook = |path: &str, hook_name: &str, rules: serde_json::Value| {
        json!({
            "name": hook_name,
            "clientConfig": { "url": format!("{}{path}", base_url.trim_end_matches('/')), "caBundle": ca },
            "rules": rules,
            "namespaceSelector": selector,
            "failurePolicy": "Fail",
            "sideEffects": "None",
            "admissionReviewVersions": ["v1"],
            "timeoutSeconds": 10,
        })
    };
    let mutating = json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
        "metadata": { "name": name },
        "webhooks": [hook("/webhooks/mutate", "mutate.devagents.io", json!([
            { "apiGroups": ["devagents.io"], "apiVersions": ["v1alpha1"], "operations": ["CREATE"], "resources": ["agentjobs"] },
            { "apiGroups": ["devagents.io"], "apiVersions": ["v1alpha1"], "operations": ["CREATE", "UPDATE"], "resources": ["agentapprovals"] },
        ]))],
    });
    let validating = json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
        "metadata": { "name": name },
        "webhooks": [hook("/webhooks/validate", "validate.devagents.io", json!([
            { "apiGroups": ["devagents.io"], "apiVersions": ["v1alpha1"], "operations": ["CREATE", "UPDATE"], "resources": ["agentjobs", "agentapprovals"] },
        ]))],
    });
    let m: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    m.patch(&name, &pp, &Patch::Apply(&mutating)).await?;
    let v: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    v.patch(&name, &pp, &Patch::Apply(&validating)).await?;
    // The namespace is selected last, once both configurations exist.
    if let Some(ns) = only_namespace {
        let nss: Api<Namespace> = Api::all(client.clone());
        let label = json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": ns, "labels": { "devagents.io/webhooks": ns } } });
        nss.patch(ns, &pp, &Patch::Apply(&label)).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::AgentKind;

    #[test]
    fn a_new_job_gets_the_finalizer_once() {
        let fin = crate::contract::FINALIZER;
        assert_eq!(
            finalizer_op(None),
            Some(json!({ "op": "add", "path": "/metadata/finalizers", "value": [fin] }))
        );
        assert_eq!(
            finalizer_op(Some(&["other.io/keep".to_string()])),
            Some(json!({ "op": "add", "path": "/metadata/finalizers/-", "value": fin }))
        );
        assert_eq!(finalizer_op(Some(&[fin.to_string()])), None);
        // The ops apply to a job as JSON patch does.
        let mut job = json!({ "metadata": { "finalizers": ["other.io/keep"] } });
        let p: json_patch::Patch =
            serde_json::from_value(json!([finalizer_op(Some(&["other.io/keep".to_string()]))]))
                .unwrap();
        json_patch::patch(&mut job, &p).unwrap();
        assert_eq!(job["metadata"]["finalizers"], json!(["other.io/keep", fin]));
    }
    use crate::api::{ApprovalPolicy, Repository};

    #[test]
    fn cross_field_rules() {
        // The registry's hooks say which agents need a repository (test modules may reach up).
        let agents = crate::agents::operator_side(Default::default());
        let check_job_spec = |spec: &AgentJobSpec| check_job_spec(spec, &agents);
        let mut spec = AgentJobSpec::new(AgentKind::Probe);
        spec.probe = Some(Box::default());
        assert!(check_job_spec(&spec).is_ok());
        spec.approval = Some(ApprovalPolicy {
            policy: ApprovalMode::BeforeRun,
            approvers: vec!["alice".into()],
            required: 2,
            timeout_seconds: 600,
        });
        assert!(
            check_job_spec(&spec)
                .unwrap_err()
                .contains("spec.approval.required (2)")
        );
        spec.approval
            .as_mut()
            .unwrap()
            .approvers
            .push("group:leads".into());
        assert!(check_job_spec(&spec).is_ok());

        let mut g = AgentJobSpec::new(AgentKind::Generator);
        g.generator = Some(Default::default());
        assert_eq!(
            check_job_spec(&g).unwrap_err(),
            "spec.repository is required for the generator agent"
        );
        g.repository = Some(Repository {
            url: "https://x/y.git".into(),
            base_branch: "main".into(),
            credentials_secret: None,
            allowed_paths: vec![],
        });
        assert!(check_job_spec(&g).is_ok());
        g.probe = Some(Box::default());
        assert!(
            check_job_spec(&g)
                .unwrap_err()
                .contains("found: generator, probe")
        );
    }

    #[test]
    fn an_object_that_does_not_decode_is_denied_not_allowed() {
        let bad: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "devagents.io/v1alpha1", "kind": "AgentApproval",
            "metadata": {"name": "x"}, "spec": {"jobName": 5, "action": "run"}
        }))
        .unwrap();
        let err = parse::<AgentApproval>(&Some(bad), "object").unwrap_err();
        assert!(err.starts_with("object does not decode"), "{err}");
        assert_eq!(
            parse::<AgentJob>(&None, "oldObject").unwrap_err(),
            "the admission request has no oldObject"
        );
    }
}
