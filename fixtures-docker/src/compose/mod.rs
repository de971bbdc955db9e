//! A compose file as a fixture: its services started through this crate (no compose CLI), in
//! dependency order, on a network of the fixture's own, each a container like any other of
//! ours — labelled, shared by the run's processes in suite scope, removed at teardown, reaped
//! after a crash.
//!
//! ```no_run
//! use fixtures_core::prelude::*;
//! use fixtures_docker::{Compose, ComposeFile, WaitFor};
//!
//! /// The app's whole environment, once for the run.
//! #[fixture(scope = suite)]
//! async fn stack(setup: &Setup) -> Result<Compose, fixtures_docker::Error> {
//!     ComposeFile::read("tests/compose.yaml")?
//!         .wait_for("api", WaitFor::http(8080, "/health", 200))
//!         .start(setup)
//!         .await
//! }
//!
//! // In a test: `stack.service("api")?.address(8080)` → "127.0.0.1:49153".
//! # fn main() {}
//! ```
//!
//! What a file may hold: services with `image` or `build` (a Dockerfile whose `FROM` is a
//! local image; its other lines become the image's derivation steps, built once), `environment`,
//! `ports` (published on 127.0.0.1 at a *random* host port: read it from the container),
//! `expose`, `depends_on` (`service_started`, `service_healthy`), `healthcheck` (the readiness
//! condition: its command run in the container until it exits 0), `volumes` (bind mounts
//! relative to the file, named volumes declared at the top — made per fixture instance,
//! labelled, removed after their containers), `tmpfs`, `networks` (every service joins the
//! fixture's one network, reachable by its service name), `command`, `entrypoint`, `user`,
//! `labels`, `restart` (no effect on a test run); `x-…` extensions anywhere. Any other key is an
//! error that names it and its line.

mod file;
mod keys;
mod lines;

use std::collections::BTreeMap;
use std::path::Path;

use fixtures_core::Setup;

use crate::container::Container;
use crate::error::Error;
use crate::network::Network;
use crate::wait::WaitFor;

/// A compose file, read and checked (no engine asked yet): start it with
/// [`ComposeFile::start`].
#[derive(Debug, Clone)]
pub struct ComposeFile {
    parsed: file::Parsed,
}

impl ComposeFile {
    /// Reads and checks the file at `path` (relative paths in it are relative to its folder).
    ///
    /// # Errors
    ///
    /// [`Error::Compose`]: the file cannot be read, is not valid YAML or compose, uses a key
    /// this crate does not start (named with its line), depends on an undefined service or in
    /// a cycle, declares no image, mounts an undeclared named volume.
    pub fn read(path: impl AsRef<Path>) -> Result<ComposeFile, Error> {
        ComposeFile::read_with(path, Vec::<(String, String)>::new())
    }

    /// [`ComposeFile::read`], with `vars` for the file's `${…}` before the environment's.
    ///
    /// # Errors
    ///
    /// As [`ComposeFile::read`].
    pub fn read_with<K, V>(
        path: impl AsRef<Path>,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Result<ComposeFile, Error>
    where
        K: Into<String>,
        V: Into<String>,
    {
        let vars: BTreeMap<String, String> = vars
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        let lookup = |k: &str| vars.get(k).cloned().or_else(|| std::env::var(k).ok());
        Ok(ComposeFile {
            parsed: file::read(path.as_ref(), lookup)?,
        })
    }

    /// The services, in the order they start (every one after those it depends on).
    pub fn services(&self) -> Vec<&str> {
        self.parsed.plans.iter().map(|p| p.name.as_str()).collect()
    }

    /// A readiness condition of the test's own for `service`, on top of its healthcheck.
    ///
    /// # Panics
    ///
    /// When the file has no such service (a mistake in the test).
    pub fn wait_for(mut self, service: &str, wait: WaitFor) -> Self {
        let plan = self
            .parsed
            .plans
            .iter_mut()
            .find(|p| p.name == service)
            .unwrap_or_else(|| panic!("{} has no service `{service}`", self.parsed.path.display()));
        plan.spec = plan.spec.clone().wait_for(wait);
        self
    }

    /// Starts the services for this fixture instance: its network and named volumes, then
    /// each service once those it depends on are started (and healthy, where the file asks),
    /// each waited for until ready.
    ///
    /// # Errors
    ///
    /// [`Error::ComposeService`] naming the service that failed, with the reason (image
    /// missing, exited early, not ready in time, …); [`Error::Network`], [`Error::Volume`].
    pub async fn start(self, setup: &Setup) -> Result<Compose, Error> {
        let path = self.parsed.path;
        let hint = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "compose".into());
        let network = crate::network(setup, &hint).await?;
        let mut volumes: BTreeMap<String, String> = BTreeMap::new();
        for plan in &self.parsed.plans {
            for (volume, _) in &plan.volumes {
                if !volumes.contains_key(volume) {
                    let made = crate::volume::volume(setup, volume).await?;
                    volumes.insert(volume.clone(), made);
                }
            }
        }
        let mut services = Vec::new();
        for plan in self.parsed.plans {
            let mut spec = plan
                .spec
                .network(network.name())
                .label("org.fixtures.compose-service", &plan.name)
                .label("org.fixtures.compose-file", path.display().to_string());
            for (volume, target) in &plan.volumes {
                spec = spec.volume(&volumes[volume], target);
            }
            let container = crate::start(setup, spec)
                .await
                .map_err(|e| Error::ComposeService {
                    file: path.display().to_string(),
                    service: plan.name.clone(),
                    source: Box::new(e),
                })?;
            services.push((plan.name, container));
        }
        Ok(Compose {
            file: path.display().to_string(),
            network,
            services,
        })
    }
}

/// The started services of a compose file.
#[derive(Debug)]
pub struct Compose {
    file: String,
    network: Network,
    services: Vec<(String, Container)>,
}

impl Compose {
    /// The container of `service`: its published ports on the host
    /// ([`Container::address`]), logs, `exec`.
    ///
    /// # Errors
    ///
    /// [`Error::Compose`] naming the file's services, when it has no such one.
    pub fn service(&self, service: &str) -> Result<&Container, Error> {
        self.services
            .iter()
            .find(|(name, _)| name == service)
            .map(|(_, c)| c)
            .ok_or_else(|| Error::Compose {
                file: self.file.clone(),
                line: None,
                problem: format!(
                    "no service `{service}` (it has: {})",
                    self.names().join(", ")
                ),
            })
    }

    /// The services' names, in the order they started.
    pub fn names(&self) -> Vec<&str> {
        self.services.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// The network the services share (containers of the test's own may join it and reach
    /// the services by their names).
    pub fn network(&self) -> &Network {
        &self.network
    }
}
