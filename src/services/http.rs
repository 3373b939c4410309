//! One way for the SaaS clients (Slack, Notion) to send a request: retried on 429, 5xx and
//! transport errors with backoff and jitter, honouring `retry-after`; answers are redacted
//! before they end up in an error.

use crate::llm::retry::{RetryPolicy, jitter, retryable};

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{service} answered {status}: {body}")]
    Status {
        service: &'static str,
        status: u16,
        body: String,
    },
    #[error("{service} unreachable: {message}")]
    Transport {
        service: &'static str,
        message: String,
    },
}

impl HttpError {
    pub fn status(&self) -> Option<u16> {
        match self {
            HttpError::Status { status, .. } => Some(*status),
            HttpError::Transport { .. } => None,
        }
    }
}

pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .unwrap_or_default()
}

/// Send the request `make` builds (again for every attempt) and return the successful
/// response's body.
pub async fn send(
    service: &'static str,
    policy: &RetryPolicy,
    make: impl Fn() -> reqwest::RequestBuilder,
) -> Result<String, HttpError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (err, retry_after) = match make().send().await {
            Ok(r) if r.status().is_success() => {
                return r.text().await.map_err(|e| HttpError::Transport {
                    service,
                    message: e.to_string(),
                });
            }
            Ok(r) => {
                let status = r.status().as_u16();
                let ra = r
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let body = r.text().await.unwrap_or_default();
                let e = HttpError::Status {
                    service,
                    status,
                    body: crate::services::redact::redact(body.trim()).into_owned(),
                };
                if !retryable(status) {
                    return Err(e);
                }
                (e, ra)
            }
            Err(e) => (
                HttpError::Transport {
                    service,
                    message: crate::services::redact::redact(&e.to_string()).into_owned(),
                },
                None,
            ),
        };
        if attempt >= policy.max_attempts {
            return Err(err);
        }
        tokio::time::sleep(policy.delay(attempt, retry_after.as_deref(), jitter())).await;
    }
}
