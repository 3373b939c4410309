//! A service's smoke test after its rollout (HTTP checks, or a Pod the operator runs), and
//! the smoke-test and build Pods the operator starts on the deployer's request.

use super::*;

impl<H: Host + ?Sized> Deploy<'_, H> {
    /// Have the operator start the service's smoke-test or build Pod, wait for it to end
    /// (the job's identity may read exactly these Pods), and have it deleted.
    pub(super) async fn run_pod(
        &self,
        kind: PodKind,
        svc: &Service,
        git_sha: Option<&str>,
        timeout: Duration,
    ) -> Result<(), String> {
        let started = crate::agents::deployer::ops::request(
            self.host,
            &DeployOp::StartPod {
                kind,
                service: svc.name.clone(),
                git_sha: git_sha.map(str::to_string),
            },
        )
        .await
        .map_err(|e| format!("start the {} pod of {}: {e}", kind.as_str(), svc.name))?;
        let pods: Api<Pod> = Api::namespaced(self.setup.client.clone(), &self.setup.env.namespace);
        let out = smoke::wait_pod(&pods, &started.name, timeout).await;
        let _ = crate::agents::deployer::ops::request(
            self.host,
            &DeployOp::DeletePod {
                kind,
                service: svc.name.clone(),
            },
        )
        .await;
        out
    }

    pub(super) async fn smoke(
        &mut self,
        svc: &Service,
        test: &crate::api::environment::SmokeTest,
    ) -> Result<(), String> {
        for check in &test.http {
            self.say(&format!(
                "{}: smoke test GET {}",
                svc.name,
                smoke::expand(&check.url, &svc.name, &self.params.version)
            ))
            .await;
            let r = smoke::http(check, &svc.name, &self.params.version).await;
            let passed = r.passed;
            let detail = format!("{}: {}", r.check, r.detail);
            self.report.smoke_tests.push(r);
            if !passed {
                return Err(detail);
            }
        }
        if let Some(p) = &test.pod {
            let name = pod_name(&self.setup.job_name, PodKind::Smoke, &svc.name);
            self.say(&format!("{}: smoke-test pod {name}", svc.name))
                .await;
            let res = self
                .run_pod(
                    PodKind::Smoke,
                    svc,
                    None,
                    Duration::from_secs(p.timeout_seconds.unwrap_or(300)),
                )
                .await;
            self.report.smoke_tests.push(CheckResult {
                service: svc.name.clone(),
                check: format!("pod {name}"),
                passed: res.is_ok(),
                attempts: 1,
                detail: res.clone().err().unwrap_or_else(|| "ok".into()),
            });
            res?;
        }
        Ok(())
    }
}
