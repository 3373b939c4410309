//! Results of any size: an artifact is gzip-compressed, cut into chunks well under the 1 MiB
//! object limit, and stored as ConfigMaps (binaryData) owned by the job. The job's status
//! holds only the reference ([`ArtifactRef`]); [`fetch`] reassembles and verifies it.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ObjectMeta, Patch, PatchParams};
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
}

pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

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

fn chunk_name(job: &str, artifact: &str, i: usize) -> String {
    bounded_name(&format!("{job}-{artifact}"), &format!("-r{i}"), 253)
}

/// Store `bytes` as artifact `name` of `job`; returns the reference for the status.
pub async fn store(
    client: &Client,
    job: &AgentJob,
    name: &str,
    bytes: &[u8],
) -> Result<ArtifactRef, ResultError> {
    let ns = job.namespace().unwrap_or_default();
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes)?;
    let compressed = gz.finish()?;
    let owner = job.controller_owner_ref(&()).map(|o| vec![o]);
    let mut names = Vec::new();
    let chunks: Vec<&[u8]> = if compressed.is_empty() {
        vec![&[][..]]
    } else {
        compressed.chunks(CHUNK).collect()
    };
    for (i, chunk) in chunks.iter().enumerate() {
        let cm_name = chunk_name(&job.name_any(), name, i);
        let cm = ConfigMap {
            metadata: ObjectMeta {
                name: Some(cm_name.clone()),
                namespace: Some(ns.clone()),
                owner_references: owner.clone(),
                labels: Some(BTreeMap::from([
                    (MANAGED_BY.to_string(), MANAGER.to_string()),
                    (LABEL_JOB_UID.to_string(), job.uid().unwrap_or_default()),
                    (LABEL_ARTIFACT.to_string(), name.to_string()),
                ])),
                ..ObjectMeta::default()
            },
            binary_data: Some(BTreeMap::from([(
                "chunk".to_string(),
                ByteString(chunk.to_vec()),
            )])),
            ..ConfigMap::default()
        };
        // Apply, so a retried upload (runner restarted) replaces instead of failing.
        api.patch(
            &cm_name,
            &PatchParams::apply(crate::controller::FIELD_MANAGER).force(),
            &Patch::Apply(&cm),
        )
        .await?;
        names.push(cm_name);
    }
    Ok(ArtifactRef {
        name: name.to_string(),
        config_maps: names,
        size: bytes.len() as i64,
        digest: digest(bytes),
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
        assert!(chunk_name(&"j".repeat(253), "result", 12).len() <= 253);
    }
}
