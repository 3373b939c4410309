//! Results of any size: an artifact is gzip-compressed, cut into chunks well under the 1 MiB
//! object limit, and stored as ConfigMaps (binaryData) owned by the job. The job's status
//! holds only the reference ([`ArtifactRef`]); [`fetch`] reassembles and verifies it.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, PostParams};
use kube::{Client, Resource, ResourceExt};
use sha2::{Digest, Sha256};

use crate::api::{AgentJob, ArtifactRef};
use crate::controller::pod::{LABEL_JOB_UID, MANAGED_BY, MANAGER, bounded_name, hex};

/// Bytes of compressed data per ConfigMap (the object limit is 1 MiB; base64 in etcd's JSON
/// adds a third, so 700 KiB keeps every object under it).
pub const CHUNK: usize = 700 * 1024;
pub const LABEL_ARTIFACT: &str = "devagents.io/artifact";

#[derive(Debug, thiserror::Error)]
pub enum ResultError {
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("artifact {0:?} is corrupt: {1}")]
    Corrupt(String, String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    Conflict(String),
    #[error("reading the upload: {0}")]
    Body(String),
}

pub use crate::contract::digest;

/// Artifact names: lower-case letters, digits and dashes (they become object names).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// A chunk's object name: the job's UID is part of it, so two jobs' artifacts never share a
/// name (`victim-data` + `result` and `victim` + `data-result` used to).
fn chunk_name(job: &str, uid: &str, artifact: &str, i: usize) -> String {
    let short: String = uid.chars().filter(|c| *c != '-').take(12).collect();
    bounded_name(&format!("{job}-{artifact}"), &format!("-{short}-r{i}"), 253)
}

/// What one job may keep as artifacts (the per-job quota).
#[derive(Clone, Copy, Debug)]
pub struct Quota {
    /// Stored (compressed) bytes, all artifacts of the job together.
    pub max_bytes: u64,
    /// Distinct artifacts.
    pub max_count: usize,
}

fn chunk_len(cm: &ConfigMap) -> u64 {
    cm.binary_data
        .as_ref()
        .and_then(|d| d.get("chunk"))
        .map(|c| c.0.len() as u64)
        .unwrap_or(0)
}

/// The job's artifact chunks in the cluster.
async fn chunks_of(
    api: &Api<ConfigMap>,
    uid: &str,
    artifact: Option<&str>,
) -> kube::Result<Vec<ConfigMap>> {
    let mut sel = format!("{LABEL_JOB_UID}={uid},{LABEL_ARTIFACT}");
    if let Some(a) = artifact {
        sel = format!("{LABEL_JOB_UID}={uid},{LABEL_ARTIFACT}={a}");
    }
    Ok(api.list(&ListParams::default().labels(&sel)).await?.items)
}

/// Create one chunk; one that exists is replaced only if it is this job's own (a retried
/// upload), never another's.
async fn put_chunk(api: &Api<ConfigMap>, cm: &ConfigMap, uid: &str) -> Result<(), ResultError> {
    let name = cm.name_any();
    match api.create(&PostParams::default(), cm).await {
        Ok(_) => return Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => return Err(e.into()),
    }
    let existing = api.get(&name).await?;
    if existing.labels().get(LABEL_JOB_UID).map(String::as_str) != Some(uid) {
        return Err(ResultError::Conflict(format!(
            "ConfigMap {name} exists and does not belong to this job"
        )));
    }
    let mut replacement = cm.clone();
    replacement.metadata.resource_version = existing.resource_version();
    api.replace(&name, &PostParams::default(), &replacement)
        .await?;
    Ok(())
}

