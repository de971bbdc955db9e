//! What the engine client takes and gives back, in this crate's own types: a create request,
//! a container inspected or listed, a pull event, the engine's error. No bollard here:
//! `client.rs` converts, and the rest of the crate speaks these.

use std::collections::BTreeMap;
use std::fmt;

use crate::spec::ContainerSpec;

/// What a container is created with, besides its spec.
pub(crate) struct CreateRequest<'a> {
    pub(crate) name: &'a str,
    pub(crate) spec: &'a ContainerSpec,
    pub(crate) labels: &'a BTreeMap<String, String>,
    /// The host address ports are published on.
    pub(crate) bind_ip: &'a str,
}

/// A container as the engine describes it.
#[derive(Debug, Clone)]
pub(crate) struct Inspected {
    pub(crate) id: String,
    pub(crate) name: String,
    /// `created`, `running`, `exited`...
    pub(crate) status: String,
    pub(crate) exit_code: Option<i64>,
    pub(crate) error: Option<String>,
    /// Container port → its bindings (`host_ip`, `host_port`).
    pub(crate) ports: BTreeMap<u16, Vec<(String, u16)>>,
    /// Its own addresses, one per network it is on.
    pub(crate) ips: Vec<String>,
}

/// A container or network found by its labels.
#[derive(Debug, Clone)]
pub(crate) struct Listed {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) labels: BTreeMap<String, String>,
    /// Containers: running now (networks: always true).
    pub(crate) running: bool,
}

/// One event of an image pull.
#[derive(Debug, Clone)]
pub(crate) struct PullEvent {
    pub(crate) layer: Option<String>,
    pub(crate) status: String,
    pub(crate) current: Option<u64>,
    pub(crate) total: Option<u64>,
}

/// What the engine said when an operation failed.
#[derive(Debug, Clone)]
pub(crate) struct ClientError {
    /// The HTTP status of the engine's answer, when it answered.
    pub(crate) status: Option<u16>,
    pub(crate) message: String,
}

impl ClientError {
    pub(crate) fn is_not_found(&self) -> bool {
        self.status == Some(404)
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Some(s) => write!(f, "{} (engine status {s})", self.message.trim()),
            None => f.write_str(&self.message),
        }
    }
}
