//! Settings of fixtures-postgres, read from the environment.

use crate::error::Error;

fn number(var: &str, default: u32, max: u32) -> Result<u32, Error> {
    match std::env::var(var) {
        Err(_) => Ok(default),
        Ok(v) => match v.trim().parse::<u32>() {
            Ok(n) if n <= max => Ok(n),
            _ => Err(Error::Config {
                setting: var.into(),
                value: v,
                expected: format!("a whole number from 0 to {max}"),
            }),
        },
    }
}

/// `FIXTURES_PG_MAX_CONNECTIONS`: `max_connections` of servers we start (default 300).
pub(crate) fn max_connections() -> Result<u32, Error> {
    number("FIXTURES_PG_MAX_CONNECTIONS", 300, 10_000).map(|n| n.max(10))
}

/// Idle connections to the maintenance database a process keeps (`PgServer::recycle`).
pub(crate) const SPARE: usize = 2;

/// The size of the framework's own pool on the maintenance database: claims, warm-pool
/// refills and drops in the background under `cargo test`; a nextest process runs one test.
pub(crate) fn admin_pool_max() -> u32 {
    match fixtures_core::runner() {
        fixtures_core::Runner::CargoTest => 8,
        fixtures_core::Runner::Nextest => 3,
    }
}

/// `FIXTURES_PG_POOL_MAX`: connections in each test's pool (default 4).
pub(crate) fn pool_max() -> Result<u32, Error> {
    number("FIXTURES_PG_POOL_MAX", 4, 1_000).map(|n| n.max(1))
}

/// `FIXTURES_PG_LANES`: how many copies of a module's or the suite's shared database tests may
/// use at once (default: the machine's parallelism, as the test runners' default; 1 makes the
/// tests of a module take turns on one database).
pub(crate) fn lanes() -> Result<u32, Error> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let default = u32::try_from(cores).unwrap_or(64).clamp(1, 64);
    number("FIXTURES_PG_LANES", default, 64).map(|n| n.max(1))
}

/// `FIXTURES_PG_WARM`: databases kept cloned ahead for test scope (default 4; 0 turns it off).
pub(crate) fn warm() -> Result<u32, Error> {
    number("FIXTURES_PG_WARM", 4, 64)
}

/// `FIXTURES_PG_KEEP_FAILED=1`: keep the database of a failed test (and print a `psql` command).
pub(crate) fn keep_failed() -> bool {
    fixtures_core::flag("FIXTURES_PG_KEEP_FAILED")
}

/// `FIXTURES_PG_KEEP_TTL`: how long kept databases live before a later run removes them
/// (default 24 h).
pub(crate) fn keep_ttl() -> Result<std::time::Duration, Error> {
    match std::env::var("FIXTURES_PG_KEEP_TTL") {
        Err(_) => Ok(std::time::Duration::from_secs(24 * 3600)),
        Ok(v) => fixtures_core::parse_duration(&v).ok_or(Error::Config {
            setting: "FIXTURES_PG_KEEP_TTL".into(),
            value: v,
            expected: "a duration such as 30s, 10m or 3600".into(),
        }),
    }
}

/// `FIXTURES_PG_IDLE_STOP`: how long a server we started may have no client at all before it
/// stops itself (default `5s`; `off` or `0` never): what ends it when the whole run was killed
/// at once, its watchdog included (a CI job cancelled). Whole seconds, at least 2.
pub(crate) fn idle_stop() -> Result<u32, Error> {
    let var = "FIXTURES_PG_IDLE_STOP";
    match std::env::var(var) {
        Err(_) => Ok(5),
        Ok(v) if v.trim() == "off" || v.trim() == "0" => Ok(0),
        Ok(v) => match fixtures_core::parse_duration(&v) {
            Some(d) if d.as_secs() <= 86_400 => Ok(u32::try_from(d.as_secs()).unwrap_or(5).max(2)),
            _ => Err(Error::Config {
                setting: var.into(),
                value: v,
                expected: "a duration such as 5s or 1m, or off".into(),
            }),
        },
    }
}
