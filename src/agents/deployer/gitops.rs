//! GitOps mode: the new tag goes into the environment's manifests (a kustomization's
//! `images:` entry or a Helm values key), committed to the branch Argo CD / Flux follows (or
//! to a branch with a pull request); then the deployer waits until the cluster matches.
//!
//! The file is rewritten through a YAML parser, so the change is exact; comments in the file
//! are not kept (a YAML library that keeps them is not available to this project yet).

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::Api;
use serde_yaml::{Mapping, Value};

use super::cluster::{self, Outcome};
use crate::api::environment::{GitOps, GitOpsFormat};

/// Set the tag of every `(image repository, service)` in the manifest text; returns the new text.
pub fn set_tags(
    cfg: &GitOps,
    text: &str,
    images: &[(String, String)],
    version: &str,
) -> Result<String, String> {
    let mut doc: Value = if text.trim().is_empty() {
        Value::Mapping(Mapping::new())
    } else {
        serde_yaml::from_str(text).map_err(|e| format!("{}: not valid YAML: {e}", cfg.file))?
    };
    match cfg.format {
        GitOpsFormat::Kustomize => {
            kustomize(&mut doc, images, version).map_err(|e| format!("{}: {e}", cfg.file))?
        }
        GitOpsFormat::HelmValues => {
            let template = cfg
                .values_key
                .clone()
                .unwrap_or_else(|| "{service}.image.tag".into());
            for (_, service) in images {
                let key = template.replace("{service}", service);
                set_path(&mut doc, &key, version).map_err(|e| format!("{}: {e}", cfg.file))?;
            }
        }
    }
    serde_yaml::to_string(&doc).map_err(|e| e.to_string())
}

fn kustomize(doc: &mut Value, images: &[(String, String)], version: &str) -> Result<(), String> {
    let root = doc
        .as_mapping_mut()
        .ok_or("a kustomization must be a mapping")?;
    let list = root
        .entry(Value::from("images"))
        .or_insert_with(|| Value::Sequence(Vec::new()));
    let seq = list.as_sequence_mut().ok_or("`images` must be a list")?;
    for (image, _) in images {
        let entry = seq.iter_mut().find(|e| {
            e.get("name").and_then(Value::as_str) == Some(image)
                || e.get("newName").and_then(Value::as_str) == Some(image)
        });
        match entry.and_then(Value::as_mapping_mut) {
            Some(m) => {
                m.remove(Value::from("digest"));
                m.insert(Value::from("newTag"), Value::from(version));
            }
            None => {
                let mut m = Mapping::new();
                m.insert(Value::from("name"), Value::from(image.as_str()));
                m.insert(Value::from("newTag"), Value::from(version));
                seq.push(Value::Mapping(m));
            }
        }
    }
    Ok(())
}

fn set_path(doc: &mut Value, key: &str, version: &str) -> Result<(), String> {
    let parts: Vec<&str> = key.split('.').filter(|p| !p.is_empty()).collect();
    let Some((last, parents)) = parts.split_last() else {
        return Err(format!("empty values key {key:?}"));
    };
    let mut cur = doc;
    for p in parents {
        let m = cur
            .as_mapping_mut()
            .ok_or_else(|| format!("{key}: {p:?} is inside a value that is not a mapping"))?;
        cur = m
            .entry(Value::from(*p))
            .or_insert_with(|| Value::Mapping(Mapping::new()));
    }
    let m = cur
        .as_mapping_mut()
        .ok_or_else(|| format!("{key}: the parent of {last:?} is not a mapping"))?;
    m.insert(Value::from(*last), Value::from(version));
    Ok(())
}

/// Wait until `container` of Deployment `name` runs `image` and its rollout is done (the GitOps
/// tool synced); `Err` with the state seen last on timeout or a failed rollout.
pub async fn wait_synced(
    api: &Api<Deployment>,
    name: &str,
    container: &str,
    image: &str,
    timeout: Duration,
    configured_secs: u64,
) -> Result<Deployment, String> {
    match cluster::wait_rollout(api, name, Some((container, image)), timeout, |_| {}).await {
        Outcome::Done(d) => Ok(*d),
        Outcome::TimedOut { last, .. } => Err(format!(
            "the cluster did not match the manifests within {configured_secs}s ({last}); is Argo CD / Flux syncing the environment?"
        )),
        failed => Err(failed.reason(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(format: GitOpsFormat) -> GitOps {
        GitOps {
            repository: "https://git/m.git".into(),
            file: "envs/staging/kustomization.yaml".into(),
            format,
            ..Default::default()
        }
    }

    #[test]
    fn kustomization_images_get_the_new_tag() {
        let text = "resources:\n- deploy.yaml\nimages:\n- name: r/api\n  newTag: v1\n- name: other\n  newTag: keep\n";
        let images = vec![
            ("r/api".to_string(), "api".to_string()),
            ("r/rpc".to_string(), "rpc".to_string()),
        ];
        let out = set_tags(&cfg(GitOpsFormat::Kustomize), text, &images, "v2").unwrap();
        let v: Value = serde_yaml::from_str(&out).unwrap();
        let imgs = v["images"].as_sequence().unwrap();
        assert_eq!(imgs[0]["newTag"], Value::from("v2"));
        assert_eq!(imgs[1]["newTag"], Value::from("keep"));
        assert_eq!(imgs[2]["name"], Value::from("r/rpc"));
        assert_eq!(imgs[2]["newTag"], Value::from("v2"));
        assert_eq!(v["resources"][0], Value::from("deploy.yaml"));
        let e = set_tags(&cfg(GitOpsFormat::Kustomize), "images: 3\n", &images, "v2").unwrap_err();
        assert!(e.contains("`images` must be a list"), "{e}");
    }

    #[test]
    fn helm_values_get_the_new_tag_at_the_key() {
        let text = "api:\n  image:\n    repository: r/api\n    tag: v1\n  replicas: 2\n";
        let images = vec![
            ("r/api".to_string(), "api".to_string()),
            ("r/rpc".to_string(), "rpc".to_string()),
        ];
        let out = set_tags(&cfg(GitOpsFormat::HelmValues), text, &images, "v2").unwrap();
        let v: Value = serde_yaml::from_str(&out).unwrap();
        assert_eq!(v["api"]["image"]["tag"], Value::from("v2"));
        assert_eq!(v["api"]["replicas"], Value::from(2));
        assert_eq!(v["rpc"]["image"]["tag"], Value::from("v2"));
        let e = set_tags(&cfg(GitOpsFormat::HelmValues), "api: 1\n", &images, "v2").unwrap_err();
        assert!(e.contains("not a mapping"), "{e}");
    }
}
