//! The Docker backend: the Postgres image as a suite container, shared by the whole run.

use std::time::Duration;

use fixtures_core::Setup;
use fixtures_core::record::Record;
use fixtures_docker::{ContainerInfo, ContainerSpec, Image, WaitFor};
use futures_util::future::BoxFuture;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};

use super::{Driver, Started};
use crate::address::Address;
use crate::error::Error;
use crate::ready::wait_ready;

/// The Docker backend.
pub(crate) struct Docker;

/// How long a later process of the run gives the noted server to answer before asking the
/// engine (which finds it too, if it runs: a slow answer costs an engine call, not a second
/// server). Short: a server that stopped by itself (see `idle.rs`) does not answer at all.
const JOIN_DEADLINE: Duration = Duration::from_millis(500);

impl Driver for Docker {
    fn start<'a>(&'a self, setup: &'a Setup) -> BoxFuture<'a, Result<Started, Error>> {
        Box::pin(async move {
            // A later process of the run: the server the run's note names, when it answers
            // at once; else start (or adopt) it as the run's first process does.
            if let Some(address) = joined() {
                match wait_ready(&address, JOIN_DEADLINE).await {
                    Ok(conn) => {
                        return Ok(Started {
                            address,
                            adopted: true,
                            joined: true,
                            ready: Some(conn),
                        });
                    }
                    Err(e) => {
                        tracing::info!(
                            "the run's server does not answer at its noted address ({e})"
                        )
                    }
                }
            }
            start(setup).await
        })
    }
}

/// The Postgres image, configured for tests: durability off, a random superuser password,
/// port 5432 published on 127.0.0.1.
///
/// The image is `FIXTURES_POSTGRES_IMAGE` (`name:tag`), by default the official `postgres:15`.
/// Its data directory is made once per image: a derived image holds it, `initdb`'d (see
/// [`ContainerSpec::derive`]); each container unpacks it into tmpfs, sets the run's password
/// in single-user mode (before the server listens) and starts `postgres` directly — no
/// `initdb` and no entrypoint's temporary server at every start. An image without `initdb` on its
/// `PATH` is started through its entrypoint instead (the official image's contract).
#[derive(Debug, Clone)]
pub struct PostgresImage {
    name: String,
    tag: String,
    password: String,
    max_connections: u32,
    /// Seconds without a client after which the server stops itself (0: never).
    idle_stop: u32,
    /// Picked by `FIXTURES_POSTGRES_IMAGE` (an error about it names the variable), not given.
    from_env: bool,
}

/// The derived image's data directory, made by `initdb` once, as one archive: unpacking one
/// file into tmpfs takes ~55 ms where copying the directory's ~1000 files out of the image's
/// layer takes ~460 ms, and a data directory on the layer itself makes every `CREATE
/// DATABASE` ~10× slower (measured, BENCHMARKS.md).
const ARCHIVE: &str = "/var/lib/postgresql/fixtures-data.tar";
/// Where each container unpacks it: in its tmpfs (not the official image's `VOLUME` path
/// itself, whose contents an image cannot hold).
const DATA: &str = "/var/lib/postgresql/data/fixtures";

/// The steps that make the derived image: `initdb` (local connections trusted, as the
/// official image does; TCP by password from any address; 1 MB WAL segments: less to
/// unpack), archived.
fn init_steps() -> String {
    format!(
        "USER postgres\n\
         RUN d=$(mktemp -d) && initdb -D \"$d/data\" -U postgres -E UTF8 --auth-local=trust \
         --auth-host=md5 --wal-segsize=1 --no-sync >/dev/null \
         && echo 'host all all all md5' >> \"$d/data/pg_hba.conf\" \
         && tar -C \"$d/data\" -cf {ARCHIVE} . && rm -rf \"$d\""
    )
}

