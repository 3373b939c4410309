//! The writes of a native deploy, which the operator performs on the deployer's request
//! (`POST /v1/jobs/{ns}/{name}/deploy`): the job's ServiceAccount holds no write right in the
//! environment's namespace, so a token minted for it (which anyone with `edit` in the job's
//! namespace can do) cannot change a Deployment or start a Pod there.
//!
//! A request names only a service of the job's environment; everything else — the Deployment,
//! the container, the image (`<service image>:<job version>`), the revision a rollback restores,
//! the smoke-test and build Pods' specs — the operator derives from the job's spec and its own
//! environments.

use serde::{Deserialize, Serialize};

/// What the deployer asks the operator to do.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(tag = "op", rename_all = "camelCase", deny_unknown_fields)]
pub enum DeployOp {
    /// Set the service's container to the job's image (`<image>:<version>`); the operator
    /// records on the Deployment what ran before, for `restore`.
    #[serde(rename_all = "camelCase")]
    SetImage { service: String },
    /// Put back what ran before this job's `setImage` of the service (the revision, or the
    /// image when the Deployment had no revision yet).
    #[serde(rename_all = "camelCase")]
    Restore { service: String },
    /// Start the service's smoke-test or build Pod (its spec from the environment).
    #[serde(rename_all = "camelCase")]
    StartPod {
        kind: PodKind,
        service: String,
        /// Build Pods: the commit the job's build ref resolved to (40 hex digits).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        git_sha: Option<String>,
    },
    /// Delete that Pod (after it ended).
    #[serde(rename_all = "camelCase")]
    DeletePod { kind: PodKind, service: String },
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum PodKind {
    Smoke,
    Build,
}

impl PodKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PodKind::Smoke => "smoke",
            PodKind::Build => "build",
        }
    }
}

/// What the operator did.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DeployReply {
    /// The Deployment or Pod acted on.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The Deployment's revision after the request (when it has one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<i64>,
}

/// How the operator answers a `restore` of a Deployment the job never changed.
pub const NOTHING_TO_PUT_BACK: &str = "nothing to put back";

/// The annotation on a Deployment that records, per job, what ran before its `setImage`.
pub const PREVIOUS_ANNOTATION: &str = "devagents.io/before-deploy";

/// What ran before a job changed a Deployment (the annotation's value, JSON).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Previous {
    pub job_uid: String,
    pub container: String,
    pub image: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<i64>,
}

/// The name of a job's smoke-test or build Pod for a service (DNS-safe, at most 63).
pub fn pod_name(job: &str, kind: PodKind, service: &str) -> String {
    crate::contract::bounded_name(job, &format!("-{}-{service}", kind.as_str()), 63)
}

/// The deployer's endpoint of the agent API, below the job's path.
pub const ROUTE: &str = "/deploy";

/// Ask the operator to perform `op` (the job's identity only reads).
pub async fn request<H: crate::agents::Host + ?Sized>(
    host: &H,
    op: &DeployOp,
) -> Result<DeployReply, String> {
    let reply = host
        .call("POST", ROUTE, serde_json::to_value(op).ok())
        .await
        .map_err(|e| e.message)?
        .ok_or("an empty deploy reply")?;
    serde_json::from_value(reply).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_are_tagged_and_refuse_extra_fields() {
        let op: DeployOp = serde_json::from_str(r#"{"op":"setImage","service":"api"}"#).unwrap();
        assert_eq!(
            op,
            DeployOp::SetImage {
                service: "api".into()
            }
        );
        // The image is the operator's to choose, never the request's.
        let e = serde_json::from_str::<DeployOp>(
            r#"{"op":"setImage","service":"api","image":"evil/api:1"}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("unknown field `image`"), "{e}");
        let op: DeployOp = serde_json::from_str(
            r#"{"op":"startPod","kind":"build","service":"api","gitSha":"ab"}"#,
        )
        .unwrap();
        assert!(matches!(
            op,
            DeployOp::StartPod {
                kind: PodKind::Build,
                ..
            }
        ));
        assert_eq!(pod_name("to-v2", PodKind::Smoke, "api"), "to-v2-smoke-api");
    }
}
