//! The one error type of the crate: one variant per operation, with what a user needs to act.

use std::time::Duration;

/// What went wrong with a container, an image, a network or the engine.
///
/// Every variant names the container (or image, or network) and, where there is one, says
/// what to do about it. Engine errors are carried as text: the engine client's own types are
/// not part of this crate's API.
#[non_exhaustive]
#[derive(thiserror::Error)]
pub enum Error {
    /// The skip switch (`FIXTURES_SKIP`) is on: no container is started.
    #[error(transparent)]
    SkipSwitch(#[from] fixtures_core::SkipSwitch),
    /// The Docker engine could not be reached (remembered for the process).
    #[error(
        "cannot reach the Docker engine at {tried}: {cause}; hint: start Docker, or point \
         DOCKER_HOST at a running engine (e.g. DOCKER_HOST=unix:///run/user/1000/docker.sock \
         or DOCKER_HOST=tcp://HOST:2375); Postgres fixtures can run without Docker: \
         FIXTURES_PG_BACKEND=local"
    )]
    EngineUnreachable {
        /// The socket or address tried, and where it came from.
        tried: String,
        /// Why it failed.
        cause: String,
    },
    /// An environment variable of this crate has a value it cannot use.
    #[error(
        "environment variable {var}={value:?} is not valid: expected {expected}; fix or unset it"
    )]
    Config {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// The image is not present locally and could not be pulled.
    #[error(
        "image `{image}` is not present locally and could not be pulled: {cause}; hint: build or \
         load it first (`docker build -t {image} DIR`, or `docker load -i FILE.tar`){}",
        env_hint(.env_var.as_deref())
    )]
    ImageUnavailable {
        /// The image reference (`name:tag`).
        image: String,
        /// The environment variable that selects another image, when the spec knows it.
        env_var: Option<String>,
        /// Why the pull failed.
        cause: String,
    },
    /// The spec cannot work as written (found before anything is created).
    #[error("the container spec for image `{image}` is invalid: {problem}")]
    InvalidSpec {
        /// The image reference.
        image: String,
        /// What is wrong, and how to fix it.
        problem: String,
    },
    /// A derived image (a spec's `derive` steps) could not be built.
    #[error(
        "cannot build the image derived from `{image}`: {cause}; hint: check the spec's \
         `derive` steps against the image (a step that needs the network cannot run here \
         without a registry)"
    )]
    Build {
        /// The base image reference.
        image: String,
        /// Why, with the build's last lines.
        cause: String,
    },
    /// The engine refused to create the container.
    #[error("cannot create a container from image `{image}`: {cause}")]
    Create {
        /// The image reference.
        image: String,
        /// The engine's answer.
        cause: String,
    },
    /// The container was created but did not start (it has been removed).
    #[error("container `{container}` (image `{image}`) was created but did not start: {cause}")]
    Start {
        /// The container's name.
        container: String,
        /// The image reference.
        image: String,
        /// The engine's answer.
        cause: String,
    },
    /// The container exited before it was ready (reported at once, not at the deadline).
    #[error(
        "container `{container}` (image `{image}`) exited with code {exit_code} before it was \
         ready{}; its last log lines:\n{logs}",
        detail(.error.as_deref())
    )]
    ExitedEarly {
        /// The container's name.
        container: String,
        /// The image reference.
        image: String,
        /// Its exit code.
        exit_code: i64,
        /// The engine's error about the container, if any (e.g. an entrypoint not found).
        error: Option<String>,
        /// The last lines of its log.
        logs: String,
    },
    /// The container did not become ready before the deadline (it has been removed).
    #[error(
        "container `{container}` (image `{image}`) was not ready within {deadline:?} (set \
         with `ContainerSpec::startup_timeout`); last probe error: {last_error}; its last log \
         lines:\n{logs}"
    )]
    NotReady {
        /// The container's name.
        container: String,
        /// The image reference.
        image: String,
        /// The overall readiness deadline.
        deadline: Duration,
        /// What the last failing probe said.
        last_error: String,
        /// The last lines of its log.
        logs: String,
    },
    /// Inspecting, listing or renaming a container failed.
    #[error("cannot {operation} container `{container}`: {cause}")]
    Engine {
        /// What was being done (`inspect`, `list`, `rename`...).
        operation: &'static str,
        /// The container's name or id.
        container: String,
        /// The engine's answer.
        cause: String,
    },
    /// Reading a container's logs failed.
    #[error("cannot read the logs of container `{container}`: {cause}")]
    Logs {
        /// The container's name.
        container: String,
        /// The engine's answer.
        cause: String,
    },
    /// Running a command in a container failed (not: the command exited non-zero).
    #[error("cannot run {cmd:?} in container `{container}`: {cause}")]
    Exec {
        /// The container's name.
        container: String,
        /// The command.
        cmd: Vec<String>,
        /// The engine's answer, or the deadline that passed.
        cause: String,
    },
    /// Removing a container failed.
    #[error(
        "cannot remove container `{container}`: {cause}; remove it with `docker rm -f {container}`"
    )]
    Remove {
        /// The container's name.
        container: String,
        /// The engine's answer.
        cause: String,
    },
    /// Creating or removing a network failed.
    #[error("cannot {operation} network `{network}`: {cause}")]
    Network {
        /// `create` or `remove`.
        operation: &'static str,
        /// The network's name.
        network: String,
        /// The engine's answer.
        cause: String,
    },
    /// Creating or removing a named volume failed.
    #[error("cannot {operation} volume `{volume}`: {cause}")]
    Volume {
        /// `create` or `remove`.
        operation: &'static str,
        /// The volume's name.
        volume: String,
        /// The engine's answer.
        cause: String,
    },
    /// A compose file cannot be used as it is.
    #[error(
        "compose file {file}{}: {problem}",
        line.map(|l| format!(", line {l}")).unwrap_or_default()
    )]
    Compose {
        /// The file.
        file: String,
        /// The line of the key at fault, when known.
        line: Option<usize>,
        /// What is wrong, and what to do.
        problem: String,
    },
    /// A service of a compose file did not start.
    #[error("compose file {file}: service `{service}` did not start")]
    ComposeService {
        /// The file.
        file: String,
        /// The service.
        service: String,
        /// Why.
        #[source]
        source: Box<Error>,
    },
    /// The state shared by the processes of a run (lock and lease files) could not be used.
    #[error(
        "cannot use the shared state at {path}: {cause}; hint: check FIXTURES_STATE_DIR and its permissions"
    )]
    SharedState {
        /// The file or folder.
        path: String,
        /// Why.
        cause: String,
    },
    /// A background task of this crate panicked or was cancelled.
    #[error("the {operation} task failed: {cause}")]
    Task {
        /// What the task did.
        operation: &'static str,
        /// The panic message or cancellation.
        cause: String,
    },
}

