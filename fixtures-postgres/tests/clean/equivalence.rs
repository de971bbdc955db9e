//! The restore rule, checked property-style: after any test, `clean` either puts the whole
//! database back to the state `prepare` saw, or changes nothing and asks for a replacement.
//!
//! A template holds the schema of `seeded.rs` with its seed rows; a clone of it is prepared
//! (as `SharedDb` does) and fingerprinted (`fingerprint.rs`: every row, sequence state,
//! materialized view row and the catalog). Then, round after round, a random test
//! (`writes.rs`) writes from its own connection, closed before the clean like a test's pool,
//! and the clean must either
//! - restore in place: the fingerprint equals the prepared one; or
//! - return `replace`: the fingerprint equals the one taken just before the clean (nothing
//!   changed), and the run goes on with a fresh, freshly prepared clone.
//!
//! A successful schema change, a refresh of the stale view or a write that makes the restore
//! of `stamped` fire its trigger must end in `replace`; as a superuser, any other test must be
//! restored in place (without one, the cleaner may also ask for a replacement where putting
//! rows back would run foreign-key actions). At the end, every data section of the fingerprint
//! must have been changed by some round restored in place, so that the writes exercise what
//! they claim to.
//!
//! `FIXTURES_CLEAN_SEED=<n>` replays (or varies) the runs; `FIXTURES_CLEAN_ROUNDS=<x>`
//! multiplies the rounds, for a longer search.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use fixtures_postgres::clean::CleanStrategy;
use sqlx::{Connection, PgConnection};

use crate::bed::Bed;
use crate::fingerprint::fingerprint;
use crate::seeded::NEVER_RESTORED_IN_PLACE;
use crate::util::*;
use crate::writes::{Effect, Rng, Shape, Write, random_test};

/// What the clean after a test must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Restore,
    Replace,
    Either,
}

fn expectation(writes: &[Write], ok: &[bool], shape: Shape) -> Expect {
    let mut expect = Expect::Restore;
    for (w, ok) in writes.iter().zip(ok) {
        match (w.effect, ok) {
            (Effect::Ddl | Effect::Replace, true) => return Expect::Replace,
            // A failed DDL command may still have moved the DDL epoch.
            (Effect::Ddl | Effect::MayReplace, _) => expect = Expect::Either,
            _ => {}
        }
    }
    if shape.superuser {
        expect
    } else {
        Expect::Either
    }
}

#[derive(Default)]
struct Stats {
    in_place: usize,
    replaced: usize,
    replaced_by_ddl: usize,
    replaced_by_rule: usize,
    /// The data sections some round changed and the clean restored in place.
    covered: BTreeSet<String>,
    /// Why the cleans asked for replacements, and how often.
    reasons: BTreeMap<String, usize>,
    /// Time spent writing, fingerprinting, cleaning, replacing.
    times: [Duration; 4],
}

