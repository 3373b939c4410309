//! One way for the SaaS clients (Slack, Notion) to send a request, retried with backoff and
//! jitter, honouring `retry-after` (up to a minute: Notion documents waits that long); answers
//! are redacted before they end up in an error.
//!
//! What is retried depends on whether sending twice is harmless, as the official Notion SDK
//! decides: a rate-limited request (429) was not carried out and is always sent again; after a
//! 5xx, a 408 or a timeout, only an idempotent request (a read, a property update) is — a
//! page creation, a block append or a Slack message may have been carried out already, and
//! sending it again could duplicate it. A connection that was never made is retried either way.

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

/// Whether a request may be sent twice without a second effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// A read, or a write that sets a state (sending it twice changes nothing more).
    Idempotent,
    /// A write that adds something each time (a page, appended blocks, a message).
    Adds,
}

/// The retry policy of the SaaS clients: 5 attempts, a `retry-after` honoured up to 60 s.
pub fn saas_retry() -> RetryPolicy {
    RetryPolicy {
        cap: std::time::Duration::from_secs(60),
        ..RetryPolicy::default()
    }
}

/// Send the request `make` builds (again for every attempt it may be sent) and return the
/// successful response's body.
pub async fn send(
    service: &'static str,
    policy: &RetryPolicy,
    effect: Effect,
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
                let again = status == 429 || (effect == Effect::Idempotent && retryable(status));
                let mut body = crate::services::redact::redact(body.trim()).into_owned();
                if !again && retryable(status) {
                    body.push_str(" (not sent again: it may have been carried out)");
                }
                let e = HttpError::Status {
                    service,
                    status,
                    body,
                };
                if !again {
                    return Err(e);
                }
                (e, ra)
            }
            Err(e) => {
                let again = effect == Effect::Idempotent || e.is_connect();
                let mut message = crate::services::redact::redact(&e.to_string()).into_owned();
                if !again {
                    message.push_str(" (not sent again: it may have been carried out)");
                }
                let err = HttpError::Transport { service, message };
                if !again {
                    return Err(err);
                }
                (err, None)
            }
        };
        if attempt >= policy.max_attempts {
            return Err(err);
        }
        tokio::time::sleep(policy.delay(attempt, retry_after.as_deref(), jitter())).await;
    }
}
