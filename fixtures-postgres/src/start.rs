//! Starting or joining the run's server: the backend selected, its server found ready, its
//! settings read, and (the run's first process) old databases swept. The [`pg_server`]
//! fixture.

use std::time::Duration;

use fixtures_core::prelude::*;
use sqlx::PgConnection;

use crate::backend::{Backend, Started};
use crate::error::Error;
use crate::ready::wait_ready;
use crate::server::PgServer;

/// Starts (or joins) this run's server; with the connection that found it ready.
async fn start(setup: &Setup) -> Result<(PgServer, PgConnection), Error> {
    fixtures_core::services_allowed("the run's Postgres server")?;
    let (backend, started) = crate::backend::start(setup).await?;
    let found = found(backend, started).await?;
    backend.driver().answered().await;
    Ok(found)
}

/// The server a backend started, joined or was given, once it answers.
async fn found(backend: Backend, started: Started) -> Result<(PgServer, PgConnection), Error> {
    let driver = backend.driver();
    let mut conn = match started.ready {
        Some(conn) => conn,
        None => wait_ready(&started.address, driver.ready_within())
            .await
            .map_err(|e| driver.not_ready(e))?,
    };
    let (superuser, version, max, reserved): (bool, String, i32, i32) = sqlx::query_as(
        "SELECT rolsuper, current_setting('server_version'), \
         current_setting('max_connections')::int, \
         current_setting('superuser_reserved_connections')::int \
           + coalesce(current_setting('reserved_connections', true)::int, 0) \
         FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(&mut conn)
    .await
    .map_err(Error::sql(
        "reading the server's settings",
        &started.address.admin_database,
    ))?;
    // The process that started the server did this for the run.
    if !started.adopted && driver.is_ours() && superuser {
        cheap_auth(&mut conn, &started.address.password).await;
    }
    let limits = (max.max(0) as u32, reserved.max(0) as u32);
    let server = PgServer::new(backend, started.address, superuser, version, limits);
    if !started.joined {
        crate::sweep::at_start(&server, &mut conn).await;
    }
    Ok((server, conn))
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
        crate::sql::quote_literal(password)
    );
    if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut *conn)
        .await
    {
        tracing::debug!("keeping SCRAM authentication: {e}");
    }
}

/// The run's Postgres server (suite scope): started on first use, shared by the whole run
/// (under nextest too), stopped at the end of the run.
#[fixture(scope = suite)]
pub async fn pg_server(setup: &Setup) -> Result<PgServer, Error> {
    let found = start(setup).await?;
    serve(found, setup).await
}

/// A server that runs already, at `url` (`postgres://user:password@host:port/database`, the
/// database being its maintenance one): e.g. the Postgres service of a compose file
/// ([`fixtures_docker::Compose`]). The framework treats it as a server that is not its own,
/// as one of `FIXTURES_PG_URL`: it creates and drops only databases of its own there, under the
/// same connection budget. Call it from a fixture of your own, in the scope the server lives
/// in; [`Databases`](crate::Databases) then give tests clones, shared databases and restores
/// on it as on the run's server.
///
/// ```no_run
/// use fixtures_postgres::prelude::*;
/// use fixtures_postgres::Error;
///
/// #[fixture(scope = suite)]
/// async fn app_db_server(setup: &Setup) -> Result<PgServer, Error> {
///     // e.g. from a compose file's `db` service: its address and the file's password.
///     fixtures_postgres::server_at(setup, "postgres://postgres:secret@127.0.0.1:5432/postgres").await
/// }
/// # fn main() {}
/// ```
///
/// # Errors
///
/// [`Error::Config`] for a URL that is not one; [`Error::NoBackend`] when nothing answers
/// there within 30 s or the login is refused.
pub async fn server_at(setup: &Setup, url: &str) -> Result<PgServer, Error> {
    fixtures_core::services_allowed("a connection to the Postgres server given to server_at")?;
    let address = crate::backend::address_of(url, "the URL given to server_at")?;
    let ready = wait_ready(&address, Duration::from_secs(30))
        .await
        .map_err(|e| Error::NoBackend {
            reason: format!(
                "the Postgres server at {} does not answer: {e}",
                crate::backend::redact(url)
            ),
            hint: "check that the service is up (for a compose service: its healthcheck) and \
                   the URL's user, password and database"
                .into(),
        })?;
    let mut started = Started::new(address, false);
    started.ready = Some(ready);
    let found = found(Backend::External, started).await?;
    serve(found, setup).await
}

/// A server of the Postgres image `image` (`name:tag`, e.g. `postgres:13`) in a container for
/// the fixture instance of `setup` — in suite scope one for the run, shared by nextest's
/// processes — with the Docker backend's fast start and guarantees (a password of the run's,
/// loopback only, stopped and removed with the run). The way to run one suite against several
/// server versions, as pytest's `params=`: a suite fixture per version, a test-scope database
/// fixture on each, and `#[rstest]` cases naming the version.
///
/// ```no_run
/// use fixtures_postgres::prelude::*;
/// use fixtures_postgres::Error;
///
/// #[fixture(scope = suite)]
/// async fn pg13(setup: &Setup) -> Result<PgServer, Error> {
///     fixtures_postgres::server_of_image(setup, "postgres:13").await
/// }
/// # fn main() {}
/// ```
///
/// # Errors
///
/// As the run's server on the Docker backend: the engine, the image, readiness.
pub async fn server_of_image(setup: &Setup, image: &str) -> Result<PgServer, Error> {
    fixtures_core::services_allowed("a Postgres server of an image of its own")?;
    let started = crate::backend::start_image(setup, image).await?;
    let found = found(Backend::Docker, started).await?;
    serve(found, setup).await
}

/// The found server made the process's: its keeper and budget, its watch of server-wide
/// objects, its drops waited for at its end.
async fn serve(found: (PgServer, PgConnection), setup: &Setup) -> Result<PgServer, Error> {
    let (server, conn) = found;
    // The connection that found the server ready becomes the keeper (with the process's
    // units of the connection budget), before any other of the process's connections.
    let budget = crate::budget::join(
        conn,
        server.connect_options(server.admin_database()),
        server.limits(),
        setup,
    )
    .await?;
    server.set_budget(budget);
    // Registered before the teardowns below, so it runs after them (newest first) and before
    // the keeper's: the idle connections are closed once nothing uses them, before the
    // container goes (see `PgServer::close_idle`).
    let _ = server.admin_pool();
    let close_idle = server.close_idle();
    setup.on_teardown_async("close the idle connections", move || close_idle);
    // Two new connections, opened at once: the admin pool's first, and one kept for the
    // first setup.
    let spare = async {
        if let Ok(conn) = server.admin().await {
            server.recycle(conn).await;
        }
    };
    futures_util::future::join(crate::server_wide::watch(server.admin_pool(), setup), spare).await;
    // Registered after the server's own teardown, so it runs before it.
    setup.on_teardown_async("finish dropping test databases", || {
        crate::drops::done(Duration::from_secs(10))
    });
    Ok(server)
}
