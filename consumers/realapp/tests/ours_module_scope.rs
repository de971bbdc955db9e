//! The 50 tests on the framework's `module_scope`: one database per module (5 modules of 10 tests), restored to the template before each test.
//!
//! Run by `cargo xtask bench`; by hand: `cargo test --test ours_module_scope -- --ignored`.

mod common;
mod ours;

realapp_tests! {
    #[ignore = "benchmark: run by cargo xtask bench"]
    spawn_app = crate::ours::spawn_app(crate::ours::pg::module_scope::db::fixture());
}
