//! 3 modules × 5 tests, each using a test, a module and a suite fixture (plus one ignored
//! test per module), recording markers.

use fixtures_core::prelude::*;

use crate::markers::{Marked, mark};

#[fixture(scope = suite)]
pub fn suite_res(setup: &Setup) -> Marked {
    Marked::new(setup)
}

#[fixture(scope = module)]
pub fn module_res(setup: &Setup) -> Marked {
    Marked::new(setup)
}

#[fixture(scope = test)]
pub fn test_res(setup: &Setup) -> Marked {
    Marked::new(setup)
}

/// The body every scenario test runs: checks what it received and marks that it ran.
pub fn body(suite: &Marked, module: &Marked, test: &Marked) {
    let me = fixtures_core::current_test().expect("a test thread");
    assert_eq!(suite.instance, "suite");
    assert_eq!(module.instance, fixtures_core::module_of(&me));
    assert_eq!(test.instance, me);
    mark("test", &me, module.instance.as_str());
    std::thread::sleep(std::time::Duration::from_millis(15));
}

macro_rules! scenario_module {
    ($m:ident) => {
        pub mod $m {
            use super::*;
            use rstest::rstest;

            #[rstest]
            fn t1(suite_res: Lease<Marked>, module_res: Lease<Marked>, test_res: Lease<Marked>) {
                body(&suite_res, &module_res, &test_res);
            }
            #[rstest]
            fn t2(suite_res: Lease<Marked>, module_res: Lease<Marked>, test_res: Lease<Marked>) {
                body(&suite_res, &module_res, &test_res);
            }
            #[rstest]
            fn t3(suite_res: Lease<Marked>, module_res: Lease<Marked>, test_res: Lease<Marked>) {
                body(&suite_res, &module_res, &test_res);
            }
            #[rstest]
            fn t4(suite_res: Lease<Marked>, module_res: Lease<Marked>, test_res: Lease<Marked>) {
                body(&suite_res, &module_res, &test_res);
            }
            #[rstest]
            #[tokio::test]
            async fn t5(
                suite_res: Lease<Marked>,
                module_res: Lease<Marked>,
                test_res: Lease<Marked>,
            ) {
                tokio::task::yield_now().await;
                body(&suite_res, &module_res, &test_res);
            }
            #[rstest]
            #[ignore = "selected only with --ignored / --include-ignored"]
            fn t6_ignored(
                suite_res: Lease<Marked>,
                module_res: Lease<Marked>,
                test_res: Lease<Marked>,
            ) {
                body(&suite_res, &module_res, &test_res);
            }
        }
    };
}

scenario_module!(scenario_a);
scenario_module!(scenario_b);
scenario_module!(scenario_c);
