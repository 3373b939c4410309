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

/// The request field that bounds an OpenAI-compatible answer: OpenAI's chat completions
/// take `max_completion_tokens` (reasoning models refuse the deprecated `max_tokens`); some
/// OpenAI-compatible servers (older Ollama, vLLM, llama.cpp releases) know only `max_tokens`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MaxTokensField {
    #[default]
    MaxCompletionTokens,
    MaxTokens,
}

impl MaxTokensField {
    pub fn as_str(self) -> &'static str {
        match self {
            MaxTokensField::MaxCompletionTokens => "max_completion_tokens",
            MaxTokensField::MaxTokens => "max_tokens",
        }
    }
}

impl std::str::FromStr for MaxTokensField {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "max_completion_tokens" => Ok(MaxTokensField::MaxCompletionTokens),
            "max_tokens" => Ok(MaxTokensField::MaxTokens),
            other => Err(format!(
                "{other:?}: max_completion_tokens (OpenAI) or max_tokens (older OpenAI-compatible servers)"
            )),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Provider {
    pub kind: ProviderKind,
    /// `https://api.anthropic.com`, an OpenAI-compatible base URL (with or without the
    /// trailing `/v1`), or a test double.
    pub base_url: String,
    pub api_key: String,
    pub model: String,
    /// OpenAI-compatible endpoints only: the field that carries the output limit.
    pub max_tokens_field: MaxTokensField,
}

impl Provider {
    pub fn new(kind: ProviderKind, base_url: &str, api_key: &str, model: &str) -> Provider {
        Provider {
            kind,
            base_url: base_url.into(),
            api_key: api_key.into(),
            model: model.into(),
            max_tokens_field: MaxTokensField::default(),
        }
    }

