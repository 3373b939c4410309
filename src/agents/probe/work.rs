//! `probe`: the built-in diagnostic agent. It sleeps, produces a result of a chosen size, and
//! exits with a chosen code. Health checks, tests and the dispatch benchmark run it.

use std::time::Duration;

use crate::api::ProbeParams;

/// What a probe run produced.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeOutcome {
    pub exit_code: i32,
    pub message: String,
    pub result: Vec<u8>,
}

/// A deterministic, incompressible-enough payload of `n` bytes (so size limits are real).
pub fn payload(n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    while out.len() < n {
        // xorshift64*: cheap, deterministic, not constant.
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        let v = x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
        let take = (n - out.len()).min(8);
        out.extend_from_slice(&v[..take]);
    }
    out
}

/// Run the probe as attempt `attempt` (1-based).
pub async fn run(params: &ProbeParams, attempt: i32) -> ProbeOutcome {
    if params.sleep_ms > 0 {
        tokio::time::sleep(Duration::from_millis(params.sleep_ms as u64)).await;
    }
    if attempt <= params.fail_attempts {
        return ProbeOutcome {
            exit_code: crate::contract::EXIT_TRANSIENT,
            message: format!("probe: transient failure on attempt {attempt} as asked"),
            result: Vec::new(),
        };
    }
    let exit_code = params.exit_code;
    let message = params.message.clone().unwrap_or_else(|| {
        if exit_code == 0 {
            format!("probe finished after {} ms", params.sleep_ms)
        } else {
            format!("probe exited with code {exit_code} as asked")
        }
    });
    ProbeOutcome {
        exit_code,
        message,
        result: payload(params.result_bytes.max(0) as usize),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn probe_reports_the_chosen_code_and_size() {
        let out = run(
            &ProbeParams {
                exit_code: 3,
                result_bytes: 1000,
                ..Default::default()
            },
            1,
        )
        .await;
        assert_eq!(out.exit_code, 3);
        assert_eq!(out.result.len(), 1000);
        assert!(out.message.contains("code 3"));
        assert_eq!(payload(17), payload(17));
        assert_ne!(payload(16)[..8], payload(16)[8..16]);
        let flaky = ProbeParams {
            fail_attempts: 2,
            ..Default::default()
        };
        assert_eq!(
            run(&flaky, 2).await.exit_code,
            crate::contract::EXIT_TRANSIENT
        );
        assert_eq!(run(&flaky, 3).await.exit_code, 0);
    }
}
