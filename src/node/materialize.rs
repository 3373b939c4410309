//! Env and volumes of a Pod, resolved like the kubelet does, into a per-pod root directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::authentication::v1::{BoundObjectReference, TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, EnvVar, KeyToPath, ObjectFieldSelector, Pod, Secret, ServiceAccount,
    Volume,
};
use kube::api::{Api, PostParams};
use kube::{Client, ResourceExt};

/// Why a container cannot start (the kubelet's `CreateContainerConfigError`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl From<std::io::Error> for ConfigError {
    fn from(e: std::io::Error) -> Self {
        ConfigError(format!("i/o: {e}"))
    }
}

/// Looks up Secrets and ConfigMaps of the pod's namespace once each.
pub struct Resolver<'a> {
    client: Client,
    pod: &'a Pod,
    ns: String,
    secrets: BTreeMap<String, Option<BTreeMap<String, Vec<u8>>>>,
    config_maps: BTreeMap<String, Option<BTreeMap<String, Vec<u8>>>>,
}

impl<'a> Resolver<'a> {
    pub fn new(client: Client, pod: &'a Pod) -> Self {
        Resolver {
            client,
            pod,
            ns: pod.namespace().unwrap_or_default(),
            secrets: BTreeMap::new(),
            config_maps: BTreeMap::new(),
        }
    }

