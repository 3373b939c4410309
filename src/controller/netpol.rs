//! The NetworkPolicy of agent Pods (issue 14, point 4): in every namespace where the operator
//! starts agents, `devagents-agents` denies agent Pods all ingress and allows egress only to
//! the operator's agent API (its namespace, port 8443) and to what the chart's
//! `agentNetworkPolicy.egress` lists (by default DNS, and HTTPS/SSH outside the private
//! address ranges: the git host and the SaaS APIs). Deployer Pods are left out: they talk to
//! the Kubernetes API, whose address a NetworkPolicy cannot name portably.
//! The reviewer's sandbox Pods have their own deny-all policy (`agentapi::sandbox`).

use std::collections::HashSet;

use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::pod::{LABEL_AGENT, MANAGED_BY, MANAGER};
use super::{Context, FIELD_MANAGER};

pub const NAME: &str = "devagents-agents";
/// The agent API's port on the operator's Pods.
pub const AGENT_API_PORT: u16 = 8443;

/// The policy for agent Pods (pure).
pub fn policy(operator_namespace: &str, egress: &[Value]) -> Value {
    let mut rules = vec![json!({
        "to": [{ "namespaceSelector": { "matchLabels": {
            "kubernetes.io/metadata.name": operator_namespace } } }],
        "ports": [{ "port": AGENT_API_PORT, "protocol": "TCP" }],
    })];
    rules.extend(egress.iter().cloned());
    json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": { "name": NAME, "labels": { MANAGED_BY: MANAGER } },
        "spec": {
            "podSelector": { "matchExpressions": [
                { "key": LABEL_AGENT, "operator": "Exists" },
                { "key": LABEL_AGENT, "operator": "NotIn", "values": ["deployer"] },
            ] },
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [],
            "egress": rules,
        },
    })
}

/// Namespaces whose policy this process has applied.
#[derive(Default)]
pub struct Applied(Mutex<HashSet<String>>);

/// Apply the policy in `ns` once per process (server-side apply: idempotent, and it puts back
/// a policy someone edited when the operator restarts).
pub async fn ensure(ctx: &Context, ns: &str) -> kube::Result<()> {
    let Some(egress) = &ctx.cfg.agent_egress else {
        return Ok(());
    };
    let mut done = ctx.network_policies.0.lock().await;
    if done.contains(ns) {
        return Ok(());
    }
    let api: Api<NetworkPolicy> = Api::namespaced(ctx.client.clone(), ns);
    api.patch(
        NAME,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(policy(&ctx.cfg.namespace, egress)),
    )
    .await?;
    done.insert(ns.to_string());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_reach_the_operator_and_the_listed_egress_only() {
        let dns = json!({"ports": [{"port": 53, "protocol": "UDP"}]});
        let p: NetworkPolicy =
            serde_json::from_value(policy("devagents-system", std::slice::from_ref(&dns))).unwrap();
        let spec = p.spec.unwrap();
        assert_eq!(
            spec.policy_types.unwrap(),
            vec!["Ingress".to_string(), "Egress".to_string()]
        );
        assert!(spec.ingress.unwrap().is_empty());
        let egress = spec.egress.unwrap();
        assert_eq!(egress.len(), 2);
        let to_operator = &egress[0];
        assert_eq!(
            to_operator.to.as_ref().unwrap()[0]
                .namespace_selector
                .as_ref()
                .unwrap()
                .match_labels
                .as_ref()
                .unwrap()["kubernetes.io/metadata.name"],
            "devagents-system"
        );
        assert_eq!(serde_json::to_value(&egress[1]).unwrap(), dns);
        let sel = spec.pod_selector.unwrap().match_expressions.unwrap();
        assert_eq!(sel[0].key, LABEL_AGENT);
        assert_eq!(
            sel[1].values.as_deref(),
            Some(&["deployer".to_string()][..])
        );
    }
}
