//! Who is calling: a request's bearer token, reviewed by the apiserver, must be of the very
//! ServiceAccount the operator made for the job named in the path.

use super::*;

/// The ServiceAccount behind a token: namespace, name and UID (a re-created account of the
/// same name has another UID, so a cached review never carries over to it).
#[derive(Clone, Debug)]
pub(crate) struct Reviewed {
    namespace: String,
    name: String,
    uid: String,
    /// The Pod a bound token was issued for (name, UID), as the TokenReview says.
    pod: Option<(String, String)>,
}

/// How a token bound to Pod `pod` (name, UID) stands to `job`'s attempts.
#[derive(Debug, PartialEq)]
pub(crate) enum BoundPod {
    /// The Pod of one of its attempts: named in it, with the UID pinned for it (attempts
    /// recorded before UIDs were pinned go by name).
    Attempt,
    /// Named as the next attempt's Pod, which status does not show yet (the admission's
    /// write may be on its way).
    NotRecorded,
    /// Any other Pod: another made under an attempt's name after that one was deleted, or a
    /// Pod of any name run as the job's account.
    Foreign,
}

pub(crate) fn bound_pod(job: &AgentJob, pod: &(String, String)) -> BoundPod {
    let attempts = job
        .status
        .as_ref()
        .map(|s| s.attempts.as_slice())
        .unwrap_or_default();
    match attempts.iter().find(|a| a.pod == pod.0) {
        Some(a) if a.pod_uid.as_ref().is_none_or(|u| *u == pod.1) => BoundPod::Attempt,
        Some(_) => BoundPod::Foreign,
        None if pod.0
            == crate::controller::pod::pod_name(&job.name_any(), attempts.len() as i32 + 1) =>
        {
            BoundPod::NotRecorded
        }
        None => BoundPod::Foreign,
    }
}

pub(crate) fn unauthorized(msg: &str) -> ApiError {
    ApiError(StatusCode::UNAUTHORIZED, msg.into())
}
pub(crate) fn forbidden(msg: String) -> ApiError {
    ApiError(StatusCode::FORBIDDEN, msg)
}

/// The job a request is for (`{ns}` and `{name}` of its path), once its bearer token proved
/// to be that job's own ServiceAccount. An extractor: it runs before any body is read, so an
/// unauthenticated request never gets its body read.
pub struct Authorized {
    pub job: AgentJob,
    pub ns: String,
    pub name: String,
}

impl axum::extract::FromRequestParts<Arc<ApiState>> for Authorized {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &Arc<ApiState>,
    ) -> Result<Self, ApiError> {
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.to_string()))?;
        let (Some(ns), Some(name)) = (params.get("ns"), params.get("name")) else {
            return Err(ApiError(
                StatusCode::BAD_REQUEST,
                "the path names no job".into(),
            ));
        };
        let job = authorize(state, &parts.headers, ns, name).await?;
        Ok(Authorized {
            job,
            ns: ns.clone(),
            name: name.clone(),
        })
    }
}

