//! What the agents' runs share: how a run fails (a message, and whether another attempt may
//! do better), and how its end is reported to the host (the summary and data, or the failure's
//! first line and the whole message).

use serde::Serialize;
use serde_json::json;

use super::{DynHost, Failed, Outcome};

/// Why a run stopped.
#[derive(Debug)]
pub struct RunFailure {
    pub message: String,
    /// Worth another attempt (network, the agent API away).
    pub transient: bool,
}

/// A failure another attempt would meet again (bad input, a failing command).
pub fn fail(m: impl Into<String>) -> RunFailure {
    RunFailure {
        message: m.into(),
        transient: false,
    }
}

/// A progress line or action the host did not take: the agent API is away, so another
/// attempt may do better.
pub fn reported(r: Result<(), String>) -> Result<(), RunFailure> {
    r.map_err(|message| RunFailure {
        message,
        transient: true,
    })
}

/// Report the run's end: on success its summary and `data`, on failure the first line as the
/// summary and the whole message as the data's `error`.
pub async fn finish<T: Serialize>(
    host: &dyn DynHost,
    r: Result<T, RunFailure>,
    summary: impl FnOnce(&T) -> String,
) -> Outcome {
    match r {
        Ok(out) => {
            let s = summary(&out);
            let data = serde_json::to_value(&out).unwrap_or_default();
            host.result(&s, Some(data), &[]).await?;
            Ok(s)
        }
        Err(f) => {
            let first = f.message.lines().next().unwrap_or_default().to_string();
            host.result(&first, Some(json!({ "error": f.message })), &[])
                .await?;
            Err(Failed::of(f.transient, f.message))
        }
    }
}
