//! The bad-input table: each test is one row. A row starts this test binary again (so that the
//! environment is the row's own) to run an ignored probe test with the bad input, then asserts:
//! the run fails (or, for hostile names, passes), its output names what was wrong and what to
//! do, it ends within the deadline, nothing of its run is left, and data that is not ours is
//! intact.
//!
//! Rows covered elsewhere (not repeated here) are listed in `RELIABILITY.md`.

use std::process::Command;
use std::time::{Duration, Instant};

use fixtures_core::prelude::*;
use fixtures_postgres::{Databases, TestDb, databases};
use reliability::leftovers::Leftovers;
use rstest::rstest;

databases!(
    /// The examples' schema, in every scope.
    pub mod pg = Databases::new().migrator(&examples::MIGRATOR)
);

/// What a probe run did.
#[derive(Debug)]
struct Probe {
    passed: bool,
    output: String,
    elapsed: Duration,
    left: Leftovers,
}

/// Runs the ignored test `probe` of this binary with `env` (on top of a clean environment for
/// the framework's variables), and counts what its run left.
/// One probe at a time, across threads and (under nextest) processes: concurrent local-backend
/// runs hit a race of the local backend's start-up sweep (RELIABILITY.md, finding 1), which is
/// not what these rows are about. The lock is a file in cargo's target tmp dir.
fn one_at_a_time() -> std::fs::File {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("bad-input.lock");
    let file = std::fs::File::create(path).expect("create the lock file");
    file.lock().expect("take the lock");
    file
}

/// The child is a run of its own: none of our settings, and not part of a nextest run (else it
/// would take this process for its run's owner and keep its server until this test ends).
fn clean_env(cmd: &mut Command) {
    for (var, _) in std::env::vars() {
        if var.starts_with("FIXTURES_") || var.starts_with("NEXTEST") || var == "DOCKER_HOST" {
            cmd.env_remove(var);
        }
    }
    let image = std::env::var("FIXTURES_POSTGRES_IMAGE")
        .unwrap_or_else(|_| "fixtures-local/postgres:15".to_owned());
    cmd.env("FIXTURES_POSTGRES_IMAGE", image);
}

fn probe(row: &str, probe: &str, env: &[(&str, &str)]) -> Probe {
    let _turn = one_at_a_time();
    probe_unlocked(row, probe, env)
}

/// [`probe`] for a row that already holds the turn.
fn probe_unlocked(row: &str, probe: &str, env: &[(&str, &str)]) -> Probe {
    let run_id = format!("bad-{row}-{}", std::process::id());
    let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
    cmd.args(["--ignored", "--exact", probe, "--nocapture"]);
    clean_env(&mut cmd);
    cmd.env("FIXTURES_RUN_ID", &run_id)
        .env("FIXTURES_PG_BACKEND", "local");
    for (var, value) in env {
        cmd.env(var, value);
    }
    let start = Instant::now();
    let out = cmd.output().expect("start the probe");
    let elapsed = start.elapsed();
    let (left, _) = Leftovers::settle(&run_id, Duration::from_secs(10));
    Probe {
        passed: out.status.success(),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        elapsed,
        left,
    }
}

/// Asserts a clear failure: not passed, every `needle` in the output (case-insensitive), in time,
/// nothing left.
fn assert_clear_error(p: &Probe, needles: &[&str], deadline: Duration) {
    assert!(!p.passed, "the bad input was accepted:\n{}", p.output);
    let lower = p.output.to_lowercase();
    for n in needles {
        assert!(
            lower.contains(&n.to_lowercase()),
            "the error does not mention {n:?}:\n{}",
            p.output
        );
    }
    assert!(
        p.elapsed < deadline,
        "took {:?} (deadline {deadline:?}):\n{}",
        p.elapsed,
        p.output
    );
    assert_eq!(p.left.total(), 0, "left behind: {}", p.left);
}

// ---- probes (run in child processes only) ----

#[rstest]
#[tokio::test]
#[ignore = "a probe, run by the bad-input rows"]
async fn probe_every_scope(#[from(pg::module_scope::db)] module: Lease<TestDb>) {
    let suite = pg::suite_scope::db::fixture().lease_async().await.unwrap();
    let test = pg::test_scope::db::fixture().lease_async().await.unwrap();
    for d in [&*module, &*suite, &*test] {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
            .fetch_one(&d.pool())
            .await
            .unwrap();
        assert_eq!(n, 0, "{} starts empty", d.name());
    }
}

