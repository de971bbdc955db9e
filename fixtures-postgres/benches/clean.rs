//! What a clean between two tests costs, per strategy, on a throwaway local server (tmpfs,
//! fsync off): medians over many cleans, printed as a markdown table.
//!
//! `cargo bench -p fixtures-postgres --bench clean [-- --quick]`
//!
//! Cases: schemas of 20 and 100 tables (identity and serial keys, a tree of foreign keys,
//! an index each); after a typical test (a few rows in a few tables), after a test that wrote
//! nothing, and after one that wrote 10,000 rows into each of three tables. `Auto` also as a
//! role that is no superuser (an external server: no `session_replication_role`, no event
//! trigger, so the catalog is listed at every clean). For reference: `BEGIN` + `ROLLBACK`
//! around a test, and what `prepare` costs.
#![allow(missing_docs)]

#[path = "../tests/clean/schema.rs"]
mod schema;
#[path = "../tests/clean/support.rs"]
mod support;
#[path = "../tests/clean/util.rs"]
mod util;

use std::time::{Duration, Instant};

use fixtures_postgres::clean::__private as engine;
use fixtures_postgres::clean::{CleanOptions, CleanStrategy};
use sqlx::{Connection, PgConnection};
use util::exec;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// A database with `n` tables, prepared for `Auto` and cleaned once, and a test connection to
/// it; as the superuser, or as the owner of the tables who is none.
async fn database(n: usize, superuser: bool) -> (PgConnection, PgConnection) {
    let (framework, url) = support::scratch_database().await;
    let (mut framework, url) = if superuser {
        (framework, url)
    } else {
        let mut admin = framework;
        util::owner(&mut admin, &url, true).await
    };
    exec(&mut framework, &schema::tree(n)).await;
    let opts = CleanOptions::new();
    engine::prepare(&mut framework, &opts)
        .await
        .expect("prepare");
    as_lane(&mut framework, superuser).await;
    engine::clean(&mut framework, &opts).await.expect("clean");
    let test = PgConnection::connect(&url).await.expect("connect");
    (framework, test)
}

/// The seed of the restore case: 200 rows in each of the first five tables (1,000 in all).
fn seed() -> String {
    (0..5)
        .map(|k| schema::tree_insert(k, 200))
        .collect::<Vec<_>>()
        .join(";\n")
}

/// A database with `n` tables and [`seed`], prepared (the snapshot holds the seed rows).
async fn seeded_database(n: usize) -> (PgConnection, PgConnection) {
    let (mut framework, url) = support::scratch_database().await;
    exec(&mut framework, &schema::tree(n)).await;
    exec(&mut framework, &seed()).await;
    let opts = CleanOptions::new();
    engine::prepare(&mut framework, &opts)
        .await
        .expect("prepare");
    as_lane(&mut framework, true).await;
    let test = PgConnection::connect(&url).await.expect("connect");
    (framework, test)
}

/// A typical test on the seeded schema: a few rows in 4 tables (three of them seeded), one
/// seed row changed and one deleted.
fn typical_seeded(n: usize) -> String {
    format!(
        "{};\nUPDATE t003 SET amount = amount + 1 WHERE id = (SELECT min(id) FROM t003);\n\
         DELETE FROM t004 WHERE id = (SELECT max(id) FROM t004 WHERE id <= 200)",
        typical(n)
    )
}

/// Median of `iters` turns of the literal way to get a seeded database back: `TRUNCATE …
/// RESTART IDENTITY CASCADE` of every table, then the seed again.
async fn truncate_and_reseed(
    framework: &mut PgConnection,
    test: &mut PgConnection,
    writes: &str,
    iters: usize,
) -> Duration {
    let opts = CleanOptions::new().strategy(CleanStrategy::Truncate);
    let seed = seed();
    let mut times = Vec::with_capacity(iters);
    for _ in 0..iters {
        exec(test, writes).await;
        let start = Instant::now();
        engine::clean(framework, &opts).await.expect("clean");
        exec(framework, &seed).await;
        times.push(start.elapsed());
    }
    median(times)
}

/// The framework connection as a shared database's lane has it: a replica where the role may
/// be one (so that a clean never switches the role, which makes Postgres forget its plans).
async fn as_lane(framework: &mut PgConnection, superuser: bool) {
    if superuser {
        exec(framework, "SET session_replication_role = replica").await;
    }
}

/// A typical test: a few rows in a few tables.
fn typical(n: usize) -> String {
    [
        schema::tree_insert(0, 3),
        schema::tree_insert(1, 2),
        schema::tree_insert(3, 4),
        schema::tree_insert(n - 1, 1),
    ]
    .join(";\n")
}

