//! One LLM gateway for the whole deployment: every replica serves the agent API, but LLM calls
//! are served by the leader only — a standby forwards them, unchanged (the agent's own token,
//! the same body), to the leader's peer address and streams the answer back. So the rate
//! limit, the token limit and the response cache are the leader's alone: two replicas never
//! allow twice the plan's 50 requests per minute, and identical requests hit one cache.
//!
//! The leader publishes its peer address in the ConfigMap [`LEADER_CONFIGMAP`] when it wins
//! the election; a standby forwards only when that record names the identity that holds the
//! leader Lease now. A forwarded request carries a proof that it comes from a replica (a
//! digest of the serving key every replica holds), so an agent cannot mark its own request
//! as "forwarded" to reach a standby's gateway.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use super::ApiError;

/// Where the leader says it can be reached (operator namespace).
pub use crate::contract::LEADER_CONFIGMAP;
pub use crate::controller::publish::publish_leader;
/// The leader election Lease (operator namespace).
pub const LEADER_LEASE: &str = "devagents-operator-leader";
/// Header of a request one replica forwarded to another.
pub const FORWARDED: &str = "x-devagents-forwarded";

/// A forwarded request's body limit: the same as the endpoint's own.
const BODY_LIMIT: usize = super::BODY_LLM;

pub struct Peers {
    client: kube::Client,
    namespace: String,
    /// This replica's identity (the leader Lease's holder when it leads).
    pub identity: String,
    /// Whether this replica leads now (the controller's `devagents_leader` gauge).
    leading: Arc<crate::controller::metrics::Metrics>,
    /// The agent API's host name as clients know it (TLS verification of a peer).
    api_host: String,
    ca_pem: String,
    /// Proof of a forwarded request: sha256("devagents-forward" ‖ serving key).
    proof: String,
    /// The leader's peer address as last read, and when.
    leader: Mutex<Option<(String, SocketAddr, Instant)>>,
}

impl Peers {
    pub fn new(
        client: kube::Client,
        namespace: String,
        identity: String,
        leading: Arc<crate::controller::metrics::Metrics>,
        api_url: &str,
        ca_pem: String,
        key_der: &[u8],
    ) -> Peers {
        let api_host = host_of(api_url);
        let mut h = Sha256::new();
        h.update(b"devagents-forward");
        h.update(key_der);
        Peers {
            client,
            namespace,
            identity,
            leading,
            api_host,
            ca_pem,
            proof: hex(&h.finalize()),
            leader: Mutex::new(None),
        }
    }

