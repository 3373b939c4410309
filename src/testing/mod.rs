//! Test support (feature `testing`): a real git server on loopback (`git http-backend`) and
//! TEST DOUBLES of the third-party services the agents talk to — GitHub's REST API, Slack
//! incoming webhooks and the Notion API. Used by the tests and the demo; never by the
//! operator or the agents.

#[cfg(feature = "e2e")]
pub mod bench;
pub mod docsync_cases;
pub mod fixtures;
pub mod git_server;
pub mod github_double;
pub mod llm_doubles;
pub mod migrator_cases;
pub mod review_corpus;
pub mod saas_doubles;
pub mod spec_cases;
pub mod testgen_cases;

/// A local HTTP server of the test support, stopped when dropped.
pub struct Served {
    pub addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Served {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serve `app` on a free loopback port.
pub async fn serve(app: axum::Router) -> std::io::Result<Served> {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = l.local_addr()?;
    let task = tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    Ok(Served { addr, task })
}
