//! Approvals an agent asks for mid-run, and their decisions.

use super::*;
pub use crate::contract::bodies::{ApprovalRequest, ApprovalState};

pub(crate) fn approval_state_of(a: &crate::api::AgentApproval) -> ApprovalState {
    let st = a.status.clone().unwrap_or_default();
    ApprovalState {
        name: a.name_any(),
        phase: st.phase.unwrap_or_default(),
        message: st.message,
        approved_by: st.approved_by,
    }
}

pub(crate) async fn request_approval(
    State(s): State<Arc<ApiState>>,
    Authorized { job, ns, name }: Authorized,
    body: axum::body::Body,
) -> Result<axum::Json<ApprovalState>, ApiError> {
    let body: ApprovalRequest = read_json(body, BODY_SMALL).await?;
    let action_ok = !body.action.is_empty()
        && body.action.len() <= 31
        && body
            .action
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if !action_ok || body.pins.is_empty() {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "an approval needs an action (a-z0-9_-) and at least one pin".into(),
        ));
    }
    let aname = approval::approval_name(&name, &body.action, &body.pins);
    let api: Api<crate::api::AgentApproval> = Api::namespaced(s.client.clone(), &ns);
    if let Some(a) = api.get_opt(&aname).await? {
        return issued(&a, &job, &s.agents);
    }
    let a = approval::build(
        &job,
        &s.agents,
        &aname,
        &body.action,
        &redact(&body.description),
        body.pins,
        Timestamp::now(),
    );
    match api.create(&PostParams::default(), &a).await {
        Ok(a) => Ok(axum::Json(approval_state_of(&a))),
        Err(kube::Error::Api(e)) if e.code == 409 => {
            issued(&api.get(&aname).await?, &job, &s.agents)
        }
        Err(e) => Err(e.into()),
    }
}

/// The state of an approval the operator issued for `job`; any other is refused.
pub(crate) fn issued(
    a: &crate::api::AgentApproval,
    job: &AgentJob,
    agents: &crate::controller::agent::Agents,
) -> Result<axum::Json<ApprovalState>, ApiError> {
    approval::verify(a, job, agents).map_err(|why| {
        forbidden(format!(
            "approval {} was not issued by the operator for job {}: {why}",
            a.name_any(),
            job.name_any()
        ))
    })?;
    Ok(axum::Json(approval_state_of(a)))
}

pub(crate) async fn approval_state(
    State(s): State<Arc<ApiState>>,
    Authorized { job, ns, .. }: Authorized,
    Path((_, _, approval)): Path<(String, String, String)>,
) -> Result<axum::Json<ApprovalState>, ApiError> {
    let api: Api<crate::api::AgentApproval> = Api::namespaced(s.client.clone(), &ns);
    issued(&api.get(&approval).await?, &job, &s.agents)
}
