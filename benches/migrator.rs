//! The migrator's pure part on eleven schemas the size of Simple Admin Core's: parse both refs
//! with tree-sitter-go, map to tables, diff, write golang-migrate files; and one round trip
//! on a real PostgreSQL (a throwaway Debian server; fromRef schema, forward, rollback,
//! forward again, each compared with the catalog).

use criterion::{Criterion, criterion_group, criterion_main};
use devagents::agents::migrator::{ent, files, sql, validate};
use devagents::api::MigrationFormat;
use devagents::testing::migrator_cases::core_sized;

fn bench(c: &mut Criterion) {
    let (before, after) = (core_sized(false), core_sized(true));
    c.bench_function("migrator: parse + diff + render, 11 schemas", |b| {
        b.iter(|| {
            let from = ent::schema_of_sources(&before).expect("from");
            let to = ent::schema_of_sources(&after).expect("to");
            let changes = sql::diff(&from, &to);
            let steps = files::steps(&changes, "bench", 20261202000000);
            files::render(MigrationFormat::GolangMigrate, &steps, &[])
        })
    });

    let dir = tempfile::tempdir().expect("tempdir");
    let server = devagents::services::postgres::LocalServer::start(dir.path())
        .expect("PostgreSQL (e2e/install-deps.sh installs it)");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let db = rt
        .block_on(validate::connect(&server.url))
        .expect("connect");
    let from = ent::schema_of_sources(&before).expect("from");
    let to = ent::schema_of_sources(&after).expect("to");
    let steps = files::steps(&sql::diff(&from, &to), "bench", 20261202000000);
    let mut g = c.benchmark_group("migrator: PostgreSQL");
    g.sample_size(10);
    g.bench_function("round trip, 11 schemas", |b| {
        b.iter(|| {
            let r = rt
                .block_on(validate::round_trip(&db, "bench", &from, &to, &steps))
                .expect("round trip");
            assert!(r.ok, "{r:#?}");
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