    /// Whether this request must be served here: this replica leads, or another replica
    /// forwarded it (with a valid proof).
    pub fn serve_here(&self, headers: &HeaderMap) -> bool {
        self.leading.is_leader.get() == 1
            || headers
                .get(FORWARDED)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| constant_time_eq(v.as_bytes(), self.proof.as_bytes()))
    }

    /// The leader's peer address: its published record, checked against the Lease holder.
    async fn leader_addr(&self) -> Result<SocketAddr, ApiError> {
        let mut cached = self.leader.lock().await;
        if let Some((_, addr, at)) = cached.as_ref()
            && at.elapsed() < Duration::from_secs(5)
        {
            return Ok(*addr);
        }
        let unavailable = |why: String| {
            ApiError(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("LLM gateway: {why}"),
            )
        };
        let lease = Api::<Lease>::namespaced(self.client.clone(), &self.namespace)
            .get_opt(LEADER_LEASE)
            .await
            .map_err(|e| unavailable(format!("cannot read the leader Lease: {e}")))?;
        let holder = lease
            .and_then(|l| l.spec)
            .and_then(|s| s.holder_identity)
            .filter(|h| !h.is_empty())
            .ok_or_else(|| unavailable("no leader right now; retry".into()))?;
        let data = Api::<ConfigMap>::namespaced(self.client.clone(), &self.namespace)
            .get_opt(LEADER_CONFIGMAP)
            .await
            .map_err(|e| unavailable(format!("cannot read the leader's address: {e}")))?
            .and_then(|c| c.data)
            .unwrap_or_default();
        if data.get("identity") != Some(&holder) {
            return Err(unavailable(format!(
                "the leader {holder} has not published its address yet; retry"
            )));
        }
        let addr: SocketAddr = data
            .get("address")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| unavailable("the leader's address is not an address".into()))?;
        *cached = Some((holder, addr, Instant::now()));
        Ok(addr)
    }

    /// Forward `path` with the caller's headers and body to the leader; its answer (status,
    /// content type, body — streamed) is the caller's.
    pub async fn forward(
        &self,
        path: &str,
        headers: &HeaderMap,
        body: axum::body::Body,
    ) -> Result<Response, ApiError> {
        let addr = self.leader_addr().await?;
        let bytes = axum::body::to_bytes(body, BODY_LIMIT).await.map_err(|_| {
            ApiError(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body is over {BODY_LIMIT} bytes (or was cut off)"),
            )
        })?;
        let ca = reqwest::Certificate::from_pem(self.ca_pem.as_bytes())
            .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        let mut builder = reqwest::Client::builder()
            .add_root_certificate(ca)
            .timeout(Duration::from_secs(600));
        // Verify the leader as the agent API's name, reached at the leader's own address.
        let host = if self.api_host.parse::<std::net::IpAddr>().is_ok() {
            addr.to_string()
        } else {
            builder = builder.resolve(&self.api_host, addr);
            format!("{}:{}", self.api_host, addr.port())
        };
        let http = builder
            .build()
            .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        let mut req = http
            .post(format!("https://{host}{path}"))
            .header(FORWARDED, &self.proof)
            .body(bytes.to_vec());
        for name in [
            axum::http::header::AUTHORIZATION,
            axum::http::header::CONTENT_TYPE,
        ] {
            if let Some(v) = headers.get(&name) {
                req = req.header(name, v);
            }
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                // The leader moved or is gone: read the record again next time.
                *self.leader.lock().await = None;
                return Err(ApiError(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("LLM gateway: the leader did not answer: {e}"),
                ));
            }
        };
        let status =
            StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok());
        // The leader's answer is passed on chunk by chunk (a stream stays a stream).
        let chunks = futures::stream::unfold(resp, |mut r| async move {
            match r.chunk().await {
                Ok(Some(c)) => Some((Ok::<_, reqwest::Error>(c), r)),
                Ok(None) => None,
                Err(e) => Some((Err(e), r)),
            }
        });
        let mut out = (status, axum::body::Body::from_stream(chunks)).into_response();
        if let Some(ct) = content_type {
            out.headers_mut()
                .insert(axum::http::header::CONTENT_TYPE, ct);
        }
        Ok(out)
    }
}

/// The host of an `https://host[:port][/…]` URL.
fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = rest.split('/').next().unwrap_or(rest);
    match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6).to_string(),
        None => authority
            .rsplit_once(':')
            .map(|(h, _)| h)
            .unwrap_or(authority)
            .to_string(),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peers(leading: bool) -> Peers {
        let m = Arc::new(crate::controller::metrics::Metrics::default());
        m.is_leader.set(i64::from(leading));
        let client =
            kube::Client::try_from(kube::Config::new("https://127.0.0.1:1".parse().unwrap()))
                .unwrap();
        Peers::new(
            client,
            "ns".into(),
            "a".into(),
            m,
            "https://devagents-operator.ns.svc:8443",
            String::new(),
            b"the serving key",
        )
    }

    #[tokio::test]
    async fn a_standby_serves_only_requests_a_replica_forwarded() {
        let standby = peers(false);
        assert!(!standby.serve_here(&HeaderMap::new()));
        // An agent marking its own request as forwarded is not believed.
        let mut forged = HeaderMap::new();
        forged.insert(FORWARDED, HeaderValue::from_static("1"));
        assert!(!standby.serve_here(&forged));
        let mut real = HeaderMap::new();
        real.insert(FORWARDED, HeaderValue::from_str(&standby.proof).unwrap());
        assert!(standby.serve_here(&real));
        assert!(peers(true).serve_here(&HeaderMap::new()));
        assert_eq!(standby.api_host, "devagents-operator.ns.svc");
        assert_eq!(host_of("https://127.0.0.1:8443"), "127.0.0.1");
        assert_eq!(host_of("https://[::1]:8443/x"), "::1");
    }
}
