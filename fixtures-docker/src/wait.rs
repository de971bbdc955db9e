//! When a container counts as ready: the public conditions (the polling is in `ready.rs`).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::info::ContainerInfo;

type ProbeFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
type ProbeFn = dyn Fn(ContainerInfo) -> ProbeFuture + Send + Sync;

/// An async readiness check of your own, made with [`WaitFor::custom`].
#[derive(Clone)]
pub struct Probe(Arc<ProbeFn>);

impl Probe {
    pub(crate) fn call(&self, info: ContainerInfo) -> ProbeFuture {
        (self.0)(info)
    }
}

impl fmt::Debug for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Probe(..)")
    }
}

/// A readiness condition. A spec may have several ([`ContainerSpec::wait_for`]); all must
/// pass before one overall deadline ([`ContainerSpec::startup_timeout`]).
///
/// Conditions are polled with exponential backoff (10 ms doubling up to 250 ms), and the
/// container's state is checked on every round: a container that exits fails the start at
/// once, with its exit code and logs. They are checked in the order they were added, and a
/// log line not yet seen holds back the conditions after it: put the service's own "ready"
/// line first, and the probes after it run as soon as it appears (a log line wakes the wait
/// at once), never against a service that does not listen yet.
///
/// [`ContainerSpec::wait_for`]: crate::ContainerSpec::wait_for
/// [`ContainerSpec::startup_timeout`]: crate::ContainerSpec::startup_timeout
///
/// # Examples
///
/// ```
/// use fixtures_docker::WaitFor;
///
/// let conditions = [
///     WaitFor::log_line_times("database system is ready to accept connections", 2),
///     WaitFor::tcp(5432),
///     WaitFor::exec(["pg_isready", "-U", "postgres"]),
///     WaitFor::http(8080, "/health", 200),
///     WaitFor::custom("always", |_info| async { Ok(()) }),
/// ];
/// assert_eq!(conditions.len(), 5);
/// ```
#[non_exhaustive]
#[derive(Debug, Clone)]
pub enum WaitFor {
    /// `text` has appeared in the log (stdout or stderr) at least `times` times.
    LogLine {
        /// The text to look for (within a line).
        text: String,
        /// How many occurrences are needed.
        times: usize,
    },
    /// A TCP connection to the published `port` is accepted (from the test host) and not
    /// closed at once (Docker's port proxy accepts before the service listens).
    Tcp {
        /// The container port (it must be [exposed](crate::ContainerSpec::expose)).
        port: u16,
    },
    /// `cmd` run in the container exits with 0.
    Exec {
        /// The command and its arguments.
        cmd: Vec<String>,
    },
    /// `GET path` on the published `port` answers `status` (HTTP/1.1, from the test host).
    Http {
        /// The container port (it must be exposed).
        port: u16,
        /// The request path.
        path: String,
        /// The expected status code.
        status: u16,
    },
    /// An async probe of your own returns `Ok`.
    Custom {
        /// A name for messages.
        name: String,
        /// The probe.
        probe: Probe,
    },
}

impl WaitFor {
    /// `text` appears in the log once.
    pub fn log_line(text: impl Into<String>) -> Self {
        WaitFor::log_line_times(text, 1)
    }

    /// `text` appears in the log `n` times (e.g. twice for the official Postgres image, whose
    /// temporary init server says "ready" first).
    pub fn log_line_times(text: impl Into<String>, n: usize) -> Self {
        WaitFor::LogLine {
            text: text.into(),
            times: n.max(1),
        }
    }

    /// The published `container_port` accepts TCP connections.
    pub fn tcp(container_port: u16) -> Self {
        WaitFor::Tcp {
            port: container_port,
        }
    }

    /// `cmd` exits with 0 inside the container (the image must contain it).
    pub fn exec<I, S>(cmd: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        WaitFor::Exec {
            cmd: cmd.into_iter().map(Into::into).collect(),
        }
    }

    /// `GET path` on the published `container_port` answers `status`.
    pub fn http(container_port: u16, path: impl Into<String>, status: u16) -> Self {
        WaitFor::Http {
            port: container_port,
            path: path.into(),
            status,
        }
    }

    /// Your own check: ready once `probe` returns `Ok(())`; its `Err` text is reported when
    /// the deadline passes.
    pub fn custom<F, Fut>(name: impl Into<String>, probe: F) -> Self
    where
        F: Fn(ContainerInfo) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        WaitFor::Custom {
            name: name.into(),
            probe: Probe(Arc::new(move |info| Box::pin(probe(info)))),
        }
    }
}

impl fmt::Display for WaitFor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitFor::LogLine { text, times: 1 } => write!(f, "log line {text:?}"),
            WaitFor::LogLine { text, times } => write!(f, "log line {text:?} ×{times}"),
            WaitFor::Tcp { port } => write!(f, "tcp port {port}"),
            WaitFor::Exec { cmd } => write!(f, "exec {cmd:?}"),
            WaitFor::Http { port, path, status } => {
                write!(f, "http GET :{port}{path} → {status}")
            }
            WaitFor::Custom { name, .. } => write!(f, "probe `{name}`"),
        }
    }
}