/// The container's command on the derived image: the data directory unpacked, the password
/// set in single-user mode (before the server listens), then the server itself (`$@`: its
/// settings) — watched (see `idle.rs`) unless `FIXTURES_PG_IDLE_STOP` is 0: this shell stays
/// the container's first process, passes the engine's stop signal on, and ends with the
/// server; the engine then removes the container.
fn run_script() -> String {
    format!(
        "set -e; D=\"$FIXTURES_PG_DATA\"; mkdir -m 700 \"$D\"; \
         tar -C \"$D\" -xf \"$FIXTURES_PG_ARCHIVE\"; \
         printf '%s\\n' \"$FIXTURES_PG_SETUP\" | postgres --single -D \"$D\" -c fsync=off \
         postgres >/dev/null; \
         if [ \"$FIXTURES_PG_IDLE_STOP\" -eq 0 ]; then \
         exec postgres -D \"$D\" -k /tmp -c listen_addresses='*' \"$@\"; fi; \
         {watch}\
         postgres -D \"$D\" -k /tmp -c listen_addresses='*' \"$@\" & pm=$!; \
         trap 'kill -INT $pm 2>/dev/null' INT TERM; set +e; \
         FIXTURES_PG_PSQL=psql watch $pm /tmp 5432 \"$FIXTURES_PG_IDLE_STOP\" & \
         while kill -0 $pm 2>/dev/null; do wait $pm; done",
        watch = super::idle::WATCH
    )
}

impl PostgresImage {
    /// The image named by `FIXTURES_POSTGRES_IMAGE`, or `postgres:15`.
    pub fn from_env(password: String, max_connections: u32) -> PostgresImage {
        PostgresImage {
            from_env: true,
            ..PostgresImage::of(&image_ref(), password, max_connections)
        }
    }

    /// The image `image` (`name:tag`).
    pub fn of(image: &str, password: String, max_connections: u32) -> PostgresImage {
        let image = image.to_owned();
        let (name, tag) = match image.rsplit_once(':') {
            Some((n, t)) if !t.contains('/') => (n.to_owned(), t.to_owned()),
            _ => (image.clone(), "latest".to_owned()),
        };
        PostgresImage {
            name,
            tag,
            password,
            max_connections,
            idle_stop: 0,
            from_env: false,
        }
    }

    /// Stops the server by itself after `seconds` with no client session (0, the default:
    /// never), and the container is then removed by the engine: what ends it when the whole
    /// run was killed at once.
    pub fn idle_stop(mut self, seconds: u32) -> PostgresImage {
        self.idle_stop = seconds;
        self
    }

    /// The server's settings for tests.
    fn settings(&self) -> Vec<String> {
        [
            "fsync=off".to_owned(),
            "synchronous_commit=off".into(),
            "full_page_writes=off".into(),
            format!("max_connections={}", self.max_connections),
            "max_locks_per_transaction=256".into(),
        ]
        .into_iter()
        .flat_map(|s| ["-c".to_owned(), s])
        .collect()
    }

    /// What every start has in common: the image, the port, deadlines, reuse, readiness.
    fn common(&self) -> ContainerSpec {
        let password = self.password.clone();
        // Named after its variable, so that an error about the image says how to pick another.
        let base = if self.from_env {
            ContainerSpec::from_env(IMAGE_VAR, &format!("{}:{}", self.name, self.tag))
        } else {
            ContainerSpec::new(&self.name, &self.tag)
        };
        base.expose(5432)
            .stop_timeout(Duration::from_secs(2))
            .startup_timeout(Duration::from_secs(90))
            // With `FIXTURES_REUSE=1` the server outlives the run and the next run adopts it,
            // templates included (see the crate docs).
            .reuse(true)
            // The server's own word that it listens: the wait follows the log and probes again
            // as soon as it says so, instead of at the next step of its backoff (up to 250 ms
            // late: half the cold start). It is not enough on its own (the entrypoint's
            // temporary server says it too): the query below decides.
            .wait_for(WaitFor::log_line(
                "database system is ready to accept connections",
            ))
            .wait_for(WaitFor::custom("SELECT 1", move |info: ContainerInfo| {
                let password = password.clone();
                async move {
                    let port = info.host_port(5432).ok_or("port 5432 is not published")?;
                    let opts = PgConnectOptions::new()
                        .host(info.host())
                        .port(port)
                        .username("postgres")
                        .password(&password)
                        .database("postgres");
                    // A real connection and query: the server may log "ready" during the
                    // entrypoint's temporary start, before the final one listens on TCP.
                    let mut c = PgConnection::connect_with(&opts)
                        .await
                        .map_err(|e| e.to_string())?;
                    sqlx::query("SELECT 1")
                        .execute(&mut c)
                        .await
                        .map_err(|e| e.to_string())?;
                    let _ = c.close().await;
                    Ok(())
                }
            }))
    }

