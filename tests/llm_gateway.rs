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
                // A prefix this short cannot be cached (Anthropic's minimum is 1,024 tokens
                // for this model): it is not marked.
                assert!(body["system"][0].get("cache_control").is_none(), "{:?}", body.0);
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
        Provider::new(kind, &url, "test-key", "claude-sonnet"),
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
        context: None,
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
    let c = g
        .complete("team/job-1", "generator", &request())
        .await
        .unwrap();
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

    let again = g
        .complete("team/job-1", "generator", &request())
        .await
        .unwrap();
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
    let c = g
        .complete("team/job-2", "reviewer", &request())
        .await
        .unwrap();
    assert_eq!(
        (c.text.as_str(), c.input_tokens, c.output_tokens),
        ("ok", 10, 5)
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

/// Anthropic's streaming shape: server-sent events, the text in `content_block_delta`s.
async fn anthropic_streaming_double(hits: Arc<AtomicUsize>) -> String {
    let app = axum::Router::new().route(
        "/v1/messages",
        post(move |body: axum::Json<serde_json::Value>| {
            let hits = hits.clone();
            async move {
                hits.fetch_add(1, Ordering::SeqCst);
                assert_eq!(body["stream"], true);
                let mut sse = String::new();
                let mut ev = |name: &str, data: serde_json::Value| {
                    sse.push_str(&format!("event: {name}\ndata: {data}\n\n"));
                };
                ev("message_start", json!({"type": "message_start", "message": {"id": "msg_s", "type": "message",
                    "role": "assistant", "content": [], "model": body["model"],
                    "usage": {"input_tokens": 40, "output_tokens": 1, "cache_read_input_tokens": 10}}}));
                ev("content_block_start", json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}));
                ev("ping", json!({"type": "ping"}));
                for w in ["Department ", "has ", "a ", "tree."] {
                    ev("content_block_delta", json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": w}}));
                }
                ev("content_block_stop", json!({"type": "content_block_stop", "index": 0}));
                ev("message_delta", json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 12}}));
                ev("message_stop", json!({"type": "message_stop"}));
                // Sent in small pieces, as a network would.
                let pieces: Vec<Result<String, std::convert::Infallible>> = sse
                    .as_bytes()
                    .chunks(37)
                    .map(|c| Ok(String::from_utf8_lossy(c).into_owned()))
                    .collect();
                ([("content-type", "text/event-stream")], axum::body::Body::from_stream(futures::stream::iter(pieces)))
            }
        }),
    );
    serve(app).await
}

#[tokio::test]
async fn anthropic_streams_pass_through_and_are_accounted_and_cached() {
    let hits = Arc::new(AtomicUsize::new(0));
    let g = gateway(
        ProviderKind::Anthropic,
        anthropic_streaming_double(hits.clone()).await,
    );
    let mut deltas = Vec::new();
    let c = g
        .stream("team/job-3", "generator", &request(), |d| {
            deltas.push(d.to_string())
        })
        .await
        .unwrap();
    assert_eq!(deltas, vec!["Department ", "has ", "a ", "tree."]);
    assert_eq!(c.text, "Department has a tree.");
    assert_eq!(
        (c.input_tokens, c.output_tokens, c.cached_tokens),
        (50, 12, 10)
    );
    assert!((c.cost_usd - (40.0 * 3.0 + 10.0 * 0.3 + 12.0 * 15.0) / 1e6).abs() < 1e-12);
    assert_eq!(g.usage("team/job-3").await.requests, 1);
    // The same request again, streamed or not, comes from the cache.
    let again = g
        .complete("team/job-3", "generator", &request())
        .await
        .unwrap();
    assert!(again.from_cache);
    assert_eq!(again.text, c.text);
    let mut one = Vec::new();
    let s = g
        .stream("team/job-3", "generator", &request(), |d| {
            one.push(d.to_string())
        })
        .await
        .unwrap();
    assert!(s.from_cache);
    assert_eq!(one, vec!["Department has a tree."]);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn openai_streams_pass_through() {
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        post(|body: axum::Json<serde_json::Value>| async move {
            assert_eq!(body["stream"], true);
            assert_eq!(body["stream_options"]["include_usage"], true);
            let mut sse = String::new();
            for w in ["o", "k"] {
                sse.push_str(&format!(
                    "data: {}\n\n",
                    json!({"id": "c", "object": "chat.completion.chunk",
                    "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": null}]})
                ));
            }
            sse.push_str(&format!(
                "data: {}\n\n",
                json!({"id": "c", "object": "chat.completion.chunk", "choices": [],
                "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}})
            ));
            sse.push_str("data: [DONE]\n\n");
            ([("content-type", "text/event-stream")], sse)
        }),
    );
    let g = gateway(ProviderKind::OpenAi, serve(app).await);
    let mut deltas = String::new();
    let c = g
        .stream("team/job-4", "reviewer", &request(), |d| deltas.push_str(d))
        .await
        .unwrap();
    assert_eq!(
        (
            deltas.as_str(),
            c.text.as_str(),
            c.input_tokens,
            c.output_tokens
        ),
        ("ok", "ok", 10, 2)
    );
}

/// 120 different requests submitted at once against a limit of 50 per window (the plan's
/// 50/min, with the window shortened to 2 s so the test runs in seconds): all are answered,
/// none early — no window of the provider's own receive times holds more than 50 — and the
/// whole run takes about two windows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_hundred_twenty_requests_at_fifty_per_window_through_the_provider_double() {
    let received = Arc::new(std::sync::Mutex::new(Vec::<std::time::Instant>::new()));
    let r2 = received.clone();
    let app = axum::Router::new().route(
        "/v1/messages",
        post(move |body: axum::Json<serde_json::Value>| {
            let r2 = r2.clone();
            async move {
                r2.lock().unwrap().push(std::time::Instant::now());
                axum::Json(json!({
                    "id": "m", "type": "message", "role": "assistant", "model": body["model"],
                    "content": [{"type": "text", "text": body["messages"][0]["content"]}],
                    "stop_reason": "end_turn", "usage": {"input_tokens": 10, "output_tokens": 5}
                }))
            }
        }),
    );
    let window = Duration::from_secs(2);
    let g = Arc::new(Gateway::new(
        Provider::new(ProviderKind::Anthropic, &serve(app).await, "test-key", "m"),
        Limiter::new(window, 50, 1_000_000, Duration::from_secs(30)),
        ResponseCache::new(Duration::from_secs(3600), 1000),
        RetryPolicy::default(),
        PriceTable::default(),
    ));
    let t0 = std::time::Instant::now();
    let handles: Vec<_> = (0..120)
        .map(|i| {
            let g = g.clone();
            tokio::spawn(async move {
                let mut r = request();
                r.messages[0].content = format!("request {i}");
                g.complete("team/burst", "generator", &r)
                    .await
                    .unwrap()
                    .text
            })
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.await.unwrap(), format!("request {i}"));
    }
    let total = t0.elapsed();
    let mut times = received.lock().unwrap().clone();
    times.sort();
    assert_eq!(times.len(), 120, "every request reached the provider once");
    for (i, t) in times.iter().enumerate() {
        let in_window = times[i..].iter().take_while(|u| **u < *t + window).count();
        assert!(
            in_window <= 50,
            "{in_window} requests within one window from request {i}"
        );
    }
    // 50 at once, 50 after one window, 20 after two.
    assert!(total >= 2 * window, "finished early: {total:?}");
    assert!(
        total < 2 * window + Duration::from_secs(2),
        "took too long: {total:?}"
    );
    assert_eq!(g.usage("team/burst").await.requests, 120);
}
