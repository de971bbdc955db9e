//! A bad migration is a setup error naming the file and the server's message.

use fixtures_core::prelude::*;
use fixtures_postgres::{Databases, PgServer, TestDb, pg_server};

#[fixture(scope = test)]
async fn broken_db(
    pg_server: Lease<PgServer>,
    setup: &Setup,
) -> Result<TestDb, fixtures_postgres::Error> {
    Databases::new()
        .migrations_dir("tests/data/bad_migrations")
        .fresh(&pg_server, setup)
        .await
}

#[fixture(scope = test)]
async fn missing_dir_db(
    pg_server: Lease<PgServer>,
    setup: &Setup,
) -> Result<TestDb, fixtures_postgres::Error> {
    Databases::new()
        .migrations_dir("tests/data/no_such_folder")
        .fresh(&pg_server, setup)
        .await
}

#[test]
fn a_bad_migration_names_its_file_and_the_servers_message() {
    let err = broken_db::fixture()
        .try_lease()
        .expect_err("the migration is broken")
        .to_string();
    assert!(
        err.contains("ERROR at setup of fixture `broken_db`"),
        "{err}"
    );
    assert!(err.contains("migration 2 (2_broken.sql) failed"), "{err}");
    assert!(err.contains("syntax error"), "{err}");
}

#[test]
fn a_missing_migrations_folder_is_a_clear_error() {
    let err = missing_dir_db::fixture()
        .try_lease()
        .expect_err("no folder")
        .to_string();
    assert!(
        err.contains("cannot read migrations from tests/data/no_such_folder"),
        "{err}"
    );
    assert!(err.contains("no such folder"), "{err}");
}

/// A run in a child process with these settings, on a backend chosen automatically.
fn auto_run(settings: &[(&str, &str)]) -> (bool, String) {
    let mut cmd =
        crate::children::own_run(&["--ignored", "--exact", "children::report_template_origin"]);
    for v in [
        "FIXTURES_PG_BACKEND",
        "FIXTURES_REQUIRE_DOCKER",
        "FIXTURES_PG_URL",
    ] {
        cmd.env_remove(v);
    }
    cmd.envs(settings.iter().copied());
    let out = crate::children::run(&mut cmd, std::time::Duration::from_secs(180));
    (out.status.success(), crate::children::text(&out))
}

#[test]
fn a_missing_image_falls_back_to_local_binaries_or_says_what_to_set() {
    let missing = (
        "FIXTURES_POSTGRES_IMAGE",
        "fixtures-local/no-such-postgres:never",
    );
    // Chosen automatically: the machine's binaries, with one warning line.
    let (ok, all) = auto_run(&[missing]);
    assert!(ok, "the automatic choice did not fall back: {all}");
    assert!(
        all.contains("using this machine's Postgres binaries"),
        "{all}"
    );
    // Asked for by name: an error naming what the user can set, nothing of this repository.
    let (ok, all) = auto_run(&[missing, ("FIXTURES_PG_BACKEND", "docker")]);
    assert!(!ok, "{all}");
    for part in [
        "no-such-postgres:never",
        "FIXTURES_POSTGRES_IMAGE",
        "FIXTURES_PG_BACKEND=local",
    ] {
        assert!(all.contains(part), "`{part}` missing from: {all}");
    }
    assert!(!all.contains("scripts/"), "{all}");
}

#[tokio::test]
async fn errors_read_the_same_with_expect_as_with_display() {
    let err = broken_db::fixture()
        .lease_async()
        .await
        .expect_err("a broken migration fails");
    let debug = format!("{err:?}");
    assert!(debug.contains('\n'), "one long line: {debug}");
    assert!(!debug.contains("SetupError {"), "a struct dump: {debug}");
    assert!(
        debug.contains("migration 2 (2_broken.sql) failed"),
        "{debug}"
    );
}

#[rstest::rstest]
#[tokio::test]
async fn a_wrong_password_in_the_url_fails_at_once(pg_server: Lease<PgServer>) {
    let url = format!(
        "postgres://postgres:not-the-password@{}:{}/postgres",
        pg_server.host(),
        pg_server.port()
    );
    let started = std::time::Instant::now();
    let (ok, all) = auto_run(&[("FIXTURES_PG_URL", url.as_str())]);
    assert!(!ok, "{all}");
    assert!(all.contains("password authentication failed"), "{all}");
    assert!(
        !all.contains("not-the-password"),
        "the password was printed: {all}"
    );
    // Not after the 10 s a server that does not answer gets.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}

/// An image on which the data directory cannot be made once (here: the image's
/// `/var/lib/postgresql` is not writable by `postgres`, which its root entrypoint does not
/// mind) still works, through its own entrypoint, with one warning line.
#[test]
fn an_image_the_data_directory_cannot_be_made_once_for_starts_through_its_entrypoint() {
    let base = std::env::var("FIXTURES_TEST_POSTGRES_IMAGE")
        .unwrap_or_else(|_| "fixtures-local/postgres:15".into());
    let image = "fixtures-local/postgres-test-readonly-home:latest";
    let dockerfile = format!(
        "FROM {base}\nRUN chown root:root /var/lib/postgresql && chmod 755 /var/lib/postgresql\n"
    );
    let mut build = std::process::Command::new("docker");
    build
        .args(["build", "-q", "-t", image, "-"])
        .env("DOCKER_BUILDKIT", "0")
        .stdin(std::process::Stdio::piped());
    let mut child = build.spawn().expect("docker build");
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), dockerfile.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success(), "building {image}");

    let (ok, all) = auto_run(&[
        ("FIXTURES_PG_BACKEND", "docker"),
        ("FIXTURES_POSTGRES_IMAGE", image),
    ]);
    let _ = std::process::Command::new("docker")
        .args(["image", "rm", "-f", image])
        .output();
    assert!(ok, "{all}");
    assert!(all.contains("1 passed"), "{all}");
    assert!(
        all.contains("each start runs the image's entrypoint"),
        "no warning: {all}"
    );
}
