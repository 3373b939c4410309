//! `AgentApproval`: a decision people make about exactly one pinned thing an agent wants to do.
// kube's `printcolumn(...)` repeats `type_ = "string"` across columns; that is not a mistake.
#![allow(clippy::duplicated_attributes)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::patterns;

/// What is asked, pinned to exact content, and the decisions so far.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "devagents.io",
    version = "v1alpha1",
    kind = "AgentApproval",
    plural = "agentapprovals",
    singular = "agentapproval",
    shortname = "aa",
    category = "devagents",
    namespaced,
    status = "AgentApprovalStatus",
    derive = "PartialEq",
    doc = "An approval request for one AgentJob action, pinned to exact content.",
    printcolumn(name = "Job", type_ = "string", json_path = ".spec.jobName"),
    printcolumn(name = "Action", type_ = "string", json_path = ".spec.action"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(
        name = "Required",
        type_ = "integer",
        json_path = ".spec.required",
        priority = "1"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct AgentApprovalSpec {
    /// The AgentJob (same namespace) this approval belongs to.
    #[schemars(regex(pattern = patterns::DNS_SUBDOMAIN), length(max = 253))]
    pub job_name: String,
    /// UID of that job, so a re-created job with the same name cannot reuse the approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub job_uid: Option<String>,
    /// What is approved: `run`, `deploy`, `git_push`, `migration` …
    #[schemars(regex(pattern = r"^[a-z][a-z0-9_-]{0,62}$"))]
    pub action: String,
    /// Human-readable description shown to approvers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub description: Option<String>,
    /// Exactly what is approved (commit SHA, diff hash, image digest, migration hash …).
    /// If any of these changes, the approval is void.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub pins: Vec<Pin>,
    /// Users and `group:<name>` entries allowed to decide.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(regex(pattern = patterns::APPROVER), length(max = 256)))]
    pub approvers: Vec<String>,
    /// Approvals needed.
    #[serde(default = "default_required")]
    #[schemars(range(min = 1, max = 10))]
    pub required: i32,
    /// Undecided after this instant means rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Time>,
    /// The decisions; each one's `user` must be the identity that wrote it (webhook-checked).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["user"]))]
    pub decisions: Vec<Decision>,
}

fn default_required() -> i32 {
    1
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct Pin {
    /// `commitSHA`, `diffHash`, `imageDigest`, `migrationHash` …
    #[schemars(regex(pattern = r"^[A-Za-z][A-Za-z0-9]{0,62}$"))]
    pub name: String,
    #[schemars(length(min = 1, max = 512))]
    pub value: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    #[schemars(length(min = 1, max = 256))]
    pub user: String,
    /// The decider's groups, recorded by the admission webhook from the request's identity
    /// (so `group:` approvers can be re-checked later).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(max = 256)))]
    pub groups: Vec<String>,
    pub decision: DecisionKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<Time>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum DecisionKind {
    Approve,
    Reject,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ApprovalPhase {
    #[default]
    Pending,
    Approved,
    Rejected,
    Expired,
    Voided,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentApprovalStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<ApprovalPhase>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approved_by: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Hash of the pins that were approved; if the pins change afterwards, the approval is void.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_pins_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

impl ApprovalPhase {
    pub fn is_final(self) -> bool {
        matches!(
            self,
            ApprovalPhase::Rejected | ApprovalPhase::Expired | ApprovalPhase::Voided
        )
    }
}
