//! `databases!`: the database fixtures of every scope, from one description.

/// Declares, in a module of yours, the database fixtures of every scope from one
/// [`Databases`](crate::Databases) description:
///
/// - `NAME::test_scope::db` — a fresh database per test (the cleanest);
/// - `NAME::module_scope::db` — the module's shared database, cleaned before each test;
/// - `NAME::suite_scope::db` — the run's shared database, cleaned before each test (the
///   fastest).
///
/// Each `db` is a test-scoped fixture giving a [`TestDb`](crate::TestDb), so a test module picks
/// its isolation with one word: `use crate::pg::module_scope::db;`.
///
/// ```
/// use fixtures_postgres::{Databases, databases};
///
/// databases!(pub mod pg = Databases::new().migrations_dir("migrations"));
///
/// // In a test module:
/// // use crate::pg::suite_scope::db;
/// // #[rstest] #[tokio::test] async fn it_works(db: Lease<TestDb>) { let pool = db.pool(); ... }
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! databases {
    ($(#[$meta:meta])* $vis:vis mod $name:ident = $config:expr) => {
        $(#[$meta])*
        $vis mod $name {
            #[allow(unused_imports)]
            use super::*;

            /// The description every scope's fixtures use.
            pub fn config() -> &'static $crate::Databases {
                static CONFIG: ::std::sync::OnceLock<$crate::Databases> = ::std::sync::OnceLock::new();
                CONFIG.get_or_init(|| $config)
            }

            /// A fresh database per test (the cleanest).
            pub mod test_scope {
                #[allow(unused_imports)]
                use $crate::pg_server;

                /// A fresh clone of the template for this test, dropped after it.
                #[$crate::fixture(scope = test, crate = $crate::fixtures_core)]
                pub async fn db(
                    pg_server: $crate::Lease<$crate::PgServer>,
                    setup: &$crate::Setup,
                ) -> ::core::result::Result<$crate::TestDb, $crate::Error> {
                    super::config().fresh(&pg_server, setup).await
                }
            }

            /// One database per test module, cleaned before each of its tests.
            pub mod module_scope {
                #[allow(unused_imports)]
                use $crate::pg_server;

                /// The module's shared database.
                #[$crate::fixture(scope = module, crate = $crate::fixtures_core)]
                pub async fn shared_db(
                    pg_server: $crate::Lease<$crate::PgServer>,
                    setup: &$crate::Setup,
                ) -> ::core::result::Result<$crate::SharedDb, $crate::Error> {
                    super::config().shared(&pg_server, setup).await
                }

                /// This test's turn on the module's database, cleaned.
                #[$crate::fixture(scope = test, crate = $crate::fixtures_core)]
                pub async fn db(
                    shared_db: $crate::Lease<$crate::SharedDb>,
                    setup: &$crate::Setup,
                ) -> ::core::result::Result<$crate::TestDb, $crate::Error> {
                    shared_db.turn(setup).await
                }
            }

            /// The run's database, one connection inside a transaction rolled back after each
            /// test (opt-in, for code that takes a connection: see `fixtures_postgres::TxDb`).
            pub mod rollback_scope {
                #[allow(unused_imports)]
                use super::suite_scope::shared_db;

                /// This test's connection, inside a transaction rolled back after it.
                #[$crate::fixture(scope = test, crate = $crate::fixtures_core)]
                pub async fn db(
                    shared_db: $crate::Lease<$crate::SharedDb>,
                    setup: &$crate::Setup,
                ) -> ::core::result::Result<$crate::TxDb, $crate::Error> {
                    shared_db.rollback_turn(setup).await
                }
            }

            /// One database for the whole run, cleaned before each test (the fastest).
            pub mod suite_scope {
                #[allow(unused_imports)]
                use $crate::pg_server;

                /// The run's shared database.
                #[$crate::fixture(scope = suite, crate = $crate::fixtures_core)]
                pub async fn shared_db(
                    pg_server: $crate::Lease<$crate::PgServer>,
                    setup: &$crate::Setup,
                ) -> ::core::result::Result<$crate::SharedDb, $crate::Error> {
                    super::config().shared(&pg_server, setup).await
                }

                /// This test's turn on the run's database, cleaned.
                #[$crate::fixture(scope = test, crate = $crate::fixtures_core)]
                pub async fn db(
                    shared_db: $crate::Lease<$crate::SharedDb>,
                    setup: &$crate::Setup,
                ) -> ::core::result::Result<$crate::TestDb, $crate::Error> {
                    shared_db.turn(setup).await
                }
            }
        }
    };
}
