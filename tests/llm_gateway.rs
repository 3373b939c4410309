//! The LLM gateway against local test doubles that speak the Anthropic Messages API and the
//! OpenAI chat-completions API (stand-ins for the third-party services; no network).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use devagents::llm::cache::ResponseCache;
use devagents::llm::gateway::{CompletionRequest, Gateway, Message, Provider, ProviderKind};
use devagents::llm::limiter::Limiter;
use devagents::llm::pricing::PriceTable;
use devagents::llm::retry::RetryPolicy;
use serde_json::json;

/// Test double of the Anthropic Messages API: a 429 with retry-after, then a 503, then answers.
async fn anthropic_double(hits: Arc<AtomicUsize>) -> String {
    let app = axum::Router::new().route(
        "/v1/messages",
        post(move |headers: HeaderMap, body: axum::Json<serde_json::Value>| {
            let hits = hits.clone();
            async move {
                assert_eq!(headers["x-api-key"], "test-key");
                assert_eq!(headers["anthropic-version"], "2023-06-01");
                // The stable prefix is marked for prompt caching.
                assert_eq!(body["system"][0]["cache_control"]["type"], "ephemeral");
                match hits.fetch_add(1, Ordering::SeqCst) {
                    0 => (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")], "{\"type\":\"error\"}").into_response(),
                    1 => (StatusCode::SERVICE_UNAVAILABLE, "overloaded").into_response(),
                    _ => axum::Json(json!({
                        "id": "msg_1", "type": "message", "role": "assistant", "model": body["model"],
                        "content": [{"type": "text", "text": "Department has name, parent_id, sort, remark."}],
                        "stop_reason": "end_turn",
                        "usage": {"input_tokens": 1000, "output_tokens": 2000, "cache_read_input_tokens": 500}
                    }))
                    .into_response(),
                }
            }
        }),
    );
    serve(app).await
}

async fn openai_double(hits: Arc<AtomicUsize>) -> String {
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        post(move |headers: HeaderMap, body: axum::Json<serde_json::Value>| {
            let hits = hits.clone();
            async move {
                assert_eq!(headers["authorization"], "Bearer test-key");
                assert_eq!(body["messages"][0]["role"], "system");
                hits.fetch_add(1, Ordering::SeqCst);
                axum::Json(json!({
                    "id": "chatcmpl-1", "object": "chat.completion", "model": body["model"],
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
                }))
            }
        }),
    );
    serve(app).await
}

async fn serve(app: axum::Router) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    format!("http://{addr}")
}

fn gateway(kind: ProviderKind, url: String) -> Gateway {
    Gateway::new(
        Provider {
            kind,
            base_url: url,
            api_key: "test-key".into(),
            model: "claude-sonnet".into(),
        },
        Limiter::per_minute(50, 1_000_000, Duration::from_secs(300)),
        ResponseCache::new(Duration::from_secs(3600), 1000),
        RetryPolicy {
            max_attempts: 5,
            base: Duration::from_millis(50),
            cap: Duration::from_secs(5),
        },
        PriceTable::default(),
    )
}

fn request() -> CompletionRequest {
    CompletionRequest {
        system: Some("You write Simple Admin Core code.".into()),
        messages: vec![Message {
            role: "user".into(),
            content: "Describe Department".into(),
        }],
        max_tokens: 1024,
    }
}

#[tokio::test]
async fn anthropic_429_and_503_are_retried_and_identical_requests_are_cached() {
    let hits = Arc::new(AtomicUsize::new(0));
    let g = gateway(
        ProviderKind::Anthropic,
        anthropic_double(hits.clone()).await,
    );
    let t0 = std::time::Instant::now();
    let c = g.complete("team/job-1", &request()).await.unwrap();
    assert!(
        t0.elapsed() >= Duration::from_secs(1),
        "retry-after: 1 was not honoured"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 3, "429, 503, then success");
    assert_eq!(c.text, "Department has name, parent_id, sort, remark.");
    assert_eq!(
        (c.input_tokens, c.output_tokens, c.cached_tokens),
        (1500, 2000, 500)
    );
    // $3/M for 1000 fresh input, $0.30/M for 500 cached, $15/M for 2000 output.
    assert!((c.cost_usd - (1000.0 * 3.0 + 500.0 * 0.3 + 2000.0 * 15.0) / 1e6).abs() < 1e-12);
    assert!(!c.from_cache);

    let again = g.complete("team/job-1", &request()).await.unwrap();
    assert!(again.from_cache);
    assert_eq!(again.text, c.text);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        3,
        "the identical request reached the provider"
    );
    let u = g.usage("team/job-1").await;
    assert_eq!(
        (u.requests, u.input_tokens, u.output_tokens),
        (1, 1500, 2000)
    );
}

#[tokio::test]
async fn openai_compatible_endpoints_work_too() {
    let hits = Arc::new(AtomicUsize::new(0));
    let g = gateway(ProviderKind::OpenAi, openai_double(hits.clone()).await);
    let c = g.complete("team/job-2", &request()).await.unwrap();
    assert_eq!(
        (c.text.as_str(), c.input_tokens, c.output_tokens),
        ("ok", 10, 5)
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}
