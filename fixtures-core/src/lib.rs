//! Scoped test fixtures for Rust: declared once, injected by `#[rstest]`, set up once per
//! test, module or suite, and always torn down.
//!
//! ```
//! use fixtures_core::prelude::*;
//! use std::sync::atomic::{AtomicUsize, Ordering};
//!
//! static SETUPS: AtomicUsize = AtomicUsize::new(0);
//!
//! /// A value shared by every test of the run, set up on first use.
//! #[fixture(scope = suite)]
//! fn config() -> Vec<&'static str> {
//!     SETUPS.fetch_add(1, Ordering::SeqCst);
//!     vec!["a", "b"]
//! }
//!
//! /// A fixture that depends on another: it is torn down before `config`.
//! #[fixture(scope = test)]
//! fn first(config: Lease<Vec<&'static str>>) -> String {
//!     config[0].to_string()
//! }
//!
//! // In a test file: `#[rstest] fn uses_it(first: Lease<String>) { assert_eq!(*first, "a"); }`
//! let value = first();
//! assert_eq!(*value, "a");
//! let again = config();
//! assert_eq!(again.len(), 2);
//! assert_eq!(SETUPS.load(Ordering::SeqCst), 1, "suite fixtures are set up once");
//! ```
//!
//! # Scopes: the cleanest or the fastest
//! - [`Scope::Test`] (`#[fixture(scope = test)]`, the default): a fresh instance per test,
//!   torn down when the test ends, whether it passed, failed or panicked.
//! - [`Scope::Module`]: one instance per test module (the module is derived from the test's
//!   path), torn down right after the last test of the module that runs in this process, as
//!   libtest selects them from the binary's own arguments (name filters, `--exact`, `--skip`,
//!   `--ignored`, `--include-ignored`); at the latest at exit.
//! - [`Scope::Suite`]: one instance per process, torn down at exit. Under `cargo nextest`
//!   (one process per test) [`run_id`] is shared by all processes of the run, so that
//!   cross-process resources (a container, a server) can be shared by the whole run.
//!
//! # Setup errors
//! A failing setup fails the test with a setup error: the fixture, its scope and instance, the
//! cause chain and a hint. It is remembered for that instance: the next test that needs the
//! fixture gets it at once. Attach your own advice with [`Hinted`].
//!
//! # Teardown and finalizers
//! At teardown the work registered with [`Setup::on_teardown`] / [`Setup::on_teardown_async`]
//! runs (newest first), then the value is dropped, then its dependencies are released (reverse
//! order of setup). At exit or on a signal, a test may still hold the value: the registered
//! work runs anyway, but the value is not dropped under that test — so release anything
//! outside the process (containers, servers, files) in `on_teardown`, not only in `Drop`. All of it runs on a background runtime owned by this
//! crate, never on a test's runtime, with a deadline (`FIXTURES_TEARDOWN_TIMEOUT`, default 30 s).
//! What is alive when the process ends is torn down by [`finalizer`]s: at normal exit, at
//! `std::process::exit`, and on SIGINT/SIGTERM/SIGHUP (then the process exits with
//! 128 + signal). Processes that only list tests (`--list`, nextest's list phase) set nothing
//! up and tear nothing down.
//!
//! # Settings
//! | variable | effect |
//! |---|---|
//! | `FIXTURES_SETUP_TIMEOUT` | deadline of one setup (default `300s`) |
//! | `FIXTURES_TEARDOWN_TIMEOUT` | deadline of one teardown or finalizer (default `30s`) |
//! | `FIXTURES_SIGNAL_DEADLINE` | time the finalizers get after a signal (default `20s`) |
//! | `FIXTURES_REPORT=1` | print the per-fixture timings report at exit |
//! | `FIXTURES_REPORT_FILE` | append the report as JSON lines to this file at exit |
//! | `FIXTURES_LOG` | log setup, lease, release and teardown to stderr (`debug`, `trace`) |
//! | `FIXTURES_RUN_ID` | share one run identity across processes you start yourself |
//! | `FIXTURES_SKIP=1` | skip the tests marked [`needs_services`] (read when the tests compile; see [`SkipSwitch`]) |
//!
//! # Through a re-export
//! The code `#[fixture]` generates names this crate `::fixtures_core`. A crate that reaches it
//! through a re-export instead (a test-support crate, a macro of another crate) says where with
//! `crate = path`. fixtures-postgres re-exports a `fixture` that does this by itself, so that
//! its users need no dependency on this crate.
//!
//! ```
//! mod support {
//!     pub(crate) use fixtures_core as fx;
//! }
//!
//! #[fixtures_core::fixture(scope = suite, crate = crate::support::fx)]
//! fn limit() -> u32 {
//!     10
//! }
//!
//! # fn main() {
//! assert_eq!(*limit(), 10);
//! # }
//! ```
//!
//! # Caveats
//! - A test that uses no fixture at all is invisible to the core: a module fixture then lives
//!   until exit instead of until its module's last test.
//! - The linker drops a library's fixtures when the test binary references nothing of it:
//!   `use that_crate as _;` keeps them.
#![deny(unsafe_code)]

mod config;
mod error;
mod exit;
pub mod finalizer;
mod fixture;
mod identity;
mod lease;
pub mod private;
pub mod record;
mod registry;
pub mod report;
pub mod runtime;
mod scope;
pub mod secret;
mod selection;
mod setup;
mod skip;
pub mod watchdog;

pub use config::{flag, parse_duration};
pub use error::{BoxError, Error, Hinted, SetupError, fmt_error_chain};
pub use fixture::{Fixture, SetupFn, SetupFuture};
pub use fixtures_core_macros::fixture;
/// Marks a test, or an inline module of tests, as needing Docker or Postgres: compiled with
/// `FIXTURES_SKIP=1`, each marked test is ignored, its reason on its line (see [`SkipSwitch`]).
///
/// Put it above the test's other attributes (`#[rstest]`, `#[test]`, `#[tokio::test]`), or
/// on an inline module (`mod db { … }`), where it marks every function with a `#[test]`-like
/// or `#[rstest]` attribute, nested inline modules included. Tests that a macro makes inside
/// the module are not seen: mark them inside the macro. With `FIXTURES_SKIP` off it changes
/// nothing.
///
/// ```
/// #[fixtures_core::needs_services]
/// mod db_tests {
///     // #[rstest] #[tokio::test] async fn inserts_a_row(db: Lease<TestDb>) { … }
///     pub fn helper() -> u32 {
///         1
///     }
/// }
/// # fn main() {
/// assert_eq!(db_tests::helper(), 1);
/// # }
/// ```
pub use fixtures_core_macros::needs_services;
pub use identity::{Runner, current_test, is_listing, module_of, run_id, runner};
pub use lease::Lease;
pub use registry::{FixtureMeta, StatsSnapshot, registered};
pub use scope::Scope;
pub use selection::{selected_tests, test_failed};
pub use setup::Setup;
pub use skip::{SKIP_VAR, SkipSwitch, services_allowed, skip_requested};

/// What a test file needs: `use fixtures_core::prelude::*;`.
pub mod prelude {
    pub use crate::{Lease, Scope, Setup, fixture, needs_services};
}

/// Not public API: used by the code `#[fixture]` generates.
#[doc(hidden)]
pub mod __private {
    pub use crate::registry::Registration;
    pub use fixtures_core_macros::fixture_via_postgres;
    pub use inventory;
}
