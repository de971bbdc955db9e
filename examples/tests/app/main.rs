//! The task tracker's tests, written as a user of the fixtures framework writes them.
//!
//! The same test bodies (`cases.rs`) run in every scope; each scope's module differs by one
//! word, the `use` of its `db` fixture:
//! - `test_scope`: a fresh database per test (the cleanest);
//! - `module_scope`: one database for the module, cleaned before each test;
//! - `suite_scope`: one database for the run, cleaned before each test (the fastest).

mod cases;
mod compose;
mod containers;
mod fixtures;
mod module_scope;
mod redis;
mod serial;
mod suite_scope;
mod test_scope;
