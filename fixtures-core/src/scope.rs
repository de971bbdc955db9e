//! The three lifetimes a fixture instance can have.

use std::fmt;

/// How long one instance of a fixture lives, and who shares it.
///
/// Ordered from the shortest to the longest lifetime: a fixture may only depend on fixtures
/// whose scope is at least as long as its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// One instance per test, torn down when that test ends (passed, failed or panicked).
    /// The cleanest choice: nothing is shared.
    Test,
    /// One instance per test module, shared by its tests and torn down right after the last
    /// test of the module that runs in this process.
    Module,
    /// One instance for the whole run, torn down at process exit. The fastest choice.
    Suite,
}

impl Scope {
    /// The scope's name as written in `#[fixture(scope = ...)]`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Test => "test",
            Scope::Module => "module",
            Scope::Suite => "suite",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_ordered_from_shortest_to_longest() {
        assert!(Scope::Test < Scope::Module);
        assert!(Scope::Module < Scope::Suite);
    }

    #[test]
    fn scopes_display_as_their_keyword() {
        assert_eq!(Scope::Module.to_string(), "module");
        assert_eq!(Scope::Suite.as_str(), "suite");
    }
}
