//! The external backend: a server given by `FIXTURES_PG_URL`, not ours. Only databases of our
//! own run are made on it, and none are kept for later runs: a watchdog of the run
//! ([`JANITOR`]) sweeps them when it is over, under nextest too.

use std::str::FromStr;
use std::time::Duration;

use fixtures_core::Setup;
use futures_util::future::BoxFuture;
use sqlx::postgres::PgConnectOptions;

use super::{Driver, Started};
use crate::address::Address;
use crate::error::Error;
use crate::parts::ConnectParts;

/// The role of the run's watchdog that sweeps an external server after the run.
pub(crate) const JANITOR: &str = "pg-external-janitor";

/// The external backend.
pub(crate) struct External;

/// In the run's [`JANITOR`] watchdog, once the run's owner died: sweeps what the run left on
/// the server of `FIXTURES_PG_URL` (inherited from the run).
pub(crate) fn janitor(watch: &fixtures_core::watchdog::Watch) {
    let url = std::env::var("FIXTURES_PG_URL").unwrap_or_default();
    if let Ok(options) = PgConnectOptions::from_str(&url) {
        crate::sweep::after_run(&options, &watch.run_id);
    }
}

impl Driver for External {
    fn start<'a>(&'a self, _setup: &'a Setup) -> BoxFuture<'a, Result<Started, Error>> {
        Box::pin(async move {
            let url = std::env::var("FIXTURES_PG_URL").unwrap_or_default();
            let address = address_of(&url, "FIXTURES_PG_URL")?;
            Ok(Started::new(address, false))
        })
    }

    /// Nothing of ours to wait for: a server that does not answer soon is misconfigured.
    fn ready_within(&self) -> Duration {
        Duration::from_secs(10)
    }

    fn not_ready(&self, error: Error) -> Error {
        Error::NoBackend {
            reason: format!(
                "FIXTURES_PG_URL={} does not answer: {error}",
                redact(&std::env::var("FIXTURES_PG_URL").unwrap_or_default())
            ),
            hint: "check the URL (host, port, user, password, database) and that the server \
                   accepts connections; unset FIXTURES_PG_URL to let the framework start a \
                   server of its own"
                .into(),
        }
    }

    fn is_ours(&self) -> bool {
        false
    }

    /// Once the server answered: the run's watchdog that sweeps what the run leaves (not
    /// fatal: without it, the next run's sweep removes it).
    fn answered(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {
            let ensured =
                tokio::task::spawn_blocking(|| fixtures_core::watchdog::ensure(JANITOR)).await;
            if let Ok(Err(e)) = ensured {
                tracing::warn!("starting the run's watchdog for the external server: {e}");
            }
        })
    }
}

/// The server of `url`, told by `setting` (the variable or argument that gave it).
pub(crate) fn address_of(url: &str, setting: &str) -> Result<Address, Error> {
    let opts = PgConnectOptions::from_str(url).map_err(|e| Error::Config {
        setting: setting.into(),
        value: redact(url),
        expected: format!("a postgres://user:password@host:port/database URL ({e})"),
    })?;
    Ok(Address {
        host: opts.get_host().to_owned(),
        port: opts.get_port(),
        socket_dir: None,
        user: opts.get_username().to_owned(),
        password: ConnectParts::parse(url)
            .map(|p| p.password)
            .unwrap_or_default(),
        admin_database: opts.get_database().unwrap_or("postgres").to_owned(),
    })
}

pub(crate) fn redact(url: &str) -> String {
    match (url.split_once("://"), url.rsplit_once('@')) {
        (Some((scheme, rest)), Some((_, host))) if rest.contains('@') => {
            let user = rest.split([':', '@']).next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}")
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_urls_hide_the_password() {
        assert_eq!(
            redact("postgres://bob:secret@db:5432/app"),
            "postgres://bob:***@db:5432/app"
        );
    }
}