/// A heavy test: 10,000 rows in each of three tables (leaves of the foreign-key tree).
fn heavy(n: usize) -> String {
    (1..=3)
        .map(|k| schema::tree_insert(n - k, 10_000))
        .collect::<Vec<_>>()
        .join(";\n")
}

/// Median of `iters` cleans with `strategy`, each after `writes` on the test connection.
async fn cleans(
    framework: &mut PgConnection,
    test: &mut PgConnection,
    strategy: CleanStrategy,
    writes: &str,
    iters: usize,
) -> Duration {
    let opts = CleanOptions::new().strategy(strategy);
    engine::clean(framework, &opts).await.expect("clean");
    let mut times = Vec::with_capacity(iters);
    for _ in 0..iters {
        if !writes.is_empty() {
            exec(test, writes).await;
        }
        let start = Instant::now();
        let report = engine::clean(framework, &opts).await.expect("clean");
        times.push(start.elapsed());
        assert!(
            writes.is_empty() || report.tables_emptied() > 0,
            "{report:?}"
        );
    }
    median(times)
}

/// Median of `BEGIN` + `ROLLBACK` around `writes` (the writes themselves not counted).
async fn rollbacks(test: &mut PgConnection, writes: &str, iters: usize) -> Duration {
    let mut times = Vec::with_capacity(iters);
    for _ in 0..iters {
        let start = Instant::now();
        exec(test, "BEGIN").await;
        let begin = start.elapsed();
        if !writes.is_empty() {
            exec(test, writes).await;
        }
        let start = Instant::now();
        exec(test, "ROLLBACK").await;
        times.push(begin + start.elapsed());
    }
    median(times)
}

struct Row {
    case: String,
    auto: Duration,
    auto_listing: Duration,
    auto_no_superuser: Duration,
    delete: Duration,
    truncate: Duration,
    rollback: Duration,
}

/// What `prepare` costs on `n` tables: the first time (install), and again (installed).
async fn prepares(n: usize, iters: usize) -> (Duration, Duration) {
    let (mut framework, _) = support::scratch_database().await;
    exec(&mut framework, &schema::tree(n)).await;
    let start = Instant::now();
    engine::prepare(&mut framework, &CleanOptions::new())
        .await
        .expect("prepare");
    let first = start.elapsed();
    let mut again = Vec::new();
    for _ in 0..iters {
        let start = Instant::now();
        engine::prepare(&mut framework, &CleanOptions::new())
            .await
            .expect("prepare");
        again.push(start.elapsed());
    }
    (first, median(again))
}