/// Hostile module names: non-ASCII and 200 characters long (identifiers cannot hold quotes or
/// semicolons; the run id can — see `a_hostile_run_id_is_sanitised`).
mod données_été_ünïcødé {
    use super::*;

    #[rstest]
    #[tokio::test]
    #[ignore = "a probe, run by the bad-input rows"]
    async fn probe(#[from(pg::module_scope::db)] db: Lease<TestDb>) {
        sqlx::query("INSERT INTO users (email, display_name) VALUES ('é@x.test', 'Zoë')")
            .execute(&db.pool())
            .await
            .unwrap();
        assert!(db.name().len() <= 63, "{}", db.name());
    }
}

mod a_very_long_module_name_that_goes_on_and_on_and_on_well_past_the_sixty_three_bytes_postgres_allows_for_an_identifier_so_that_the_database_name_derived_from_it_must_be_shortened_safely_abcdefghij {
    use super::*;

    #[rstest]
    #[tokio::test]
    #[ignore = "a probe, run by the bad-input rows"]
    async fn probe(#[from(pg::module_scope::db)] db: Lease<TestDb>) {
        sqlx::query("INSERT INTO users (email, display_name) VALUES ('l@x.test', 'L')")
            .execute(&db.pool())
            .await
            .unwrap();
        assert!(db.name().len() <= 63, "{}", db.name());
    }
}

// ---- the rows ----

const DEADLINE: Duration = Duration::from_secs(30);

#[test]
fn a_garbage_setup_timeout_is_a_clear_error() {
    let p = probe(
        "setup-timeout",
        "probe_every_scope",
        &[("FIXTURES_SETUP_TIMEOUT", "abc")],
    );
    assert_clear_error(&p, &["FIXTURES_SETUP_TIMEOUT", "abc"], DEADLINE);
}

#[test]
fn a_garbage_teardown_timeout_is_a_clear_error() {
    let p = probe(
        "teardown-timeout",
        "probe_every_scope",
        &[("FIXTURES_TEARDOWN_TIMEOUT", "-5s")],
    );
    assert_clear_error(&p, &["FIXTURES_TEARDOWN_TIMEOUT", "-5s"], DEADLINE);
}

#[test]
fn a_garbage_backend_is_a_clear_error() {
    let p = probe(
        "backend",
        "probe_every_scope",
        &[("FIXTURES_PG_BACKEND", "banana")],
    );
    assert_clear_error(&p, &["FIXTURES_PG_BACKEND", "banana", "docker"], DEADLINE);
}

#[test]
fn a_negative_pool_size_is_a_clear_error() {
    let p = probe(
        "pool-max",
        "probe_every_scope",
        &[("FIXTURES_PG_POOL_MAX", "-1")],
    );
    assert_clear_error(
        &p,
        &["FIXTURES_PG_POOL_MAX", "-1", "whole number"],
        DEADLINE,
    );
}

#[test]
fn a_garbage_warm_count_is_a_clear_error() {
    let p = probe("warm", "probe_every_scope", &[("FIXTURES_PG_WARM", "lots")]);
    assert_clear_error(
        &p,
        &["FIXTURES_PG_WARM", "lots", "whole number from 0 to 64"],
        DEADLINE,
    );
}

/// An external server gets 10 s to answer (it is supposed to be up already).
const EXTERNAL_DEADLINE: Duration = Duration::from_secs(15);

#[test]
fn a_malformed_external_url_is_a_clear_error() {
    let p = probe(
        "url-malformed",
        "probe_every_scope",
        &[("FIXTURES_PG_URL", "not a url at all")],
    );
    assert_clear_error(&p, &["FIXTURES_PG_URL"], DEADLINE);
}

