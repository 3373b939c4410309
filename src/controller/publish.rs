//! What a replica publishes when it becomes leader: the agent API's CA (agent Pods, the
//! webhooks and `kubectl agent` trust it) and its peer address (the other replicas forward
//! LLM calls to it).

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::contract::{CA_CONFIGMAP, FIELD_MANAGER, LEADER_CONFIGMAP, MANAGED_BY, MANAGER};

/// Publish the agent API's CA certificate in the ConfigMap [`CA_CONFIGMAP`].
pub async fn publish_ca(client: &Client, namespace: &str, cert_pem: &str) -> kube::Result<()> {
    let cm = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": { "name": CA_CONFIGMAP, "labels": { MANAGED_BY: MANAGER } },
        "data": { "ca.crt": cert_pem },
    });
    apply(client, namespace, CA_CONFIGMAP, &cm).await
}

/// Publish this (now leading) replica's peer address.
pub async fn publish_leader(
    client: &Client,
    namespace: &str,
    identity: &str,
    address: &str,
) -> kube::Result<()> {
    let cm = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": { "name": LEADER_CONFIGMAP },
        "data": { "identity": identity, "address": address },
    });
    apply(client, namespace, LEADER_CONFIGMAP, &cm).await
}

async fn apply(
    client: &Client,
    namespace: &str,
    name: &str,
    cm: &serde_json::Value,
) -> kube::Result<()> {
    Api::<ConfigMap>::namespaced(client.clone(), namespace)
        .patch(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(cm),
        )
        .await
        .map(|_| ())
}
