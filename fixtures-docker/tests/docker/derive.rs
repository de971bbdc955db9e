//! Derived images: built once through the engine from a local base (no registry), reused by
//! later starts, and a step that cannot run is a clear error naming the base image.

use fixtures_core::prelude::*;
use fixtures_docker::{Container, Error, WaitFor};

use crate::common::{self, pg, svc};

/// A step of this test's own (a marker per test binary build, so that the image is this
/// test's), the marker printed by the container's command.
fn steps() -> String {
    format!(
        "RUN echo derived-{} > /derived-marker",
        env!("CARGO_PKG_VERSION")
    )
}

#[fixture(scope = test)]
async fn derived(setup: &Setup) -> Result<Container, Error> {
    let spec = pg()
        .derive(steps())
        .user("postgres")
        .entrypoint([
            "sh",
            "-c",
            "cat /derived-marker; id -un; echo started; sleep 60",
        ])
        .stop_timeout(std::time::Duration::from_secs(1))
        // The last line: the lines before it are in the logs when it is.
        .wait_for(WaitFor::log_line("started"));
    fixtures_docker::start(setup, spec).await
}

fn image_of(id: &str) -> String {
    common::engine(async |d| {
        d.inspect_container(id, None)
            .await
            .unwrap()
            .config
            .unwrap()
            .image
            .unwrap()
    })
}

#[test]
fn a_derived_image_is_built_once_and_used_by_later_starts() {
    let first = derived::fixture().try_lease().expect("starts");
    let image = image_of(first.id());
    assert!(image.starts_with("fixtures-derived:"), "{image}");
    let logs = common::block_on(first.logs(10)).unwrap();
    assert!(
        logs.contains(&format!("derived-{}", env!("CARGO_PKG_VERSION"))),
        "{logs}"
    );
    assert!(logs.contains("postgres"), "runs as the spec's user: {logs}");
    let labels = common::engine(async |d| {
        d.inspect_image(&image)
            .await
            .unwrap()
            .config
            .unwrap()
            .labels
            .unwrap()
    });
    assert_eq!(labels["org.fixtures.derived"], "true");
    assert_eq!(labels["org.fixtures.derived-from"], pg().image_ref());
    let built = common::engine(async |d| d.inspect_image(&image).await.unwrap().id.unwrap());
    drop(first);

    let second = derived::fixture().try_lease().expect("starts again");
    assert_eq!(image_of(second.id()), image, "the same derived image");
    let again = common::engine(async |d| d.inspect_image(&image).await.unwrap().id.unwrap());
    assert_eq!(again, built, "not rebuilt");
}

#[fixture(scope = test)]
async fn underivable(setup: &Setup) -> Result<Container, Error> {
    // The testsvc image has no shell: a `RUN` step cannot run in it.
    fixtures_docker::start(setup, svc().derive("RUN echo no shell here")).await
}

#[test]
fn a_step_that_cannot_run_is_a_clear_error_and_leaves_nothing() {
    let err = underivable::fixture()
        .try_lease()
        .expect_err("cannot build");
    let text = err.to_string();
    eprintln!("{text}");
    assert!(
        text.contains("cannot build the image derived from"),
        "{text}"
    );
    assert!(text.contains(&svc().image_ref()), "{text}");
    assert!(text.contains("derive"), "{text}");
    // The build's steps before the failing one leave no image behind (its intermediate
    // containers are the engine's to remove).
    let base_id = common::engine(async |d| {
        d.inspect_image(&svc().image_ref())
            .await
            .unwrap()
            .id
            .unwrap()
    });
    let out = std::process::Command::new("docker")
        .args([
            "images",
            "-q",
            "--filter",
            "dangling=true",
            "--filter",
            &format!("label=org.fixtures.derived-from-id={base_id}"),
        ])
        .output()
        .unwrap();
    let left = String::from_utf8_lossy(&out.stdout);
    assert!(
        left.trim().is_empty(),
        "images left by the failed build: {left}"
    );
}
