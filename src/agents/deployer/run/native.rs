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
}
