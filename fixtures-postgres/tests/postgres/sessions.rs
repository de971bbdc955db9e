//! Module and suite scope keep a lane's test connections from one turn to the next: what a
//! test changed in its sessions is undone before the next test gets them.

use std::collections::BTreeSet;

use crate::pg::module_scope::{db, shared_db};

/// One turn: every connection of the pool held at once, checked as a new session would be,
/// then dirtied (a setting, a temporary table, an advisory lock, a listen). Returns the
/// server processes behind them.
async fn turn() -> BTreeSet<i32> {
    let db = db::fixture().lease_async().await.unwrap();
    let pool = db.pool();
    let mut conns = Vec::new();
    for _ in 0..pool.options().get_max_connections() {
        conns.push(pool.acquire().await.unwrap());
    }
    let mut pids = BTreeSet::new();
    for c in &mut conns {
        let (pid, timeout, temp, locks, listens): (i32, String, bool, i64, i64) = sqlx::query_as(
            "SELECT pg_backend_pid(), current_setting('statement_timeout'), \
             to_regclass('pg_temp.scratch') IS NOT NULL, \
             (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()), \
             (SELECT count(*) FROM pg_listening_channels())",
        )
        .fetch_one(&mut **c)
        .await
        .unwrap();
        assert_eq!(
            timeout, "0",
            "session {pid}: a setting survived the last test"
        );
        assert!(
            !temp,
            "session {pid}: a temporary table survived the last test"
        );
        assert_eq!(
            locks, 0,
            "session {pid}: an advisory lock survived the last test"
        );
        assert_eq!(listens, 0, "session {pid}: a LISTEN survived the last test");
        sqlx::raw_sql(
            "SET statement_timeout = '123s'; CREATE TEMP TABLE scratch (v int); \
             SELECT pg_try_advisory_lock(4242); LISTEN fixtures_probe",
        )
        .execute(&mut **c)
        .await
        .unwrap();
        pids.insert(pid);
    }
    drop(conns);
    // Let the connections go back to the pool (sqlx returns them in tasks of this runtime).
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(
        pool.num_idle(),
        pids.len(),
        "every connection back in the pool"
    );
    pids
}

#[tokio::test]
async fn kept_connections_are_reset_between_tests() {
    // The module's shared database, held for the whole test (the turns below lease `db`
    // one after another).
    let _shared = shared_db::fixture().lease_async().await.unwrap();
    // The lane's first turn in a process gets a pool of the test's own, unless the lane came
    // from a module that ended before (its kept connections come with it): either way every
    // session is checked clean.
    turn().await;
    // From the second turn on: the lane's kept connections (two sets, handed out in turn),
    // the same ones turn after turn.
    let mut seen: Vec<BTreeSet<i32>> = Vec::new();
    for _ in 0..4 {
        seen.push(turn().await);
    }
    let sets: BTreeSet<&BTreeSet<i32>> = seen.iter().collect();
    assert!(
        sets.len() <= 2,
        "the kept connections were replaced, not reused: {seen:?}"
    );
}

/// A module of its own, so that no other test's turns share its lanes (under nextest, other
/// processes of the run would take them too).
mod alone {
    use crate::pg::module_scope::{db, shared_db};

    /// One test as `#[tokio::test]` runs it: on a thread of its own, in a runtime that ends with
    /// it. It holds every connection of its pool at once and gives them back as it ends (what
    /// sqlx gives back in a task of the ending runtime is lost with it). Returns how many of them
    /// were opened after it asked for its database (on its path).
    fn test_in_its_own_runtime() -> usize {
        std::thread::spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    let asked = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_secs_f64();
                    let db = db::fixture().lease_async().await.unwrap();
                    let pool = db.pool();
                    let mut conns = Vec::new();
                    for _ in 0..pool.options().get_max_connections() {
                        conns.push(pool.acquire().await.unwrap());
                    }
                    let mut new = 0;
                    for c in &mut conns {
                        let started: f64 = sqlx::query_scalar(
                            "SELECT extract(epoch FROM backend_start)::float8 FROM pg_stat_activity \
                             WHERE pid = pg_backend_pid()",
                        )
                        .fetch_one(&mut **c)
                        .await
                        .unwrap();
                        new += usize::from(started > asked);
                    }
                    // The test's body.
                    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
                    new
                })
        })
        .join()
        .unwrap()
    }

    #[test]
    fn a_test_runtime_that_ends_costs_the_next_turn_no_new_connection() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let _shared = runtime
            .block_on(shared_db::fixture().lease_async())
            .unwrap();
        // The lane's first turn in the process gets a pool of the test's own (under nextest a
        // process has one test). Under `cargo test` its kept connections are made meanwhile, in
        // the background; under nextest (a process runs one test: this one) the second turn
        // makes them.
        test_in_its_own_runtime();
        if fixtures_core::runner() == fixtures_core::Runner::Nextest {
            test_in_its_own_runtime();
        }
        // Then every turn starts on connections made before it: the set its predecessor used is
        // refilled in the background while the other serves.
        let opened: Vec<usize> = (0..5).map(|_| test_in_its_own_runtime()).collect();
        assert_eq!(
            opened,
            [0, 0, 0, 0, 0],
            "connections opened on the path of each turn"
        );
    }
}
