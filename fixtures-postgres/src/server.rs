//! The test server: one per run, from one of three backends behind one type.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, Instant};

use fixtures_core::prelude::*;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};

use crate::error::Error;
use crate::local::{self, LocalServer};

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
        if std::env::var_os("FIXTURES_PG_URL").is_some() {
            return Ok(Backend::External);
        }
        match std::env::var("FIXTURES_PG_BACKEND")
            .ok()
            .as_deref()
            .map(str::trim)
        {
            None | Some("") | Some("auto") => {}
            Some("docker") => return Ok(Backend::Docker),
            Some("local") => return Ok(Backend::Local),
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
            Ok(Backend::Docker)
        } else if fixtures_core::flag("FIXTURES_REQUIRE_DOCKER") {
            Err(Error::NoBackend {
                reason: "FIXTURES_REQUIRE_DOCKER is set but no Docker Engine answers".into(),
                hint: "start Docker or point DOCKER_HOST at one".into(),
            })
        } else {
            Ok(Backend::Local)
        }
    }
}

/// A running Postgres server for the tests: its address and superuser.
///
/// Get it through the [`pg_server`] suite fixture. It is usable from any test's runtime: it
/// holds addresses and credentials, not connections.
#[derive(Debug)]
pub struct PgServer {
    backend: Backend,
    host: String,
    port: u16,
    socket_dir: Option<PathBuf>,
    user: String,
    password: String,
    admin_database: String,
    superuser: bool,
    version: String,
    admin_pool: std::sync::OnceLock<sqlx::PgPool>,
    /// Idle connections to the maintenance database, made on the background runtime: the
    /// one that found the server ready, then the ones given back by setups. A new connection
    /// costs more than most of what a setup does with it (under nextest every process pays
    /// it).
    spare: parking_lot::Mutex<Vec<PgConnection>>,
    /// Found running (another process of the run started it).
    pub(crate) adopted: bool,
    /// Found through the run's marker (Docker backend): an earlier process of the run started
    /// or adopted it, and swept.
    pub(crate) joined: bool,
}

/// Idle admin connections kept by [`PgServer::recycle`].
const SPARE: usize = 2;

impl PgServer {
    /// Which backend runs it.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Its host (for clients outside this process, e.g. `psql`).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Its TCP port on [`PgServer::host`].
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's version string (`SHOW server_version`).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// True when the framework connects as a superuser (always, except maybe external servers).
    pub fn is_superuser(&self) -> bool {
        self.superuser
    }

    /// Connect options for `database`, as the framework's user.
    pub fn connect_options(&self, database: &str) -> PgConnectOptions {
        let opts = PgConnectOptions::new()
            .username(&self.user)
            .password(&self.password)
            .database(database)
            .application_name("fixtures")
            .log_statements(tracing::log::LevelFilter::Trace);
        match &self.socket_dir {
            // The unix socket: no TCP round trips, no TLS negotiation.
            Some(dir) => opts.socket(dir).port(self.port),
            None => opts.host(&self.host).port(self.port),
        }
    }