    async fn secret(
        &mut self,
        name: &str,
    ) -> Result<Option<&BTreeMap<String, Vec<u8>>>, ConfigError> {
        if !self.secrets.contains_key(name) {
            let api: Api<Secret> = Api::namespaced(self.client.clone(), &self.ns);
            let data = api
                .get_opt(name)
                .await
                .map_err(|e| ConfigError(format!("get secret {name:?}: {e}")))?
                .map(|s| {
                    let mut m: BTreeMap<String, Vec<u8>> = s
                        .data
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(k, v)| (k, v.0))
                        .collect();
                    for (k, v) in s.string_data.unwrap_or_default() {
                        m.insert(k, v.into_bytes());
                    }
                    m
                });
            self.secrets.insert(name.to_string(), data);
        }
        Ok(self.secrets.get(name).and_then(|o| o.as_ref()))
    }

    async fn config_map(
        &mut self,
        name: &str,
    ) -> Result<Option<&BTreeMap<String, Vec<u8>>>, ConfigError> {
        if !self.config_maps.contains_key(name) {
            let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), &self.ns);
            let data = api
                .get_opt(name)
                .await
                .map_err(|e| ConfigError(format!("get configmap {name:?}: {e}")))?
                .map(|c| {
                    let mut m: BTreeMap<String, Vec<u8>> = c
                        .data
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(k, v)| (k, v.into_bytes()))
                        .collect();
                    for (k, v) in c.binary_data.unwrap_or_default() {
                        m.insert(k, v.0);
                    }
                    m
                });
            self.config_maps.insert(name.to_string(), data);
        }
        Ok(self.config_maps.get(name).and_then(|o| o.as_ref()))
    }

    /// The container's environment, in order, with `$(VAR)` references expanded.
    pub async fn env(&mut self, c: &Container) -> Result<Vec<(String, String)>, ConfigError> {
        let mut out: Vec<(String, String)> = Vec::new();
        for from in c.env_from.iter().flatten() {
            let prefix = from.prefix.clone().unwrap_or_default();
            let (data, optional, what) = if let Some(s) = &from.secret_ref {
                (
                    self.secret(&s.name).await?.cloned(),
                    s.optional.unwrap_or(false),
                    format!("secret {:?}", s.name),
                )
            } else if let Some(cm) = &from.config_map_ref {
                (
                    self.config_map(&cm.name).await?.cloned(),
                    cm.optional.unwrap_or(false),
                    format!("configmap {:?}", cm.name),
                )
            } else {
                continue;
            };
            match data {
                Some(d) => {
                    for (k, v) in d {
                        set(
                            &mut out,
                            format!("{prefix}{k}"),
                            String::from_utf8_lossy(&v).into_owned(),
                        );
                    }
                }
                None if optional => {}
                None => return Err(ConfigError(format!("{what} not found"))),
            }
        }
        for e in c.env.iter().flatten() {
            if let Some(v) = self.env_value(e, &out).await? {
                set(&mut out, e.name.clone(), v);
            }
        }
        Ok(out)
    }

    async fn env_value(
        &mut self,
        e: &EnvVar,
        sofar: &[(String, String)],
    ) -> Result<Option<String>, ConfigError> {
        if let Some(v) = &e.value {
            return Ok(Some(expand(v, sofar)));
        }
        let Some(from) = &e.value_from else {
            return Ok(Some(String::new()));
        };
        if let Some(sel) = &from.secret_key_ref {
            let optional = sel.optional.unwrap_or(false);
            return match self.secret(&sel.name).await?.and_then(|d| d.get(&sel.key)) {
                Some(v) => Ok(Some(String::from_utf8_lossy(v).into_owned())),
                None if optional => Ok(None),
                None => Err(ConfigError(format!(
                    "env {}: key {:?} of secret {:?} not found",
                    e.name, sel.key, sel.name
                ))),
            };
        }
        if let Some(sel) = &from.config_map_key_ref {
            let optional = sel.optional.unwrap_or(false);
            return match self
                .config_map(&sel.name)
                .await?
                .and_then(|d| d.get(&sel.key))
            {
                Some(v) => Ok(Some(String::from_utf8_lossy(v).into_owned())),
                None if optional => Ok(None),
                None => Err(ConfigError(format!(
                    "env {}: key {:?} of configmap {:?} not found",
                    e.name, sel.key, sel.name
                ))),
            };
        }
        if let Some(f) = &from.field_ref {
            return field_ref(self.pod, f).map(Some);
        }
        if let Some(r) = &from.resource_field_ref {
            // Limits are not enforced here; report what the spec asked for.
            return Ok(Some(r.resource.clone()));
        }
        Ok(Some(String::new()))
    }

    /// Write the container's volume mounts under `root` (the pod's filesystem root).
    pub async fn volumes(&mut self, c: &Container, root: &Path) -> Result<(), ConfigError> {
        let volumes: Vec<Volume> = self
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.volumes.clone())
            .unwrap_or_default();
        for m in c.volume_mounts.iter().flatten() {
            let vol = volumes
                .iter()
                .find(|v| v.name == m.name)
                .ok_or_else(|| ConfigError(format!("volume mount {:?}: no such volume", m.name)))?;
            let dir = under(root, &m.mount_path);
            std::fs::create_dir_all(&dir)?;
            if let Some(s) = &vol.secret {
                let name = s.secret_name.clone().unwrap_or_default();
                match self.secret(&name).await?.cloned() {
                    Some(d) => write_items(&dir, &d, s.items.as_deref())?,
                    None if s.optional.unwrap_or(false) => {}
                    None => return Err(ConfigError(format!("secret {name:?} not found"))),
                }
            } else if let Some(cm) = &vol.config_map {
                match self.config_map(&cm.name).await?.cloned() {
                    Some(d) => write_items(&dir, &d, cm.items.as_deref())?,
                    None if cm.optional.unwrap_or(false) => {}
                    None => return Err(ConfigError(format!("configmap {:?} not found", cm.name))),
                }
            } else if let Some(p) = &vol.projected {
                for src in p.sources.iter().flatten() {
                    if let Some(t) = &src.service_account_token {
                        let token = self.token(t.audience.clone(), t.expiration_seconds).await?;
                        write_file(&dir.join(&t.path), token.as_bytes())?;
                    }
                    if let Some(s) = &src.secret {
                        match self.secret(&s.name).await?.cloned() {
                            Some(d) => write_items(&dir, &d, s.items.as_deref())?,
                            None if s.optional.unwrap_or(false) => {}
                            None => {
                                return Err(ConfigError(format!("secret {:?} not found", s.name)));
                            }
                        }
                    }
                    if let Some(cm) = &src.config_map {
                        match self.config_map(&cm.name).await?.cloned() {
                            Some(d) => write_items(&dir, &d, cm.items.as_deref())?,
                            None if cm.optional.unwrap_or(false) => {}
                            None => {
                                return Err(ConfigError(format!(
                                    "configmap {:?} not found",
                                    cm.name
                                )));
                            }
                        }
                    }
                    if let Some(da) = &src.downward_api {
                        for item in da.items.iter().flatten() {
                            if let Some(f) = &item.field_ref {
                                write_file(
                                    &dir.join(&item.path),
                                    field_ref(self.pod, f)?.as_bytes(),
                                )?;
                            }
                        }
                    }
                }
            } else if let Some(da) = &vol.downward_api {
                for item in da.items.iter().flatten() {
                    if let Some(f) = &item.field_ref {
                        write_file(&dir.join(&item.path), field_ref(self.pod, f)?.as_bytes())?;
                    }
                }
            }
            // emptyDir and anything else: the (empty) directory is enough.
        }
        Ok(())
    }

    /// A token for the pod's ServiceAccount, bound to the pod, via the TokenRequest API.
    async fn token(
        &self,
        audience: Option<String>,
        expiration: Option<i64>,
    ) -> Result<String, ConfigError> {
        let spec = self.pod.spec.as_ref();
        let sa = spec
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_else(|| "default".to_string());
        let api: Api<ServiceAccount> = Api::namespaced(self.client.clone(), &self.ns);
        let req = TokenRequest {
            spec: TokenRequestSpec {
                audiences: audience.into_iter().collect(),
                expiration_seconds: Some(expiration.unwrap_or(3600).max(600)),
                bound_object_ref: Some(BoundObjectReference {
                    api_version: Some("v1".into()),
                    kind: Some("Pod".into()),
                    name: Some(self.pod.name_any()),
                    uid: self.pod.uid(),
                }),
            },
            ..TokenRequest::default()
        };
        let resp = api
            .create_token_request(&sa, &PostParams::default(), &req)
            .await
            .map_err(|e| ConfigError(format!("token request for serviceaccount {sa:?}: {e}")))?;
        resp.status.map(|s| s.token).ok_or_else(|| {
            ConfigError(format!(
                "token request for serviceaccount {sa:?} returned no token"
            ))
        })
    }
}