    /// Through the image's own entrypoint: `initdb` and a temporary server at every start
    /// (for an image the derived one cannot be made of).
    pub fn entrypoint_spec(&self) -> ContainerSpec {
        self.common()
            .env("POSTGRES_PASSWORD", &self.password)
            .env("POSTGRES_USER", "postgres")
            // md5 for a password stored as md5 (see `start::cheap_auth`), SCRAM until then.
            .env("POSTGRES_HOST_AUTH_METHOD", "md5")
            .cmd(["postgres".to_owned()].into_iter().chain(self.settings()))
            .tmpfs("/var/lib/postgresql/data", "rw,size=2g")
    }
}

impl Image for PostgresImage {
    fn spec(&self) -> ContainerSpec {
        let setup = format!(
            "ALTER ROLE postgres PASSWORD {}",
            crate::sql::quote_literal(&self.password)
        );
        self.common()
            .derive(init_steps())
            .user("postgres")
            .env("FIXTURES_PG_SETUP", setup)
            .env("FIXTURES_PG_DATA", DATA)
            .env("FIXTURES_PG_ARCHIVE", ARCHIVE)
            .tmpfs("/var/lib/postgresql/data", "rw,size=2g")
            .env("FIXTURES_PG_IDLE_STOP", self.idle_stop.to_string())
            // Gone with its server when it stops by itself.
            .auto_remove(self.idle_stop > 0)
            .entrypoint([
                "sh".to_owned(),
                "-c".into(),
                run_script(),
                "postgres".into(),
            ])
            .cmd(self.settings())
    }
}

/// The server's superuser password: random, one per run, shared by the run's processes (a
/// `0600` note in the run's private folder, gone with it), so that a password seen once opens
/// no later run's server. With `FIXTURES_REUSE=1` the server outlives the run and the next run
/// must log in to it: then the password is one per kept server, in the private state folder.
fn password() -> Result<String, Error> {
    let io = |e: std::io::Error| Error::Config {
        setting: "the state folder".into(),
        value: fixtures_core::watchdog::state_dir().display().to_string(),
        expected: format!("a folder private to this user ({e})"),
    };
    let path = if fixtures_core::flag("FIXTURES_REUSE") {
        fixtures_core::watchdog::state_dir_checked()
            .map_err(io)?
            .join("pg-container-password")
    } else {
        fixtures_core::watchdog::run_dir().map_err(io)?;
        fixtures_core::watchdog::run_note("pg-docker-password")
    };
    fixtures_core::secret::kept(&path).map_err(io)
}

/// The Postgres image: `FIXTURES_POSTGRES_IMAGE`, by default `postgres:15`.
fn image_ref() -> String {
    std::env::var(IMAGE_VAR).unwrap_or_else(|_| "postgres:15".into())
}

/// The variable that picks the Postgres image.
const IMAGE_VAR: &str = "FIXTURES_POSTGRES_IMAGE";

/// The file in the run's folder where the process that started (or adopted) the run's
/// container leaves its address for the run's later processes (nextest's): they connect to it
/// without asking the engine, and without sweeping again.
const RUN_MARKER: &str = "pg-docker-server";