/// Runs `rounds` random tests on one bed; panics with the seed and the round's writes at the
/// first clean that breaks the rule.
async fn run(strategy: CleanStrategy, shape: Shape, seed: u64, rounds: usize) -> Stats {
    let started = Instant::now();
    let mut bed = Bed::new(strategy, shape).await;
    let mut rng = Rng(seed);
    let mut stats = Stats::default();
    for round in 0..rounds {
        let writes = random_test(&mut rng, shape);
        let t0 = Instant::now();
        let mut test = PgConnection::connect_with(&bed.role.clone().database(&bed.db))
            .await
            .expect("connect as a test");
        let mut ok = Vec::new();
        for w in &writes {
            ok.push(try_exec(&mut test, &w.sql).await);
        }
        test.close().await.ok();
        let expect = expectation(&writes, &ok, shape);
        let t1 = Instant::now();
        let before = fingerprint(&mut bed.framework).await;
        let t2 = Instant::now();
        let report = clean(&mut bed.framework, &bed.opts).await;
        let t3 = Instant::now();
        let after = fingerprint(&mut bed.framework).await;
        stats.times[0] += t1 - t0;
        stats.times[1] += (t2 - t1) + t3.elapsed();
        stats.times[2] += t3 - t2;
        let context = || {
            let listed: Vec<String> = writes
                .iter()
                .zip(&ok)
                .map(|(w, ok)| format!("  [{}] {}", if *ok { "ok" } else { "failed" }, w.sql))
                .collect();
            format!(
                "seed {seed} (FIXTURES_CLEAN_SEED={seed} replays), round {round}, {strategy:?}, \
                 superuser: {}; the test wrote:\n{}\nthe clean reported {report:?}",
                shape.superuser,
                listed.join("\n")
            )
        };
        if report.replace.is_some() {
            assert!(
                expect != Expect::Restore,
                "{}\nasked for a replacement, where a restore in place was due",
                context()
            );
            if let Some(diff) = before.diff(&after) {
                panic!(
                    "{}\nasked for a replacement, yet changed:\n{diff}",
                    context()
                );
            }
            stats.replaced += 1;
            *stats
                .reasons
                .entry(report.replace.clone().unwrap_or_default())
                .or_default() += 1;
            if writes
                .iter()
                .zip(&ok)
                .any(|(w, ok)| *ok && w.effect == Effect::Ddl)
            {
                stats.replaced_by_ddl += 1;
            } else if expect == Expect::Replace {
                stats.replaced_by_rule += 1;
            }
            let t4 = Instant::now();
            bed.replace().await;
            stats.times[3] += t4.elapsed();
        } else {
            assert!(
                expect != Expect::Replace,
                "{}\nrestored in place, where a replacement was due",
                context()
            );
            if let Some(diff) = bed.prepared.diff(&after) {
                panic!(
                    "{}\nnot back to the prepared state (- prepared, + after the clean):\n{diff}",
                    context()
                );
            }
            stats.in_place += 1;
            stats.covered.extend(bed.prepared.changed(&before));
        }
    }
    let required: BTreeSet<String> = bed
        .prepared
        .data_sections()
        .into_iter()
        .filter(|s| !NEVER_RESTORED_IN_PLACE.contains(&s.as_str()))
        .collect();
    let missed: Vec<&String> = required.difference(&stats.covered).collect();
    eprintln!(
        "restore property, {strategy:?}, superuser: {}, seed {seed}: {rounds} tests, {} restored \
         in place, {} replaced ({} after DDL, {} by rule), {} of {} data sections exercised, \
         {:.1?} (writes, fingerprints, cleans, replacements: {:.1?}); replaced because: {:?}",
        shape.superuser,
        stats.in_place,
        stats.replaced,
        stats.replaced_by_ddl,
        stats.replaced_by_rule,
        required.len() - missed.len(),
        required.len(),
        started.elapsed(),
        stats.times,
        stats.reasons
    );
    bed.drop_all().await;
    if shape.superuser {
        assert!(
            missed.is_empty(),
            "seed {seed}: no round restored {missed:?} in place"
        );
    } else {
        assert!(
            missed.len() * 2 <= required.len(),
            "seed {seed}: no round restored {missed:?} in place"
        );
    }
    stats
}

fn seed(default: u64) -> u64 {
    std::env::var("FIXTURES_CLEAN_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rounds(default: usize) -> usize {
    let scale: f64 = std::env::var("FIXTURES_CLEAN_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1.0);
    ((default as f64) * scale).ceil() as usize
}

#[tokio::test]
async fn auto_restores_the_prepared_state_or_asks_for_a_replacement() {
    let shape = Shape {
        stamped: true,
        superuser: true,
    };
    let n = rounds(200);
    let stats = run(CleanStrategy::Auto, shape, seed(1), n).await;
    assert!(stats.in_place * 2 >= n, "mostly restored in place");
    assert!(
        stats.replaced_by_ddl > 0 && stats.replaced_by_rule > 0,
        "both replacement paths"
    );
}

#[tokio::test]
async fn delete_restores_the_prepared_state_or_asks_for_a_replacement() {
    // Delete looks at every table: with `stamped` (whose restore would fire its trigger) every
    // clean would ask for a replacement, so this schema has none.
    let shape = Shape {
        stamped: false,
        superuser: true,
    };
    let n = rounds(100);
    let stats = run(CleanStrategy::Delete, shape, seed(2), n).await;
    assert!(stats.in_place * 2 >= n, "mostly restored in place");
}

#[tokio::test]
async fn without_superuser_too() {
    // No replica role, no event trigger: the catalog fingerprint finds DDL, and rows that
    // would need foreign-key actions or triggers to come back make the clean ask for a
    // replacement.
    let shape = Shape {
        stamped: true,
        superuser: false,
    };
    let n = rounds(60);
    let stats = run(CleanStrategy::Auto, shape, seed(3), n).await;
    assert!(stats.in_place * 4 >= n, "a quarter restored in place");
    assert!(stats.replaced_by_ddl + stats.replaced_by_rule > 0);
    let shape = Shape {
        stamped: false,
        superuser: false,
    };
    let n = rounds(40);
    let stats = run(CleanStrategy::Delete, shape, seed(4), n).await;
    assert!(stats.in_place * 4 >= n, "a quarter restored in place");
}