/// What replacing a shared database after DDL costs on the turn's path (the turn after a test
/// that changed the schema), as the framework does it: the lane's sessions ended, the lane
/// renamed aside (dropped later, off the path), its spare clone of the prepared template
/// renamed into its place and marked, and the lane's new framework connection. The spare is
/// made again between turns, off the path. `n` tables with the 1,000-row seed.
async fn replacements(n: usize, iters: usize) -> Duration {
    let (mut prepared, url) = support::scratch_database().await;
    exec(&mut prepared, &schema::tree(n)).await;
    exec(&mut prepared, &seed()).await;
    engine::prepare(&mut prepared, &CleanOptions::new())
        .await
        .expect("prepare");
    prepared.close().await.ok();
    let source = url.rsplit('/').next().unwrap().to_owned();
    let (lane, spare, doomed) = (
        format!("{source}_lane"),
        format!("{source}_spare"),
        format!("{source}_doomed"),
    );
    let server = fixtures_postgres::pg_server::fixture()
        .lease_async()
        .await
        .expect("the test server");
    let mut admin = server.admin().await.expect("admin");
    let clone = |name: &str| {
        format!("CREATE DATABASE \"{name}\" TEMPLATE \"{source}\" STRATEGY = FILE_COPY")
    };
    exec(&mut admin, &clone(&lane)).await;
    let end = format!(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = '{lane}' AND pid <> pg_backend_pid()"
    );
    let mut times = Vec::with_capacity(iters);
    for _ in 0..iters {
        exec(&mut admin, &clone(&spare)).await;
        let old = PgConnection::connect(&server.url(&lane))
            .await
            .expect("connect");
        let start = Instant::now();
        while util::scalar::<i64>(&mut admin, &end).await > 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        exec(
            &mut admin,
            &format!(
                "ALTER DATABASE \"{lane}\" RENAME TO \"{doomed}\"; \
                 ALTER DATABASE \"{spare}\" RENAME TO \"{lane}\"; \
                 COMMENT ON DATABASE \"{lane}\" IS 'fixtures-managed kind=shared'"
            ),
        )
        .await;
        let mut conn = PgConnection::connect(&server.url(&lane))
            .await
            .expect("connect");
        exec(&mut conn, "SET session_replication_role = replica").await;
        times.push(start.elapsed());
        drop(old.close().await);
        conn.close().await.ok();
        exec(
            &mut admin,
            &format!("DROP DATABASE \"{doomed}\" WITH (FORCE)"),
        )
        .await;
    }
    median(times)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let iters = if quick { 5 } else { 51 };
    let heavy_iters = if quick { 3 } else { 11 };
    let mut rows = Vec::new();
    let mut prepare_costs = Vec::new();

    for n in [20, 100] {
        prepare_costs.push((n, prepares(n, iters.min(11)).await));
        for (label, writes, iters) in [
            ("a few rows in 4 tables", typical(n), iters),
            ("nothing written", String::new(), iters),
            ("10,000 rows in 3 tables", heavy(n), heavy_iters),
        ] {
            let (mut framework, mut test) = database(n, true).await;
            let auto = cleans(
                &mut framework,
                &mut test,
                CleanStrategy::Auto,
                &writes,
                iters,
            )
            .await;
            let delete = cleans(
                &mut framework,
                &mut test,
                CleanStrategy::Delete,
                &writes,
                iters,
            )
            .await;
            let truncate = cleans(
                &mut framework,
                &mut test,
                CleanStrategy::Truncate,
                &writes,
                iters,
            )
            .await;
            // As after every DDL command: the catalog listed again at every clean.
            // (The framework's tables refuse writes outside a clean.)
            exec(
                &mut framework,
                "SET fixtures.cleaning = 'on'; UPDATE _fixtures.settings SET watch = false; \
                 RESET fixtures.cleaning",
            )
            .await;
            let auto_listing = cleans(
                &mut framework,
                &mut test,
                CleanStrategy::Auto,
                &writes,
                iters,
            )
            .await;
            let rollback = rollbacks(&mut test, &writes, iters).await;
            drop((framework, test));
            let (mut framework, mut test) = database(n, false).await;
            let auto_no_superuser = cleans(
                &mut framework,
                &mut test,
                CleanStrategy::Auto,
                &writes,
                iters,
            )
            .await;
            rows.push(Row {
                case: format!("{n} tables, {label}"),
                auto,
                auto_listing,
                auto_no_superuser,
                delete,
                truncate,
                rollback,
            });
        }
    }

    println!(
        "\n## Clean between tests (medians of {iters} cleans; 10,000-row cases: {heavy_iters})\n"
    );
    println!(
        "| case | Auto | Auto, catalog listed again | Auto, no superuser | Delete (all tables) \
         | Truncate (all tables) | BEGIN/ROLLBACK |"
    );
    println!("|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.case,
            ms(r.auto),
            ms(r.auto_listing),
            ms(r.auto_no_superuser),
            ms(r.delete),
            ms(r.truncate),
            ms(r.rollback)
        );
    }
    println!(
        "\n## Restore of a seeded database (1,000 seed rows in 5 tables; medians of {iters})\n"
    );
    println!(
        "| tables | Auto (restore) | TRUNCATE … RESTART IDENTITY CASCADE + seed again | ratio |"
    );
    println!("|---|---|---|---|");
    for n in [20, 100] {
        let writes = typical_seeded(n);
        let (mut framework, mut test) = seeded_database(n).await;
        let auto = cleans(
            &mut framework,
            &mut test,
            CleanStrategy::Auto,
            &writes,
            iters,
        )
        .await;
        let literal = truncate_and_reseed(&mut framework, &mut test, &writes, iters).await;
        println!(
            "| {n} | {} | {} | {:.0}x |",
            ms(auto),
            ms(literal),
            literal.as_secs_f64() / auto.as_secs_f64()
        );
    }
    println!(
        "\n## A turn after DDL: the shared database replaced (medians of {})\n",
        iters.min(21)
    );
    println!("| tables | lane renamed aside, spare renamed in, marked, connected |");
    println!("|---|---|");
    for n in [20, 100] {
        println!("| {n} | {} |", ms(replacements(n, iters.min(21)).await));
    }
    println!("\n## prepare\n");
    println!("| tables | first (install) | again (installed) |");
    println!("|---|---|---|");
    for (n, (first, again)) in prepare_costs {
        println!("| {n} | {} | {} |", ms(first), ms(again));
    }
    support::stop_server();
}