/// The run's server as an earlier process of the run left it (same image); `None` when this
/// is the run's first process. The caller checks that it answers.
fn joined() -> Option<Address> {
    // Only a record in a folder no other user could have written is read.
    let note = Record::of_run(RUN_MARKER).read()?;
    let (image, host) = (note.get("image")?, note.get("host")?);
    let port = note.get("port")?.parse().ok()?;
    if image != image_ref() || !plausible_host(host) {
        return None;
    }
    Some(Address::postgres(host.to_owned(), port, password().ok()?))
}

/// Whether a noted address can be our container's: loopback (a published port) or a private
/// network address (the engine's container network); never a name or a public address.
fn plausible_host(host: &str) -> bool {
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => ip.is_loopback() || ip.is_private(),
        Ok(std::net::IpAddr::V6(ip)) => ip.is_loopback() || (ip.segments()[0] & 0xfe00) == 0xfc00,
        Err(_) => false,
    }
}

/// Leaves the server's address for the run's later processes (see [`joined`]).
fn leave_marker(host: &str, port: u16) {
    let port = port.to_string();
    let note = [
        ("image", image_ref()),
        ("host", host.to_owned()),
        ("port", port),
    ];
    let fields: Vec<(&str, &str)> = note.iter().map(|(k, v)| (*k, v.as_str())).collect();
    if let Err(e) = Record::of_run(RUN_MARKER).write(&fields) {
        tracing::debug!("noting the run's server for its later processes: {e}");
    }
}

/// Starts the run's container (or adopts the one another process of the run started, or a
/// kept one with `FIXTURES_REUSE=1`) and notes its address for the run's later processes.
async fn start(setup: &Setup) -> Result<Started, Error> {
    let started = start_image(setup, &image_ref()).await?;
    leave_marker(&started.address.host, started.address.port);
    Ok(started)
}

/// Starts a container of `image` for the fixture instance of `setup` (in suite scope: one for
/// the run, found by the run's other processes), or adopts the run's (or a kept) one.
pub(crate) async fn start_image(setup: &Setup, image: &str) -> Result<Started, Error> {
    // The engine first: a run that cannot reach it leaves no folder behind (the password
    // lives in the run's folder).
    fixtures_docker::engine_ready().await?;
    let password = password()?;
    // A server kept for later runs (`FIXTURES_REUSE=1`) outlives its run on purpose.
    let idle_stop = if fixtures_core::flag("FIXTURES_REUSE") {
        0
    } else {
        crate::config::idle_stop()?
    };
    let image = PostgresImage::of(image, password.clone(), crate::config::max_connections()?)
        .idle_stop(idle_stop);
    let container = match fixtures_docker::start(setup, image.spec()).await {
        Err(fixtures_docker::Error::Build { image: base, cause }) => {
            let warning = format!(
                "fixtures-postgres: the Postgres image `{base}` cannot hold a data directory \
                 made once ({cause}); each start runs the image's entrypoint instead (initdb \
                 at every start: ~1.5 s slower)\n"
            );
            use std::io::Write;
            let _ = std::io::stderr().write_all(warning.as_bytes());
            fixtures_docker::start(setup, image.entrypoint_spec()).await?
        }
        started => started?,
    };
    let port = container.host_port(5432).ok_or_else(|| Error::NoBackend {
        reason: "the Postgres container has no published port 5432".into(),
        hint: "check FIXTURES_POSTGRES_IMAGE".into(),
    })?;
    // The container's own address when it answers: no port proxy copying every query.
    let (host, port) = match container.direct_address(5432).await {
        Some(addr) => (addr.ip().to_string(), addr.port()),
        None => (container.host().to_owned(), port),
    };
    tracing::info!(
        id = container.id(),
        %host,
        port,
        adopted = container.adopted(),
        "Postgres container"
    );
    Ok(Started::new(
        Address::postgres(host, port, password),
        container.adopted(),
    ))
}