/// As `{}` shows it: what `.expect()` and `unwrap()` print is readable, not a struct dump.
impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fixtures_core::fmt_error_chain(self, f)
    }
}

fn env_hint(var: Option<&str>) -> String {
    match var {
        Some(var) => format!(", or set {var} to an image you have"),
        None => String::new(),
    }
}

fn detail(error: Option<&str>) -> String {
    match error {
        Some(e) if !e.is_empty() => format!(" ({e})"),
        _ => String::new(),
    }
}

/// The text of an error and its causes, `outer: inner: innermost`, without repeats.
pub(crate) fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = Some(err);
    while let Some(e) = cur {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = e.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unavailable_image_names_the_image_the_fix_and_the_env_var() {
        let e = Error::ImageUnavailable {
            image: "fixtures-local/postgres:15".into(),
            env_var: Some("FIXTURES_TEST_POSTGRES_IMAGE".into()),
            cause: "pull access denied".into(),
        };
        let text = e.to_string();
        for part in [
            "fixtures-local/postgres:15",
            "docker build",
            "docker load",
            "FIXTURES_TEST_POSTGRES_IMAGE",
            "pull access denied",
        ] {
            assert!(text.contains(part), "{part} missing from {text}");
        }
    }

    #[test]
    fn a_cause_chain_is_joined_without_repeats() {
        let inner = std::io::Error::other("connection refused");
        let outer = std::io::Error::other(inner);
        assert_eq!(chain(&outer), "connection refused");
    }
}
