//! Where the run's server comes from: a [`Driver`] per backend, each in its own file
//! (`docker`, `local`, `external`). Everything that differs between backends is a method of
//! the trait; nothing outside this folder asks which backend it is.

use std::time::Duration;

use fixtures_core::Setup;
use futures_util::future::BoxFuture;
use sqlx::PgConnection;

use crate::address::Address;
use crate::error::Error;

mod docker;
mod external;
mod idle;
mod local;

pub use docker::PostgresImage;
pub(crate) use docker::start_image;
pub(crate) use external::{JANITOR, address_of, janitor as sweep_external, redact};
pub(crate) use local::reap as reap_local;

/// Where the server comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A container of the Postgres image (through fixtures-docker).
    Docker,
    /// The machine's Postgres binaries, data on tmpfs.
    Local,
    /// A server given by `FIXTURES_PG_URL`: only databases of our own are created and dropped.
    External,
}

impl Backend {
    /// The backend to use, in the documented order: `FIXTURES_PG_URL` → external;
    /// `FIXTURES_PG_BACKEND=docker|local|external`; else Docker when an engine answers, else
    /// local binaries.
    pub async fn select() -> Result<Backend, Error> {
        Ok(Backend::choose().await?.0)
    }

    /// [`Backend::select`], and whether the choice was automatic (nothing asked for a
    /// backend by name).
    async fn choose() -> Result<(Backend, bool), Error> {
        if std::env::var_os("FIXTURES_PG_URL").is_some() {
            return Ok((Backend::External, false));
        }
        match std::env::var("FIXTURES_PG_BACKEND")
            .ok()
            .as_deref()
            .map(str::trim)
        {
            None | Some("") | Some("auto") => {}
            Some("docker") => return Ok((Backend::Docker, false)),
            Some("local") => return Ok((Backend::Local, false)),
            Some("external") => {
                return Err(Error::Config {
                    setting: "FIXTURES_PG_BACKEND".into(),
                    value: "external".into(),
                    expected: "FIXTURES_PG_URL to be set too (the server to use)".into(),
                });
            }
            Some(other) => {
                return Err(Error::Config {
                    setting: "FIXTURES_PG_BACKEND".into(),
                    value: other.into(),
                    expected: "one of auto, docker, local, external".into(),
                });
            }
        }
        if fixtures_docker::engine_available().await {
            Ok((Backend::Docker, true))
        } else if fixtures_core::flag("FIXTURES_REQUIRE_DOCKER") {
            Err(Error::NoBackend {
                reason: "FIXTURES_REQUIRE_DOCKER is set but no Docker Engine answers".into(),
                hint: "start Docker or point DOCKER_HOST at one".into(),
            })
        } else {
            Ok((Backend::Local, true))
        }
    }

    /// What this backend does, where backends differ.
    pub(crate) fn driver(self) -> &'static dyn Driver {
        match self {
            Backend::Docker => &docker::Docker,
            Backend::Local => &local::Local,
            Backend::External => &external::External,
        }
    }
}

/// Starts (or joins) the run's server on the selected backend.
///
/// Chosen automatically, Docker falls back to the machine's Postgres binaries when the
/// Postgres image is neither present nor pullable (no registry, no network), with one
/// warning line. Asked for by name, it fails, and says which settings pick something else.
pub(crate) async fn start(setup: &Setup) -> Result<(Backend, Started), Error> {
    let (backend, auto) = Backend::choose().await?;
    tracing::info!(?backend, auto, "selected the Postgres backend");
    match backend.driver().start(setup).await {
        Ok(started) => Ok((backend, started)),
        Err(Error::Docker(fixtures_docker::Error::ImageUnavailable { image, .. }))
            if auto && local::available() =>
        {
            let warning = format!(
                "fixtures-postgres: the Postgres image `{image}` is not here and cannot be \
                 pulled: using this machine's Postgres binaries instead (to choose, set \
                 FIXTURES_PG_BACKEND=local or docker, or FIXTURES_POSTGRES_IMAGE)\n"
            );
            use std::io::Write;
            let _ = std::io::stderr().write_all(warning.as_bytes());
            tracing::warn!(%image, "Postgres image unavailable: local backend instead");
            let started = Backend::Local.driver().start(setup).await?;
            Ok((Backend::Local, started))
        }
        Err(Error::Docker(e @ fixtures_docker::Error::ImageUnavailable { .. })) => {
            Err(Error::NoBackend {
                reason: e.to_string(),
                hint: format!(
                    "in your project: set FIXTURES_POSTGRES_IMAGE to a Postgres image you have, \
                     or FIXTURES_PG_BACKEND=local to run this machine's Postgres binaries ({}), \
                     or FIXTURES_PG_URL to use a server you have",
                    if local::available() {
                        "found"
                    } else {
                        "not found: install them, e.g. `apt-get install postgresql`"
                    }
                ),
            })
        }
        Err(e) => Err(e),
    }
}

/// A server as a backend started, found or was given it.
pub(crate) struct Started {
    pub(crate) address: Address,
    /// Found running (another process of the run started it).
    pub(crate) adopted: bool,
    /// Found through the run's note (an earlier process of the run started or adopted it,
    /// and swept).
    pub(crate) joined: bool,
    /// A connection to its maintenance database that found it ready, when the backend
    /// already waited for one.
    pub(crate) ready: Option<PgConnection>,
}

impl Started {
    /// A server this process started or adopted; not yet known to answer.
    pub(crate) fn new(address: Address, adopted: bool) -> Started {
        Started {
            address,
            adopted,
            joined: false,
            ready: None,
        }
    }
}

/// One backend: how the run's server is started or joined, and the policies that follow from
/// whose server it is.
pub(crate) trait Driver: Sync {
    /// Starts the run's server, or joins the one an earlier process of the run started; its
    /// stop is registered on `setup` (the run's owner stops it at the end of the run).
    fn start<'a>(&'a self, setup: &'a Setup) -> BoxFuture<'a, Result<Started, Error>>;

    /// How long to wait for the server to answer.
    fn ready_within(&self) -> Duration {
        Duration::from_secs(60)
    }

    /// The error for a server that did not answer in time.
    fn not_ready(&self, error: Error) -> Error {
        error
    }

    /// Whether the server is ours (started for tests, durability off, thrown away with its
    /// data): then the framework may change its superuser's password encoding, keeps
    /// templates and prepared clones across runs, and copies files to clone. False for a
    /// server someone gave us, where only databases of our own run are made and left.
    fn is_ours(&self) -> bool {
        true
    }

    /// Removes what killed runs of this backend left outside any server (blocking).
    fn sweep_leftovers(&self) {}

    /// What `CREATE DATABASE … TEMPLATE` adds for a clone on a server of `version`. On our
    /// own servers (fsync off, data on tmpfs) and Postgres ≥ 15, `STRATEGY = FILE_COPY`:
    /// copying the files is about twice as fast as the default, which writes every page of
    /// the template to the WAL (12 vs 21 ms for the examples' 8.5 MB template, measured). Its
    /// checkpoints are cheap without fsync; on a server not ours they are not.
    fn clone_clause(&self, version: &str) -> &'static str {
        let major: u32 = version
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0);
        if self.is_ours() && major >= 15 {
            " STRATEGY = FILE_COPY"
        } else {
            ""
        }
    }

    /// The run's server answered (the run's `pg_server`): what the backend does then, beyond
    /// the process (nothing, by default).
    fn answered(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}