/// Authenticate the bearer token and check it belongs to job `ns/name`; returns the job.
pub(crate) async fn authorize(
    state: &ApiState,
    headers: &HeaderMap,
    ns: &str,
    name: &str,
) -> Result<AgentJob, ApiError> {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| unauthorized("a bearer token is required"))?;
    let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    let cached = state
        .reviews
        .lock()
        .await
        .get(&key)
        .filter(|c| c.1 > Instant::now())
        .map(|c| c.0.clone());
    let who = match cached {
        Some(r) => r,
        None => {
            let reviews: Api<TokenReview> = Api::all(state.client.clone());
            let review = reviews
                .create(
                    &PostParams::default(),
                    &TokenReview {
                        spec: TokenReviewSpec {
                            token: Some(token.to_string()),
                            audiences: Some(vec![AUDIENCE.into()]),
                        },
                        ..TokenReview::default()
                    },
                )
                .await?;
            let st = review.status.unwrap_or_default();
            if st.authenticated != Some(true)
                || !st.audiences.iter().flatten().any(|a| a == AUDIENCE)
            {
                return Err(unauthorized(
                    "the token is not valid for audience devagents.io",
                ));
            }
            let user = st.user.unwrap_or_default();
            let username = user.username.unwrap_or_default();
            let Some(rest) = username.strip_prefix("system:serviceaccount:") else {
                return Err(forbidden(format!(
                    "{username} is not a job's ServiceAccount"
                )));
            };
            let (n, s) = rest.split_once(':').unwrap_or((rest, ""));
            let extra = |k: &str| {
                user.extra
                    .as_ref()
                    .and_then(|e| e.get(k))
                    .and_then(|v| v.first())
                    .cloned()
            };
            let who = Reviewed {
                namespace: n.to_string(),
                name: s.to_string(),
                uid: user.uid.unwrap_or_default(),
                pod: extra("authentication.kubernetes.io/pod-name")
                    .zip(extra("authentication.kubernetes.io/pod-uid")),
            };
            let mut cache = state.reviews.lock().await;
            if cache.len() > 10_000 {
                cache.retain(|_, c| c.1 > Instant::now());
            }
            cache.insert(key, (who.clone(), Instant::now() + Duration::from_secs(30)));
            who
        }
    };
    let (sa_ns, sa_name) = (who.namespace.clone(), who.name.clone());
    if sa_ns != ns || sa_name != service_account_name(name) {
        return Err(forbidden(format!(
            "system:serviceaccount:{sa_ns}:{sa_name} may not act for job {ns}/{name}"
        )));
    }
    // The leader's cache first (an agent calls several times per attempt, and each GET costs
    // the apiserver); the apiserver when this replica has no cache or not this job, or when
    // the cache does not show the account yet (the admission's status write may be on its way).
    let pinned = |j: &AgentJob| {
        j.status
            .as_ref()
            .and_then(|s| s.service_account_uid.clone())
    };
    // A token bound to a Pod (as every agent Pod's is) must come from the Pod of one of the
    // job's attempts — the very Pod the operator made, not another made under its name after
    // it was deleted, nor any other Pod run as the job's account.
    let bound = |j: &AgentJob| who.pod.as_ref().map(|p| bound_pod(j, p));
    let job = match state.jobs.get(ns, name) {
        Some(j)
            if pinned(&j).is_some_and(|p| p == who.uid)
                && bound(&j).is_none_or(|b| b == BoundPod::Attempt) =>
        {
            AgentJob::clone(&j)
        }
        _ => {
            let jobs: Api<AgentJob> = Api::namespaced(state.client.clone(), ns);
            jobs.get(name).await?
        }
    };
    match bound(&job) {
        None | Some(BoundPod::Attempt) => {}
        Some(BoundPod::NotRecorded) => {
            not_ended(&job)?;
            return Err(ApiError(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the attempt of job {ns}/{name} has not been recorded yet"),
            ));
        }
        Some(BoundPod::Foreign) => {
            let pod = who.pod.as_ref().map(|p| p.0.as_str()).unwrap_or_default();
            return Err(forbidden(format!(
                "the token is of pod {pod}, which is not a pod the operator made for job {ns}/{name}"
            )));
        }
    }
    // The token must be of the very ServiceAccount the operator made for this job (its UID,
    // pinned in the job's status at admission): not of an earlier job's account of that name,
    // nor of one someone deleted and re-made (ownerReferences can be written by anyone who
    // may edit ServiceAccounts).
    match pinned(&job) {
        Some(p) if !who.uid.is_empty() && p == who.uid => {}
        Some(_) => {
            return Err(forbidden(format!(
                "the token is not of the serviceaccount the operator made for job {ns}/{name}"
            )));
        }
        None => {
            not_ended(&job)?;
            return Err(ApiError(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("job {ns}/{name} has not been admitted yet"),
            ));
        }
    }
    not_ended(&job)?;
    Ok(job)
}

/// An ended (or ending) job takes no more input from its agent.
pub(crate) fn not_ended(job: &AgentJob) -> Result<(), ApiError> {
    let ended = job.metadata.deletion_timestamp.is_some()
        || job
            .status
            .as_ref()
            .and_then(|s| s.phase)
            .is_some_and(|p| p.is_terminal());
    if ended {
        return Err(ApiError(
            StatusCode::CONFLICT,
            format!(
                "job {}/{} has ended",
                job.namespace().unwrap_or_default(),
                job.name_any()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{AgentJobSpec, AgentJobStatus, AgentKind, Attempt};

    #[test]
    fn a_bound_token_counts_only_from_the_pod_made_for_an_attempt() {
        let mut job = AgentJob::new("j", AgentJobSpec::new(AgentKind::Probe));
        let attempt = |n: i32, uid: Option<&str>| Attempt {
            attempt: n,
            pod: format!("j-{n}"),
            pod_uid: uid.map(Into::into),
            ..Attempt::default()
        };
        job.status = Some(AgentJobStatus {
            attempts: vec![attempt(1, None), attempt(2, Some("u2"))],
            ..AgentJobStatus::default()
        });
        let pod = |n: &str, u: &str| (n.to_string(), u.to_string());
        assert_eq!(bound_pod(&job, &pod("j-2", "u2")), BoundPod::Attempt);
        // Made under attempt 2's name after the operator's Pod was deleted.
        assert_eq!(bound_pod(&job, &pod("j-2", "u-other")), BoundPod::Foreign);
        // Any other Pod run as the job's account.
        assert_eq!(bound_pod(&job, &pod("alice", "u2")), BoundPod::Foreign);
        assert_eq!(bound_pod(&job, &pod("j-4", "u4")), BoundPod::Foreign);
        // The next attempt's Pod before its admission is in status: not yet, not never.
        assert_eq!(bound_pod(&job, &pod("j-3", "u3")), BoundPod::NotRecorded);
        // An attempt recorded before Pod UIDs were pinned goes by name.
        assert_eq!(bound_pod(&job, &pod("j-1", "any")), BoundPod::Attempt);
    }
}
