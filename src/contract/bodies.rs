//! The agent API's routes and the bodies its server and its client (the runner) exchange,
//! typed once for both.

use serde::{Deserialize, Serialize};

use crate::api::{AgentJobSpec, ApprovalPhase, ArtifactRef, Pin};

/// Every job endpoint is under this path (`{ns}`, `{name}`: the job).
pub const JOB_ROUTE: &str = "/v1/jobs/{ns}/{name}";
/// Below [`JOB_ROUTE`]: progress lines, audit actions, the result, approvals, artifacts.
pub const PROGRESS: &str = "/progress";
pub const ACTIONS: &str = "/actions";
pub const RESULT: &str = "/result";
pub const APPROVALS: &str = "/approvals";
pub const ARTIFACTS: &str = "/artifacts";

/// `GET` of the job: what the agent works on.
#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct JobInput {
    pub name: String,
    pub namespace: String,
    pub uid: String,
    pub attempt: i32,
    pub spec: AgentJobSpec,
}

/// `POST …/progress`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ProgressBody {
    pub lines: Vec<String>,
}

/// `POST …/actions`: one entry of the audit trail.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ActionBody {
    #[serde(rename = "type")]
    pub type_: String,
    pub target: String,
    #[serde(default)]
    pub digest: Option<String>,
    #[serde(default)]
    pub requires_approval: bool,
    #[serde(default)]
    pub approval: Option<String>,
}

/// `POST …/result`: the summary, small data, the artifacts uploaded before.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ResultBody {
    pub summary: String,
    #[serde(default)]
    pub data: Option<serde_json::Value>,
    #[serde(default)]
    pub artifacts: Vec<ArtifactRef>,
}

/// `POST …/approvals`: an approval the agent asks for mid-run.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ApprovalRequest {
    pub action: String,
    #[serde(default)]
    pub description: String,
    pub pins: Vec<Pin>,
}

/// The answer of `POST …/approvals` and `GET …/approvals/{name}`.
#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalState {
    pub name: String,
    pub phase: ApprovalPhase,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub approved_by: Vec<String>,
}
