//! The gateway's request path: rate limit → cache → provider (with retries) → accounting.
//! Providers: Anthropic's Messages API (the default; the stable system prompt is marked for
//! prompt caching) and any OpenAI-compatible chat-completions endpoint (Ollama, vLLM,
//! llama.cpp server). Agents reach it through the operator, never holding the key.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::Mutex;

use super::cache::{ResponseCache, key};
use super::limiter::{LimitError, Limiter};
use super::pricing::PriceTable;
use super::retry::{RetryPolicy, jitter, retryable};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProviderKind {
    Anthropic,
    OpenAi,
}

#[derive(Clone, Debug)]
pub struct Provider {
    pub kind: ProviderKind,
    /// `https://api.anthropic.com`, an OpenAI-compatible base URL, or a test double.
    pub base_url: String,
    pub api_key: String,
    pub model: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Message {
    pub role: String,
    pub content: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CompletionRequest {
    /// The stable prefix (instructions, project conventions): cached by the provider.
    #[serde(default)]
    pub system: Option<String>,
    pub messages: Vec<Message>,
    pub max_tokens: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Completion {
    pub text: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_tokens: u64,
    pub cost_usd: f64,
    /// Served from the response cache (no provider call, no cost).
    pub from_cache: bool,
}

/// Per-job accounting.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Usage {
    pub requests: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_tokens: u64,
    pub cost_usd: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error(transparent)]
    Limit(#[from] LimitError),
    #[error("provider answered {0}: {1}")]
    Provider(u16, String),
    #[error("provider unreachable: {0}")]
    Transport(String),
    #[error("provider response not understood: {0}")]
    Decode(String),
}

pub struct Gateway {
    http: reqwest::Client,
    pub provider: Provider,
    pub limiter: Limiter,
    pub cache: ResponseCache,
    pub retry: RetryPolicy,
    pub prices: PriceTable,
    usage: Mutex<HashMap<String, Usage>>,
    metrics: Option<std::sync::Arc<crate::controller::metrics::Metrics>>,
}

impl Gateway {
    pub fn new(
        provider: Provider,
        limiter: Limiter,
        cache: ResponseCache,
        retry: RetryPolicy,
        prices: PriceTable,
    ) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(300))
            .build()
            .unwrap_or_default();
        Gateway {
            http,
            provider,
            limiter,
            cache,
            retry,
            prices,
            usage: Mutex::new(HashMap::new()),
            metrics: None,
        }
    }

    /// Report latency, tokens, cost, cache hits and rate-limit waits to these metrics.
    pub fn with_metrics(mut self, m: std::sync::Arc<crate::controller::metrics::Metrics>) -> Self {
        self.metrics = Some(m);
        self
    }

    /// The provider request body.
    fn body(&self, req: &CompletionRequest) -> serde_json::Value {
        match self.provider.kind {
            ProviderKind::Anthropic => {
                let mut b = json!({ "model": self.provider.model, "max_tokens": req.max_tokens, "messages": req.messages });
                if let Some(s) = &req.system {
                    b["system"] = json!([{ "type": "text", "text": s, "cache_control": { "type": "ephemeral" } }]);
                }
                b
            }
            ProviderKind::OpenAi => {
                let mut msgs = Vec::new();
                if let Some(s) = &req.system {
                    msgs.push(json!({ "role": "system", "content": s }));
                }
                msgs.extend(req.messages.iter().map(|m| json!(m)));
                json!({ "model": self.provider.model, "max_tokens": req.max_tokens, "messages": msgs })
            }
        }
    }

    fn parse(&self, v: &serde_json::Value) -> Result<(String, u64, u64, u64), LlmError> {
        let n = |x: &serde_json::Value| x.as_u64().unwrap_or(0);
        match self.provider.kind {
            ProviderKind::Anthropic => {
                let text = v["content"]
                    .as_array()
                    .ok_or_else(|| LlmError::Decode("no content".into()))?
                    .iter()
                    .filter(|c| c["type"] == "text")
                    .filter_map(|c| c["text"].as_str())
                    .collect::<String>();
                let u = &v["usage"];
                let cached = n(&u["cache_read_input_tokens"]);
                Ok((
                    text,
                    n(&u["input_tokens"]) + cached,
                    n(&u["output_tokens"]),
                    cached,
                ))
            }
            ProviderKind::OpenAi => {
                let text = v["choices"][0]["message"]["content"]
                    .as_str()
                    .ok_or_else(|| LlmError::Decode("no choices[0].message.content".into()))?
                    .to_string();
                let u = &v["usage"];
                Ok((
                    text,
                    n(&u["prompt_tokens"]),
                    n(&u["completion_tokens"]),
                    n(&u["prompt_tokens_details"]["cached_tokens"]),
                ))
            }
        }
    }

