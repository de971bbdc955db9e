//! Redis (`redis_db`): a database per test, empty when it starts, claimed so that no other
//! test — thread or process — has it at the same time, given back at teardown; on a suite
//! server (shared by nextest's processes) and on module servers. Checked with a client of its
//! own (the `redis` crate), not with the crate's.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use fixtures_core::prelude::*;
use fixtures_docker::{Container, ContainerSpec, Error, RedisDb};
use rstest::rstest;

/// `redis_spec()` (its image from `FIXTURES_REDIS_IMAGE`: the local one in CI, no registry).
fn spec(which: &str) -> ContainerSpec {
    fixtures_docker::redis_spec().label("test", which)
}

/// A connection of our own to database `index`.
fn conn(host: &str, port: u16, index: u16) -> redis::Connection {
    let client = redis::Client::open(format!("redis://{host}:{port}/{index}")).unwrap();
    let c = client
        .get_connection_with_timeout(Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("connect to {host}:{port}/{index}: {e}"));
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    c
}

fn to(db: &RedisDb) -> redis::Connection {
    conn(db.host(), db.port(), db.index())
}

fn db0(server: &Container) -> redis::Connection {
    conn(server.host(), server.host_port(6379).unwrap(), 0)
}

/// Runs `args` and returns the answer as `T`.
fn q<T: redis::FromRedisValue>(c: &mut redis::Connection, args: &[&str]) -> T {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(c).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn claim(index: u16) -> String {
    format!("fixtures:claim:{index}")
}

/// The suite's server: one for the run, shared by nextest's processes.
#[fixture(scope = suite)]
async fn redis_suite(setup: &Setup) -> Result<Container, Error> {
    fixtures_docker::start(setup, spec("redis-suite")).await
}

/// A module's server.
#[fixture(scope = module)]
async fn redis_module(setup: &Setup) -> Result<Container, Error> {
    fixtures_docker::start(setup, spec("redis-module")).await
}

#[fixture(scope = test)]
async fn suite_db(setup: &Setup, redis_suite: Lease<Container>) -> Result<RedisDb, Error> {
    fixtures_docker::redis_db(setup, &redis_suite).await
}

#[fixture(scope = test)]
async fn module_db(setup: &Setup, redis_module: Lease<Container>) -> Result<RedisDb, Error> {
    fixtures_docker::redis_db(setup, &redis_module).await
}

/// What every test on the suite server checks: its database is empty, stays its own while
/// it writes (a test sharing it would overwrite the marker or flush it), and is claimed in
/// database 0 with an expiry.
fn starts_empty_and_stays_its_own(db: &RedisDb, me: &str) {
    assert!((1..=255).contains(&db.index()), "{}", db.index());
    assert_eq!(
        db.url(),
        format!("redis://{}:{}/{}", db.host(), db.port(), db.index())
    );
    let mut c = to(db);
    assert_eq!(q::<i64>(&mut c, &["DBSIZE"]), 0, "{me} starts empty");
    q::<()>(&mut c, &["SET", "marker", me]);
    for k in 0..10 {
        q::<()>(&mut c, &["SET", &format!("key{k}"), "v"]);
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(q::<String>(&mut c, &["GET", "marker"]), me);
    assert_eq!(q::<i64>(&mut c, &["DBSIZE"]), 11);
    let mut zero = conn(db.host(), db.port(), 0);
    let ttl: i64 = q(&mut zero, &["PTTL", &claim(db.index())]);
    assert!(
        ttl > 25 * 60 * 1000 && ttl <= 30 * 60 * 1000,
        "the claim expires in 30 min: {ttl}"
    );
}

#[rstest]
fn a_test_on_the_suite_server_starts_empty_1(suite_db: Lease<RedisDb>) {
    starts_empty_and_stays_its_own(&suite_db, "1");
}

#[rstest]
fn a_test_on_the_suite_server_starts_empty_2(suite_db: Lease<RedisDb>) {
    starts_empty_and_stays_its_own(&suite_db, "2");
}

#[rstest]
fn a_test_on_the_suite_server_starts_empty_3(suite_db: Lease<RedisDb>) {
    starts_empty_and_stays_its_own(&suite_db, "3");
}

#[rstest]
fn a_test_on_the_suite_server_starts_empty_4(suite_db: Lease<RedisDb>) {
    starts_empty_and_stays_its_own(&suite_db, "4");
}

/// Twenty claims at once on one server, released together at teardown.
#[fixture(scope = test)]
async fn twenty(setup: &Setup, redis_suite: Lease<Container>) -> Result<Vec<RedisDb>, Error> {
    let claims = (0..20).map(|_| fixtures_docker::redis_db(setup, &redis_suite));
    futures_util::future::try_join_all(claims).await
}

#[test]
fn twenty_concurrent_claims_get_twenty_databases_all_released_at_teardown() {
    let dbs = twenty::fixture().try_lease().expect("twenty databases");
    let indices: HashSet<u16> = dbs.iter().map(RedisDb::index).collect();
    assert_eq!(indices.len(), 20, "distinct: {indices:?}");
    for (i, db) in dbs.iter().enumerate() {
        let mut c = to(db);
        assert_eq!(q::<i64>(&mut c, &["DBSIZE"]), 0);
        q::<()>(&mut c, &["SET", "who", &i.to_string()]);
    }
    for (i, db) in dbs.iter().enumerate() {
        assert_eq!(q::<String>(&mut to(db), &["GET", "who"]), i.to_string());
    }
    let mut zero = conn(dbs[0].host(), dbs[0].port(), 0);
    let owners: Vec<String> = indices
        .iter()
        .map(|&n| q::<String>(&mut zero, &["GET", &claim(n)]))
        .collect();
    assert_eq!(
        owners.iter().collect::<HashSet<_>>().len(),
        20,
        "{owners:?}"
    );
    drop(dbs);
    // Released: no claim of ours is left (another test may have claimed the database since).
    for (&n, owner) in indices.iter().zip(&owners) {
        let now: Option<String> = q(&mut zero, &["GET", &claim(n)]);
        assert_ne!(now.as_ref(), Some(owner), "database {n} is still claimed");
    }
}

mod reuse {
    use super::*;

    /// Database 7 is the only free one: the next test gets it again, and empty.
    #[test]
    fn a_database_is_empty_for_its_next_test_even_after_a_killed_one() {
        let server = redis_module::fixture().try_lease().unwrap();
        let mut zero = db0(&server);
        for n in (1..=255).filter(|&n| n != 7) {
            q::<()>(
                &mut zero,
                &["SET", &claim(n), "someone-else", "PX", "120000"],
            );
        }
        // A test killed before its teardown left data and no claim (it lapsed).
        let mut seven = conn(server.host(), server.host_port(6379).unwrap(), 7);
        q::<()>(&mut seven, &["SET", "left-over", "1"]);

        let db = module_db::fixture().try_lease().unwrap();
        assert_eq!(db.index(), 7);
        assert_eq!(
            q::<i64>(&mut to(&db), &["DBSIZE"]),
            0,
            "emptied when claimed"
        );
        for k in 0..5 {
            q::<()>(&mut to(&db), &["SET", &format!("k{k}"), "v"]);
        }
        drop(db);
        assert_eq!(q::<Option<String>>(&mut zero, &["GET", &claim(7)]), None);
        assert_eq!(q::<i64>(&mut seven, &["DBSIZE"]), 0, "emptied at teardown");

        let again = module_db::fixture().try_lease().unwrap();
        assert_eq!(again.index(), 7);
        assert_eq!(q::<i64>(&mut to(&again), &["DBSIZE"]), 0, "the next test");
    }
}

mod dead_owner {
    use super::*;

    /// Every database claimed by a process that died: the claims lapse, and the fixture
    /// waits for that instead of failing or taking a claim that is still alive.
    #[test]
    fn claims_of_a_dead_owner_lapse_and_do_not_block() {
        let server = redis_module::fixture().try_lease().unwrap();
        let mut zero = db0(&server);
        for n in 1..=255 {
            q::<()>(&mut zero, &["SET", &claim(n), "dead-owner", "PX", "1500"]);
        }
        let started = Instant::now();
        let db = module_db::fixture()
            .try_lease()
            .expect("a database once they lapse");
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_secs(1),
            "took a live claim: {waited:?}"
        );
        assert!(waited < Duration::from_secs(20), "{waited:?}");
        let owner: String = q(&mut zero, &["GET", &claim(db.index())]);
        assert_ne!(owner, "dead-owner");
        assert_eq!(q::<i64>(&mut to(&db), &["DBSIZE"]), 0);
        let index = db.index();
        drop(db);
        assert_eq!(
            q::<Option<String>>(&mut zero, &["GET", &claim(index)]),
            None
        );
    }
}
