//! Settings read from the environment, checked once, with errors that name the variable.

use std::sync::OnceLock;
use std::time::Duration;

use crate::error::Error;

/// Settings of the core, read from `FIXTURES_*` environment variables.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// `FIXTURES_SETUP_TIMEOUT`: the longest a setup (and a wait for another thread's setup) may take.
    pub(crate) setup_timeout: Duration,
    /// `FIXTURES_TEARDOWN_TIMEOUT`: the longest one teardown step or finalizer may take.
    pub(crate) teardown_timeout: Duration,
    /// `FIXTURES_SIGNAL_DEADLINE`: after SIGINT/SIGTERM/SIGHUP, how long all finalizers may take.
    pub(crate) signal_deadline: Duration,
}

impl Config {
    /// The settings, or the first malformed variable (remembered: asked again, same answer).
    pub(crate) fn get() -> Result<&'static Config, Error> {
        static CONFIG: OnceLock<Result<Config, Error>> = OnceLock::new();
        CONFIG
            .get_or_init(|| {
                Ok(Config {
                    setup_timeout: duration_var(
                        "FIXTURES_SETUP_TIMEOUT",
                        Duration::from_secs(300),
                    )?,
                    teardown_timeout: duration_var(
                        "FIXTURES_TEARDOWN_TIMEOUT",
                        Duration::from_secs(30),
                    )?,
                    signal_deadline: duration_var(
                        "FIXTURES_SIGNAL_DEADLINE",
                        Duration::from_secs(20),
                    )?,
                })
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The settings, falling back to the defaults when a variable is malformed (for exit paths,
    /// which must not fail).
    pub(crate) fn or_default() -> Config {
        Config::get().cloned().unwrap_or(Config {
            setup_timeout: Duration::from_secs(300),
            teardown_timeout: Duration::from_secs(30),
            signal_deadline: Duration::from_secs(20),
        })
    }
}

/// Reads a duration variable: `30`, `30s`, `500ms`, `2m`.
pub(crate) fn duration_var(name: &'static str, default: Duration) -> Result<Duration, Error> {
    match std::env::var(name) {
        Err(std::env::VarError::NotPresent) => Ok(default),
        Err(std::env::VarError::NotUnicode(v)) => Err(Error::Config {
            var: name,
            value: v.to_string_lossy().into_owned(),
            expected: "a duration such as 30s, 500ms or 2m",
        }),
        Ok(v) => parse_duration(&v).ok_or(Error::Config {
            var: name,
            value: v,
            expected: "a duration such as 30s, 500ms or 2m",
        }),
    }
}

/// Parses `30`, `30s`, `500ms`, `2m` (whitespace around is ignored; zero is refused).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().ok()?;
    let d = match unit.trim() {
        "" | "s" => Duration::from_secs(n),
        "ms" => Duration::from_millis(n),
        "m" => Duration::from_secs(n.checked_mul(60)?),
        _ => return None,
    };
    (!d.is_zero()).then_some(d)
}

/// True when a boolean-ish variable is set to `1`, `true`, `yes` or `on`.
pub fn flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_seconds_milliseconds_and_minutes() {
        assert_eq!(parse_duration("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration(" 45s "), Some(Duration::from_secs(45)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
    }

    #[test]
    fn garbage_and_zero_durations_are_refused() {
        for bad in [
            "",
            "abc",
            "10h",
            "-5s",
            "0",
            "1.5s",
            "99999999999999999999m",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }
}
