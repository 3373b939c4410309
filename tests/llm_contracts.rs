//! The gateway against a provider double that behaves like Anthropic's and OpenAI's published
//! APIs (issue 23): one test per mismatch the old doubles hid.

use std::sync::Arc;
use std::time::Duration;

use devagents::llm::cache::ResponseCache;
use devagents::llm::gateway::{
    CompletionRequest, Gateway, LlmError, MaxTokensField, Provider, ProviderKind,
};
use devagents::llm::limiter::Limiter;
use devagents::llm::pricing::PriceTable;
use devagents::llm::retry::RetryPolicy;
use devagents::testing::llm_doubles::{ProviderDouble, Reply};

fn gateway(p: Provider) -> Gateway {
    Gateway::new(
        p,
        Limiter::per_minute(50, 1_000_000, Duration::from_secs(60)),
        ResponseCache::new(Duration::from_secs(60), 100),
        RetryPolicy {
            max_attempts: 3,
            base: Duration::from_millis(10),
            cap: Duration::from_millis(50),
        },
        PriceTable::default(),
    )
}

fn ask(prompt: &str, max_tokens: u32) -> CompletionRequest {
    CompletionRequest::user(
        "You write Simple Admin Core code.",
        prompt.into(),
        max_tokens,
    )
}

/// What the metrics would have seen.
#[derive(Default)]
struct Seen(std::sync::Mutex<Vec<String>>);
impl devagents::llm::Observer for Seen {
    fn rate_limit_wait(&self, _: f64) {}
    fn cache_hit(&self) {}
    fn answered(&self, _: &str, _: f64, tokens: [(&str, u64); 4], _: f64) {
        for (k, n) in tokens {
            self.0.lock().unwrap().push(format!("{k}={n}"));
        }
    }
    fn prompt_cache(&self, outcome: &str) {
        self.0
            .lock()
            .unwrap()
            .push(format!("prompt_cache={outcome}"));
    }
}

/// Mismatch 3: a base URL ending in `/v1` (how OpenAI, Ollama and vLLM document it) and one
/// without both reach `/v1/chat/completions`; a reasoning model gets `max_completion_tokens`,
/// and the double, like OpenAI, refuses the deprecated `max_tokens` for it.
#[tokio::test]
async fn openai_base_urls_with_or_without_v1_and_the_output_limit_field() {
    let d = ProviderDouble::start("sk-test", vec![Reply::Text("ok".into())])
        .await
        .unwrap();
    for base in [
        format!("{}/v1", d.url),
        format!("{}/v1/", d.url),
        d.url.clone(),
    ] {
        let g = gateway(Provider::new(
            ProviderKind::OpenAi,
            &base,
            "sk-test",
            "o3-mini",
        ));
        let c = g
            .complete("ns/j", "generator", &ask(&base, 100))
            .await
            .unwrap();
        assert_eq!(c.text, "ok", "base URL {base}");
    }
    let bodies: Vec<_> = d.received().into_iter().map(|r| r.body).collect();
    assert_eq!(bodies.len(), 3);
    for b in &bodies {
        assert_eq!(b["max_completion_tokens"], 100, "{b}");
        assert!(b.get("max_tokens").is_none(), "{b}");
    }
    // An old OpenAI-compatible server: max_tokens, as configured. OpenAI itself refuses it.
    let mut p = Provider::new(ProviderKind::OpenAi, &d.url, "sk-test", "o3-mini");
    p.max_tokens_field = MaxTokensField::MaxTokens;
    match gateway(p)
        .complete("ns/j", "generator", &ask("old", 100))
        .await
    {
        Err(LlmError::Provider(400, m)) => assert!(m.contains("max_completion_tokens"), "{m}"),
        other => panic!("the double must refuse max_tokens for a reasoning model: {other:?}"),
    }
    assert!("max_tokens".parse::<MaxTokensField>().is_ok());
    assert!("max_output".parse::<MaxTokensField>().is_err());
}

