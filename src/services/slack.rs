//! Slack incoming webhooks: one JSON message (`text` as the fallback, `blocks` for layout)
//! POSTed to the webhook URL, which is itself the secret (mounted from a Secret, never
//! logged). Slack answers `ok`, or an error word such as `invalid_payload` or `no_service`.

use serde_json::{Value, json};

use super::http::{Effect, HttpError, client, saas_retry, send};
use crate::llm::retry::RetryPolicy;

/// Slack's limit on a section block's text.
pub const SECTION_TEXT_MAX: usize = 3000;

pub struct Slack {
    http: reqwest::Client,
    webhook_url: String,
    pub retry: RetryPolicy,
}

/// A message: a one-line summary (also the notification text) and optional detail lines.
#[derive(Clone, Debug, Default)]
pub struct Message {
    pub summary: String,
    pub details: Vec<String>,
    /// A link shown under the message (a PR, a job).
    pub link: Option<(String, String)>,
}

impl Message {
    /// The webhook payload: `text` plus a header section, a details section and a context link.
    pub fn payload(&self) -> Value {
        let summary = crate::services::redact::redact(&self.summary).into_owned();
        let mut blocks = vec![json!({
            "type": "section", "text": { "type": "mrkdwn", "text": truncate(&summary, SECTION_TEXT_MAX) }
        })];
        if !self.details.is_empty() {
            let d = self
                .details
                .iter()
                .map(|l| format!("• {}", crate::services::redact::redact(l)))
                .collect::<Vec<_>>()
                .join("\n");
            blocks.push(json!({
                "type": "section", "text": { "type": "mrkdwn", "text": truncate(&d, SECTION_TEXT_MAX) }
            }));
        }
        if let Some((label, url)) = &self.link {
            blocks.push(json!({
                "type": "context", "elements": [{ "type": "mrkdwn", "text": format!("<{url}|{label}>") }]
            }));
        }
        json!({ "text": summary, "blocks": blocks })
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max - 3;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

impl Slack {
    pub fn new(webhook_url: &str) -> Slack {
        Slack {
            http: client(),
            webhook_url: webhook_url.trim().to_string(),
            retry: saas_retry(),
        }
    }

    /// Read the webhook URL from a mounted Secret file.
    pub fn from_file(path: &std::path::Path) -> std::io::Result<Slack> {
        Ok(Slack::new(&std::fs::read_to_string(path)?))
    }

    pub async fn post(&self, msg: &Message) -> Result<(), HttpError> {
        let body = msg.payload();
        // A message posted twice is two messages: only a rate-limited post is sent again.
        send("Slack", &self.retry, Effect::Adds, || {
            self.http.post(&self.webhook_url).json(&body)
        })
        .await
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_has_text_blocks_and_no_secrets() {
        let m = Message {
            summary: "Deployed v1.7.2 to staging".into(),
            details: vec![
                "api: v1.7.1 -> v1.7.2".into(),
                "token ghp_abcdefghijklmnopqrstuvwxyz0123456789".into(),
            ],
            link: Some(("job".into(), "https://example.com/j".into())),
        };
        let p = m.payload();
        assert_eq!(p["text"], "Deployed v1.7.2 to staging");
        assert_eq!(p["blocks"].as_array().unwrap().len(), 3);
        assert!(
            !p.to_string()
                .contains("ghp_abcdefghijklmnopqrstuvwxyz0123456789")
        );
        let long = Message {
            summary: "é".repeat(4000),
            ..Default::default()
        };
        assert!(
            long.payload()["blocks"][0]["text"]["text"]
                .as_str()
                .unwrap()
                .len()
                <= SECTION_TEXT_MAX
        );
    }
}