#[test]
fn an_unreachable_external_url_is_a_clear_error() {
    let p = probe(
        "url-unreachable",
        "probe_every_scope",
        &[(
            "FIXTURES_PG_URL",
            "postgres://postgres:secret@127.0.0.1:1/postgres",
        )],
    );
    assert_clear_error(
        &p,
        &[
            "FIXTURES_PG_URL",
            "does not answer",
            "127.0.0.1:1",
            "connection refused",
            "unset FIXTURES_PG_URL",
        ],
        EXTERNAL_DEADLINE,
    );
    assert!(
        !p.output.contains("secret"),
        "the password is printed:\n{}",
        p.output
    );
}

#[test]
fn a_malformed_docker_host_is_a_clear_error() {
    let p = probe(
        "docker-host",
        "probe_every_scope",
        &[
            ("FIXTURES_PG_BACKEND", "docker"),
            ("DOCKER_HOST", "banana://nowhere"),
        ],
    );
    assert_clear_error(&p, &["DOCKER_HOST", "banana://nowhere"], DEADLINE);
}

#[test]
fn hostile_module_names_get_valid_database_names() {
    let p = probe(
        "names",
        "données_été_ünïcødé::probe",
        &[("FIXTURES_PG_BACKEND", "local")],
    );
    assert!(p.passed, "{}", p.output);
    assert_eq!(p.left.total(), 0, "left behind: {}", p.left);
    let p = probe(
        "long-names",
        "a_very_long_module_name_that_goes_on_and_on_and_on_well_past_the_sixty_three_bytes_postgres_allows_for_an_identifier_so_that_the_database_name_derived_from_it_must_be_shortened_safely_abcdefghij::probe",
        &[],
    );
    assert!(p.passed, "{}", p.output);
    assert_eq!(p.left.total(), 0, "left behind: {}", p.left);
}

#[test]
fn a_hostile_run_id_is_sanitised() {
    let _turn = one_at_a_time();
    let run_id = "x'; DROP DATABASE postgres; -- \"é\"";
    let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
    clean_env(&mut cmd);
    cmd.args(["--ignored", "--exact", "probe_every_scope"])
        .env("FIXTURES_RUN_ID", run_id)
        .env("FIXTURES_PG_BACKEND", "local")
        .env_remove("FIXTURES_PG_URL");
    let out = cmd.output().expect("start the probe");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The sanitised id keeps only [A-Za-z0-9_-].
    let (left, _) = Leftovers::settle("xDROPDATABASEpostgres--", Duration::from_secs(10));
    assert_eq!(left.total(), 0, "left behind: {left}");
}

/// The marked test and shared databases of run `run_id` on the server of `admin` (its
/// template and warm clones are counted by [`marked_kinds_of_run`]).
async fn marked_of_run(admin: &mut sqlx::PgConnection, run_id: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT datname::text FROM pg_database \
         WHERE shobj_description(oid, 'pg_database') LIKE 'fixtures-managed %' \
           AND shobj_description(oid, 'pg_database') LIKE '%run=' || $1 || ' %' \
           AND shobj_description(oid, 'pg_database') NOT LIKE '%kind=warm%' \
           AND shobj_description(oid, 'pg_database') NOT LIKE '%kind=template%'",
    )
    .bind(run_id)
    .fetch_all(admin)
    .await
    .unwrap()
}

