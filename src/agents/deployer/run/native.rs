//! The native rollout: patch each Deployment's image, wait for the rollout, run its smoke
//! tests, and roll back every service this job changed when one fails.

use super::*;

impl<H: Host + ?Sized> Deploy<'_, H> {
    pub(super) async fn native(&mut self, services: &[Service]) -> Step {
        for (i, svc) in services.iter().enumerate() {
            let (dep_name, container, to_image, from_image) = {
                let r = &self.report.services[i];
                (
                    r.deployment.clone(),
                    r.container.clone(),
                    r.to_image.clone(),
                    r.from_image.clone(),
                )
            };
            let t0 = Instant::now();
            if from_image == to_image {
                self.report.services[i].state = "Unchanged".into();
                self.say(&format!("{}: already runs {to_image}", svc.name))
                    .await;
            } else {
                self.host
                    .action(
                        "deploy_patch",
                        &format!(
                            "deployment/{}/{dep_name}#{container}",
                            self.setup.env.namespace
                        ),
                        Some(&to_image),
                    )
                    .await
                    .map_err(|e| failed(format!("recording the patch in the audit trail: {e}")))?;
                self.report.services[i].state = "Failed".into();
                // The operator sets the image (the job's identity only reads here).
                let set = crate::agents::deployer::ops::request(
                    self.host,
                    &DeployOp::SetImage {
                        service: svc.name.clone(),
                    },
                )
                .await;
                match set {
                    Ok(r) if r.image.as_deref() == Some(to_image.as_str()) => {}
                    Ok(r) => {
                        let e = format!(
                            "the operator set {}, not {to_image}",
                            r.image.unwrap_or_default()
                        );
                        return Err(self.roll_back(i, &format!("{}: {e}", svc.name)).await);
                    }
                    Err(e) => {
                        return Err(self.roll_back(i, &format!("{}: {e}", svc.name)).await);
                    }
                }
                self.say(&format!(
                    "{}: image set to {to_image}, watching the rollout",
                    svc.name
                ))
                .await;
                let outcome = {
                    let host = self.host;
                    let name = svc.name.clone();
                    let mut lines = Vec::new();
                    let o = cluster::wait_rollout(
                        &self.deployments,
                        &dep_name,
                        None,
                        self.rollout_wait(),
                        |l| lines.push(format!("{name}: {l}")),
                    )
                    .await;
                    for l in lines {
                        let _ = host.progress(&l).await;
                    }
                    o
                };
                match outcome {
                    Outcome::Done(dep) => {
                        let r = &mut self.report.services[i];
                        r.state = "RolledOut".into();
                        r.to_revision = cluster::revision(&dep);
                        r.rollout_seconds = t0.elapsed().as_secs_f64();
                        let line = format!(
                            "{}: rolled out (revision {}) in {:.1}s",
                            svc.name,
                            r.to_revision.unwrap_or_default(),
                            r.rollout_seconds
                        );
                        self.say(&line).await;
                    }
                    failed => {
                        let why = failed.reason(&dep_name);
                        self.report.services[i].detail = Some(why.clone());
                        return Err(self.roll_back(i, &format!("{}: {why}", svc.name)).await);
                    }
                }
            }
            let test = svc
                .smoke_test
                .as_ref()
                .or(self.setup.env.smoke_test.as_ref());
            if let Some(test) = test.cloned()
                && let Err(why) = self.smoke(svc, &test).await
            {
                self.report.services[i].detail = Some(why.clone());
                return Err(self
                    .roll_back(i, &format!("{}: smoke test failed: {why}", svc.name))
                    .await);
            }
        }
        Ok(())
    }

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

    /// Roll back services `0..=failed` (this job's changes), last first, like `kubectl
    /// rollout undo --to-revision=<the revision before the job>`.
    pub(super) async fn roll_back(
        &mut self,
        failed_index: usize,
        reason: &str,
    ) -> (Verdict, String) {
        self.say(&format!("{reason} — rolling back")).await;
        let timeout = self.setup.env.rollout_timeout();
        let mut problems = Vec::new();
        for i in (0..=failed_index).rev() {
            let r = self.report.services[i].clone();
            if r.state == "Unchanged" || r.state == "Pending" {
                continue;
            }
            // The operator puts back what it recorded before this job's change.
            let restored = crate::agents::deployer::ops::request(
                self.host,
                &DeployOp::Restore {
                    service: r.name.clone(),
                },
            )
            .await
            .map(|_| ());
            if restored
                .as_ref()
                .is_err_and(|e| e.contains(NOTHING_TO_PUT_BACK))
            {
                self.report.services[i].state = "Unchanged".into();
                continue;
            }
            if let Err(e) = self
                .host
                .action(
                    "rollback",
                    &format!(
                        "deployment/{}/{}#{}",
                        self.setup.env.namespace, r.deployment, r.container
                    ),
                    Some(&r.from_image),
                )
                .await
            {
                problems.push(format!(
                    "{}: rollback not recorded in the audit trail: {e}",
                    r.name
                ));
            }
            let outcome = match restored {
                Err(e) => Err(e),
                Ok(()) => {
                    match cluster::wait_rollout(
                        &self.deployments,
                        &r.deployment,
                        None,
                        timeout,
                        |_| {},
                    )
                    .await
                    {
                        Outcome::Done(_) => Ok(()),
                        failed => Err(failed.reason(&r.deployment)),
                    }
                }
            };
            let s = &mut self.report.services[i];
            match outcome {
                Ok(()) => {
                    s.state = "RolledBack".into();
                    self.say(&format!(
                        "{}: rolled back to {} (revision {})",
                        r.name,
                        r.from_image,
                        r.from_revision.unwrap_or_default()
                    ))
                    .await;
                }
                Err(e) => {
                    s.state = "RollbackFailed".into();
                    problems.push(format!("{}: rollback failed: {e}", r.name));
                }
            }
        }
        if problems.is_empty() {
            (Verdict::RolledBack, reason.to_string())
        } else {
            (
                Verdict::Failed,
                format!("{reason}; {}", problems.join("; ")),
            )
        }
    }
}
