//! The automatic rollback: every service this job changed, last first.

use super::*;

impl<H: Host + ?Sized> Deploy<'_, H> {
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
