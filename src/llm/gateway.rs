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

impl CompletionRequest {
    /// One user message under a system prompt.
    pub fn user(system: &str, prompt: String, max_tokens: u32) -> CompletionRequest {
        CompletionRequest {
            system: Some(system.into()),
            messages: vec![Message {
                role: "user".into(),
                content: prompt,
            }],
            max_tokens,
        }
    }
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
    metrics: Option<std::sync::Arc<dyn super::Observer>>,
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
    pub fn with_metrics(mut self, m: std::sync::Arc<dyn super::Observer>) -> Self {
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

    /// The provider's endpoint and authentication headers.
    fn endpoint(&self) -> (String, Vec<(&'static str, String)>) {
        let base = self.provider.base_url.trim_end_matches('/');
        match self.provider.kind {
            ProviderKind::Anthropic => (
                format!("{base}/v1/messages"),
                vec![
                    ("x-api-key", self.provider.api_key.clone()),
                    ("anthropic-version", "2023-06-01".into()),
                ],
            ),
            ProviderKind::OpenAi => (
                format!("{base}/v1/chat/completions"),
                vec![("authorization", format!("Bearer {}", self.provider.api_key))],
            ),
        }
    }

    /// POST `body` to the provider under the rate limit, retrying 429/5xx/transport errors
    /// with backoff (honouring `retry-after`); returns the first successful response.
    async fn send(
        &self,
        body: &serde_json::Value,
        estimate: u64,
    ) -> Result<reqwest::Response, LlmError> {
        let (url, auth) = self.endpoint();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let permit = self.limiter.acquire(estimate).await?;
            if let Some(m) = &self.metrics {
                m.rate_limit_wait(permit.waited.as_secs_f64());
            }
            let mut r = self.http.post(&url).json(body);
            for (h, val) in &auth {
                r = r.header(*h, val);
            }
            let sent = r.send().await;
            self.limiter.settle(permit);
            let (status, retry_after, err) = match sent {
                Ok(resp) if resp.status().is_success() => return Ok(resp),
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
        }
    }

    /// A cached answer as a completion (no provider call, no cost).
    async fn cached(&self, key: &[u8; 32]) -> Result<Option<Completion>, LlmError> {
        let Some(v) = self.cache.get(key).await else {
            return Ok(None);
        };
        if let Some(m) = &self.metrics {
            m.cache_hit();
        }
        let (text, input, output, cached) = self.parse(&v)?;
        Ok(Some(Completion {
            text,
            input_tokens: input,
            output_tokens: output,
            cached_tokens: cached,
            cost_usd: 0.0,
            from_cache: true,
        }))
    }

    /// Account a provider answer to `job` (and its agent in the metrics), cache it, and
    /// return it as a completion.
    async fn finish(
        &self,
        job: &str,
        agent: &str,
        key: [u8; 32],
        v: serde_json::Value,
        started: std::time::Instant,
    ) -> Result<Completion, LlmError> {
        let (text, input, output, cached) = self.parse(&v)?;
        let cost = self
            .prices
            .cost(&self.provider.model, input, output, cached);
        if let Some(m) = &self.metrics {
            m.answered(
                agent,
                started.elapsed().as_secs_f64(),
                [("input", input), ("output", output), ("cached", cached)],
                cost,
            );
        }
        self.cache.put(key, v).await;
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

    /// The cache key and the tokens-per-minute estimate (4 characters a token) of a request.
    fn key_and_estimate(
        &self,
        body: &serde_json::Value,
        req: &CompletionRequest,
    ) -> ([u8; 32], u64) {
        let kind = format!("{:?}", self.provider.kind);
        let k = key(&kind, &self.provider.model, body);
        (k, body.to_string().len() as u64 / 4 + req.max_tokens as u64)
    }

    /// One completion for `job` of `agent`: cached, rate-limited, retried, accounted.
    pub async fn complete(
        &self,
        job: &str,
        agent: &str,
        req: &CompletionRequest,
    ) -> Result<Completion, LlmError> {
        let body = self.body(req);
        let (k, estimate) = self.key_and_estimate(&body, req);
        if let Some(c) = self.cached(&k).await? {
            return Ok(c);
        }
        let started = std::time::Instant::now();
        let v = self
            .send(&body, estimate)
            .await?
            .json::<serde_json::Value>()
            .await
            .map_err(|e| LlmError::Decode(e.to_string()))?;
        self.finish(job, agent, k, v, started).await
    }

    /// A streamed completion: the provider's text deltas are handed to `on_delta` as they
    /// arrive, then the whole completion is accounted and cached like [`Self::complete`]. A
    /// cached answer arrives as one delta. Failures before the first byte are retried; a
    /// stream that breaks off is an error (a retry would repeat text already passed on).
    pub async fn stream(
        &self,
        job: &str,
        agent: &str,
        req: &CompletionRequest,
        mut on_delta: impl FnMut(&str),
    ) -> Result<Completion, LlmError> {
        let body = self.body(req);
        let (k, estimate) = self.key_and_estimate(&body, req);
        if let Some(c) = self.cached(&k).await? {
            on_delta(&c.text);
            return Ok(c);
        }
        let mut streaming = body.clone();
        streaming["stream"] = json!(true);
        if self.provider.kind == ProviderKind::OpenAi {
            streaming["stream_options"] = json!({ "include_usage": true });
        }
        let started = std::time::Instant::now();
        let mut resp = self.send(&streaming, estimate).await?;
        let mut parser = super::sse::SseParser::default();
        let mut acc = StreamAccumulator::default();
        loop {
            let chunk = resp
                .chunk()
                .await
                .map_err(|e| LlmError::Transport(format!("the stream broke off: {e}")))?;
            let events = match &chunk {
                Some(c) => parser.push(c),
                None => parser.finish().into_iter().collect(),
            };
            for e in events {
                if let Some(d) = acc.apply(self.provider.kind, &e)? {
                    on_delta(&d);
                }
            }
            if chunk.is_none() {
                break;
            }
        }
        if !acc.done {
            return Err(LlmError::Transport(
                "the stream ended before the provider finished the message".into(),
            ));
        }
        let v = acc.into_response(self.provider.kind);
        self.finish(job, agent, k, v, started).await
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

/// What a streamed answer adds up to.
#[derive(Default)]
struct StreamAccumulator {
    text: String,
    input: u64,
    output: u64,
    cached: u64,
    done: bool,
}

impl StreamAccumulator {
    /// Apply one event; returns the text delta it carried.
    fn apply(
        &mut self,
        kind: ProviderKind,
        e: &super::sse::Event,
    ) -> Result<Option<String>, LlmError> {
        let n = |x: &serde_json::Value| x.as_u64().unwrap_or(0);
        if kind == ProviderKind::OpenAi && e.data.trim() == "[DONE]" {
            self.done = true;
            return Ok(None);
        }
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&e.data) else {
            return Ok(None);
        };
        match kind {
            ProviderKind::Anthropic => match v["type"].as_str().unwrap_or_default() {
                "message_start" => {
                    let u = &v["message"]["usage"];
                    self.input = n(&u["input_tokens"]);
                    self.cached = n(&u["cache_read_input_tokens"]);
                    self.output = n(&u["output_tokens"]);
                }
                "content_block_delta" if v["delta"]["type"] == "text_delta" => {
                    let d = v["delta"]["text"].as_str().unwrap_or_default().to_string();
                    self.text.push_str(&d);
                    return Ok(Some(d));
                }
                "message_delta" => {
                    let u = &v["usage"];
                    if !u["output_tokens"].is_null() {
                        self.output = n(&u["output_tokens"]);
                    }
                }
                "message_stop" => self.done = true,
                "error" => {
                    return Err(LlmError::Provider(
                        529,
                        crate::services::redact::redact(&v["error"].to_string()).into_owned(),
                    ));
                }
                _ => {}
            },
            ProviderKind::OpenAi => {
                if let Some(d) = v["choices"][0]["delta"]["content"].as_str() {
                    self.text.push_str(d);
                    if !d.is_empty() {
                        return Ok(Some(d.to_string()));
                    }
                }
                let u = &v["usage"];
                if u.is_object() {
                    self.input = n(&u["prompt_tokens"]);
                    self.output = n(&u["completion_tokens"]);
                    self.cached = n(&u["prompt_tokens_details"]["cached_tokens"]);
                }
            }
        }
        Ok(None)
    }

    /// The answer in the provider's non-streaming shape (what the cache and `parse` hold).
    fn into_response(self, kind: ProviderKind) -> serde_json::Value {
        match kind {
            ProviderKind::Anthropic => json!({
                "type": "message", "role": "assistant",
                "content": [{ "type": "text", "text": self.text }],
                "usage": { "input_tokens": self.input, "output_tokens": self.output,
                           "cache_read_input_tokens": self.cached },
            }),
            ProviderKind::OpenAi => json!({
                "choices": [{ "index": 0, "message": { "role": "assistant", "content": self.text } }],
                "usage": { "prompt_tokens": self.input, "completion_tokens": self.output,
                           "prompt_tokens_details": { "cached_tokens": self.cached } },
            }),
        }
    }
}
