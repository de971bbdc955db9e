//! The 50 tests on the framework's `suite_scope`: one database for the run, restored to the template before each test.
//!
//! Run by `cargo xtask bench`; by hand: `cargo test --test ours_suite_scope -- --ignored`.

mod common;
mod ours;

realapp_tests! {
    #[ignore = "benchmark: run by cargo xtask bench"]
    spawn_app = crate::ours::spawn_app(crate::ours::pg::suite_scope::db::fixture());
}
