//! Every Kubernetes manifest in `examples/` is accepted by the real apiserver (server-side dry
//! run): the AgentJobs against the devagents CRDs, the Argo CD and Flux objects against
//! stand-in CRDs of those projects (tests/fixtures/third-party-crds.yaml: open schemas, so
//! only group, version, kind and scope are checked), the deployer's demo environment as is.

mod common;

use std::path::{Path, PathBuf};

fn manifests(dir: &Path, out: &mut Vec<(PathBuf, serde_yaml::Value)>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            manifests(&p, out);
        } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            let text = std::fs::read_to_string(&p).unwrap();
            for doc in serde_yaml::Deserializer::from_str(&text) {
                let v = serde_yaml::Value::deserialize(doc)
                    .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                let api = v.get("apiVersion").and_then(|a| a.as_str()).unwrap_or("");
                // Cluster objects only: not GitHub workflows, not the operator's environments
                // file, not kustomize's own build configuration.
                if v.get("kind").is_some()
                    && !api.is_empty()
                    && !api.starts_with("kustomize.config.k8s.io")
                {
                    out.push((p.clone(), v));
                }
            }
        }
    }
}

use serde::Deserialize;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_manifest_passes_a_server_side_dry_run() {
    let client = common::client().await;
    common::ensure_crds(&client).await;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (ok, out) = common::kubectl(&[
        "apply",
        "-f",
        root.join("tests/fixtures/third-party-crds.yaml")
            .to_str()
            .unwrap(),
    ]);
    assert!(ok, "{out}");
    let (ok, out) = common::kubectl(&[
        "wait",
        "--for",
        "condition=established",
        "--timeout=60s",
        "crd/applications.argoproj.io",
        "crd/gitrepositories.source.toolkit.fluxcd.io",
        "crd/helmreleases.helm.toolkit.fluxcd.io",
        "crd/kustomizations.kustomize.toolkit.fluxcd.io",
    ]);
    assert!(ok, "{out}");
    // The namespaces the examples name (a dry run does not create them).
    for ns in ["argocd", "flux-system", "shop-staging"] {
        let (ok, out) = common::kubectl(&["create", "namespace", ns]);
        assert!(ok || out.contains("AlreadyExists"), "{out}");
    }
    let mut docs = Vec::new();
    manifests(&root.join("examples"), &mut docs);
    let kinds: std::collections::BTreeSet<String> = docs
        .iter()
        .map(|(_, v)| v["kind"].as_str().unwrap().to_string())
        .collect();
    for k in [
        "AgentJob",
        "Application",
        "HelmRelease",
        "GitRepository",
        "Kustomization",
        "Deployment",
    ] {
        assert!(kinds.contains(k), "no {k} among the examples: {kinds:?}");
    }
    let dir = tempfile::tempdir().unwrap();
    for (i, (path, doc)) in docs.iter().enumerate() {
        let f = dir.path().join(format!("{i}.yaml"));
        std::fs::write(&f, serde_yaml::to_string(doc).unwrap()).unwrap();
        let (ok, out) = common::kubectl(&["apply", "--dry-run=server", "-f", f.to_str().unwrap()]);
        assert!(ok, "{}: {out}", path.display());
        assert!(
            out.contains("(server dry run)"),
            "{}: {out}",
            path.display()
        );
    }
    assert!(docs.len() >= 18, "{} manifests", docs.len());
}
