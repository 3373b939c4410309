//! Optional image builds before a rollout: one build Pod per service in the environment's
//! namespace, with a configurable builder image (Kaniko's executor by default), tagging the
//! version, the git SHA and `latest`. Any failure stops the job before a Deployment is touched.
//!
//! Kaniko's executor runs as root inside its container (it unpacks image layers); that Pod
//! lives in the environment's namespace, not with the agent, and gets no ServiceAccount token.

use serde_json::json;

use crate::api::environment::{BuildConfig, DEFAULT_BUILDER_IMAGE, Service};

/// `git://host/path.git#refs/tags/v1#sha` — Kaniko's git build context (fetched over https).
pub fn git_context(repo_url: &str, git_ref: &str, sha: &str) -> String {
    let bare = repo_url
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let full = if git_ref.starts_with("refs/") {
        git_ref.to_string()
    } else {
        format!("refs/tags/{git_ref}")
    };
    format!("git://{bare}#{full}#{sha}")
}

/// The three tags a build pushes.
pub fn destinations(svc: &Service, version: &str, sha: &str) -> Vec<String> {
    vec![
        format!("{}:{version}", svc.image),
        format!("{}:{}", svc.image, &sha[..sha.len().min(12)]),
        format!("{}:latest", svc.image),
    ]
}

/// The build Pod's spec (pure).
pub fn pod_spec(
    cfg: &BuildConfig,
    svc: &Service,
    repo_url: &str,
    git_ref: &str,
    sha: &str,
    version: &str,
) -> serde_json::Value {
    let mut args = vec![
        format!("--context={}", git_context(repo_url, git_ref, sha)),
        format!(
            "--dockerfile={}",
            svc.dockerfile
                .clone()
                .unwrap_or_else(|| "Dockerfile".into())
        ),
    ];
    if let Some(sub) = &svc.build_context {
        args.push(format!("--context-sub-path={sub}"));
    }
    for d in destinations(svc, version, sha) {
        args.push(format!("--destination={d}"));
    }
    args.push(format!("--label=org.opencontainers.image.revision={sha}"));
    args.push(format!(
        "--label=org.opencontainers.image.version={version}"
    ));
    let mut c = json!({
        "name": "build",
        "image": cfg.builder_image.clone().unwrap_or_else(|| DEFAULT_BUILDER_IMAGE.into()),
        "args": args,
        "securityContext": { "allowPrivilegeEscalation": false },
    });
    let mut spec = json!({
        "restartPolicy": "Never",
        "automountServiceAccountToken": false,
        "activeDeadlineSeconds": cfg.timeout_seconds.unwrap_or(1800),
        "containers": [],
    });
    if let Some(secret) = &cfg.registry_secret {
        c["volumeMounts"] =
            json!([{ "name": "registry", "mountPath": "/kaniko/.docker", "readOnly": true }]);
        spec["volumes"] = json!([{ "name": "registry", "secret": { "secretName": secret,
            "items": [{ "key": ".dockerconfigjson", "path": "config.json" }] } }]);
    }
    spec["containers"] = json!([c]);
    spec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kaniko_gets_the_git_context_and_three_tags() {
        let svc = Service {
            name: "api".into(),
            image: "registry.local/shop/api".into(),
            dockerfile: Some("api/Dockerfile".into()),
            ..Default::default()
        };
        let sha = "0123456789abcdef0123456789abcdef01234567";
        let spec = pod_spec(
            &BuildConfig {
                registry_secret: Some("regcred".into()),
                ..Default::default()
            },
            &svc,
            "https://git.local/acme/shop.git",
            "v1.7.2",
            sha,
            "v1.7.2",
        );
        let args: Vec<String> =
            serde_json::from_value(spec["containers"][0]["args"].clone()).unwrap();
        assert_eq!(
            args[0],
            format!("--context=git://git.local/acme/shop.git#refs/tags/v1.7.2#{sha}")
        );
        assert!(args.contains(&"--dockerfile=api/Dockerfile".to_string()));
        assert!(args.contains(&"--destination=registry.local/shop/api:v1.7.2".to_string()));
        assert!(args.contains(&"--destination=registry.local/shop/api:0123456789ab".to_string()));
        assert!(args.contains(&"--destination=registry.local/shop/api:latest".to_string()));
        assert_eq!(spec["containers"][0]["image"], DEFAULT_BUILDER_IMAGE);
        assert_eq!(spec["volumes"][0]["secret"]["secretName"], "regcred");
    }
}
