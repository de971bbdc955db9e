//! A started container: where to reach it, its logs, commands run in it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::engine::{self, Engine};
use crate::error::Error;
use crate::info::ContainerInfo;

/// How long [`Container::exec`] and [`Container::logs`] may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);
/// How long [`Container::direct_address`] waits for the container's own address to answer.
const DIRECT_TIMEOUT: Duration = Duration::from_millis(250);

/// A running container, as a fixture returns it.
///
/// It holds addresses and ids, not connections: it is `Send + Sync` and usable from any
/// runtime (engine calls run on the fixtures core's background runtime). It is removed by its
/// fixture's teardown (or, for a shared one, by the run's last user), not by `Drop`.
pub struct Container {
    info: ContainerInfo,
    image: String,
    adopted: bool,
    engine: Arc<Engine>,
}

impl Container {
    pub(crate) fn new(
        info: ContainerInfo,
        image: String,
        adopted: bool,
        engine: Arc<Engine>,
    ) -> Self {
        Container {
            info,
            image,
            adopted,
            engine,
        }
    }

    /// The container's id.
    pub fn id(&self) -> &str {
        self.info.id()
    }

    /// The container's name.
    pub fn name(&self) -> &str {
        self.info.name()
    }

    /// The host to connect to: `127.0.0.1` for an engine on a unix socket, `HOST` for
    /// `DOCKER_HOST=tcp://HOST:PORT`.
    pub fn host(&self) -> &str {
        self.info.host()
    }

    /// The host port `container_port` is published on, if it is
    /// ([exposed](crate::ContainerSpec::expose)).
    pub fn host_port(&self, container_port: u16) -> Option<u16> {
        self.info.host_port(container_port)
    }

    /// `host:port` for `container_port`, if it is published.
    pub fn address(&self, container_port: u16) -> Option<String> {
        self.info.address(container_port)
    }

    /// `container_port` at the container's own network address, when the engine runs on this
    /// machine and that address accepts a TCP connection within 250 ms; `None` otherwise (or
    /// with `FIXTURES_DOCKER_DIRECT=0`): use [`Container::address`].
    ///
    /// A published port goes through the engine's port proxy, which copies every byte in a
    /// process of its own; the direct address skips it (for a database, a few milliseconds of
    /// CPU per connection and about half of each query's round trip here).
    pub async fn direct_address(&self, container_port: u16) -> Option<std::net::SocketAddr> {
        if std::env::var("FIXTURES_DOCKER_DIRECT").is_ok_and(|v| v == "0") {
            return None;
        }
        for ip in self.info.network_ips() {
            let Ok(ip) = ip.parse::<std::net::IpAddr>() else {
                continue;
            };
            let addr = std::net::SocketAddr::new(ip, container_port);
            let probe = tokio::time::timeout(DIRECT_TIMEOUT, tokio::net::TcpStream::connect(addr));
            if let Ok(Ok(_)) = probe.await {
                return Some(addr);
            }
        }
        None
    }

    /// The image it runs (`name:tag`).
    pub fn image(&self) -> &str {
        &self.image
    }

    /// What readiness probes get: id, name, host and ports.
    pub fn info(&self) -> ContainerInfo {
        self.info.clone()
    }

    /// True when an existing container (shared by the run's processes, or reused from an
    /// earlier run) was adopted rather than started.
    pub fn adopted(&self) -> bool {
        self.adopted
    }

    /// The last `tail` lines of its stdout and stderr.
    ///
    /// # Errors
    ///
    /// [`Error::Logs`] when the engine cannot give them (within 120 s).
    pub async fn logs(&self, tail: usize) -> Result<String, Error> {
        let engine = self.engine.clone();
        let (id, name) = (self.id().to_owned(), self.name().to_owned());
        engine::background("logs", async move {
            let failed = |cause: String| Error::Logs {
                container: name.clone(),
                cause,
            };
            match tokio::time::timeout(COMMAND_TIMEOUT, engine.client.logs(&id, tail)).await {
                Ok(Ok(text)) => Ok(text),
                Ok(Err(e)) => Err(failed(e.to_string())),
                Err(_) => Err(failed(format!("no answer within {COMMAND_TIMEOUT:?}"))),
            }
        })
        .await
    }

    /// Runs `cmd` in the container and returns its exit code and output (stdout and stderr).
    /// A non-zero exit code is a result, not an error.
    ///
    /// # Errors
    ///
    /// [`Error::Exec`] when the command cannot be run, or does not finish within 120 s.
    pub async fn exec<I, S>(&self, cmd: I) -> Result<(i64, String), Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let cmd: Vec<String> = cmd.into_iter().map(Into::into).collect();
        let engine = self.engine.clone();
        let (id, name) = (self.id().to_owned(), self.name().to_owned());
        engine::background("exec", async move {
            let failed = |cause: String| Error::Exec {
                container: name.clone(),
                cmd: cmd.clone(),
                cause,
            };
            match tokio::time::timeout(COMMAND_TIMEOUT, engine.client.exec(&id, &cmd)).await {
                Ok(Ok(out)) => Ok(out),
                Ok(Err(e)) => Err(failed(e.to_string())),
                Err(_) => Err(failed(format!("did not finish within {COMMAND_TIMEOUT:?}"))),
            }
        })
        .await
    }
}

impl fmt::Debug for Container {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Container")
            .field("id", &self.id())
            .field("name", &self.name())
            .field("image", &self.image)
            .field("host", &self.host())
            .field("ports", self.info.ports())
            .field("adopted", &self.adopted)
            .finish()
    }
}