/// Store the upload `body` (at most `max_raw` bytes) as artifact `name` of `job`, compressed
/// and cut into chunks as it arrives (memory stays around one chunk), within the job's
/// `quota`; returns the reference for the status.
pub async fn store<S, E>(
    client: &Client,
    job: &AgentJob,
    name: &str,
    mut body: S,
    max_raw: u64,
    quota: Quota,
) -> Result<ArtifactRef, ResultError>
where
    S: futures::Stream<Item = Result<axum::body::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    use futures::StreamExt;
    let ns = job.namespace().unwrap_or_default();
    let uid = job.uid().unwrap_or_default();
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    // The quota: what the job's other artifacts already hold.
    let others: Vec<ConfigMap> = chunks_of(&api, &uid, None)
        .await?
        .into_iter()
        .filter(|c| c.labels().get(LABEL_ARTIFACT).map(String::as_str) != Some(name))
        .collect();
    let mut names_held: Vec<&str> = others
        .iter()
        .filter_map(|c| c.labels().get(LABEL_ARTIFACT).map(String::as_str))
        .collect();
    names_held.sort();
    names_held.dedup();
    if names_held.len() >= quota.max_count {
        return Err(ResultError::TooLarge(format!(
            "the job already has {} artifacts (quota {})",
            names_held.len(),
            quota.max_count
        )));
    }
    let room = quota
        .max_bytes
        .saturating_sub(others.iter().map(chunk_len).sum::<u64>());

    let owner = job.controller_owner_ref(&()).map(|o| vec![o]);
    let make = |i: usize, chunk: Vec<u8>| ConfigMap {
        metadata: ObjectMeta {
            name: Some(chunk_name(&job.name_any(), &uid, name, i)),
            namespace: Some(ns.clone()),
            owner_references: owner.clone(),
            labels: Some(BTreeMap::from([
                (MANAGED_BY.to_string(), MANAGER.to_string()),
                (LABEL_JOB_UID.to_string(), uid.clone()),
                (LABEL_ARTIFACT.to_string(), name.to_string()),
            ])),
            ..ObjectMeta::default()
        },
        binary_data: Some(BTreeMap::from([("chunk".to_string(), ByteString(chunk))])),
        ..ConfigMap::default()
    };
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut sha = Sha256::new();
    let (mut raw, mut stored) = (0u64, 0u64);
    let mut names: Vec<String> = Vec::new();
    let too_large = |what: String| ResultError::TooLarge(what);
    let outcome: Result<(), ResultError> = async {
        loop {
            let frame = body.next().await;
            let last = frame.is_none();
            if let Some(frame) = frame {
                let frame = frame.map_err(|e| ResultError::Body(e.to_string()))?;
                raw += frame.len() as u64;
                if raw > max_raw {
                    return Err(too_large(format!("an artifact is at most {max_raw} bytes")));
                }
                sha.update(&frame);
                gz.write_all(&frame)?;
            } else {
                gz.try_finish()?;
            }
            // Full chunks out as soon as they exist (and the rest at the end).
            while gz.get_ref().len() >= CHUNK
                || (last && (!gz.get_ref().is_empty() || names.is_empty()))
            {
                let n = gz.get_ref().len().min(CHUNK);
                let chunk: Vec<u8> = gz.get_mut().drain(..n).collect();
                stored += chunk.len() as u64;
                if stored > room {
                    return Err(too_large(format!(
                        "the job's artifacts may hold {} bytes (compressed); this one does not fit",
                        quota.max_bytes
                    )));
                }
                let cm = make(names.len(), chunk);
                put_chunk(&api, &cm, &uid).await?;
                names.push(cm.name_any());
                if last && gz.get_ref().is_empty() {
                    break;
                }
            }
            if last {
                return Ok(());
            }
        }
    }
    .await;
    // Chunks this upload did not (or no longer) write: a failed upload leaves nothing, a
    // shorter re-upload leaves no tail of the older one.
    let keep: &[String] = if outcome.is_ok() { &names } else { &[] };
    for cm in chunks_of(&api, &uid, Some(name)).await? {
        if !keep.contains(&cm.name_any()) {
            let _ = api.delete(&cm.name_any(), &DeleteParams::default()).await;
        }
    }
    outcome?;
    Ok(ArtifactRef {
        name: name.to_string(),
        config_maps: names,
        size: raw as i64,
        digest: format!("sha256:{}", hex(&sha.finalize())),
        encoding: "gzip".into(),
    })
}

/// Reassemble an artifact and check its size and digest.
pub async fn fetch(
    client: &Client,
    namespace: &str,
    r: &ArtifactRef,
) -> Result<Vec<u8>, ResultError> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let mut compressed = Vec::new();
    for name in &r.config_maps {
        let cm = api.get(name).await?;
        let chunk = cm
            .binary_data
            .and_then(|mut d| d.remove("chunk"))
            .ok_or_else(|| ResultError::Corrupt(r.name.clone(), format!("{name} has no chunk")))?;
        compressed.extend_from_slice(&chunk.0);
    }
    let mut out = Vec::with_capacity(r.size.max(0) as usize);
    if !compressed.is_empty() {
        flate2::read::GzDecoder::new(&compressed[..]).read_to_end(&mut out)?;
    }
    if out.len() as i64 != r.size || digest(&out) != r.digest {
        return Err(ResultError::Corrupt(
            r.name.clone(),
            "size or digest mismatch".into(),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_digests() {
        assert!(valid_name("result"));
        assert!(valid_name("review-findings"));
        assert!(!valid_name("Result"));
        assert!(!valid_name("a/b"));
        assert!(!valid_name(""));
        assert_eq!(
            digest(b"abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(chunk_name(&"j".repeat(253), "uid", "result", 12).len() <= 253);
        // Two jobs whose names and artifact names concatenate alike never share a chunk.
        assert_ne!(
            chunk_name("victim-data", "1111-2222", "result", 0),
            chunk_name("victim", "3333-4444", "data-result", 0)
        );
    }
}
