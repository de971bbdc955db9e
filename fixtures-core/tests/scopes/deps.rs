//! Fixtures that depend on fixtures: a suite root, a module middle, test leaves.

use fixtures_core::prelude::*;
use rstest::rstest;

use crate::markers::{Marked, mark};

#[fixture(scope = suite)]
pub fn dep_root(setup: &Setup) -> Marked {
    Marked::new(setup)
}

#[fixture(scope = module)]
pub fn dep_mid(dep_root: Lease<Marked>, setup: &Setup) -> (Lease<Marked>, Marked) {
    (dep_root, Marked::new(setup))
}

#[fixture(scope = test)]
pub fn dep_leaf(dep_mid: Lease<(Lease<Marked>, Marked)>, setup: &Setup) -> Marked {
    assert_eq!(dep_mid.1.fixture, "dep_mid");
    Marked::new(setup)
}

/// Same-scope chain, async: c needs b needs a.
#[fixture(scope = test)]
pub async fn chain_a(setup: &Setup) -> Marked {
    tokio::task::yield_now().await;
    Marked::new(setup)
}

#[fixture(scope = test)]
pub async fn chain_b(chain_a: Lease<Marked>, setup: &Setup) -> Marked {
    assert_eq!(chain_a.fixture, "chain_a");
    Marked::new(setup)
}

#[fixture(scope = test)]
pub fn chain_c(chain_b: Lease<Marked>, setup: &Setup) -> Marked {
    assert_eq!(chain_b.fixture, "chain_b");
    Marked::new(setup)
}

#[rstest]
fn leaf_sees_the_whole_chain(dep_leaf: Lease<Marked>) {
    mark(
        "test",
        "deps::leaf_sees_the_whole_chain",
        &dep_leaf.instance,
    );
    assert_eq!(dep_leaf.fixture, "dep_leaf");
}

#[rstest]
#[tokio::test]
async fn chains_are_built_in_order(chain_c: Lease<Marked>) {
    mark("test", "deps::chains_are_built_in_order", &chain_c.instance);
    assert_eq!(chain_c.fixture, "chain_c");
}
