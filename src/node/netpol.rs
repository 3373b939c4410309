//! What the stand-in enforces of NetworkPolicies: a Pod that the policies of its namespace
//! isolate for egress with no egress rule at all (deny-all) runs in a network namespace of
//! its own (`unshare -n`: only a loopback device, down), so it reaches nothing — which is
//! what a real network plugin does for it. Policies that allow some egress are not enforced
//! here (their content is what the tests check).

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// Does `sel` select an object with `labels`? (An empty selector selects everything.)
pub fn selects(sel: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let by_value = sel
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let by_expr = sel.match_expressions.iter().flatten().all(|e| {
        let has = labels.get(&e.key);
        let values = e.values.clone().unwrap_or_default();
        match e.operator.as_str() {
            "In" => has.is_some_and(|v| values.contains(v)),
            "NotIn" => has.is_none_or(|v| !values.contains(v)),
            "Exists" => has.is_some(),
            "DoesNotExist" => has.is_none(),
            _ => false,
        }
    });
    by_value && by_expr
}

/// Is a Pod with `labels` denied all egress by `policies` (those of its namespace)?
pub fn egress_denied(policies: &[NetworkPolicy], labels: &BTreeMap<String, String>) -> bool {
    let mut isolated = false;
    for p in policies {
        let Some(spec) = &p.spec else { continue };
        if !selects(
            spec.pod_selector
                .as_ref()
                .unwrap_or(&LabelSelector::default()),
            labels,
        ) {
            continue;
        }
        let types = spec.policy_types.clone().unwrap_or_default();
        let egress_type = types.iter().any(|t| t == "Egress") || spec.egress.is_some();
        if !egress_type {
            continue;
        }
        if spec.egress.as_ref().is_some_and(|r| !r.is_empty()) {
            return false; // some egress is allowed
        }
        isolated = true;
    }
    isolated
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn policy(v: serde_json::Value) -> NetworkPolicy {
        serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": v})).unwrap()
    }

    #[test]
    fn deny_all_egress_isolates_only_the_pods_it_selects() {
        let deny = policy(json!({
            "podSelector": {"matchLabels": {"devagents.io/sandbox": "true"}},
            "policyTypes": ["Ingress", "Egress"], "ingress": [], "egress": []
        }));
        let sandbox = labels(&[("devagents.io/sandbox", "true")]);
        let agent = labels(&[("devagents.io/agent", "reviewer")]);
        assert!(egress_denied(std::slice::from_ref(&deny), &sandbox));
        assert!(!egress_denied(std::slice::from_ref(&deny), &agent));
        // Another policy that allows some egress to the same Pods lifts the isolation.
        let dns = policy(json!({
            "podSelector": {},
            "policyTypes": ["Egress"], "egress": [{"ports": [{"port": 53, "protocol": "UDP"}]}]
        }));
        assert!(!egress_denied(&[deny, dns], &sandbox));
        // Ingress-only policies say nothing about egress.
        let ingress = policy(json!({"podSelector": {}, "policyTypes": ["Ingress"]}));
        assert!(!egress_denied(&[ingress], &sandbox));
    }

    #[test]
    fn selectors_match_like_kubernetes() {
        let sel: LabelSelector = serde_json::from_value(json!({"matchExpressions": [
            {"key": "a", "operator": "Exists"},
            {"key": "a", "operator": "NotIn", "values": ["deployer"]},
            {"key": "b", "operator": "DoesNotExist"}]}))
        .unwrap();
        assert!(selects(&sel, &labels(&[("a", "reviewer")])));
        assert!(!selects(&sel, &labels(&[("a", "deployer")])));
        assert!(!selects(&sel, &labels(&[("a", "x"), ("b", "y")])));
        assert!(!selects(&sel, &labels(&[])));
    }
}
