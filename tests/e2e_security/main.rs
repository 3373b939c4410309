//! Security acceptance, tried as an attacker would, on the real control plane with the token
//! users (alice, bob, carol, dave) and real RBAC: approvals nobody but the operator issues and
//! nobody can re-point, deploy approvals decided by the environment's approvers, a job token
//! that does not outlive its job, and limits on everything an agent Pod sends.

#[path = "../common/mod.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use common::{Operator, api_ca, http, is_terminal, probe_job, token};
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

mod agent_api;
mod agents;
mod approvals;
mod identity;

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