    /// One completion for `job`: cached, rate-limited, retried, accounted.
    pub async fn complete(
        &self,
        job: &str,
        req: &CompletionRequest,
    ) -> Result<Completion, LlmError> {
        let body = self.body(req);
        let kind = format!("{:?}", self.provider.kind);
        let k = key(&kind, &self.provider.model, &body);
        if let Some(v) = self.cache.get(&k).await {
            if let Some(m) = &self.metrics {
                m.llm_cache_hits.inc();
            }
            let (text, input, output, cached) = self.parse(&v)?;
            return Ok(Completion {
                text,
                input_tokens: input,
                output_tokens: output,
                cached_tokens: cached,
                cost_usd: 0.0,
                from_cache: true,
            });
        }
        // Rough token estimate for the tokens-per-minute limit: 4 characters a token.
        let estimate = body.to_string().len() as u64 / 4 + req.max_tokens as u64;
        let (url, auth): (String, Vec<(&str, String)>) = match self.provider.kind {
            ProviderKind::Anthropic => (
                format!(
                    "{}/v1/messages",
                    self.provider.base_url.trim_end_matches('/')
                ),
                vec![
                    ("x-api-key", self.provider.api_key.clone()),
                    ("anthropic-version", "2023-06-01".into()),
                ],
            ),
            ProviderKind::OpenAi => (
                format!(
                    "{}/v1/chat/completions",
                    self.provider.base_url.trim_end_matches('/')
                ),
                vec![("authorization", format!("Bearer {}", self.provider.api_key))],
            ),
        };
        let mut attempt = 0;
        let v = loop {
            attempt += 1;
            let waited = self.limiter.acquire(estimate).await?;
            let started = std::time::Instant::now();
            if let Some(m) = &self.metrics {
                m.llm_rate_limit_wait.observe(waited.as_secs_f64());
            }
            let mut r = self.http.post(&url).json(&body);
            for (h, val) in &auth {
                r = r.header(*h, val);
            }
            let (status, retry_after, err) = match r.send().await {
                Ok(resp) if resp.status().is_success() => {
                    if let Some(m) = &self.metrics {
                        m.llm_latency.observe(started.elapsed().as_secs_f64());
                    }
                    break resp
                        .json::<serde_json::Value>()
                        .await
                        .map_err(|e| LlmError::Decode(e.to_string()))?;
                }
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let ra = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|h| h.to_str().ok())
                        .map(str::to_string);
                    let text = resp.text().await.unwrap_or_default();
                    (
                        Some(status),
                        ra,
                        LlmError::Provider(
                            status,
                            crate::services::redact::redact(&text).into_owned(),
                        ),
                    )
                }
                Err(e) => (None, None, LlmError::Transport(e.to_string())),
            };
            let again = status.is_none_or(retryable);
            if !again || attempt >= self.retry.max_attempts {
                return Err(err);
            }
            tokio::time::sleep(self.retry.delay(attempt, retry_after.as_deref(), jitter())).await;
        };
        let (text, input, output, cached) = self.parse(&v)?;
        let cost = self
            .prices
            .cost(&self.provider.model, input, output, cached);
        if let Some(m) = &self.metrics {
            use crate::controller::metrics::TokenLabel;
            m.llm_tokens
                .get_or_create(&TokenLabel {
                    kind: "input".into(),
                })
                .inc_by(input);
            m.llm_tokens
                .get_or_create(&TokenLabel {
                    kind: "output".into(),
                })
                .inc_by(output);
            m.llm_tokens
                .get_or_create(&TokenLabel {
                    kind: "cached".into(),
                })
                .inc_by(cached);
            m.llm_cost_usd.inc_by(cost);
        }
        self.cache.put(k, v).await;
        let mut u = self.usage.lock().await;
        let e = u.entry(job.to_string()).or_default();
        e.requests += 1;
        e.input_tokens += input;
        e.output_tokens += output;
        e.cached_tokens += cached;
        e.cost_usd += cost;
        Ok(Completion {
            text,
            input_tokens: input,
            output_tokens: output,
            cached_tokens: cached,
            cost_usd: cost,
            from_cache: false,
        })
    }

    pub async fn usage(&self, job: &str) -> Usage {
        self.usage
            .lock()
            .await
            .get(job)
            .cloned()
            .unwrap_or_default()
    }
}
