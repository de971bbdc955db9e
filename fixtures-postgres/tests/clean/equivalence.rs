//! The fast strategies end where a literal `TRUNCATE … RESTART IDENTITY CASCADE` ends, checked
//! property-style: random writes (seeded, so a failure replays) into a varied schema of 30+
//! tables, several tests in a row on one database, for several `only` / `except` choices;
//! after every clean the whole database (rows per table, every sequence's state and next
//! value) must be the same under `Auto`, `Delete` and `Truncate`.

use fixtures_postgres::clean::{CleanOptions, CleanStrategy};
use sqlx::{Connection, PgConnection};

use crate::schema;
use crate::support::scratch_database;
use crate::util::*;

/// splitmix64: a small deterministic generator, enough to pick writes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// What one simulated test writes: a few writes of a few rows; now and then many rows, or
/// a table created by the test.
fn test_writes(rng: &mut Rng, round: usize) -> Vec<String> {
    let writers = schema::varied_writers();
    let mut out = Vec::new();
    for _ in 0..1 + rng.below(6) {
        let (_, sql) = &writers[rng.below(writers.len())];
        let rows = match rng.below(10) {
            0 => 1500,
            1..=3 => 1,
            _ => 1 + rng.below(5),
        };
        out.push(sql.replace("{n}", &rows.to_string()));
    }
    if rng.below(4) == 0 {
        out.push(format!(
            "CREATE TABLE IF NOT EXISTS made_in_test_{round} \
             (id serial PRIMARY KEY, t001_id bigint REFERENCES t001 (id));
             INSERT INTO made_in_test_{round} (t001_id) SELECT max(id) FROM t001;"
        ));
    }
    out
}

/// The seeds tried: two, or `FIXTURES_CLEAN_SEEDS` of them for a longer search.
fn seeds() -> Vec<u64> {
    let n = std::env::var("FIXTURES_CLEAN_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    (0..n).map(|k| 11 + 1000 * k).collect()
}

/// The option sets tried: everything, exclusions, a selection.
fn option_sets() -> Vec<CleanOptions> {
    vec![
        CleanOptions::new(),
        // t002 references t001: emptied anyway (CASCADE).
        CleanOptions::new().except(["t002", "s2.*", "scratchpad"]),
        CleanOptions::new().only(["s2.*", "t001", "part", "base", "ticketed"]),
        // cyc_a is in a cycle with a cleaned table: emptied anyway.
        CleanOptions::new().except(["cyc_a", "tags", "part_high", "sub"]),
    ]
}

/// Runs `rounds` simulated tests under `strategy` and returns the snapshot after each clean;
/// as a superuser, or as the owner of the tables who is none (`as_owner`).
async fn run(
    seed: u64,
    opts: &CleanOptions,
    strategy: CleanStrategy,
    rounds: usize,
    as_owner: bool,
) -> Vec<Snapshot> {
    let opts = opts.clone().strategy(strategy);
    let (mut framework, url) = scratch_database().await;
    let (mut framework, url) = if as_owner {
        owner(&mut framework, &url, true).await
    } else {
        (framework, url)
    };
    exec(&mut framework, &schema::varied()).await;
    // A seed written before prepare.
    exec(&mut framework, &schema::tree_insert(0, 3)).await;
    exec(&mut framework, &schema::tree_insert(1, 2)).await;
    exec(
        &mut framework,
        "INSERT INTO tags VALUES ('seed'); INSERT INTO part (k) VALUES (5);",
    )
    .await;
    prepare(&mut framework, &opts).await;
    let mut snapshots = Vec::new();
    clean(&mut framework, &opts).await;
    snapshots.push(snapshot(&mut framework).await);
    let mut rng = Rng(seed);
    for round in 0..rounds {
        // The test's own connection, closed before the clean, like a test's pool.
        let mut test = PgConnection::connect(&url).await.expect("connect");
        for sql in test_writes(&mut rng, round) {
            let _ = try_exec(&mut test, &sql).await;
        }
        test.close().await.ok();
        clean(&mut framework, &opts).await;
        snapshots.push(snapshot(&mut framework).await);
    }
    snapshots
}

/// The first difference between two runs, readably.
fn difference(a: &[Snapshot], b: &[Snapshot]) -> Option<String> {
    for (round, (x, y)) in a.iter().zip(b).enumerate() {
        for (table, n) in &x.rows {
            let m = y.rows.get(table);
            if m != Some(n) {
                return Some(format!(
                    "after clean {round}: {table} has {n} rows vs {m:?}"
                ));
            }
        }
        for (seq, state) in &x.sequences {
            let other = y.sequences.get(seq);
            if other != Some(state) {
                return Some(format!(
                    "after clean {round}: sequence {seq} is (last, next) {state:?} vs {other:?}"
                ));
            }
        }
        if x != y {
            return Some(format!("after clean {round}: {x:?}\nvs\n{y:?}"));
        }
    }
    (a.len() != b.len()).then(|| "different numbers of cleans".to_string())
}

#[tokio::test]
async fn auto_and_delete_end_where_literal_truncate_ends() {
    const ROUNDS: usize = 6;
    for (i, opts) in option_sets().into_iter().enumerate() {
        for seed in seeds() {
            let seed = seed + i as u64;
            let truncate = run(seed, &opts, CleanStrategy::Truncate, ROUNDS, false).await;
            assert_eq!(truncate.len(), ROUNDS + 1);
            for strategy in [CleanStrategy::Auto, CleanStrategy::Delete] {
                let other = run(seed, &opts, strategy, ROUNDS, false).await;
                if let Some(diff) = difference(&truncate, &other) {
                    panic!("seed {seed}, {opts:?}: Truncate vs {strategy:?}: {diff}");
                }
            }
        }
    }
}

#[tokio::test]
async fn without_superuser_too() {
    // No replica role: Auto deletes with the foreign keys checked (or truncates), Delete
    // truncates everything.
    const ROUNDS: usize = 6;
    for (i, opts) in option_sets().into_iter().enumerate().step_by(2) {
        let seed = 77 + i as u64;
        let truncate = run(seed, &opts, CleanStrategy::Truncate, ROUNDS, true).await;
        for strategy in [CleanStrategy::Auto, CleanStrategy::Delete] {
            let other = run(seed, &opts, strategy, ROUNDS, true).await;
            if let Some(diff) = difference(&truncate, &other) {
                panic!("seed {seed}, {opts:?}, no superuser: Truncate vs {strategy:?}: {diff}");
            }
        }
    }
}

#[tokio::test]
async fn the_random_tests_do_write_what_the_cleans_undo() {
    // Guards the property test against vacuity: without cleaning, the writes leave rows in
    // many tables and move many sequences.
    let (mut conn, url) = scratch_database().await;
    exec(&mut conn, &schema::varied()).await;
    let mut rng = Rng(11);
    let mut test = PgConnection::connect(&url).await.expect("connect");
    for round in 0..6 {
        for sql in test_writes(&mut rng, round) {
            let _ = try_exec(&mut test, &sql).await;
        }
    }
    let state = snapshot(&mut conn).await;
    assert!(state.non_empty().len() >= 8, "{state:?}");
    assert!(state.moved().len() >= 8, "{state:?}");
}
