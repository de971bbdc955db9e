//! Mounts: a host path or a named volume inside a container.

/// A mount of a host path or a named volume.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Mount {
    Bind {
        host: String,
        container: String,
        read_only: bool,
    },
    Volume {
        name: String,
        container: String,
    },
}

impl Mount {
    /// The engine's `binds` form: `source:target[:ro]`.
    pub(crate) fn to_bind(&self) -> String {
        match self {
            Mount::Bind {
                host,
                container,
                read_only,
            } => {
                let ro = if *read_only { ":ro" } else { "" };
                format!("{host}:{container}{ro}")
            }
            Mount::Volume { name, container } => format!("{name}:{container}"),
        }
    }
}
