//! A watch on a namespace's Pods, recorded in order: how many were alive at once, and how
//! many Pods were ever created under each name.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};

/// What a watch on the namespace's Pods saw, in order, with the local time it saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub at: Instant,
    pub name: String,
    pub uid: String,
    pub live: bool,
}

#[derive(Clone, Default)]
pub struct PodTrace(Arc<Mutex<Vec<Seen>>>);

impl PodTrace {
    pub fn start(client: &kube::Client, ns: &str) -> PodTrace {
        let trace = PodTrace::default();
        let t = trace.clone();
        let api: Api<Pod> = Api::namespaced(client.clone(), ns);
        tokio::spawn(async move {
            let mut s = watcher(api, watcher::Config::default())
                .default_backoff()
                .boxed();
            // A watch error (the apiserver restarted) is followed by a re-list: keep going.
            while let Some(ev) = s.next().await {
                let Ok(ev) = ev else { continue };
                let (objs, deleted) = match ev {
                    watcher::Event::Apply(p) | watcher::Event::InitApply(p) => (vec![p], false),
                    watcher::Event::Delete(p) => (vec![p], true),
                    _ => continue,
                };
                for p in objs {
                    let phase = p
                        .status
                        .as_ref()
                        .and_then(|s| s.phase.clone())
                        .unwrap_or_default();
                    let live = !deleted && phase != "Succeeded" && phase != "Failed";
                    t.0.lock().unwrap().push(Seen {
                        at: Instant::now(),
                        name: p.metadata.name.clone().unwrap_or_default(),
                        uid: p.metadata.uid.clone().unwrap_or_default(),
                        live,
                    });
                }
            }
        });
        trace
    }

    pub fn events(&self) -> Vec<Seen> {
        self.0.lock().unwrap().clone()
    }

    /// The most Pods that were alive (created, not finished) at the same time.
    pub fn max_live(&self) -> usize {
        self.max_live_of(|_| true)
    }

    /// Pod name → the distinct UIDs ever seen under it (an attempt's Pod name is deterministic).
    pub fn uids_by_name(&self) -> BTreeMap<String, HashSet<String>> {
        let mut m: BTreeMap<String, HashSet<String>> = BTreeMap::new();
        for e in self.events() {
            m.entry(e.name).or_default().insert(e.uid);
        }
        m
    }

    pub fn first_seen(&self, name: &str) -> Option<Instant> {
        self.events()
            .into_iter()
            .find(|e| e.name == name)
            .map(|e| e.at)
    }

    pub fn finished_at(&self, name: &str) -> Option<Instant> {
        self.events()
            .into_iter()
            .find(|e| e.name == name && !e.live)
            .map(|e| e.at)
    }
}

impl PodTrace {
    /// The most Pods alive at the same time among those `include` selects (by Pod name).
    pub fn max_live_of(&self, include: impl Fn(&str) -> bool) -> usize {
        let mut live: HashSet<String> = HashSet::new();
        let mut max = 0;
        for e in self.events().into_iter().filter(|e| include(&e.name)) {
            if e.live {
                live.insert(e.uid.clone());
            } else {
                live.remove(&e.uid);
            }
            max = max.max(live.len());
        }
        max
    }
}
