//! The agent API's serving certificate (shared by every replica through a Secret) and the
//! HTTPS listener.

use super::*;

/// The serving certificate and key.
#[derive(Clone)]
pub struct Tls {
    pub cert_pem: String,
    cert_der: Vec<u8>,
    pub(crate) key_der: Vec<u8>,
}

impl Tls {
    /// The serving key (DER): every replica holds the same one.
    pub fn key_der(&self) -> &[u8] {
        &self.key_der
    }
}

impl Tls {
    /// A self-signed certificate for local runs (the chart can mount one from a Secret).
    pub fn self_signed(names: &[String]) -> anyhow::Result<Tls> {
        let ck = rcgen::generate_simple_self_signed(names.to_vec())?;
        Ok(Tls {
            cert_pem: ck.cert.pem(),
            cert_der: ck.cert.der().to_vec(),
            key_der: ck.signing_key.serialize_der(),
        })
    }

    /// PEM certificate and PKCS#8 key files.
    pub fn from_files(cert: &std::path::Path, key: &std::path::Path) -> anyhow::Result<Tls> {
        Self::from_pem(
            &std::fs::read_to_string(cert)?,
            &std::fs::read_to_string(key)?,
        )
    }

    pub fn from_pem(cert_pem: &str, key_pem: &str) -> anyhow::Result<Tls> {
        use rustls::pki_types::pem::PemObject;
        let cert_der =
            rustls::pki_types::CertificateDer::from_pem_slice(cert_pem.as_bytes())?.to_vec();
        let key_der = rustls::pki_types::PrivateKeyDer::from_pem_slice(key_pem.as_bytes())?
            .secret_der()
            .to_vec();
        Ok(Tls {
            cert_pem: cert_pem.to_string(),
            cert_der,
            key_der,
        })
    }

    /// The self-signed certificate every replica (and every restart) shares: kept in the
    /// Secret [`TLS_SECRET`] of the operator's namespace, made by whoever comes first.
    pub async fn shared(client: &Client, namespace: &str, names: &[String]) -> anyhow::Result<Tls> {
        let api: Api<k8s_openapi::api::core::v1::Secret> =
            Api::namespaced(client.clone(), namespace);
        for _ in 0..3 {
            if let Some(sec) = api.get_opt(TLS_SECRET).await? {
                let data = sec.data.unwrap_or_default();
                let get = |k: &str| {
                    data.get(k)
                        .map(|b| String::from_utf8_lossy(&b.0).into_owned())
                        .unwrap_or_default()
                };
                return Self::from_pem(&get("tls.crt"), &get("tls.key"));
            }
            let ck = rcgen::generate_simple_self_signed(names.to_vec())?;
            let sec = json!({
                "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                "metadata": { "name": TLS_SECRET, "labels": { MANAGED_BY: MANAGER } },
                "stringData": { "tls.crt": ck.cert.pem(), "tls.key": ck.signing_key.serialize_pem() },
            });
            match api
                .create(&PostParams::default(), &serde_json::from_value(sec)?)
                .await
            {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 409 => {}
                Err(e) => return Err(e.into()),
            }
        }
        anyhow::bail!("could not read or create the agent API certificate Secret")
    }

    pub(super) fn server_config(&self) -> anyhow::Result<rustls::ServerConfig> {
        let key = rustls::pki_types::PrivateKeyDer::try_from(self.key_der.clone())
            .map_err(anyhow::Error::msg)?;
        let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(
            vec![rustls::pki_types::CertificateDer::from(
                self.cert_der.clone(),
            )],
            key,
        )?;
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(cfg)
    }
}

/// Serve `app` over TLS on `addr` until the process ends.
pub async fn serve_tls(addr: SocketAddr, tls: &Tls, app: Router) -> anyhow::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls.server_config()?));
    // SO_REUSEPORT: replicas on one host share the port (the kernel spreads connections), as
    // a Service spreads them over Pods; any replica can answer (handlers read the API live).
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.bind(addr)?;
    let listener = socket.listen(1024)?;
    info!(%addr, "serving the agent API (https)");
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                warn!(error = %e, "accept failed");
                continue;
            }
        };
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let stream = match acceptor.accept(tcp).await {
                Ok(s) => s,
                Err(e) => {
                    debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
            };
            let svc = hyper_util::service::TowerToHyperService::new(app);
            let _ =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
        });
    }
}
