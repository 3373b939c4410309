//! Helpers for the e2e tests. They run against the real control plane that `just test`
//! starts (e2e/cluster-up.sh); KUBECONFIG points at it.
#![allow(dead_code)]

use std::fmt::Debug;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::wait::{Condition, await_condition, conditions};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;

/// A client for the e2e control plane. Fails loudly when the suite was not started by
/// `just test` / `e2e/run-tests.sh` (no KUBECONFIG): these tests never skip.
pub async fn client() -> Client {
    assert!(
        std::env::var_os("KUBECONFIG").is_some(),
        "KUBECONFIG is not set: run the e2e tests through `just test` (e2e/run-tests.sh), which starts the control plane"
    );
    Client::try_default().await.expect("client from KUBECONFIG")
}

/// Wait for `cond` on `name`, failing the test after `secs` seconds.
pub async fn wait_for<K>(
    api: &Api<K>,
    name: &str,
    secs: u64,
    what: &str,
    cond: impl Condition<K>,
) -> K
where
    K: Clone + Debug + Send + DeserializeOwned + Resource + 'static,
{
    match tokio::time::timeout(
        Duration::from_secs(secs),
        await_condition(api.clone(), name, cond),
    )
    .await
    {
        Ok(Ok(Some(obj))) => obj,
        Ok(Ok(None)) => panic!("{name}: deleted while waiting for {what}"),
        Ok(Err(e)) => panic!("{name}: watch failed while waiting for {what}: {e}"),
        Err(_) => {
            let now = api.get_opt(name).await.ok().flatten();
            panic!("{name}: not {what} after {secs}s; last seen: {now:#?}")
        }
    }
}

/// Install the CRDs from `crds/` (server-side apply, idempotent) and wait until Established.
/// Wait until the object with `uid` is gone.
pub async fn wait_gone<K>(api: &Api<K>, name: &str, uid: &str, secs: u64)
where
    K: Clone + Debug + Send + DeserializeOwned + Resource + 'static,
{
    match tokio::time::timeout(
        Duration::from_secs(secs),
        await_condition(api.clone(), name, conditions::is_deleted(uid)),
    )
    .await
    {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => panic!("{name}: watch failed while waiting for deletion: {e}"),
        Err(_) => panic!("{name}: still there after {secs}s"),
    }
}

pub async fn ensure_crds(client: &Client) -> Vec<CustomResourceDefinition> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/crds");
    let mut names = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("crds/")
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        let text = std::fs::read_to_string(&path).unwrap();
        let crd: CustomResourceDefinition = serde_yaml::from_str(&text).unwrap();
        let name = crd.metadata.name.clone().unwrap();
        api.patch(
            &name,
            &PatchParams::apply("devagents-e2e").force(),
            &Patch::Apply(&crd),
        )
        .await
        .unwrap_or_else(|e| panic!("apply {}: {e}", path.display()));
        names.push(name);
    }
    let mut out = Vec::new();
    for name in names {
        out.push(
            wait_for(
                &api,
                &name,
                30,
                "Established",
                conditions::is_crd_established(),
            )
            .await,
        );
    }
    out
}

/// A fresh namespace for one test, ready for Pods (its `default` ServiceAccount has a token,
/// which the 1.20 ServiceAccount admission plugin requires).
pub async fn namespace(client: &Client, prefix: &str) -> String {
    let name = format!("{prefix}-{}", &uuid_like()[..8]);
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": name, "labels": { "devagents.io/e2e": "true" } }
    }))
    .unwrap();
    api.create(&PostParams::default(), &ns)
        .await
        .expect("create namespace");
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), &name);
    wait_for(
        &sas,
        "default",
        60,
        "ready with a token",
        |sa: Option<&ServiceAccount>| {
            sa.and_then(|s| s.secrets.as_ref())
                .is_some_and(|s| !s.is_empty())
        },
    )
    .await;
    name
}

pub async fn delete_namespace(client: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let _ = api.delete(name, &DeleteParams::background()).await;
}

/// Random lower-case hex, for unique names.
pub fn uuid_like() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}
