//! The names the operator, the agent Pods (the runner) and the node stand-in share: labels,
//! annotations, environment variables, mount paths, exit codes and the termination message,
//! the agent API's token audience, the field manager and the finalizer, and how names of
//! owned objects are bounded. At the bottom of the layers: this module imports nothing from
//! the crate, and every other module may use it.

use sha2::{Digest, Sha256};

pub mod bodies;

// --- Names ------------------------------------------------------------------------------

/// `base` + `suffix`, shortened with a hash when the result would exceed `max` characters.
pub fn bounded_name(base: &str, suffix: &str, max: usize) -> String {
    if base.len() + suffix.len() <= max {
        return format!("{base}{suffix}");
    }
    let hash = hex(&Sha256::digest(base.as_bytes()))[..8].to_string();
    let keep = max.saturating_sub(suffix.len() + 9);
    let mut head = base[..keep.min(base.len())]
        .trim_end_matches(['-', '.'])
        .to_string();
    head.push('-');
    format!("{head}{hash}{suffix}")
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// --- Labels and annotations -----------------------------------------------------------

pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const MANAGER: &str = "devagents";
pub const LABEL_JOB_UID: &str = "devagents.io/job-uid";
pub const LABEL_JOB: &str = "devagents.io/job";
pub const LABEL_AGENT: &str = "devagents.io/agent";
pub const LABEL_ATTEMPT: &str = "devagents.io/attempt";
pub const ANNOTATION_JOB: &str = "devagents.io/job-name";
/// On an agent Pod: the operator's seal, a keyed hash of the job UID and attempt. A Pod
/// without a valid one (made by someone else under the attempt's name) is never taken as the
/// attempt's Pod.
pub const ANNOTATION_SEAL: &str = "devagents.io/seal";
/// Lock Leases: the label that marks them and the annotation with the lock's name.
pub const LABEL_LOCK: &str = "devagents.io/lock";
pub const ANNOTATION_LOCK: &str = "devagents.io/lock-name";

/// The ConfigMap (in the operator's namespace) with the agent API's CA certificate.
pub const CA_CONFIGMAP: &str = "devagents-agent-api-ca";
/// The ConfigMap (in the operator's namespace) where the leader publishes its peer address.
pub const LEADER_CONFIGMAP: &str = "devagents-operator-leader";

/// The field manager of every server-side apply the operator makes.
pub const FIELD_MANAGER: &str = "devagents-operator";
pub const FINALIZER: &str = "devagents.io/cleanup";

// --- The agent Pod's environment --------------------------------------------------------

/// The job the Pod works for (see `agent-runner run`).
pub const ENV_JOB_NAME: &str = "DEVAGENTS_JOB_NAME";
pub const ENV_JOB_NAMESPACE: &str = "DEVAGENTS_JOB_NAMESPACE";
pub const ENV_JOB_UID: &str = "DEVAGENTS_JOB_UID";
/// The attempt this Pod is (1-based), set when the operator created the Pod.
pub const ENV_ATTEMPT: &str = "DEVAGENTS_ATTEMPT";
/// The job's spec as it was when this attempt was admitted (JSON).
pub const ENV_JOB_SPEC: &str = "DEVAGENTS_JOB_SPEC";
/// The GitHub REST API the agents use.
pub const ENV_GITHUB_API_URL: &str = "DEVAGENTS_GITHUB_API_URL";
/// The environment a deployer Pod works on (JSON; Secret names only).
pub const ENV_DEPLOY_ENVIRONMENT: &str = "DEVAGENTS_DEPLOY_ENVIRONMENT";
/// The agent API's URL and CA certificate (PEM).
pub const ENV_API_URL: &str = "DEVAGENTS_API_URL";
pub const ENV_API_CA: &str = "DEVAGENTS_API_CA";
/// Set by the node stand-in: where the container's termination message file is.
pub const ENV_TERMINATION_MESSAGE_PATH: &str = "DEVAGENTS_TERMINATION_MESSAGE_PATH";
/// Set by the node stand-in: the directory that plays the container's root filesystem. In a
/// real container it is unset and paths are used as they are.
pub const FS_ROOT_ENV: &str = "DEVAGENTS_FS_ROOT";

// --- Mounts ------------------------------------------------------------------------------

/// The audience of the agent Pods' projected tokens.
pub const AUDIENCE: &str = "devagents.io";
/// Where the projected token is mounted in agent Pods.
pub const TOKEN_DIR: &str = "/var/run/secrets/devagents.io";
/// Where the agent Pod finds the job's `repository.credentialsSecret` (keys `token` and,
/// optionally, `username`).
pub const CREDENTIALS_DIR: &str = "/var/run/secrets/devagents.io/repository";
/// Where the deployer finds its Kubernetes API token (the standard in-cluster location).
pub const KUBE_API_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// Notification and GitOps Secrets of the environment, mounted read-only and optional.
pub const SLACK_DIR: &str = "/var/run/secrets/devagents.io/slack";
pub const NOTION_DIR: &str = "/var/run/secrets/devagents.io/notion";
pub const GITOPS_DIR: &str = "/var/run/secrets/devagents.io/gitops";
/// Where a migrator Pod finds `migrator.databaseSecret` (key `DATABASE_URL`), read-only.
pub const DATABASE_DIR: &str = "/var/run/secrets/devagents.io/database";

// --- How an agent Pod ends ---------------------------------------------------------------

pub const EXIT_SUCCESS: i32 = 0;
/// The agent failed for a reason of its own: final, the termination message says why.
pub const EXIT_AGENT_FAILURE: i32 = 1;
/// The runner was started wrongly (no job, an invalid spec): final.
pub const EXIT_USAGE: i32 = 2;
/// The deployer rolled back: the job ends RolledBack.
pub const EXIT_ROLLED_BACK: i32 = 3;
/// Worth another attempt (the operator unreachable, a 5xx): retried within `spec.retries`.
pub const EXIT_TRANSIENT: i32 = 75;

/// Where the kubelet expects the termination message (`terminationMessagePath`'s default).
pub const TERMINATION_MESSAGE_PATH: &str = "/dev/termination-log";
/// The kubelet truncates termination messages to 4096 bytes; so do we.
pub const TERMINATION_MESSAGE_MAX: usize = 4096;

/// A successful agent's result, carried by its termination message instead of a write
/// through the agent API: this prefix, then [`MessageResult`] as JSON, 4096 bytes at most in
/// all. The runner uses it when the result fits and references no artifact (artifacts are
/// uploaded, and their result sent, through the agent API); the operator reads it only from
/// an attempt's Pod that ended Succeeded, and writes it into status with the job's end — one
/// status write and one round trip fewer on every job's way to its end.
pub const RESULT_MESSAGE_PREFIX: &str = "devagents.io/result/v1 ";

/// The result in a termination message: a summary and small data, nothing else.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MessageResult {
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

/// The termination message carrying `result`, or `None` when it would not fit.
pub fn result_message(result: &MessageResult) -> Option<String> {
    let json = serde_json::to_string(result).ok()?;
    let msg = format!("{RESULT_MESSAGE_PREFIX}{json}");
    (msg.len() <= TERMINATION_MESSAGE_MAX).then_some(msg)
}

/// The result a termination message carries: `None` for a plain message (its text is the
/// summary), an error for one that has the prefix but not a valid result after it.
pub fn parse_result_message(msg: &str) -> Option<Result<MessageResult, String>> {
    let json = msg.strip_prefix(RESULT_MESSAGE_PREFIX)?;
    Some(serde_json::from_str(json).map_err(|e| e.to_string()))
}

/// The digest of an artifact or a sandbox upload: `sha256:<hex>`.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

/// Map an absolute in-container path to the host path when running under the node stand-in
/// (which sets [`FS_ROOT_ENV`]).
pub fn container_path(path: &str) -> std::path::PathBuf {
    match std::env::var_os(FS_ROOT_ENV) {
        Some(root) if !root.is_empty() => {
            std::path::Path::new(&root).join(path.trim_start_matches('/'))
        }
        _ => std::path::PathBuf::from(path),
    }
}

/// Truncate to the kubelet's limit on a termination message, on a char boundary.
pub fn truncate_message(msg: &str) -> &str {
    if msg.len() <= TERMINATION_MESSAGE_MAX {
        return msg;
    }
    let mut end = TERMINATION_MESSAGE_MAX;
    while !msg.is_char_boundary(end) {
        end -= 1;
    }
    &msg[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_travels_in_the_termination_message_only_when_it_fits() {
        let r = MessageResult {
            summary: "probe finished".into(),
            data: Some(serde_json::json!({"resultBytes": 0, "llm": null})),
        };
        let msg = result_message(&r).unwrap();
        assert!(msg.starts_with(RESULT_MESSAGE_PREFIX));
        assert_eq!(parse_result_message(&msg), Some(Ok(r)));
        // Too big for the kubelet's 4096 bytes: not carried (the runner sends it instead).
        let big = MessageResult {
            summary: "s".into(),
            data: Some(serde_json::json!("x".repeat(TERMINATION_MESSAGE_MAX))),
        };
        assert_eq!(result_message(&big), None);
        // A plain message is a summary, not a result.
        assert_eq!(parse_result_message("probe finished after 200 ms"), None);
        // The prefix with anything but a result after it is an error, never a summary.
        for bad in [
            "{not json",
            r#"{"summary":"s","artifacts":[{"name":"x"}]}"#,
            r#"{"data":{}}"#,
        ] {
            let got = parse_result_message(&format!("{RESULT_MESSAGE_PREFIX}{bad}"));
            assert!(matches!(got, Some(Err(_))), "{bad}: {got:?}");
        }
    }
}
