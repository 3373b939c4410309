//! Smoke tests after a rollout: HTTP checks (status, body, retries) and a Pod run to
//! completion in the environment's namespace.

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};
use serde::Serialize;
use serde_json::json;

use crate::api::environment::{HttpCheck, SmokePod};

/// One check's outcome, for the job's result.
#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CheckResult {
    pub service: String,
    pub check: String,
    pub passed: bool,
    pub attempts: u32,
    pub detail: String,
}

pub fn expand(template: &str, service: &str, version: &str) -> String {
    template
        .replace("{service}", service)
        .replace("{version}", version)
}

/// Judge one HTTP answer (pure).
pub fn judge(check: &HttpCheck, status: u16, body: &str) -> Result<(), String> {
    let want = check.expect_status.unwrap_or(200);
    if status != want {
        return Err(format!("answered {status}, expected {want}"));
    }
    if let Some(text) = &check.body_contains
        && !body.contains(text.as_str())
    {
        let head: String = body.chars().take(200).collect();
        return Err(format!(
            "body does not contain {text:?} (body starts {head:?})"
        ));
    }
    Ok(())
}

/// Run one HTTP check with its retries.
pub async fn http(check: &HttpCheck, service: &str, version: &str) -> CheckResult {
    let url = expand(&check.url, service, version);
    let client = crate::services::http::client();
    let tries = check.retries.unwrap_or(3).max(1);
    let pause = Duration::from_secs(check.interval_seconds.unwrap_or(2));
    let timeout = Duration::from_secs(check.timeout_seconds.unwrap_or(5).max(1));
    let mut detail = String::new();
    for attempt in 1..=tries {
        let res = client.get(&url).timeout(timeout).send().await;
        let verdict = match res {
            Ok(r) => {
                let status = r.status().as_u16();
                let body = r.text().await.unwrap_or_default();
                judge(check, status, &body)
            }
            Err(e) => Err(format!("unreachable: {e}")),
        };
        match verdict {
            Ok(()) => {
                return CheckResult {
                    service: service.into(),
                    check: format!("GET {url}"),
                    passed: true,
                    attempts: attempt,
                    detail: "ok".into(),
                };
            }
            Err(why) => detail = why,
        }
        if attempt < tries {
            tokio::time::sleep(pause).await;
        }
    }
    CheckResult {
        service: service.into(),
        check: format!("GET {url}"),
        passed: false,
        attempts: tries,
        detail: crate::services::redact::redact(&detail).into_owned(),
    }
}

/// Wait for the Pod `name` (started by the operator) to finish. `Ok(())` when it exits 0.
pub async fn wait_pod(api: &Api<Pod>, name: &str, timeout: Duration) -> Result<(), String> {
    let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut stream = Box::pin(
        watcher(api.clone(), cfg)
            .default_backoff()
            .applied_objects(),
    );
    let wait = async {
        while let Some(ev) = stream.next().await {
            let Ok(p) = ev else { continue };
            let st = p.status.unwrap_or_default();
            match st.phase.as_deref() {
                Some("Succeeded") => return Ok(()),
                Some("Failed") => {
                    let term = st
                        .container_statuses
                        .unwrap_or_default()
                        .into_iter()
                        .find_map(|c| c.state.and_then(|s| s.terminated));
                    return Err(match term {
                        Some(t) => format!(
                            "pod {name} exited with code {}{}",
                            t.exit_code,
                            t.message.map(|m| format!(": {m}")).unwrap_or_default()
                        ),
                        None => format!("pod {name} failed"),
                    });
                }
                _ => {}
            }
        }
        Err(format!("the watch of pod {name} ended"))
    };
    match tokio::time::timeout(timeout, wait).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "pod {name} did not finish within {}s",
            timeout.as_secs()
        )),
    }
}

/// The Pod spec of a smoke-test Pod: non-root, read-only root filesystem, no token.
pub fn smoke_pod_spec(p: &SmokePod, service: &str, version: &str) -> serde_json::Value {
    let mut c = json!({
        "name": "smoke",
        "image": expand(&p.image, service, version),
        "env": [
            { "name": "DEPLOY_SERVICE", "value": service },
            { "name": "DEPLOY_VERSION", "value": version },
        ],
        "securityContext": {
            "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
            "runAsNonRoot": true, "runAsUser": 65532, "capabilities": { "drop": ["ALL"] },
        },
    });
    if !p.command.is_empty() {
        c["command"] = json!(p.command);
    }
    if !p.args.is_empty() {
        c["args"] = json!(
            p.args
                .iter()
                .map(|a| expand(a, service, version))
                .collect::<Vec<_>>()
        );
    }
    json!({
        "restartPolicy": "Never",
        "automountServiceAccountToken": false,
        "activeDeadlineSeconds": p.timeout_seconds.unwrap_or(300),
        "containers": [c],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judges_status_and_body() {
        let c = HttpCheck {
            url: "http://x/{service}/health?v={version}".into(),
            body_contains: Some("\"ok\"".into()),
            ..Default::default()
        };
        assert!(judge(&c, 200, r#"{"status":"ok"}"#).is_ok());
        assert_eq!(
            judge(&c, 500, "boom").unwrap_err(),
            "answered 500, expected 200"
        );
        assert!(
            judge(&c, 200, "nope")
                .unwrap_err()
                .contains("does not contain")
        );
        assert_eq!(expand(&c.url, "api", "v2"), "http://x/api/health?v=v2");
    }
}
