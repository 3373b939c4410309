//! Scenario tests' apiserver (kube-rs controller-rs's style): a mocked apiserver that serves
//! a script of expected requests in order and fails on any other, and a [`Context`] over it.

use std::collections::HashMap;
use std::sync::Arc;

use http::{Request, Response};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::client::Body;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::config::Config;
use super::metrics::Metrics;
use super::{Context, netpol};

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

/// One request the apiserver expects, and its answer.
#[derive(Clone)]
pub struct Step {
    method: &'static str,
    path: String,
    status: u16,
    reply: Value,
    /// What the request's body must show.
    check: fn(&Value),
}

pub fn step(
    method: &'static str,
    path: &str,
    status: u16,
    reply: Value,
    check: fn(&Value),
) -> Step {
    Step {
        method,
        path: path.to_string(),
        status,
        reply,
        check,
    }
}

pub fn anything(_: &Value) {}

pub fn failure(code: u16, reason: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": reason,
           "reason": reason, "code": code})
}

/// Serve `script` in order; fail on any request beyond it (checked once every client is
/// gone, so after the admission returned).
pub async fn apiserver(mut handle: Handle, script: Vec<Step>) {
    for s in script {
        let (req, send) = handle
            .next_request()
            .await
            .unwrap_or_else(|| panic!("no request; expected {} {}", s.method, s.path));
        assert_eq!(
            (req.method().as_str(), req.uri().path()),
            (s.method, s.path.as_str())
        );
        let body = req.into_body().collect_bytes().await.unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        (s.check)(&v);
        send.send_response(
            Response::builder()
                .status(s.status)
                .body(Body::from(serde_json::to_vec(&s.reply).unwrap()))
                .unwrap(),
        );
    }
    if let Some((req, _)) = handle.next_request().await {
        panic!(
            "an unexpected request: {} {}",
            req.method(),
            req.uri().path()
        );
    }
}

/// What the operator's caches show.
#[derive(Default)]
pub struct Stores {
    pub pods: Vec<Pod>,
    pub leases: Vec<Lease>,
}

fn store<K>(objects: Vec<K>) -> reflector::Store<K>
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    let (reader, mut writer) = reflector::store();
    for o in objects {
        writer.apply_watcher_event(&kube::runtime::watcher::Event::Apply(o));
    }
    reader
}

pub fn context(client: Client, stores: Stores) -> Context {
    Context {
        client: client.clone(),
        cfg: Arc::new(Config::default()),
        jobs: reflector::store().0,
        pods: store(stores.pods),
        leases: store(stores.leases),
        approvals: reflector::store().0,
        metrics: Arc::new(Metrics::default()),
        recorder: Recorder::new(
            client,
            Reporter {
                controller: "devagents-operator".into(),
                instance: None,
            },
        ),
        wake: Arc::default(),
        admitted: Mutex::new(HashMap::new()),
        queue_writes: std::sync::Mutex::new(HashMap::new()),
        queue_write_permits: super::scheduler::queue_write_permits(),
        network_policies: netpol::Applied::default(),
        accounts: std::sync::Mutex::new(HashMap::new()),
        admit_backoff: std::sync::Mutex::new(HashMap::new()),
    }
}