/// Mismatches 4 and 5: a prefix below the model's minimum is not marked (nothing would be
/// cached); a long stable context is, and the cache write is counted in the tokens, priced at
/// 1.25× input, and reported; the next call reads it.
#[tokio::test]
async fn prompt_caching_is_marked_only_where_it_applies_and_cache_writes_are_paid_for() {
    let d = ProviderDouble::start("k", vec![Reply::Text("answer".into())])
        .await
        .unwrap();
    let seen = Arc::new(Seen::default());
    let g = gateway(Provider::new(
        ProviderKind::Anthropic,
        &d.url,
        "k",
        "claude-sonnet-4-5",
    ))
    .with_metrics(seen.clone());
    // The built-in instructions alone: far below 1,024 tokens, not marked.
    let c = g
        .complete("ns/j", "reviewer", &ask("short", 100))
        .await
        .unwrap();
    assert_eq!((c.cached_tokens, c.cache_write_tokens), (0, 0));
    let first = &d.received()[0].body;
    assert!(
        !first.to_string().contains("cache_control"),
        "a short prefix was marked: {first}"
    );
    assert!(
        !seen
            .0
            .lock()
            .unwrap()
            .iter()
            .any(|s| s.starts_with("prompt_cache"))
    );

    // With the conventions (about 1,500 tokens) as stable context: marked, written, read.
    let conventions = "Handlers live in api/internal/handler/<group>; logic in ... ".repeat(100);
    let long = |q: &str| ask(q, 100).with_context(conventions.clone());
    assert!(g.prefix_cacheable(&long("q")));
    let w = g
        .complete("ns/j", "reviewer", &long("first question"))
        .await
        .unwrap();
    assert!(w.cache_write_tokens > 1024, "{w:?}");
    assert_eq!(w.cached_tokens, 0);
    assert!(
        w.input_tokens > w.cache_write_tokens,
        "input counts every input token: {w:?}"
    );
    let marked = &d.received()[1].body;
    assert_eq!(
        marked["system"][1]["cache_control"]["type"], "ephemeral",
        "{marked}"
    );
    let r = g
        .complete("ns/j", "reviewer", &long("second question"))
        .await
        .unwrap();
    assert_eq!(r.cached_tokens, w.cache_write_tokens, "{r:?}");
    assert_eq!(r.cache_write_tokens, 0);
    // Prices: $3 in, $0.30 cached, cache writes $3.75, $15 out (per million).
    let p = |t: u64, per_m: f64| t as f64 * per_m / 1e6;
    let expect_w = p(w.input_tokens - w.cache_write_tokens, 3.0)
        + p(w.cache_write_tokens, 3.75)
        + p(w.output_tokens, 15.0);
    assert!(
        (w.cost_usd - expect_w).abs() < 1e-12,
        "{} vs {expect_w}",
        w.cost_usd
    );
    assert!(r.cost_usd < w.cost_usd);
    let u = g.usage("ns/j").await;
    assert_eq!(u.cache_write_tokens, w.cache_write_tokens);
    assert_eq!(u.cached_tokens, r.cached_tokens);
    let log = seen.0.lock().unwrap().clone();
    assert!(log.contains(&"prompt_cache=write".to_string()), "{log:?}");
    assert!(log.contains(&"prompt_cache=read".to_string()), "{log:?}");
    assert!(
        log.contains(&format!("cache_write={}", w.cache_write_tokens)),
        "{log:?}"
    );
}

/// Mismatch 8: an answer cut at the output limit, or a refusal, is an error that still
/// carries what it cost, and is never cached (asking again reaches the provider again).
#[tokio::test]
async fn truncated_and_refused_answers_are_errors_and_never_cached() {
    let long = "word ".repeat(400);
    let d = ProviderDouble::start("k", vec![Reply::Text(long.clone())])
        .await
        .unwrap();
    for kind in [ProviderKind::Anthropic, ProviderKind::OpenAi] {
        let g = gateway(Provider::new(kind, &d.url, "k", "claude-sonnet-4-5"));
        let before = d.received().len();
        for _ in 0..2 {
            match g
                .complete("ns/j", "generator", &ask("write a lot", 50))
                .await
            {
                Err(LlmError::Incomplete { reason, spent, .. }) => {
                    assert!(reason == "max_tokens" || reason == "length", "{reason}");
                    assert_eq!(spent.output_tokens, 50);
                    assert!(spent.cost_usd > 0.0);
                }
                other => panic!("{kind:?}: a cut answer must be an error: {other:?}"),
            }
        }
        assert_eq!(
            d.received().len() - before,
            2,
            "{kind:?}: the cut answer was cached"
        );
        assert_eq!(g.usage("ns/j").await.output_tokens, 100);
        // The same question with room for the whole answer is complete.
        let c = g
            .complete("ns/j", "generator", &ask("write a lot", 1000))
            .await
            .unwrap();
        assert_eq!(c.text, long);
        // Streamed, the same holds.
        let s = g
            .stream("ns/j", "generator", &ask("stream a lot", 50), |_| {})
            .await;
        assert!(
            matches!(s, Err(LlmError::Incomplete { .. })),
            "{kind:?}: {s:?}"
        );
    }
    let d = ProviderDouble::start("k", vec![Reply::Refusal("I can't help with that.".into())])
        .await
        .unwrap();
    for kind in [ProviderKind::Anthropic, ProviderKind::OpenAi] {
        let g = gateway(Provider::new(kind, &d.url, "k", "claude-sonnet-4-5"));
        let r = g.complete("ns/j", "generator", &ask("q", 100)).await;
        assert!(
            matches!(&r, Err(LlmError::Incomplete { reason, .. }) if reason == "refusal" || reason == "content_filter"),
            "{kind:?}: {r:?}"
        );
    }
}

/// Mismatch 10 (streams): an `error` event in the middle of a stream keeps its type's status
/// (a rate limit is 429, an overload 529, an internal error 500) instead of always 529.
#[tokio::test]
async fn a_mid_stream_error_keeps_its_status() {
    for (kind, status) in [
        ("rate_limit_error", 429),
        ("overloaded_error", 529),
        ("api_error", 500),
    ] {
        let d = ProviderDouble::start(
            "k",
            vec![Reply::StreamError {
                text: "partial answer".into(),
                kind: kind.into(),
            }],
        )
        .await
        .unwrap();
        let g = gateway(Provider::new(ProviderKind::Anthropic, &d.url, "k", "m"));
        let mut got = String::new();
        match g
            .stream("ns/j", "generator", &ask("q", 100), |t| got.push_str(t))
            .await
        {
            Err(LlmError::Provider(s, m)) => {
                assert_eq!(s, status, "{kind}: {m}");
                assert!(m.contains(kind), "{m}");
            }
            other => panic!("{kind}: {other:?}"),
        }
        assert_eq!(got, "partial answer");
    }
}