    /// The provider's endpoint. The base URL may be given the usual way for either provider
    /// (`https://api.openai.com/v1`, `http://localhost:11434/v1`, `https://api.anthropic.com`)
    /// or without `/v1`: the path gets `/v1` exactly once.
    pub fn endpoint(&self) -> String {
        let base = self.base_url.trim_end_matches('/');
        let base = base.strip_suffix("/v1").unwrap_or(base);
        match self.kind {
            ProviderKind::Anthropic => format!("{base}/v1/messages"),
            ProviderKind::OpenAi => format!("{base}/v1/chat/completions"),
        }
    }
}

/// Anthropic's minimum cacheable prompt length of `model`, in tokens: a shorter prefix marked
/// with `cache_control` is processed without caching (no error, nothing cached).
pub fn min_cacheable_tokens(model: &str) -> u64 {
    let m = model.to_ascii_lowercase();
    if m.contains("opus-4-5") || m.contains("haiku-4-5") {
        4096
    } else if m.contains("haiku") {
        2048
    } else {
        1024
    }
}

/// A rough token count (4 bytes a token) — what the rate limiter and the budget use too.
pub fn estimated_tokens(text: &str) -> u64 {
    text.len() as u64 / 4
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Message {
    pub role: String,
    pub content: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CompletionRequest {
    /// The instructions (short, stable).
    #[serde(default)]
    pub system: Option<String>,
    /// Stable material that follows the instructions and is the same across calls (project
    /// conventions, templates, repository rules): with the instructions it forms the prefix
    /// the provider may cache — marked for Anthropic's prompt caching only when it reaches
    /// the model's minimum cacheable length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    pub messages: Vec<Message>,
    pub max_tokens: u32,
}

impl CompletionRequest {
    /// One user message under a system prompt.
    pub fn user(system: &str, prompt: String, max_tokens: u32) -> CompletionRequest {
        CompletionRequest {
            system: Some(system.into()),
            context: None,
            messages: vec![Message {
                role: "user".into(),
                content: prompt,
            }],
            max_tokens,
        }
    }

    /// The same request with stable `context` after the instructions.
    pub fn with_context(mut self, context: String) -> CompletionRequest {
        self.context = Some(context).filter(|c| !c.is_empty());
        self
    }

    /// Instructions and context, as one text (OpenAI-compatible providers; estimates).
    pub fn system_text(&self) -> Option<String> {
        match (&self.system, &self.context) {
            (None, None) => None,
            (Some(s), None) => Some(s.clone()),
            (None, Some(c)) => Some(c.clone()),
            (Some(s), Some(c)) => Some(format!("{s}\n\n{c}")),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Completion {
    pub text: String,
    /// Every input token: uncached, read from the prompt cache and written to it.
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Input tokens read from the provider's prompt cache.
    pub cached_tokens: u64,
    /// Input tokens written to the provider's prompt cache (Anthropic: billed at 1.25× input).
    #[serde(default)]
    pub cache_write_tokens: u64,
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
    pub cache_write_tokens: u64,
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
    /// The provider stopped before the answer was complete (the output limit, a refusal, a
    /// content filter). Its tokens are spent (the completion carries them, for accounting);
    /// the text is not an answer and is never cached.
    #[error("the provider's answer is incomplete ({reason}): {hint}")]
    Incomplete {
        reason: String,
        hint: String,
        spent: Box<Completion>,
    },
}

/// Why an answer is not complete, from the provider's stop reason (`None`: complete).
pub fn incomplete(kind: ProviderKind, stop: Option<&str>) -> Option<(String, String)> {
    let hint = |h: &str| Some((stop.unwrap_or_default().to_string(), h.to_string()));
    match (kind, stop?) {
        (ProviderKind::Anthropic, "max_tokens") | (ProviderKind::OpenAi, "length") => hint(
            "cut at the output limit (max_tokens or the job's budget); raise it or ask for less",
        ),
        (ProviderKind::Anthropic, "refusal") => hint("the model refused to answer"),
        (ProviderKind::OpenAi, "content_filter") => {
            hint("the provider's content filter withheld the answer")
        }
        (ProviderKind::Anthropic, "model_context_window_exceeded") => {
            hint("the prompt and answer exceed the model's context window")
        }
        _ => None,
    }
}

/// The HTTP status a mid-stream Anthropic `error` event stands for (its `error.type`).
pub fn anthropic_error_status(kind: &str) -> u16 {
    match kind {
        "invalid_request_error" => 400,
        "authentication_error" => 401,
        "billing_error" => 402,
        "permission_error" => 403,
        "not_found_error" => 404,
        "request_too_large" => 413,
        "rate_limit_error" => 429,
        "timeout_error" => 504,
        "overloaded_error" => 529,
        _ => 500,
    }
}

/// A provider answer, read.
#[derive(Debug, Default, PartialEq)]
struct Parsed {
    text: String,
    input: u64,
    output: u64,
    cache_read: u64,
    cache_write: u64,
    stop: Option<String>,
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
                let mut blocks: Vec<serde_json::Value> = [&req.system, &req.context]
                    .into_iter()
                    .flatten()
                    .filter(|t| !t.is_empty())
                    .map(|t| json!({ "type": "text", "text": t }))
                    .collect();
                // A cache breakpoint only where the prefix can be cached: shorter prefixes
                // are processed uncached anyway, and a marker would only claim otherwise.
                if self.prefix_cacheable(req)
                    && let Some(last) = blocks.last_mut()
                {
                    last["cache_control"] = json!({ "type": "ephemeral" });
                }
                if !blocks.is_empty() {
                    b["system"] = json!(blocks);
                }
                b
            }
            ProviderKind::OpenAi => {
                // OpenAI caches prompt prefixes of 1,024 tokens and more by itself: the stable
                // part goes first, nothing to mark.
                let mut msgs = Vec::new();
                if let Some(s) = req.system_text() {
                    msgs.push(json!({ "role": "system", "content": s }));
                }
                msgs.extend(req.messages.iter().map(|m| json!(m)));
                let mut b = json!({ "model": self.provider.model, "messages": msgs });
                b[self.provider.max_tokens_field.as_str()] = json!(req.max_tokens);
                b
            }
        }
    }

    /// Whether the stable prefix (instructions + context) reaches the model's minimum
    /// cacheable length.
    pub fn prefix_cacheable(&self, req: &CompletionRequest) -> bool {
        self.provider.kind == ProviderKind::Anthropic
            && req
                .system_text()
                .is_some_and(|t| estimated_tokens(&t) >= min_cacheable_tokens(&self.provider.model))
    }

    fn parse(&self, v: &serde_json::Value) -> Result<Parsed, LlmError> {
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
                let (read, write) = (
                    n(&u["cache_read_input_tokens"]),
                    n(&u["cache_creation_input_tokens"]),
                );
                Ok(Parsed {
                    text,
                    // Anthropic's input_tokens are the uncached rest of the prompt.
                    input: n(&u["input_tokens"]) + read + write,
                    output: n(&u["output_tokens"]),
                    cache_read: read,
                    cache_write: write,
                    stop: v["stop_reason"].as_str().map(str::to_string),
                })
            }
            ProviderKind::OpenAi => {
                let choice = &v["choices"][0];
                let stop = choice["finish_reason"].as_str().map(str::to_string);
                let text = match choice["message"]["content"].as_str() {
                    Some(t) => t.to_string(),
                    // A refusal or a filtered answer has no content; its stop reason says why.
                    None if stop.is_some() && !choice["message"].is_null() => String::new(),
                    None => {
                        return Err(LlmError::Decode("no choices[0].message.content".into()));
                    }
                };
                let u = &v["usage"];
                Ok(Parsed {
                    text,
                    input: n(&u["prompt_tokens"]),
                    output: n(&u["completion_tokens"]),
                    cache_read: n(&u["prompt_tokens_details"]["cached_tokens"]),
                    cache_write: 0,
                    stop: if choice["message"]["refusal"].is_string() {
                        Some("content_filter".into())
                    } else {
                        stop
                    },
                })
            }
        }
    }

    /// The provider's authentication headers.
    fn auth(&self) -> Vec<(&'static str, String)> {
        match self.provider.kind {
            ProviderKind::Anthropic => vec![
                ("x-api-key", self.provider.api_key.clone()),
                ("anthropic-version", "2023-06-01".into()),
            ],
            ProviderKind::OpenAi => {
                vec![("authorization", format!("Bearer {}", self.provider.api_key))]
            }
        }
    }

    /// POST `body` to the provider under the rate limit, retrying 429/5xx/transport errors
    /// with backoff (honouring `retry-after`); returns the first successful response.
    async fn send(
        &self,
        body: &serde_json::Value,
        estimate: u64,
    ) -> Result<reqwest::Response, LlmError> {
        let (url, auth) = (self.provider.endpoint(), self.auth());
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
        let p = self.parse(&v)?;
        Ok(Some(Completion {
            text: p.text,
            input_tokens: p.input,
            output_tokens: p.output,
            cached_tokens: p.cache_read,
            cache_write_tokens: p.cache_write,
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
        marked: bool,
    ) -> Result<Completion, LlmError> {
        let p = self.parse(&v)?;
        let cost = self.prices.cost(
            &self.provider.model,
            crate::llm::pricing::Tokens {
                input: p.input,
                output: p.output,
                cache_read: p.cache_read,
                cache_write: p.cache_write,
            },
        );
        if let Some(m) = &self.metrics {
            m.answered(
                agent,
                started.elapsed().as_secs_f64(),
                [
                    ("input", p.input),
                    ("output", p.output),
                    ("cached", p.cache_read),
                    ("cache_write", p.cache_write),
                ],
                cost,
            );
            if marked {
                m.prompt_cache(if p.cache_read > 0 {
                    "read"
                } else if p.cache_write > 0 {
                    "write"
                } else {
                    "miss"
                });
            }
        }
        {
            let mut u = self.usage.lock().await;
            let e = u.entry(job.to_string()).or_default();
            e.requests += 1;
            e.input_tokens += p.input;
            e.output_tokens += p.output;
            e.cached_tokens += p.cache_read;
            e.cache_write_tokens += p.cache_write;
            e.cost_usd += cost;
        }
        let c = Completion {
            text: p.text,
            input_tokens: p.input,
            output_tokens: p.output,
            cached_tokens: p.cache_read,
            cache_write_tokens: p.cache_write,
            cost_usd: cost,
            from_cache: false,
        };
        // An incomplete answer is spent but not an answer: never cached, an error.
        if let Some((reason, hint)) = incomplete(self.provider.kind, p.stop.as_deref()) {
            return Err(LlmError::Incomplete {
                reason,
                hint,
                spent: Box::new(c),
            });
        }
        self.cache.put(key, v).await;
        Ok(c)
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
        let marked = self.prefix_cacheable(req);
        self.finish(job, agent, k, v, started, marked).await
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
        let marked = self.prefix_cacheable(req);
        self.finish(job, agent, k, v, started, marked).await
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
    cache_write: u64,
    stop: Option<String>,
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
                    self.cache_write = n(&u["cache_creation_input_tokens"]);
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
                    if let Some(r) = v["delta"]["stop_reason"].as_str() {
                        self.stop = Some(r.to_string());
                    }
                }
                "message_stop" => self.done = true,
                "error" => {
                    // The status the error's type stands for (an overload is 529, a rate
                    // limit 429, an internal error 500, ...).
                    let kind = v["error"]["type"].as_str().unwrap_or_default();
                    return Err(LlmError::Provider(
                        anthropic_error_status(kind),
                        crate::services::redact::redact(&v["error"].to_string()).into_owned(),
                    ));
                }
                _ => {}
            },
            ProviderKind::OpenAi => {
                if let Some(e) = v.get("error") {
                    return Err(LlmError::Provider(
                        500,
                        crate::services::redact::redact(&e.to_string()).into_owned(),
                    ));
                }
                if let Some(r) = v["choices"][0]["finish_reason"].as_str() {
                    self.stop = Some(r.to_string());
                }
                if v["choices"][0]["delta"]["refusal"].is_string() {
                    self.stop = Some("content_filter".into());
                }
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
                "stop_reason": self.stop,
                "usage": { "input_tokens": self.input, "output_tokens": self.output,
                           "cache_read_input_tokens": self.cached,
                           "cache_creation_input_tokens": self.cache_write },
            }),
            ProviderKind::OpenAi => json!({
                "choices": [{ "index": 0, "message": { "role": "assistant", "content": self.text },
                              "finish_reason": self.stop }],
                "usage": { "prompt_tokens": self.input, "completion_tokens": self.output,
                           "prompt_tokens_details": { "cached_tokens": self.cached } },
            }),
        }
    }
}
