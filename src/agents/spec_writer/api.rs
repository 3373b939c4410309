//! `POST /v1/jobs/{ns}/{name}/questions`: spec-writer's clarifying questions. The agent posts
//! its questions (at most 5, each with 2–5 options or none for a free answer); the operator
//! writes them into `status.questions` (where `kubectl agent answer` finds them) and answers
//! with those of `spec.specWriter.answers` that answer them. The agent posts again until every
//! question has its answer — the way it waits for an approval. Only a running spec-writer job
//! may ask, only about itself.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use kube::ResourceExt;
use serde::{Deserialize, Serialize};

use crate::agentapi::{ApiError, ApiState, Authorized, BODY_SMALL, read_json, update_status};
use crate::api::{AgentKind, Phase, SpecAnswer, SpecQuestion};

/// The endpoint below the job's path.
pub const ROUTE: &str = "/questions";
/// At most this many questions, options per question.
pub const MAX_QUESTIONS: usize = 5;
pub const MAX_OPTIONS: usize = 5;

#[derive(Debug, Serialize, Deserialize)]
pub struct Questions {
    pub questions: Vec<SpecQuestion>,
}

#[derive(Debug, Serialize, Deserialize, Default)]
pub struct Answers {
    /// The answers given so far to these questions.
    pub answers: Vec<SpecAnswer>,
    /// Every question has its answer.
    pub complete: bool,
}

fn bad(msg: String) -> ApiError {
    ApiError(StatusCode::UNPROCESSABLE_ENTITY, msg)
}

/// Why these questions cannot be asked (None: they can).
pub fn invalid(q: &Questions) -> Option<String> {
    if q.questions.is_empty() || q.questions.len() > MAX_QUESTIONS {
        return Some(format!("1 to {MAX_QUESTIONS} questions"));
    }
    q.questions.iter().find_map(|x| {
        let n = x.options.len();
        (x.question.trim().is_empty()
            || x.question.len() > 1000
            || n == 1
            || n > MAX_OPTIONS
            || x.options.iter().any(|o| o.trim().is_empty() || o.len() > 200))
        .then(|| {
            format!(
                "question {:?}: 1–1000 characters, and 2–{MAX_OPTIONS} options of 1–200 characters or none",
                x.question.chars().take(80).collect::<String>()
            )
        })
    })
}

/// The answers of `given` to `questions`.
pub fn answers_to(questions: &[SpecQuestion], given: &[SpecAnswer]) -> Answers {
    let answers: Vec<SpecAnswer> = questions
        .iter()
        .filter_map(|q| {
            given
                .iter()
                .rev()
                .find(|a| a.question.trim() == q.question.trim() && !a.answer.trim().is_empty())
                .cloned()
        })
        .collect();
    Answers {
        complete: answers.len() == questions.len(),
        answers,
    }
}

pub fn routes() -> Router<Arc<ApiState>> {
    Router::new().route(
        &format!("{}{ROUTE}", crate::contract::bodies::JOB_ROUTE),
        axum::routing::post(ask),
    )
}

async fn ask(
    State(s): State<Arc<ApiState>>,
    Authorized { job, ns, name }: Authorized,
    body: axum::body::Body,
) -> Result<axum::Json<Answers>, ApiError> {
    let q: Questions = read_json(body, BODY_SMALL).await?;
    if job.spec.agent != AgentKind::SpecWriter {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            format!("job {ns}/{name} is not a spec-writer: it asks no questions"),
        ));
    }
    if job.status.as_ref().and_then(|st| st.phase) != Some(Phase::Running) {
        return Err(ApiError(
            StatusCode::CONFLICT,
            format!("job {ns}/{name} is not running"),
        ));
    }
    if let Some(e) = invalid(&q) {
        return Err(bad(e));
    }
    let asked = job
        .status
        .as_ref()
        .map(|st| st.questions.clone())
        .unwrap_or_default();
    let job = if asked != q.questions {
        let questions = q.questions.clone();
        update_status(&s.client, job, move |st| {
            st.questions = questions.clone();
        })
        .await?
    } else {
        job
    };
    let given = job
        .spec
        .spec_writer
        .as_ref()
        .map(|p| p.answers.clone())
        .unwrap_or_default();
    tracing::debug!(job = %job.name_any(), questions = q.questions.len(), "questions asked");
    Ok(axum::Json(answers_to(&q.questions, &given)))
}