    /// A `postgres://` URL for `database` (with the password: for tests and `psql`).
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://{}:{}@{}:{}/{}",
            pct(&self.user),
            pct(&self.password),
            self.host,
            self.port,
            pct(database)
        )
    }

    /// A new connection to the server's maintenance database.
    pub async fn admin(&self) -> Result<PgConnection, Error> {
        PgConnection::connect_with(&self.connect_options(&self.admin_database))
            .await
            .map_err(Error::sql("connecting", &self.admin_database))
    }

    /// What `CREATE DATABASE … TEMPLATE` adds for a clone. On our own servers (fsync off,
    /// data on tmpfs) and Postgres ≥ 15, `STRATEGY = FILE_COPY`: copying the files is about
    /// twice as fast as the default, which writes every page of the template to the WAL
    /// (12 vs 21 ms for the examples' 8.5 MB template, measured). Its checkpoints are cheap
    /// without fsync; on an external server they are not, so the default stays there.
    pub(crate) fn clone_clause(&self) -> &'static str {
        let major: u32 = self
            .version
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0);
        if self.backend != Backend::External && major >= 15 {
            " STRATEGY = FILE_COPY"
        } else {
            ""
        }
    }

    /// A connection to the maintenance database for a setup: an idle one of ours, or a new
    /// one. Give it back with [`PgServer::recycle`] when done with it (no lock held, no
    /// transaction open).
    pub(crate) async fn admin_conn(&self) -> Result<PgConnection, Error> {
        let idle = self.spare.lock().pop();
        match idle {
            Some(conn) => Ok(conn),
            None => self.admin().await,
        }
    }

    /// Keeps `conn` (from [`PgServer::admin_conn`]) for the next setup, when it was made on
    /// the background runtime (which outlives every test's runtime) and there is room.
    pub(crate) async fn recycle(&self, conn: PgConnection) {
        let on_background = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.id() == fixtures_core::runtime::handle().id());
        let conn = {
            let mut spare = self.spare.lock();
            if on_background && spare.len() < SPARE {
                spare.push(conn);
                return;
            }
            conn
        };
        let _ = conn.close().await;
    }

    pub(crate) fn admin_database(&self) -> &str {
        &self.admin_database
    }

    pub(crate) fn from_parts(
        backend: Backend,
        host: String,
        port: u16,
        user: String,
        password: String,
    ) -> PgServer {
        PgServer {
            backend,
            host,
            port,
            socket_dir: None,
            user,
            password,
            admin_database: "postgres".into(),
            superuser: true,
            version: String::new(),
            admin_pool: Default::default(),
            spare: Default::default(),
            adopted: false,
            joined: false,
        }
    }

    /// The framework's own small pool on the maintenance database. Lives on the background
    /// runtime: use it only from setups and teardowns (which run there).
    pub(crate) fn admin_pool(&self) -> sqlx::PgPool {
        self.admin_pool
            .get_or_init(|| {
                // Claims and warm-pool refills, next to up to 4 drops in the background.
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(8)
                    .min_connections(0)
                    .acquire_timeout(Duration::from_secs(60))
                    .connect_lazy_with(self.connect_options(&self.admin_database))
            })
            .clone()
    }

    /// Starts (or joins) this run's server. Called by the [`pg_server`] fixture.
    pub(crate) async fn start(setup: &Setup) -> Result<PgServer, Error> {
        let backend = Backend::select().await?;
        tracing::info!(?backend, "selected the Postgres backend");
        let mut server = match backend {
            Backend::External => external()?,
            Backend::Local => start_local(setup).await?,
            Backend::Docker => match crate::container::joined() {
                Some(server) => server,
                None => crate::container::start(setup).await?,
            },
        };
        // A run's marker whose server does not answer at once: start (or adopt) it as the
        // first process of a run does.
        let mut answered = None;
        if server.joined {
            match wait_ready(&server, Duration::from_secs(2)).await {
                Ok(conn) => answered = Some(conn),
                Err(e) => {
                    tracing::info!("the run's server does not answer at its marked address ({e})");
                    server = crate::container::start(setup).await?;
                }
            }
        }
        let mut conn = if let Some(conn) = answered {
            conn
        } else if backend == Backend::External {
            // Nothing of ours to wait for: a server that does not answer soon is misconfigured.
            wait_ready(&server, Duration::from_secs(10))
                .await
                .map_err(|e| Error::NoBackend {
                    reason: format!(
                        "FIXTURES_PG_URL={} does not answer: {e}",
                        redact(&std::env::var("FIXTURES_PG_URL").unwrap_or_default())
                    ),
                    hint: "check the URL (host, port, user, password, database) and that the \
                           server accepts connections; unset FIXTURES_PG_URL to let the \
                           framework start a server of its own"
                        .into(),
                })?
        } else {
            wait_ready(&server, Duration::from_secs(60)).await?
        };
        let (superuser, version): (bool, String) = sqlx::query_as(
            "SELECT rolsuper, current_setting('server_version') FROM pg_roles WHERE rolname = current_user",
        )
        .fetch_one(&mut conn)
        .await
        .map_err(Error::sql("reading the server's settings", &server.admin_database))?;
        server.superuser = superuser;
        server.version = version;
        // The process that started the server did this for the run.
        if !server.adopted && backend != Backend::External && superuser {
            cheap_auth(&mut conn, &server.password).await;
        }
        if !server.joined {
            crate::sweep::at_start(&server, &mut conn).await;
        }
        server.recycle(conn).await;
        Ok(server)
    }
}

/// Stores the superuser's password of a server of ours as md5, once per server.
///
/// A SCRAM-SHA-256 handshake runs 4096 PBKDF2 rounds on the client: ~50 ms of CPU in a debug
/// build, paid by every new connection of every test. md5 costs next to nothing. The server is
/// a throwaway one of this run, with a random password, reachable on the loopback address
/// and a private socket only; its `pg_hba.conf` says `md5`, which also accepts the SCRAM
/// password stored at initdb until this has run. Failures are harmless (connections stay
/// SCRAM): another process of the run may be doing the same.
async fn cheap_auth(conn: &mut PgConnection, password: &str) {
    let stored: Result<bool, _> = sqlx::query_scalar(
        "SELECT coalesce(rolpassword LIKE 'md5%', false) FROM pg_authid WHERE rolname = current_user",
    )
    .fetch_one(&mut *conn)
    .await;
    if matches!(stored, Ok(true)) {
        return;
    }
    let sql = format!(
        "SET password_encryption = 'md5'; ALTER ROLE CURRENT_USER PASSWORD {}; RESET password_encryption",
        crate::catalog::quote_literal(password)
    );
    if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut *conn)
        .await
    {
        tracing::debug!("keeping SCRAM authentication: {e}");
    }
}

fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn external() -> Result<PgServer, Error> {
    let url = std::env::var("FIXTURES_PG_URL").unwrap_or_default();
    let opts = PgConnectOptions::from_str(&url).map_err(|e| Error::Config {
        setting: "FIXTURES_PG_URL".into(),
        value: redact(&url),
        expected: format!("a postgres://user:password@host:port/database URL ({e})"),
    })?;
    Ok(PgServer {
        backend: Backend::External,
        host: opts.get_host().to_owned(),
        port: opts.get_port(),
        socket_dir: None,
        user: opts.get_username().to_owned(),
        password: password_of(&url),
        admin_database: opts.get_database().unwrap_or("postgres").to_owned(),
        superuser: false,
        version: String::new(),
        admin_pool: Default::default(),
        spare: Default::default(),
        adopted: false,
        joined: false,
    })
}

/// The password part of a URL (PgConnectOptions does not give it back).
fn password_of(url: &str) -> String {
    let Some(rest) = url.split_once("://").map(|(_, r)| r) else {
        return String::new();
    };
    let Some((creds, _)) = rest.rsplit_once('@') else {
        return String::new();
    };
    let pw = creds.split_once(':').map(|(_, p)| p).unwrap_or("");
    let mut out = Vec::new();
    let b = pw.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&pw[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn redact(url: &str) -> String {
    match (url.split_once("://"), url.rsplit_once('@')) {
        (Some((scheme, rest)), Some((_, host))) if rest.contains('@') => {
            let user = rest.split([':', '@']).next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}")
        }
        _ => url.to_owned(),
    }
}

async fn start_local(setup: &Setup) -> Result<PgServer, Error> {
    let max = crate::config::max_connections()?;
    let (server, adopted) = tokio::task::spawn_blocking(move || local::find_or_start(max))
        .await
        .map_err(|e| Error::LocalServer {
            step: "starting",
            detail: e.to_string(),
        })??;
    tracing::info!(port = server.port, adopted, "local Postgres server");
    let pg = PgServer {
        backend: Backend::Local,
        host: "127.0.0.1".into(),
        port: server.port,
        socket_dir: Some(server.socket_dir.clone()),
        user: "postgres".into(),
        password: server.password.clone(),
        admin_database: "postgres".into(),
        superuser: true,
        version: String::new(),
        admin_pool: Default::default(),
        spare: Default::default(),
        adopted,
        joined: false,
    };
    stop_with_run(setup, server);
    Ok(pg)
}

/// The server is the run's: the run's owner stops it at its teardown; other processes of the
/// run leave it to the owner's watchdog.
fn stop_with_run(setup: &Setup, server: LocalServer) {
    setup.on_teardown("stop the local Postgres server", move || {
        if server.owner == fixtures_core::watchdog::ProcessRef::current() {
            server.stop();
            local::forget();
        }
    });
}

/// Connects until the server answers `SELECT 1`, with backoff, within `deadline`.
pub(crate) async fn wait_ready(
    server: &PgServer,
    deadline: Duration,
) -> Result<PgConnection, Error> {
    let start = Instant::now();
    let opts = server.connect_options(&server.admin_database);
    let mut delay = Duration::from_millis(5);
    loop {
        // Each attempt within what is left of the deadline: a connection to an address where
        // nothing answers any more can otherwise take the kernel's minutes.
        let left = deadline
            .saturating_sub(start.elapsed())
            .max(Duration::from_millis(100));
        let attempt = async {
            let mut c = PgConnection::connect_with(&opts).await?;
            sqlx::query("SELECT 1").execute(&mut c).await?;
            Ok::<_, sqlx::Error>(c)
        };
        let err = match tokio::time::timeout(left, attempt).await {
            Ok(Ok(c)) => return Ok(c),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {left:?}"),
        };
        if start.elapsed() >= deadline {
            return Err(Error::NotReady {
                address: format!("{}:{}", server.host, server.port),
                waited: start.elapsed(),
                last_error: err,
            });
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(250));
    }
}

/// The run's Postgres server (suite scope): started on first use, shared by the whole run
/// (under nextest too), stopped at the end of the run.
#[fixture(scope = suite)]
pub async fn pg_server(setup: &Setup) -> Result<PgServer, Error> {
    let server = PgServer::start(setup).await?;
    crate::keeper::hold(server.connect_options(server.admin_database()), setup).await?;
    crate::server_wide::watch(server.admin_pool(), setup).await;
    // Registered after the server's own teardown, so it runs before it.
    setup.on_teardown_async("finish dropping test databases", || {
        crate::fresh::drops_done(Duration::from_secs(10))
    });
    Ok(server)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_percent_encode_credentials() {
        assert_eq!(pct("a b@c"), "a%20b%40c");
        assert_eq!(password_of("postgres://u:p%40ss@h:5432/db"), "p@ss");
        assert_eq!(password_of("postgres://u@h/db"), "");
    }

    #[test]
    fn redacted_urls_hide_the_password() {
        assert_eq!(
            redact("postgres://bob:secret@db:5432/app"),
            "postgres://bob:***@db:5432/app"
        );
    }
}