#[tokio::test]
async fn an_external_url_at_an_unmarked_database_leaves_its_data_intact() {
    use sqlx::Connection;
    // A real server (the run's own) holding a database that is not ours, with data in it.
    let ours = pg::test_scope::db::fixture().lease_async().await.unwrap();
    let precious = format!("precious_{}", std::process::id());
    let mut admin = ours.connect().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE \"{precious}\""
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    let url = ours.url().replacen(ours.name(), &precious, 1);
    let mut theirs = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql("CREATE TABLE users (id int PRIMARY KEY, email text); INSERT INTO users VALUES (1, 'keep@me.test')")
        .execute(&mut theirs)
        .await
        .unwrap();
    theirs.close().await.unwrap();

    // A run pointed at it: module and suite databases are cleaned, test databases dropped —
    // all of them its own, never `precious`.
    let p = probe(
        "external-unmarked",
        "probe_every_scope",
        &[("FIXTURES_PG_URL", &url)],
    );
    let mut theirs = sqlx::PgConnection::connect(&url).await.unwrap();
    let rows: Vec<(i32, String)> = sqlx::query_as("SELECT id, email FROM users")
        .fetch_all(&mut theirs)
        .await
        .unwrap();
    theirs.close().await.unwrap();
    let run_id = format!("bad-external-unmarked-{}", std::process::id());
    let left_at_exit = marked_of_run(&mut admin, &run_id).await;
    // The next run against the same server: its start-up sweep removes what a dead run left.
    let next = probe(
        "external-next",
        "probe_every_scope",
        &[("FIXTURES_PG_URL", &url)],
    );
    let left_after_next = marked_of_run(&mut admin, &run_id).await;
    let next_id = format!("bad-external-next-{}", std::process::id());
    let next_left_at_exit = marked_of_run(&mut admin, &next_id).await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE \"{precious}\" WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    eprintln!(
        "marked databases left at exit: {left_at_exit:?} (next run: {next_left_at_exit:?}); \
         after the next run's sweep: {left_after_next:?}"
    );
    assert_eq!(
        rows,
        vec![(1, "keep@me.test".to_owned())],
        "data not ours was touched"
    );
    assert!(p.passed, "{}", p.output);
    assert!(next.passed, "{}", next.output);
    assert!(
        left_at_exit.is_empty(),
        "databases of the run left: {left_at_exit:?}"
    );
    assert!(
        next_left_at_exit.is_empty(),
        "databases of the next run left: {next_left_at_exit:?}"
    );
    assert!(
        left_after_next.is_empty(),
        "marked databases of the run left after the next run: {left_after_next:?}"
    );
    assert_eq!(p.left.total(), 0, "left behind: {}", p.left);
}

#[test]
fn an_external_url_at_a_port_taken_by_something_else_is_a_clear_error() {
    // A port taken by a service that is not Postgres: it accepts and answers garbage.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::Write;
        for mut conn in listener.incoming().flatten() {
            let _ = conn.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        }
    });
    let url = format!("postgres://postgres:secret@127.0.0.1:{port}/postgres");
    let p = probe(
        "port-taken",
        "probe_every_scope",
        &[("FIXTURES_PG_URL", &url)],
    );
    assert_clear_error(
        &p,
        &[
            "FIXTURES_PG_URL",
            "does not answer",
            &format!("127.0.0.1:{port}"),
        ],
        EXTERNAL_DEADLINE,
    );
    assert!(
        !p.output.contains("secret"),
        "the password is printed:\n{}",
        p.output
    );
}

#[tokio::test]
async fn a_server_refusing_connections_is_a_clear_error() {
    // A role limited to 2 connections (not a superuser: they are exempt), both held: the server
    // refuses the run's connections (`too many connections`, as when `max_connections` is
    // exhausted).
    use sqlx::Connection;
    let ours = pg::test_scope::db::fixture().lease_async().await.unwrap();
    let role = format!("fx_limited_{}", std::process::id());
    let mut admin = ours.connect().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE ROLE \"{role}\" LOGIN CREATEDB PASSWORD 'limited' CONNECTION LIMIT 2"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    // user:password@ → role:limited@
    let full = ours.url();
    let (scheme_end, at) = (full.find("://").unwrap() + 3, full.find('@').unwrap());
    let url = format!("{}{role}:limited{}", &full[..scheme_end], &full[at..]);
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(sqlx::PgConnection::connect(&url).await.unwrap());
    }
    let p = probe(
        "refusing",
        "probe_every_scope",
        &[("FIXTURES_PG_URL", &url)],
    );
    for c in held {
        c.close().await.unwrap();
    }
    // The role and anything it owns go with this run's own server.
    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "REASSIGN OWNED BY \"{role}\" TO CURRENT_USER; DROP ROLE \"{role}\""
    )))
    .execute(&mut admin)
    .await;
    assert_clear_error(
        &p,
        &["too many connections", "FIXTURES_PG_URL", "does not answer"],
        EXTERNAL_DEADLINE,
    );
    assert!(
        !p.output.contains(":limited@"),
        "the password is printed:\n{}",
        p.output
    );
}

// ---- an external server keeps nothing of a finished run (RELIABILITY.md, finding 6) ----

databases!(
    /// A template of its own (the rows' `pg` template belongs to this live process, and a live
    /// run's template is never swept). Its seed makes it unique: under `cargo nextest run
    /// --workspace` the server is shared with other crates' tests, whose migration-less
    /// template would otherwise have the same name and belong to the live outer run.
    pub mod bare = Databases::new().seed(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/external_cache_seed.sql"
    ))
);

