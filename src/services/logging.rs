//! Log lines: text for people, or JSON for log pipelines (Fluent Bit, Elasticsearch, Loki
//! read them without parsing rules) — one object per line with the timestamp, level, message,
//! the event's fields and those of the spans it happened in (the operator's reconcile span
//! carries `job`, `namespace` and `agent`; the runner's lines `job`, `namespace`, `agent` and
//! `attempt`). Every line is redacted like all output.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::services::redact::{Redacting, redact};

/// `--log-format`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// The environment variable that gives an agent Pod the operator's format.
pub const ENV_LOG_FORMAT: &str = "DEVAGENTS_LOG_FORMAT";

impl LogFormat {
    /// From [`ENV_LOG_FORMAT`] (text when unset or unknown).
    pub fn from_env() -> LogFormat {
        match std::env::var(ENV_LOG_FORMAT).as_deref() {
            Ok("json") => LogFormat::Json,
            _ => LogFormat::Text,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

/// Install the process's tracing subscriber writing to stdout (`RUST_LOG` overrides
/// `default_filter`).
pub fn init(format: LogFormat, default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| default_filter.into());
    match format {
        LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .with_writer(Redacting(std::io::stdout))
            .init(),
        LogFormat::Json => tracing_subscriber::registry()
            .with(filter)
            .with(tracing_flat_json::FlatJsonLayer::new(Redacting(
                std::io::stdout,
            )))
            .init(),
    }
}

/// One line of a process that does not use tracing (the runner): text as it is, or a JSON
/// object with `fields` (those that are known) beside the level and message. Redacted.
pub fn line(
    format: LogFormat,
    level: &str,
    message: &str,
    fields: &[(&str, Option<String>)],
) -> String {
    let message = redact(message);
    match format {
        LogFormat::Text => message.into_owned(),
        LogFormat::Json => {
            let mut o = serde_json::Map::new();
            o.insert(
                "timestamp".into(),
                k8s_openapi::jiff::Timestamp::now().to_string().into(),
            );
            o.insert("level".into(), level.to_ascii_uppercase().into());
            o.insert("message".into(), message.into_owned().into());
            for (k, v) in fields {
                if let Some(v) = v {
                    o.insert((*k).into(), redact(v).into_owned().into());
                }
            }
            serde_json::Value::Object(o).to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_line_parses_and_carries_the_known_fields_redacted() {
        let l = line(
            LogFormat::Json,
            "error",
            "push failed with ghp_abcdefghijklmnopqrstuvwxyz0123456789",
            &[
                ("job", Some("j".into())),
                ("attempt", Some("2".into())),
                ("agent", None),
            ],
        );
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert_eq!(
            (
                v["level"].as_str(),
                v["job"].as_str(),
                v["attempt"].as_str()
            ),
            (Some("ERROR"), Some("j"), Some("2"))
        );
        assert!(v.get("agent").is_none());
        assert!(!v["message"].as_str().unwrap().contains("ghp_"), "{l}");
        assert_eq!(line(LogFormat::Text, "info", "plain", &[]), "plain");
    }
}
