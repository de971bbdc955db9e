//! The skip switch: `FIXTURES_SKIP=1` skips every test that needs Docker or Postgres — the
//! opposite of `FIXTURES_REQUIRE_DOCKER`, as `go test -short` or a `SKIP_DATABASE_TESTS`
//! variable are elsewhere.
//!
//! libtest and nextest have no skip at run time: a test that has started can only pass or fail.
//! So the switch works where the tests are declared. [`needs_services`] marks a test (or an
//! inline module of tests); compiled with `FIXTURES_SKIP=1`, each marked test gets
//! `#[ignore = "…"]` and is reported as ignored (libtest) or skipped (nextest), with the reason
//! on its line, and nothing of it runs. cargo compiles the tests again when the variable
//! changes.
//!
//! A test that needs a service but is not marked is not silently passed: what would start the
//! service ([`services_allowed`], called by fixtures-docker and fixtures-postgres before they
//! start or connect to anything) fails it with [`SkipSwitch`], which says to mark it.
//!
//! ```
//! use fixtures_core::needs_services;
//!
//! // In a test file, `#[rstest]` / `#[tokio::test]` follow the mark; the test is then
//! // reported `ignored, FIXTURES_SKIP is set: …` when compiled with FIXTURES_SKIP=1.
//! #[needs_services]
//! fn talks_to_postgres() -> bool {
//!     fixtures_core::services_allowed("the run's Postgres server").is_ok()
//! }
//!
//! # fn main() {
//! assert_eq!(talks_to_postgres(), !fixtures_core::skip_requested());
//! # }
//! ```
//!
//! [`needs_services`]: crate::needs_services

use std::fmt;

use crate::config::flag;

/// The switch's variable.
pub const SKIP_VAR: &str = "FIXTURES_SKIP";

/// The variable the switch excludes.
const REQUIRE_VAR: &str = "FIXTURES_REQUIRE_DOCKER";

/// Why a service was not started: the skip switch is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkipSwitch {
    /// What was about to start (`a Docker container`, `the run's Postgres server`, …).
    pub service: &'static str,
    /// `FIXTURES_REQUIRE_DOCKER` is set too: the two ask for opposite things.
    pub conflict: bool,
}

impl fmt::Display for SkipSwitch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.conflict {
            write!(
                f,
                "{SKIP_VAR} and {REQUIRE_VAR} are both set: one skips the tests that need \
                 Docker or Postgres, the other fails them without Docker; {} was not started. \
                 Unset one of them",
                self.service
            )
        } else {
            write!(
                f,
                "{SKIP_VAR} is set: {} was not started, and this test needs it but is not \
                 marked for the skip switch. Put #[needs_services] (from fixtures_postgres, \
                 fixtures_docker or fixtures_core) above the test's #[rstest] / #[test] \
                 attributes, or on its inline module, so that it is reported as ignored; or \
                 unset {SKIP_VAR} to run it",
                self.service
            )
        }
    }
}

impl std::error::Error for SkipSwitch {}

/// True when `FIXTURES_SKIP` is on (`1`, `true`, `yes`, `on`).
pub fn skip_requested() -> bool {
    flag(SKIP_VAR)
}

/// Ok when services may start: the skip switch is off. Called before anything of `service` is
/// started or connected to, so that with the switch on nothing is.
///
/// # Errors
///
/// [`SkipSwitch`] when `FIXTURES_SKIP` is on (with `conflict` when `FIXTURES_REQUIRE_DOCKER`
/// is on too).
pub fn services_allowed(service: &'static str) -> Result<(), SkipSwitch> {
    if !skip_requested() {
        return Ok(());
    }
    Err(SkipSwitch {
        service,
        conflict: flag(REQUIRE_VAR),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unmarked_error_says_what_to_do() {
        let e = SkipSwitch {
            service: "a Docker container",
            conflict: false,
        }
        .to_string();
        assert!(e.contains("a Docker container was not started"), "{e}");
        assert!(e.contains("#[needs_services]"), "{e}");
        assert!(e.contains("unset FIXTURES_SKIP"), "{e}");
    }

    #[test]
    fn the_conflict_names_both_variables() {
        let e = SkipSwitch {
            service: "the run's Postgres server",
            conflict: true,
        }
        .to_string();
        assert!(
            e.contains("FIXTURES_SKIP and FIXTURES_REQUIRE_DOCKER are both set"),
            "{e}"
        );
    }
}
