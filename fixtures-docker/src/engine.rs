//! The connection to the engine: made once per process and remembered, failures included;
//! and the background runtime all engine work runs on.
//!
//! This is the low level: it knows nothing of what a first use should do (that is
//! `first_use.rs`).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::OnceCell;

use crate::client::Client;
use crate::endpoint::{self, Endpoint};
use crate::error::Error;

/// How long connecting and pinging the engine may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// A connected engine and how to reach what it publishes.
#[derive(Debug)]
pub(crate) struct Engine {
    pub(crate) client: Client,
    pub(crate) endpoint: Endpoint,
    /// Where published ports are reached from here.
    pub(crate) host: String,
    /// Where ports are published on the engine's host.
    pub(crate) bind_ip: String,
}

/// Connects to `endpoint` and checks that it answers, within [`CONNECT_TIMEOUT`].
pub(crate) async fn connect(endpoint: Endpoint, described: &str) -> Result<Engine, Error> {
    let unreachable = |cause: String| Error::EngineUnreachable {
        tried: described.to_owned(),
        cause,
    };
    let client = Client::new(&endpoint).map_err(|e| unreachable(e.to_string()))?;
    let client = match tokio::time::timeout(CONNECT_TIMEOUT, client.handshake()).await {
        Ok(Ok(client)) => client,
        Ok(Err(e)) => return Err(unreachable(e.to_string())),
        Err(_) => {
            return Err(unreachable(format!("no answer within {CONNECT_TIMEOUT:?}")));
        }
    };
    let host = std::env::var("FIXTURES_CONTAINER_HOST")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .unwrap_or_else(|| endpoint.container_host());
    let bind_ip = std::env::var("FIXTURES_DOCKER_BIND_IP")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .unwrap_or_else(|| endpoint.bind_ip().to_owned());
    if bind_ip != "127.0.0.1" {
        tracing::warn!(
            engine = %endpoint.url(),
            bind_ip,
            "ports are published on {bind_ip} of the engine's host, not on its loopback only"
        );
    }
    Ok(Engine {
        client,
        endpoint,
        host,
        bind_ip,
    })
}

/// The process's engine: connected on first use and remembered, failure included, so that
/// 200 tests do not each wait for a missing engine. The crate's entry points get it through
/// `first_use::engine`, which also sweeps leftovers once.
pub(crate) async fn get() -> Result<Arc<Engine>, Error> {
    // Only the text of a failure is kept; each caller gets its own `Error`.
    static ENGINE: OnceCell<Result<Arc<Engine>, (String, String)>> = OnceCell::const_new();
    let remembered = ENGINE
        .get_or_init(|| async {
            let connected = match endpoint::from_env() {
                Ok((endpoint, described)) => connect(endpoint, &described).await,
                Err(e) => Err(e),
            };
            match connected {
                Ok(engine) => {
                    let engine = Arc::new(engine);
                    tracing::debug!(engine = %engine.endpoint.url(), host = %engine.host, "connected to the Docker engine");
                    Ok(engine)
                }
                Err(Error::EngineUnreachable { tried, cause }) => Err((tried, cause)),
                Err(other) => Err(("the Docker engine".to_owned(), other.to_string())),
            }
        })
        .await;
    match remembered {
        Ok(engine) => Ok(engine.clone()),
        Err((tried, cause)) => Err(Error::EngineUnreachable {
            tried: tried.clone(),
            cause: cause.clone(),
        }),
    }
}

/// Runs `fut` on the core's background runtime (which outlives every test's runtime) and
/// waits for it from wherever this is awaited.
pub(crate) async fn background<T, F>(operation: &'static str, fut: F) -> Result<T, Error>
where
    F: Future<Output = Result<T, Error>> + Send + 'static,
    T: Send + 'static,
{
    match fixtures_core::runtime::handle().spawn(fut).await {
        Ok(result) => result,
        Err(e) => Err(Error::Task {
            operation,
            cause: e.to_string(),
        }),
    }
}