/// The kinds of the marked databases of run `run_id` (template, warm, test, shared, kept).
async fn marked_kinds_of_run(admin: &mut sqlx::PgConnection, run_id: &str) -> Vec<String> {
    let marks: Vec<String> = sqlx::query_scalar(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database \
         WHERE shobj_description(oid, 'pg_database') LIKE 'fixtures-managed %' \
           AND shobj_description(oid, 'pg_database') LIKE '%run=' || $1 || ' %' \
         ORDER BY 1",
    )
    .bind(run_id)
    .fetch_all(admin)
    .await
    .unwrap();
    marks
        .iter()
        .filter_map(|m| m.split(' ').find_map(|kv| kv.strip_prefix("kind=")))
        .map(str::to_owned)
        .collect()
}

#[rstest]
#[tokio::test]
#[ignore = "a probe, run by the bad-input rows"]
async fn probe_bare_every_scope(#[from(bare::module_scope::db)] module: Lease<TestDb>) {
    let suite = bare::suite_scope::db::fixture()
        .lease_async()
        .await
        .unwrap();
    let test = bare::test_scope::db::fixture().lease_async().await.unwrap();
    for d in [&*module, &*suite, &*test] {
        let one: i32 = sqlx::query_scalar("SELECT 1")
            .fetch_one(&d.pool())
            .await
            .unwrap();
        assert_eq!(one, 1);
    }
    // The warm clones this run makes in the background exist before it ends (its exit drops
    // them again: the row checks that).
    let deadline = Instant::now() + Duration::from_secs(20);
    let run = fixtures_core::run_id();
    loop {
        let warm: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'fxw\\_%' \
             AND shobj_description(oid, 'pg_database') LIKE '%kind=warm run=' || $1 || ' %'",
        )
        .bind(run)
        .fetch_one(&test.pool())
        .await
        .unwrap();
        if warm > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "no warm clone was made");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_external_server_keeps_no_template_or_warm_clone_of_a_finished_run() {
    use sqlx::Connection;
    // A real server (this run's own), used by two runs as an external one.
    let ours = pg::test_scope::db::fixture().lease_async().await.unwrap();
    let url = ours.url().replacen(ours.name(), "postgres", 1);
    let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
    let pid = std::process::id();

    let first = probe(
        "external-cache-1",
        "probe_bare_every_scope",
        &[("FIXTURES_PG_URL", &url)],
    );
    let first_id = format!("bad-external-cache-1-{pid}");
    // At its exit the run dropped its test, shared and warm databases, and its watchdog its
    // templates (a server that is not ours keeps no caches of ours after a run).
    let at_exit = marked_kinds_of_run(&mut admin, &first_id).await;

    let second = probe(
        "external-cache-2",
        "probe_bare_every_scope",
        &[("FIXTURES_PG_URL", &url)],
    );
    let second_id = format!("bad-external-cache-2-{pid}");
    let first_after_second = marked_kinds_of_run(&mut admin, &first_id).await;
    let second_at_exit = marked_kinds_of_run(&mut admin, &second_id).await;
    // The template of this live run (the `pg` schema) is in use: never swept.
    let this_run = marked_kinds_of_run(&mut admin, fixtures_core::run_id()).await;
    admin.close().await.unwrap();
    eprintln!(
        "first run's databases at exit: {at_exit:?}, after the second run: \
         {first_after_second:?}; second run's at exit: {second_at_exit:?}; this run's: {this_run:?}"
    );
    assert!(first.passed, "{}", first.output);
    assert!(second.passed, "{}", second.output);
    assert!(at_exit.is_empty(), "left at exit: {at_exit:?}");
    assert!(
        first_after_second.is_empty(),
        "the next run's sweep left {first_after_second:?}"
    );
    assert!(
        second_at_exit.is_empty(),
        "left at exit: {second_at_exit:?}"
    );
    assert!(
        this_run.iter().any(|k| k == "template"),
        "a live run's template was swept: {this_run:?}"
    );
    assert_eq!(first.left.total(), 0, "left behind: {}", first.left);
    assert_eq!(second.left.total(), 0, "left behind: {}", second.left);
}

