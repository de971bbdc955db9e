//! `FIXTURES_LOG` shows the framework's lines on stderr even when the app installed its own
//! `tracing` subscriber first (as web apps' test helpers do).

use std::process::Command;

use fixtures_core::prelude::*;

#[fixture(scope = test)]
async fn answer() -> Result<u32, std::convert::Infallible> {
    Ok(42)
}

/// The app's subscriber: swallows everything.
struct Silent;

impl tracing::Subscriber for Silent {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, _: &tracing::Event<'_>) {}
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn fixtures_log_writes_to_stderr_under_the_apps_own_subscriber() {
    if std::env::var_os("LOGGING_CHILD").is_some() {
        tracing::subscriber::set_global_default(Silent).expect("the app's subscriber first");
        let value = answer::fixture().try_lease().unwrap();
        assert_eq!(*value, 42);
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "fixtures_log_writes_to_stderr_under_the_apps_own_subscriber",
        ])
        .env("LOGGING_CHILD", "1")
        .env("FIXTURES_LOG", "debug")
        .env_remove("NEXTEST")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("set up") && stderr.contains("answer"),
        "no framework line on stderr:\n{stderr}"
    );
}
