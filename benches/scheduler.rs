//! The scheduler's planner over a deep queue: 2,000 waiting jobs (one in seven sharing a lock)
//! behind 4 running ones, as `just bench-queue` runs it — the plan of one pass (ordering,
//! limits, locks, the decisions for every waiting job).

use std::collections::{BTreeMap, HashMap};

use criterion::{Criterion, criterion_group, criterion_main};
use devagents::api::AgentKind;
use devagents::controller::planner::{JobState, JobView, Limits, LockHolder, plan};
use k8s_openapi::jiff::Timestamp;

fn views(waiting: usize, running: usize) -> Vec<JobView> {
    let t0 = Timestamp::from_second(1_800_000_000).expect("time");
    (0..waiting + running)
        .map(|i| JobView {
            key: format!("team/probe-{i:05}"),
            uid: format!("00000000-0000-0000-0000-{i:012}"),
            agent: AgentKind::Probe,
            priority: (i % 3) as i32 * 10,
            created: t0 + std::time::Duration::from_millis(i as u64),
            state: if i < running {
                JobState::Running
            } else {
                JobState::Waiting
            },
            locks: if i % 7 == 0 {
                vec!["team/shared-a".into()]
            } else {
                vec![]
            },
            pending_approval: None,
            not_before: None,
            has_finalizer: true,
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let limits = Limits {
        max_running: 4,
        per_agent: BTreeMap::new(),
    };
    let now = Timestamp::from_second(1_800_000_100).expect("time");
    let locks: HashMap<String, LockHolder> = HashMap::new();
    for n in [500, 2_000] {
        let jobs = views(n, 4);
        c.bench_function(&format!("planner: one pass over {n} waiting jobs"), |b| {
            b.iter(|| plan(&jobs, &locks, &limits, now))
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
