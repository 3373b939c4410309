//! Rendering a generator module (no LLM, no I/O): the model, every template and the locale
//! edits for the Department example. The target is < 100 ms per module.

use criterion::{Criterion, criterion_group, criterion_main};
use devagents::agents::generator::{i18n, model, render};
use devagents::api::AgentJob;

fn bench(c: &mut Criterion) {
    let text = std::fs::read_to_string("examples/agentjobs/generator.yaml").expect("example");
    let job: AgentJob = serde_yaml::from_str(&text).expect("example job");
    let p = job.spec.generator.expect("generator block");
    let en = "{\n  \"common\": {\n    \"createSuccess\": \"Created successfully\"\n  }\n}\n";
    c.bench_function("generator: render the Department module", |b| {
        b.iter(|| {
            let m = model::module(&p, &p.fields).expect("module");
            let files = render::render(&m, &render::Target::default(), &[], None).expect("render");
            let keys: Vec<(String, String)> = i18n::entries(&m)
                .into_iter()
                .map(|(k, e, _)| (k, e))
                .collect();
            let (locale, _) = i18n::add_keys("en.json", en, &keys).expect("locale");
            (files, locale)
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
