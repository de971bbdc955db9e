//! Postgres and Redis together: the tracker's member lists read through a Redis cache, tested
//! with the Redis server in every scope (a server per test, per module, or one for the run —
//! shared by nextest's processes) next to the Postgres database of the same scope. Whatever the
//! scope, each test gets an empty Redis database of its own (`fixtures_docker::redis_db`) and
//! a Postgres database as the template left it: identities restart at 1 in every test, so a
//! cache entry an earlier test left would answer for this test's organisation 1. Needs Docker.

use examples::Repo;
use fixtures_core::prelude::*;
use fixtures_docker::{Container, ContainerSpec, RedisDb};
use fixtures_postgres::TestDb;
use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;
use rstest::rstest;

/// The Redis server (its image from `FIXTURES_REDIS_IMAGE`: the one built from Debian's
/// packages in CI, as no registry is reachable there).
fn redis_spec() -> ContainerSpec {
    fixtures_docker::redis_spec()
}

/// The application: organisations' member lists, read through a Redis cache.
struct App {
    repo: Repo,
    cache: MultiplexedConnection,
}

impl App {
    async fn new(db: &TestDb, redis: &RedisDb) -> App {
        let client = redis::Client::open(redis.url()).unwrap();
        let cache = client.get_multiplexed_async_connection().await.unwrap();
        App {
            repo: Repo::new(db.pool()),
            cache,
        }
    }

    /// The members of `org`: from the cache, else from Postgres (then cached).
    async fn members(&mut self, org: i64) -> Vec<String> {
        let key = format!("org:{org}:members");
        let cached: Vec<String> = self.cache.lrange(&key, 0, -1).await.unwrap();
        if !cached.is_empty() {
            return cached;
        }
        let members = self.repo.members(org).await.unwrap();
        let _: () = self.cache.rpush(&key, &members).await.unwrap();
        members
    }
}

/// What every test does, in every scope: starts from nothing, fills the cache.
async fn members_are_cached(db: &TestDb, redis: &RedisDb, who: &str) {
    let mut app = App::new(db, redis).await;
    let keys: i64 = redis::cmd("DBSIZE")
        .query_async(&mut app.cache)
        .await
        .unwrap();
    assert_eq!(keys, 0, "an empty Redis database: {}", redis.url());
    let orgs: i64 = sqlx::query_scalar("SELECT count(*) FROM organisations")
        .fetch_one(&db.pool())
        .await
        .unwrap();
    assert_eq!(orgs, 0, "the template's state: {}", db.name());

    let org = app.repo.create_organisation("acme", "Acme").await.unwrap();
    assert_eq!(org.id, 1, "identities restart in every test");
    let email = format!("{who}@acme.test");
    let user = app.repo.create_user(&email, who).await.unwrap();
    app.repo.add_member(org.id, user.id, "owner").await.unwrap();
    assert_eq!(app.members(org.id).await, [email.as_str()], "from Postgres");

    // Cached: a member added behind the cache's back is not seen yet.
    let zed = app.repo.create_user("zed@acme.test", "Zed").await.unwrap();
    app.repo.add_member(org.id, zed.id, "member").await.unwrap();
    assert_eq!(app.members(org.id).await, [email.as_str()], "from Redis");
    let keys: i64 = redis::cmd("DBSIZE")
        .query_async(&mut app.cache)
        .await
        .unwrap();
    assert_eq!(keys, 1);
}

/// One scope's module: its Redis server (of scope `$scope`), a Redis database per test on it,
/// and three tests that each use organisation 1 with a different member.
macro_rules! redis_app_tests {
    ($scope:ident) => {
        use super::*;

        /// The module's Redis server: its scope only decides how long it lives. (Labelled
        /// with it: the run's suite container is found by its spec, which must differ from
        /// the other scopes' ones.)
        #[fixture(scope = $scope)]
        async fn redis_server(setup: &Setup) -> Result<Container, fixtures_docker::Error> {
            let spec = redis_spec().label("scope", stringify!($scope));
            fixtures_docker::start(setup, spec).await
        }

        /// An empty database of that server, for one test.
        #[fixture(scope = test)]
        async fn cache(
            setup: &Setup,
            redis_server: Lease<Container>,
        ) -> Result<RedisDb, fixtures_docker::Error> {
            fixtures_docker::redis_db(setup, &redis_server).await
        }

        #[rstest]
        #[tokio::test]
        async fn ada_is_the_member(db: Lease<TestDb>, cache: Lease<RedisDb>) {
            members_are_cached(&db, &cache, "ada").await;
        }

        #[rstest]
        #[tokio::test]
        async fn bob_is_the_member(db: Lease<TestDb>, cache: Lease<RedisDb>) {
            members_are_cached(&db, &cache, "bob").await;
        }

        #[rstest]
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn cy_is_the_member(db: Lease<TestDb>, cache: Lease<RedisDb>) {
            members_are_cached(&db, &cache, "cy").await;
        }
    };
}

/// A Redis server and a Postgres database per test (the cleanest).
mod test_scope {
    use crate::fixtures::pg::test_scope::db;
    redis_app_tests!(test);
}

/// A Redis server and a Postgres database per module.
mod module_scope {
    use crate::fixtures::pg::module_scope::db;
    redis_app_tests!(module);
}

/// A Redis server and a Postgres database for the run (the fastest).
mod suite_scope {
    use crate::fixtures::pg::suite_scope::db;
    redis_app_tests!(suite);
}