fn set(env: &mut Vec<(String, String)>, k: String, v: String) {
    match env.iter_mut().find(|(n, _)| *n == k) {
        Some(slot) => slot.1 = v,
        None => env.push((k, v)),
    }
}

/// Expand `$(VAR)` from earlier variables; `$$(VAR)` escapes; unknown references stay as they are.
pub fn expand(v: &str, env: &[(String, String)]) -> String {
    let mut out = String::with_capacity(v.len());
    let mut rest = v;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(t) = tail.strip_prefix("$$") {
            out.push('$');
            rest = t;
        } else if let Some(t) = tail.strip_prefix("$(") {
            match t.find(')') {
                Some(end) => {
                    let name = &t[..end];
                    match env.iter().find(|(n, _)| n == name) {
                        Some((_, val)) => out.push_str(val),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &t[end + 1..];
                }
                None => {
                    out.push_str(tail);
                    rest = "";
                }
            }
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

/// The downward API's fieldRef paths.
pub fn field_ref(pod: &Pod, f: &ObjectFieldSelector) -> Result<String, ConfigError> {
    let p = f.field_path.as_str();
    let meta = &pod.metadata;
    let spec = pod.spec.as_ref();
    let status = pod.status.as_ref();
    let label_or_annotation =
        |prefix: &str, map: &Option<BTreeMap<String, String>>| -> Option<String> {
            let key = p
                .strip_prefix(prefix)?
                .strip_prefix("['")?
                .strip_suffix("']")?;
            Some(
                map.as_ref()
                    .and_then(|m| m.get(key).cloned())
                    .unwrap_or_default(),
            )
        };
    let v = match p {
        "metadata.name" => meta.name.clone(),
        "metadata.namespace" => meta.namespace.clone(),
        "metadata.uid" => meta.uid.clone(),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()),
        "spec.serviceAccountName" => spec.and_then(|s| s.service_account_name.clone()),
        "status.hostIP" | "status.podIP" => Some(
            status
                .and_then(|s| {
                    if p == "status.hostIP" {
                        s.host_ip.clone()
                    } else {
                        s.pod_ip.clone()
                    }
                })
                .unwrap_or_else(|| "127.0.0.1".into()),
        ),
        _ => label_or_annotation("metadata.labels", &meta.labels)
            .or_else(|| label_or_annotation("metadata.annotations", &meta.annotations)),
    };
    v.ok_or_else(|| ConfigError(format!("unsupported fieldRef {p:?}")))
}

/// `mountPath` inside `root` (never outside it).
pub fn under(root: &Path, mount_path: &str) -> PathBuf {
    let mut p = root.to_path_buf();
    for part in mount_path.split('/') {
        if part.is_empty() || part == "." || part == ".." {
            continue;
        }
        p.push(part);
    }
    p
}

fn write_items(
    dir: &Path,
    data: &BTreeMap<String, Vec<u8>>,
    items: Option<&[KeyToPath]>,
) -> Result<(), ConfigError> {
    match items {
        Some(items) => {
            for it in items {
                let v = data.get(&it.key).ok_or_else(|| {
                    ConfigError(format!("key {:?} not found for volume item", it.key))
                })?;
                write_file(&under(dir, &it.path), v)?;
            }
        }
        None => {
            for (k, v) in data {
                write_file(&under(dir, k), v)?;
            }
        }
    }
    Ok(())
}

fn write_file(path: &Path, data: &[u8]) -> Result<(), ConfigError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, data)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_like_the_kubelet() {
        let env = vec![("A".to_string(), "x".to_string())];
        assert_eq!(expand("$(A)-$(B)-$$(A)-$", &env), "x-$(B)-$(A)-$");
        assert_eq!(expand("plain", &env), "plain");
        assert_eq!(expand("$(A", &env), "$(A");
    }

    #[test]
    fn field_refs() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "n", "uid": "u", "labels": {"app": "x"}},
            "spec": {"containers": [], "nodeName": "node", "serviceAccountName": "sa"}
        }))
        .unwrap();
        let f = |p: &str| {
            field_ref(
                &pod,
                &ObjectFieldSelector {
                    field_path: p.into(),
                    api_version: None,
                },
            )
        };
        assert_eq!(f("metadata.name").unwrap(), "p");
        assert_eq!(f("metadata.namespace").unwrap(), "n");
        assert_eq!(f("metadata.labels['app']").unwrap(), "x");
        assert_eq!(f("spec.nodeName").unwrap(), "node");
        assert_eq!(f("status.podIP").unwrap(), "127.0.0.1");
        assert!(f("spec.bogus").is_err());
    }

    #[test]
    fn mount_paths_stay_inside_the_root() {
        let root = Path::new("/r");
        assert_eq!(
            under(root, "/var/run/secrets/x"),
            PathBuf::from("/r/var/run/secrets/x")
        );
        assert_eq!(under(root, "/../../etc"), PathBuf::from("/r/etc"));
    }
}
