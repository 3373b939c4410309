//! Judging a Deployment's rollout exactly as `kubectl rollout status` does (kubectl's
//! DeploymentStatusViewer): the controller must have observed the current generation; then a
//! Progressing condition with reason ProgressDeadlineExceeded is a failure, and the rollout
//! is done when every desired replica is updated, no old replica is left, and every updated
//! replica is available.

use k8s_openapi::api::apps::v1::Deployment;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rollout {
    Done(String),
    Waiting(String),
    Failed(String),
}

pub fn status(d: &Deployment) -> Rollout {
    let name = d.metadata.name.clone().unwrap_or_default();
    let generation = d.metadata.generation.unwrap_or(0);
    let Some(st) = &d.status else {
        return Rollout::Waiting("Waiting for deployment spec update to be observed...".into());
    };
    if generation > st.observed_generation.unwrap_or(0) {
        return Rollout::Waiting("Waiting for deployment spec update to be observed...".into());
    }
    let progressing = st
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Progressing");
    if progressing.is_some_and(|c| c.reason.as_deref() == Some("ProgressDeadlineExceeded")) {
        return Rollout::Failed(format!(
            "deployment {name:?} exceeded its progress deadline"
        ));
    }
    let updated = st.updated_replicas.unwrap_or(0);
    let replicas = st.replicas.unwrap_or(0);
    let available = st.available_replicas.unwrap_or(0);
    if let Some(want) = d.spec.as_ref().and_then(|s| s.replicas)
        && updated < want
    {
        return Rollout::Waiting(format!(
            "Waiting for deployment {name:?} rollout to finish: {updated} out of {want} new replicas have been updated..."
        ));
    }
    if replicas > updated {
        return Rollout::Waiting(format!(
            "Waiting for deployment {name:?} rollout to finish: {} old replicas are pending termination...",
            replicas - updated
        ));
    }
    if available < updated {
        return Rollout::Waiting(format!(
            "Waiting for deployment {name:?} rollout to finish: {available} of {updated} updated replicas are available..."
        ));
    }
    Rollout::Done(format!("deployment {name:?} successfully rolled out"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dep(generation: i64, spec_replicas: i32, status: serde_json::Value) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "api", "generation": generation},
            "spec": {"replicas": spec_replicas, "selector": {}, "template": {}},
            "status": status,
        }))
        .unwrap()
    }

    #[test]
    fn like_kubectl_rollout_status() {
        let waiting = |d: &Deployment| matches!(status(d), Rollout::Waiting(_));
        // Not observed yet.
        assert!(waiting(&dep(3, 2, json!({"observedGeneration": 2}))));
        // Updating: 1 of 2 new replicas.
        assert_eq!(
            status(&dep(3, 2, json!({"observedGeneration": 3, "replicas": 3, "updatedReplicas": 1, "availableReplicas": 2}))),
            Rollout::Waiting("Waiting for deployment \"api\" rollout to finish: 1 out of 2 new replicas have been updated...".into())
        );
        // Old replicas still terminating.
        assert!(waiting(&dep(
            3,
            2,
            json!({"observedGeneration": 3, "replicas": 3, "updatedReplicas": 2, "availableReplicas": 2})
        )));
        // Updated but not yet available.
        assert!(waiting(&dep(
            3,
            2,
            json!({"observedGeneration": 3, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 1})
        )));
        // Done.
        assert_eq!(
            status(&dep(
                3,
                2,
                json!({"observedGeneration": 3, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2})
            )),
            Rollout::Done("deployment \"api\" successfully rolled out".into())
        );
        // The progress deadline passed.
        let stuck = dep(
            3,
            2,
            json!({"observedGeneration": 3, "replicas": 3, "updatedReplicas": 1, "availableReplicas": 2,
            "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]}),
        );
        assert_eq!(
            status(&stuck),
            Rollout::Failed("deployment \"api\" exceeded its progress deadline".into())
        );
    }
}
