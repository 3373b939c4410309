//! The operator's side of the job archive: a finished job is written to the archive (read in
//! full from the API: the cache keeps finished jobs slim) and marked with an annotation before
//! its TTL may delete it; a job deleted before that is archived by its finalizer. While the
//! database is away nothing is deleted and `devagents_archive_errors_total` rises; the rows are
//! written when it is back. Only the leader archives (the reconciler runs only there), and it
//! prunes rows past the retention.

use std::sync::Arc;
use std::time::Duration;

use kube::ResourceExt;
use kube::api::{Patch, PatchParams};
use tracing::{info, warn};

use super::{Context, Result};
use crate::api::AgentJob;

/// On a job: it is in the archive.
pub const ANNOTATION_ARCHIVED: &str = "devagents.io/archived";

/// How often rows past the retention are pruned.
pub const PRUNE_EVERY: Duration = Duration::from_secs(3600);

pub fn archived(job: &AgentJob) -> bool {
    job.annotations().contains_key(ANNOTATION_ARCHIVED)
}

/// Archive `job` unless there is no archive or it is archived already. `Ok(true)`: the job
/// may go (its TTL, its deletion); `Ok(false)`: not yet (the database is away).
pub async fn ensure(ctx: &Context, job: &AgentJob) -> Result<bool> {
    let Some(archive) = ctx.cfg.archive.as_ref() else {
        return Ok(true);
    };
    if archived(job) {
        return Ok(true);
    }
    let ns = job.namespace().ok_or(super::Error::Missing("namespace"))?;
    let Some(full) = ctx.job_api(&ns).get_opt(&job.name_any()).await? else {
        return Ok(true);
    };
    if full.uid() != job.uid() || archived(&full) {
        return Ok(true);
    }
    // A job deleted before it ran has nothing to archive.
    let Some(row) = crate::services::archive::row_of(&full) else {
        return Ok(true);
    };
    match archive.insert(&row).await {
        Ok(new) => {
            ctx.metrics.archived.inc();
            if !new {
                info!("already in the archive");
            }
        }
        Err(e) => {
            ctx.metrics.archive_errors.inc();
            warn!(error = %e, "not archived yet; the job stays until it is");
            return Ok(false);
        }
    }
    let patch = serde_json::json!({
        "metadata": {
            "resourceVersion": full.resource_version(),
            "annotations": { ANNOTATION_ARCHIVED: "true" },
        }
    });
    match ctx
        .job_api(&ns)
        .patch(
            &full.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => Ok(true),
        // Gone, or changed meanwhile: the row is written (by UID); the next pass marks it.
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Prune archived jobs past the retention, now and every [`PRUNE_EVERY`].
pub async fn retention(ctx: Arc<Context>) {
    let Some(archive) = ctx.cfg.archive.clone() else {
        return std::future::pending().await;
    };
    loop {
        match archive.prune(ctx.cfg.archive_retention).await {
            Ok(0) => {}
            Ok(n) => info!(rows = n, "archived jobs past the retention pruned"),
            Err(e) => {
                ctx.metrics.archive_errors.inc();
                warn!(error = %e, "archive retention not applied");
            }
        }
        tokio::time::sleep(PRUNE_EVERY).await;
    }
}
