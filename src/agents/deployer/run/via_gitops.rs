//! The GitOps mode: commit the new tags to the environment's repository and wait for the
//! cluster (Argo CD / Flux) to roll them out.

use super::*;

impl<H: Host + ?Sized> Deploy<'_, H> {
    pub(super) async fn gitops(&mut self, services: &[Service]) -> Step {
        let env = &self.setup.env;
        let g = env.gitops.clone().ok_or_else(|| {
            failed(format!(
                "environment {:?} has no gitops configuration",
                env.name
            ))
        })?;
        let branch = g.branch.clone().unwrap_or_else(|| "main".into());
        let images: Vec<(String, String)> = services
            .iter()
            .map(|s| (s.image.clone(), s.name.clone()))
            .collect();
        let dir = self.setup.workdir.join("manifests");
        let opts = WorkspaceOptions {
            base_branch: branch.clone(),
            allowed_paths: AllowedPaths::new(std::slice::from_ref(&g.file))
                .map_err(|e| failed(e.to_string()))?,
            credentials: self.setup.gitops_credentials.clone(),
            identity: Identity::agent("deployer"),
        };
        let ws = {
            let (url, dir) = (g.repository.clone(), dir.clone());
            tokio::task::spawn_blocking(move || Workspace::clone(&url, &dir, opts))
                .await
                .map_err(|e| failed(e.to_string()))?
                .map_err(|e| failed(format!("clone {}: {e}", g.repository)))?
        };
        let path = ws.path().join(&g.file);
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let new = gitops::set_tags(&g, &text, &images, &self.params.version).map_err(failed)?;
        let mut report = GitOpsReport {
            repository: g.repository.clone(),
            file: g.file.clone(),
            branch: branch.clone(),
            commit: None,
            pull_request: None,
        };
        let unchanged = serde_yaml::from_str::<serde_yaml::Value>(&text).ok()
            == serde_yaml::from_str::<serde_yaml::Value>(&new).ok();
        if unchanged {
            self.say(&format!("{} already names {}", g.file, self.params.version))
                .await;
        } else {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| failed(e.to_string()))?;
            }
            std::fs::write(&path, new).map_err(|e| failed(format!("{}: {e}", g.file)))?;
            let msg = format!(
                "deploy {} to {}\n\n{}\n\nby devagents job {}",
                self.params.version,
                env.name,
                images
                    .iter()
                    .map(|(i, _)| format!("{i}:{}", self.params.version))
                    .collect::<Vec<_>>()
                    .join("\n"),
                self.setup.job_name
            );
            match g.push {
                GitOpsPush::Direct => {
                    let sha = ws
                        .commit_all(&msg)
                        .and_then(|sha| ws.push_base_direct().map(|_| sha))
                        .map_err(|e| failed(format!("gitops commit: {e}")))?;
                    report.commit = Some(sha);
                }
                GitOpsPush::PullRequest => {
                    let head = format!("devagents/deploy-{}-{}", env.name, self.params.version);
                    ws.create_branch(&head)
                        .map_err(|e| failed(format!("gitops branch: {e}")))?;
                    let sha = ws
                        .commit_all(&msg)
                        .and_then(|sha| ws.push(&head).map(|_| sha))
                        .map_err(|e| failed(format!("gitops push: {e}")))?;
                    report.commit = Some(sha);
                    let (owner, name) = g
                        .github_repo
                        .as_deref()
                        .and_then(|r| r.split_once('/'))
                        .ok_or_else(|| {
                            failed("gitops.push: pull-request needs gitops.githubRepo (owner/name)")
                        })?;
                    let token = self
                        .setup
                        .gitops_credentials
                        .as_ref()
                        .map(|c| c.token.clone())
                        .unwrap_or_default();
                    let gh = crate::services::github::GitHub::new(
                        &self.setup.github_api,
                        &token,
                        owner,
                        name,
                    )
                    .map_err(|e| failed(e.to_string()))?;
                    let pr = gh
                        .create_pull(
                            &format!("Deploy {} to {}", self.params.version, env.name),
                            &head,
                            &branch,
                            &msg,
                        )
                        .await
                        .map_err(|e| failed(format!("gitops pull request: {e}")))?;
                    report.pull_request = Some(pr.html_url.clone());
                }
            }
            self.host
                .action(
                    "git_commit",
                    &format!("{}#{}", g.repository, g.file),
                    report.commit.as_deref(),
                )
                .await
                .map_err(|e| failed(format!("recording the commit in the audit trail: {e}")))?;
            self.say(&format!(
                "committed {} to {} ({}); waiting for the cluster to sync",
                g.file,
                g.repository,
                report.commit.as_deref().unwrap_or("")
            ))
            .await;
        }
        self.report.gitops = Some(report);
        let sync_secs = g.sync_timeout_seconds.unwrap_or(600).max(1);
        let deadline = Instant::now() + Duration::from_secs(sync_secs);
        for i in 0..self.report.services.len() {
            let r = self.report.services[i].clone();
            let left = deadline.saturating_duration_since(Instant::now());
            let t0 = Instant::now();
            match gitops::wait_synced(
                &self.deployments,
                &r.deployment,
                &r.container,
                &r.to_image,
                left,
                sync_secs,
            )
            .await
            {
                Ok(dep) => {
                    let s = &mut self.report.services[i];
                    s.state = "Synced".into();
                    s.to_revision = cluster::revision(&dep);
                    s.rollout_seconds = t0.elapsed().as_secs_f64();
                    self.say(&format!("{}: the cluster runs {}", r.name, r.to_image))
                        .await;
                }
                Err(why) => {
                    self.report.services[i].state = "Failed".into();
                    return Err(failed(format!("{}: {why}", r.name)));
                }
            }
        }
        Ok(())
    }
}