// ---- a server out of connections (max_connections exhausted) ----

/// Holds every connection of its own small server (`FIXTURES_PG_MAX_CONNECTIONS=10`), says the
/// server's URL in the file `FIXTURES_BAD_INPUT_URL_FILE`, and waits for `<file>.done`.
#[tokio::test]
#[ignore = "a probe, run by the bad-input rows"]
async fn probe_hold_every_connection() {
    use sqlx::Connection;
    let db = pg::test_scope::db::fixture().lease_async().await.unwrap();
    let url = db.url().replacen(db.name(), "postgres", 1);
    let mut held = Vec::new();
    let mut refused = None;
    for _ in 0..40 {
        match sqlx::PgConnection::connect(&url).await {
            Ok(c) => held.push(c),
            Err(e) => {
                refused = Some(e.to_string());
                break;
            }
        }
    }
    assert!(
        refused
            .as_deref()
            .is_some_and(|e| e.contains("too many clients")),
        "{refused:?} after {} connections",
        held.len()
    );
    let file = std::env::var("FIXTURES_BAD_INPUT_URL_FILE").unwrap();
    std::fs::write(format!("{file}.tmp"), &url).unwrap();
    std::fs::rename(format!("{file}.tmp"), &file).unwrap();
    let done = std::path::PathBuf::from(format!("{file}.done"));
    let deadline = Instant::now() + Duration::from_secs(90);
    while !done.exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for c in held {
        let _ = c.close().await;
    }
}

#[test]
fn a_server_out_of_connections_is_a_clear_error() {
    let _turn = one_at_a_time();
    let pid = std::process::id();
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let file = dir.join(format!("max-connections-{pid}.url"));
    let done = dir.join(format!("max-connections-{pid}.url.done"));
    let log = dir.join(format!("max-connections-{pid}.log"));
    for f in [&file, &done] {
        let _ = std::fs::remove_file(f);
    }
    let holder_id = format!("bad-max-connections-holder-{pid}");
    let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
    cmd.args(["--ignored", "--exact", "probe_hold_every_connection"]);
    clean_env(&mut cmd);
    let out = std::fs::File::create(&log).unwrap();
    cmd.env("FIXTURES_RUN_ID", &holder_id)
        .env("FIXTURES_PG_BACKEND", "local")
        .env("FIXTURES_PG_MAX_CONNECTIONS", "10")
        .env("FIXTURES_PG_WARM", "0")
        .env("FIXTURES_BAD_INPUT_URL_FILE", &file)
        .stdout(out.try_clone().unwrap())
        .stderr(out);
    let mut holder = cmd.spawn().expect("start the holder");
    let deadline = Instant::now() + Duration::from_secs(90);
    while !file.exists() && holder.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let Ok(url) = std::fs::read_to_string(&file) else {
        let _ = holder.kill();
        let _ = holder.wait();
        panic!(
            "the holder did not fill its server:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    };
    let p = probe_unlocked(
        "max-connections",
        "probe_every_scope",
        &[("FIXTURES_PG_URL", &url)],
    );
    std::fs::write(&done, "done").unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = holder.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = holder.kill();
            let _ = holder.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (holder_left, _) = Leftovers::settle(&holder_id, Duration::from_secs(10));
    let holder_log = std::fs::read_to_string(&log).unwrap_or_default();
    for f in [&file, &done, &log] {
        let _ = std::fs::remove_file(f);
    }
    // The server's address, and its password (random) that must not be printed.
    let (scheme_end, at) = (url.find("://").unwrap() + 3, url.rfind('@').unwrap());
    let password = url[scheme_end..at].split_once(':').unwrap().1;
    let address = url[at + 1..].split('/').next().unwrap();
    assert_clear_error(
        &p,
        &[
            "too many clients",
            "FIXTURES_PG_URL",
            "does not answer",
            address,
        ],
        EXTERNAL_DEADLINE,
    );
    assert!(
        !p.output.contains(password),
        "the password is printed:\n{}",
        p.output
    );
    assert!(
        status.is_some_and(|s| s.success()),
        "the holder failed or hung:\n{holder_log}"
    );
    assert_eq!(holder_left.total(), 0, "the holder left: {holder_left}");
}
