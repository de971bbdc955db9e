//! A container described as data: what to run, how to reach it, when it is ready.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::mount::Mount;
use crate::reference::split_reference;
use crate::wait::WaitFor;

/// The default overall readiness deadline.
pub(crate) const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// What a container is: image, environment, command, ports, mounts, labels, network; and
/// when it counts as ready.
///
/// Built by value, one method per setting. Ports are published on `127.0.0.1` only, on random
/// free host ports; ask the started [`Container`](crate::Container) which.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use fixtures_docker::{ContainerSpec, WaitFor};
///
/// let spec = ContainerSpec::new("fixtures-local/postgres", "15")
///     .env("POSTGRES_PASSWORD", "secret")
///     .cmd(["-c", "fsync=off"])
///     .tmpfs("/var/lib/postgresql/data", "rw")
///     .expose(5432)
///     .wait_for(WaitFor::log_line_times("database system is ready to accept connections", 2))
///     .startup_timeout(Duration::from_secs(30));
/// assert_eq!(spec.image_ref(), "fixtures-local/postgres:15");
/// assert_eq!(spec.hash(), spec.clone().hash(), "the hash is stable");
/// ```
#[derive(Debug, Clone)]
pub struct ContainerSpec {
    pub(crate) image: String,
    pub(crate) tag: String,
    pub(crate) image_env: Option<String>,
    pub(crate) env: BTreeMap<String, String>,
    pub(crate) cmd: Option<Vec<String>>,
    pub(crate) entrypoint: Option<Vec<String>>,
    pub(crate) user: Option<String>,
    pub(crate) derive: Option<String>,
    pub(crate) ports: BTreeSet<u16>,
    pub(crate) tmpfs: BTreeMap<String, String>,
    pub(crate) mounts: BTreeSet<Mount>,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) network: Option<String>,
    pub(crate) aliases: BTreeSet<String>,
    pub(crate) stop_timeout: Option<Duration>,
    pub(crate) waits: Vec<WaitFor>,
    pub(crate) startup_timeout: Duration,
    pub(crate) reuse: bool,
    pub(crate) auto_remove: bool,
    /// In the host's process namespace (the crate's own reaper container only).
    pub(crate) host_pid: bool,
    /// Supplementary groups (the crate's own reaper container only).
    pub(crate) groups: Vec<String>,
}

fn strings<I, S>(args: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    args.into_iter().map(Into::into).collect()
}

impl ContainerSpec {
    /// A container of `image:tag` with the image's own command and nothing published.
    pub fn new(image: impl Into<String>, tag: impl Into<String>) -> Self {
        ContainerSpec {
            image: image.into(),
            tag: tag.into(),
            image_env: None,
            env: BTreeMap::new(),
            cmd: None,
            entrypoint: None,
            user: None,
            derive: None,
            ports: BTreeSet::new(),
            tmpfs: BTreeMap::new(),
            mounts: BTreeSet::new(),
            labels: BTreeMap::new(),
            network: None,
            aliases: BTreeSet::new(),
            stop_timeout: None,
            waits: Vec::new(),
            startup_timeout: DEFAULT_STARTUP_TIMEOUT,
            reuse: false,
            auto_remove: false,
            host_pid: false,
            groups: Vec::new(),
        }
    }

