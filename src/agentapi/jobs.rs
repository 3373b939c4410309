//! A job's own endpoints: its input, progress, audit trail, artifacts and result.

use super::*;
pub use crate::contract::bodies::{ActionBody, JobInput, ProgressBody, ResultBody};

pub(crate) async fn job_input(
    Authorized { job, ns, name }: Authorized,
) -> Result<axum::Json<JobInput>, ApiError> {
    let attempt = job
        .status
        .as_ref()
        .map(|st| st.attempts.len() as i32)
        .unwrap_or(0)
        .max(1);
    Ok(axum::Json(JobInput {
        name,
        namespace: ns,
        uid: job.uid().unwrap_or_default(),
        attempt,
        spec: job.spec,
    }))
}

pub fn progress_configmap(job: &str) -> String {
    bounded_name(job, "-progress", 253)
}

pub(crate) async fn progress(
    State(s): State<Arc<ApiState>>,
    Authorized { job, ns, name }: Authorized,
    body: axum::body::Body,
) -> Result<StatusCode, ApiError> {
    let body: ProgressBody = read_json(body, BODY_PROGRESS).await?;
    let api: Api<ConfigMap> = Api::namespaced(s.client.clone(), &ns);
    let cm_name = progress_configmap(&name);
    // Redacted as one text, continuing the log (a private key may span lines and requests).
    let text: String = body
        .lines
        .iter()
        .map(|l| format!("{}\n", l.trim_end()))
        .collect();
    let uid = job.uid().unwrap_or_default();
    // What this replica wrote last (one write, no read), else a guess that there is none yet
    // (one create); a conflict means another writer: read, then write.
    let mut known: Option<(Option<String>, String)> =
        Some(match s.progress_logs.lock().await.remove(&uid) {
            Some((rv, log)) => (Some(rv), log),
            None => (None, String::new()),
        });
    for _ in 0..10 {
        let (rv, prev) = match known.take() {
            Some(k) => k,
            None => match api.get_opt(&cm_name).await? {
                None => (None, String::new()),
                Some(cm) => (
                    cm.resource_version(),
                    cm.data
                        .and_then(|mut d| d.remove("log"))
                        .unwrap_or_default(),
                ),
            },
        };
        let log = tail(
            &format!("{prev}{}", redact_after(&prev, &text)),
            PROGRESS_MAX,
        );
        let cm = ConfigMap {
            metadata: ObjectMeta {
                name: Some(cm_name.clone()),
                resource_version: rv.clone(),
                owner_references: job.controller_owner_ref(&()).map(|o| vec![o]),
                labels: Some([(MANAGED_BY.to_string(), MANAGER.to_string())].into()),
                ..ObjectMeta::default()
            },
            data: Some([("log".to_string(), log.clone())].into()),
            ..ConfigMap::default()
        };
        let written = match rv {
            None => api.create(&PostParams::default(), &cm).await,
            Some(_) => api.replace(&cm_name, &PostParams::default(), &cm).await,
        };
        match written {
            Ok(cm) => {
                if log.len() <= PROGRESS_CACHE_MAX
                    && let Some(rv) = cm.resource_version()
                {
                    let mut logs = s.progress_logs.lock().await;
                    if logs.len() >= PROGRESS_CACHE_JOBS {
                        logs.clear();
                    }
                    logs.insert(uid, (rv, log));
                }
                return Ok(StatusCode::NO_CONTENT);
            }
            Err(kube::Error::Api(e)) if e.code == 409 || e.code == 404 => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError(
        StatusCode::SERVICE_UNAVAILABLE,
        "progress kept changing; retry".into(),
    ))
}

/// The last `max` bytes of `s`, starting at a line boundary.
pub(crate) fn tail(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    let cut = &s[start..];
    cut.find('\n')
        .map(|i| cut[i + 1..].to_string())
        .unwrap_or_else(|| cut.to_string())
}

pub(crate) const ACTION_TYPES: &[&str] = &[
    "file_create",
    "file_modify",
    "file_delete",
    "git_commit",
    "git_push",
    "pr_open",
    "pr_review",
    "api_call",
    "deploy_patch",
    "image_build",
    "rollback",
    "migration_apply",
    "notify",
];

/// Every field of an action is bounded (the audit trail lives in the job's status).
pub(crate) fn check_action(body: &ActionBody) -> Result<(), String> {
    if !ACTION_TYPES.contains(&body.type_.as_str()) {
        return Err(format!("type: unknown action type {:?}", body.type_));
    }
    if body.target.is_empty() || body.target.len() > 1024 {
        return Err("target must be 1..1024 bytes".into());
    }
    let token = |v: &str, max: usize| {
        !v.is_empty() && v.len() <= max && v.bytes().all(|b| b.is_ascii_graphic())
    };
    if body.digest.as_deref().is_some_and(|d| !token(d, 256)) {
        return Err("digest must be 1..256 printable characters without spaces".into());
    }
    if body.approval.as_deref().is_some_and(|a| {
        !token(a, 253)
            || !a
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    }) {
        return Err("approval must be an AgentApproval name (1..253 of a-z, 0-9, - and .)".into());
    }
    Ok(())
}

pub(crate) async fn action(
    State(s): State<Arc<ApiState>>,
    Authorized { job, .. }: Authorized,
    body: axum::body::Body,
) -> Result<StatusCode, ApiError> {
    let body: ActionBody = read_json(body, BODY_SMALL).await?;
    check_action(&body).map_err(|e| ApiError(StatusCode::BAD_REQUEST, e))?;
    let record = ActionRecord {
        type_: body.type_,
        target: redact(&body.target).into_owned(),
        digest: body.digest,
        requires_approval: body.requires_approval,
        approval: body.approval,
        executed_at: Some(Time(Timestamp::now())),
    };
    update_status(&s.client, job, |st| {
        // Bounded: the audit trail keeps the last ACTIONS_KEPT actions in status.
        st.actions.push(record.clone());
        let n = st.actions.len();
        if n > ACTIONS_KEPT {
            st.actions.drain(..n - ACTIONS_KEPT);
        }
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn artifact(
    State(s): State<Arc<ApiState>>,
    Authorized { job, .. }: Authorized,
    Path((_, _, artifact)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<axum::Json<ArtifactRef>, ApiError> {
    if !results::valid_name(&artifact) {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!("artifact name {artifact:?}: use a-z, 0-9 and -"),
        ));
    }
    // The per-job upload rate.
    let uid = job.uid().unwrap_or_default();
    {
        let mut uploads = s.uploads.lock().await;
        let now = Instant::now();
        if uploads.len() > 10_000 {
            uploads.retain(|_, q| {
                q.back()
                    .is_some_and(|t| now.duration_since(*t) < Duration::from_secs(60))
            });
        }
        let q = uploads.entry(uid).or_default();
        while q
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60))
        {
            q.pop_front();
        }
        if q.len() >= s.limits.uploads_per_minute {
            return Err(ApiError(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "at most {} artifact uploads per minute per job",
                    s.limits.uploads_per_minute
                ),
            ));
        }
        q.push_back(now);
    }
    // A few uploads at a time; each streams (memory stays about one chunk per upload).
    let _slot = s
        .upload_slots
        .acquire()
        .await
        .map_err(|_| ApiError(StatusCode::SERVICE_UNAVAILABLE, "shutting down".into()))?;
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > ARTIFACT_MAX) {
        return Err(ApiError(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("an artifact is at most {ARTIFACT_MAX} bytes"),
        ));
    }
    let r = results::store(
        &s.client,
        &job,
        &artifact,
        body.into_data_stream(),
        ARTIFACT_MAX,
        s.limits.artifacts,
    )
    .await
    .map_err(|e| match e {
        results::ResultError::Kube(k) => ApiError::from(k),
        results::ResultError::TooLarge(m) => ApiError(StatusCode::PAYLOAD_TOO_LARGE, m),
        results::ResultError::Conflict(m) => ApiError(StatusCode::CONFLICT, m),
        results::ResultError::Body(m) => ApiError(StatusCode::BAD_REQUEST, m),
        other => ApiError(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
    })?;
    Ok(axum::Json(r))
}

pub(crate) async fn result(
    State(s): State<Arc<ApiState>>,
    Authorized { job, .. }: Authorized,
    body: axum::body::Body,
) -> Result<StatusCode, ApiError> {
    let uid = job.uid();
    let body: ResultBody = read_json(body, BODY_RESULT).await?;
    if body.artifacts.len() > s.limits.artifacts.max_count {
        return Err(ApiError(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("at most {} artifacts", s.limits.artifacts.max_count),
        ));
    }
    let result =
        crate::controller::lifecycle::agent_result(&body.summary, body.data, body.artifacts)
            .map_err(|m| ApiError(StatusCode::PAYLOAD_TOO_LARGE, m))?;
    update_status(&s.client, job, |st| {
        st.result = Some(Box::new(result.clone()));
    })
    .await?;
    if let Some(uid) = uid {
        s.progress_logs.lock().await.remove(&uid);
    }
    Ok(StatusCode::NO_CONTENT)
}