    /// A container of the image named by environment variable `var` (`name:tag`), or of
    /// `default` when it is unset or empty. When the image is missing, the error names `var`
    /// as the way to select another one.
    ///
    /// ```
    /// let spec = fixtures_docker::ContainerSpec::from_env(
    ///     "MY_UNSET_IMAGE_VARIABLE",
    ///     "fixtures-local/testsvc:latest",
    /// );
    /// assert_eq!(spec.image_ref(), "fixtures-local/testsvc:latest");
    /// ```
    pub fn from_env(var: &str, default: &str) -> Self {
        let reference = std::env::var(var)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| default.to_owned());
        let (image, tag) = split_reference(reference.trim());
        let mut spec = ContainerSpec::new(image, tag);
        spec.image_env = Some(var.to_owned());
        spec
    }

    /// Sets an environment variable (a later value for the same key wins).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// The command's arguments (after the entrypoint), replacing the image's `CMD`.
    pub fn cmd<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.cmd = Some(strings(args));
        self
    }

    /// The entrypoint, replacing the image's `ENTRYPOINT`.
    pub fn entrypoint<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.entrypoint = Some(strings(args));
        self
    }

    /// The user the container's process runs as (`name`, `uid` or `uid:gid`), replacing the
    /// image's `USER`.
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// Runs the container from an image derived from this spec's image by Dockerfile
    /// `steps` (the lines after `FROM`, e.g. a `RUN` that does slow one-time set-up). The
    /// engine builds it the first time (no registry is asked: `FROM` is the local image) and
    /// keeps it as a local image named `fixtures-derived/…`, keyed by the base image's id and
    /// the steps: later starts, in any run, pay nothing. Remove them with
    /// `docker image rm $(docker images -q --filter label=org.fixtures.derived=true)`.
    pub fn derive(mut self, steps: impl Into<String>) -> Self {
        self.derive = Some(steps.into());
        self
    }

    /// Publishes TCP `container_port` on `127.0.0.1`, on a random free host port.
    pub fn expose(mut self, container_port: u16) -> Self {
        self.ports.insert(container_port);
        self
    }

    /// Mounts a tmpfs at `path` with mount `options` (e.g. `"rw,size=256m"`, or `""`).
    pub fn tmpfs(mut self, path: impl Into<String>, options: impl Into<String>) -> Self {
        self.tmpfs.insert(path.into(), options.into());
        self
    }

    /// Bind-mounts host path `host` at `container`.
    pub fn bind(
        mut self,
        host: impl Into<String>,
        container: impl Into<String>,
        read_only: bool,
    ) -> Self {
        self.mounts.insert(Mount::Bind {
            host: host.into(),
            container: container.into(),
            read_only,
        });
        self
    }

    /// Mounts named volume `name` at `container` (created by the engine if missing; named
    /// volumes outlive the container).
    pub fn volume(mut self, name: impl Into<String>, container: impl Into<String>) -> Self {
        self.mounts.insert(Mount::Volume {
            name: name.into(),
            container: container.into(),
        });
        self
    }

    /// Adds a label of your own (the `org.fixtures.*` labels are set by this crate).
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// Attaches the container to `network` (one made by [`network`](crate::network), or
    /// an existing one) instead of the default bridge.
    pub fn network(mut self, network: impl Into<String>) -> Self {
        self.network = Some(network.into());
        self
    }

    /// A name under which other containers on the same network reach this one.
    pub fn alias(mut self, alias: impl Into<String>) -> Self {
        self.aliases.insert(alias.into());
        self
    }

    /// How long the engine waits after the stop signal before killing the container.
    pub fn stop_timeout(mut self, d: Duration) -> Self {
        self.stop_timeout = Some(d);
        self
    }

    /// Adds a readiness condition; all of them must pass. Without any, the container is
    /// ready once it runs.
    pub fn wait_for(mut self, w: WaitFor) -> Self {
        self.waits.push(w);
        self
    }

    /// The overall readiness deadline (default 60 s).
    pub fn startup_timeout(mut self, d: Duration) -> Self {
        self.startup_timeout = d;
        self
    }

    /// Opts in to reuse across runs: the container survives the run and a later run with the
    /// same spec adopts it. Takes effect only when `FIXTURES_REUSE=1` is set too. Reused
    /// containers are removed once idle for `FIXTURES_REUSE_TTL` (default `30m`).
    pub fn reuse(mut self, yes: bool) -> Self {
        self.reuse = yes;
        self
    }

    /// Lets the engine remove the container as soon as it stops by itself (its process
    /// ended), as well as at teardown: for a container that may end on its own when the run
    /// is gone.
    pub fn auto_remove(mut self, yes: bool) -> Self {
        self.auto_remove = yes;
        self
    }

    /// The first readiness condition that probes a port the spec does not expose.
    pub(crate) fn unexposed_probe(&self) -> Option<(&WaitFor, u16)> {
        self.waits.iter().find_map(|w| match w {
            WaitFor::Tcp { port } | WaitFor::Http { port, .. } if !self.ports.contains(port) => {
                Some((w, *port))
            }
            _ => None,
        })
    }

    /// `image:tag`.
    pub fn image_ref(&self) -> String {
        if self.tag.is_empty() {
            self.image.clone()
        } else {
            format!("{}:{}", self.image, self.tag)
        }
    }

    /// A stable hex digest (SHA-256) of everything that defines the container: image, tag,
    /// environment, command, entrypoint, user, derivation steps, ports, tmpfs, mounts, labels, network, aliases and
    /// stop timeout. Readiness conditions, the startup deadline and the reuse flag say how
    /// the container is waited for and kept, not what it is, and are left out.
    pub fn hash(&self) -> String {
        let mut h = Sha256::new();
        let mut field = |tag: &str, parts: &[&str]| {
            h.update(tag.as_bytes());
            h.update((parts.len() as u64).to_le_bytes());
            for p in parts {
                h.update((p.len() as u64).to_le_bytes());
                h.update(p.as_bytes());
            }
        };
        field("fixtures-docker/spec/v1", &[]);
        field("image", &[&self.image, &self.tag]);
        for (k, v) in &self.env {
            field("env", &[k, v]);
        }
        if let Some(cmd) = &self.cmd {
            field("cmd", &cmd.iter().map(String::as_str).collect::<Vec<_>>());
        }
        if let Some(ep) = &self.entrypoint {
            field(
                "entrypoint",
                &ep.iter().map(String::as_str).collect::<Vec<_>>(),
            );
        }
        if let Some(user) = &self.user {
            field("user", &[user]);
        }
        if let Some(steps) = &self.derive {
            field("derive", &[steps]);
        }
        if self.auto_remove {
            field("auto-remove", &[]);
        }
        for p in &self.ports {
            field("port", &[&p.to_string()]);
        }
        for (path, opts) in &self.tmpfs {
            field("tmpfs", &[path, opts]);
        }
        for m in &self.mounts {
            field("mount", &[&format!("{m:?}")]);
        }
        for (k, v) in &self.labels {
            field("label", &[k, v]);
        }
        if let Some(n) = &self.network {
            field("network", &[n]);
        }
        for a in &self.aliases {
            field("alias", &[a]);
        }
        if let Some(t) = self.stop_timeout {
            field("stop-timeout", &[&t.as_millis().to_string()]);
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> ContainerSpec {
        ContainerSpec::new("img", "1")
            .env("A", "1")
            .cmd(["x", "y"])
            .expose(80)
    }

    #[test]
    fn the_same_spec_has_the_same_hash_whatever_the_order_of_settings() {
        let a = base().env("B", "2").label("k", "v");
        let b = ContainerSpec::new("img", "1")
            .label("k", "v")
            .expose(80)
            .env("B", "2")
            .cmd(["x", "y"])
            .env("A", "1");
        assert_eq!(a.hash(), b.hash());
        assert_eq!(a.hash().len(), 64);
        assert!(a.hash().bytes().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn any_defining_field_changes_the_hash() {
        let h = base().hash();
        let variants = [
            ContainerSpec::new("img2", "1")
                .env("A", "1")
                .cmd(["x", "y"])
                .expose(80),
            ContainerSpec::new("img", "2")
                .env("A", "1")
                .cmd(["x", "y"])
                .expose(80),
            base().env("A", "2"),
            base().env("B", "1"),
            base().cmd(["y", "x"]),
            base().user("postgres"),
            base().derive("RUN true"),
            base().auto_remove(true),
            base().entrypoint(["/bin/sh"]),
            base().expose(81),
            base().tmpfs("/data", ""),
            base().tmpfs("/data", "size=1m"),
            base().bind("/h", "/c", false),
            base().bind("/h", "/c", true),
            base().volume("v", "/c"),
            base().label("k", "v"),
            base().network("n"),
            base().alias("a"),
            base().stop_timeout(Duration::from_secs(3)),
        ];
        let mut seen = std::collections::HashSet::new();
        seen.insert(h.clone());
        for v in variants {
            assert!(seen.insert(v.hash()), "collision for {v:?}");
        }
    }

    #[test]
    fn a_probe_of_an_unexposed_port_is_found() {
        assert!(
            base()
                .wait_for(WaitFor::tcp(80))
                .unexposed_probe()
                .is_none()
        );
        let spec = base().wait_for(WaitFor::http(8080, "/", 200));
        assert_eq!(spec.unexposed_probe().map(|(_, p)| p), Some(8080));
    }

    #[test]
    fn readiness_deadline_and_reuse_do_not_change_the_hash() {
        let h = base().hash();
        assert_eq!(base().wait_for(WaitFor::tcp(80)).hash(), h);
        assert_eq!(base().startup_timeout(Duration::from_secs(1)).hash(), h);
        assert_eq!(base().reuse(true).hash(), h);
    }

    #[test]
    fn a_digest_reference_is_used_as_is() {
        let (image, tag) = split_reference("a@sha256:00");
        assert_eq!(ContainerSpec::new(image, tag).image_ref(), "a@sha256:00");
        assert_eq!(
            ContainerSpec::new("a@sha256:00", "").image_ref(),
            "a@sha256:00"
        );
    }

    #[test]
    fn the_hash_of_a_known_spec_never_changes() {
        // Pinned across builds and versions: a change would orphan reused containers.
        assert_eq!(
            &ContainerSpec::new("img", "1").hash()[..16],
            "09e742d98481ba9d"
        );
    }
}
