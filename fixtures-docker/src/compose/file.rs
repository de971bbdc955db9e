//! Reading a compose file: the YAML checked key by key against what this crate starts (an
//! unsupported key is an error that names it and its line, never ignored), then read with
//! `docker-compose-types`' serde types into one plan per service.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use docker_compose_types as dct;
use serde_yaml::Value;

use super::keys::{Mounted, built, health, mount, ports};
use super::lines::{interpolate, line_of, split_words};
use crate::error::Error;
use crate::reference::split_reference;
use crate::spec::ContainerSpec;

/// Top-level keys this crate reads (`x-…` extensions are allowed anywhere: anchors).
const TOP: &[&str] = &["version", "name", "services", "volumes", "networks"];
/// Service keys this crate starts. `expose` and `restart` change nothing for a test run
/// (services reach each other on the run's network; a test's container is not restarted).
const SERVICE: &[&str] = &[
    "image",
    "build",
    "environment",
    "ports",
    "expose",
    "depends_on",
    "healthcheck",
    "volumes",
    "networks",
    "command",
    "entrypoint",
    "user",
    "labels",
    "tmpfs",
    "restart",
];

/// What a service is started with.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) name: String,
    pub(crate) spec: ContainerSpec,
    /// Named volumes of the file it mounts: `(volume, path in the container)`.
    pub(crate) volumes: Vec<(String, String)>,
    /// The services it depends on, with whether it waits for their health.
    pub(crate) depends_on: Vec<(String, bool)>,
}

/// A compose file, read and checked.
#[derive(Debug, Clone)]
pub(crate) struct Parsed {
    pub(crate) path: PathBuf,
    /// In the order they may start: every service after those it depends on.
    pub(crate) plans: Vec<Plan>,
}

/// An error about `file`, at `line` when known.
pub(crate) fn bad(file: &Path, line: Option<usize>, problem: impl Into<String>) -> Error {
    Error::Compose {
        file: file.display().to_string(),
        line,
        problem: problem.into(),
    }
}

/// Reads and checks `path`, its `${…}` from `vars`.
pub(crate) fn read(path: &Path, vars: impl Fn(&str) -> Option<String>) -> Result<Parsed, Error> {
    let raw = std::fs::read_to_string(path)
        .map_err(|e| bad(path, None, format!("cannot read it: {e}")))?;
    let text = interpolate(&raw, vars).map_err(|e| bad(path, None, e))?;
    let dir = path
        .canonicalize()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."));
    let yaml_error = |e: serde_yaml::Error| {
        let line = e.location().map(|l| l.line());
        bad(path, line, format!("not a valid compose file: {e}"))
    };
    let value: Value = serde_yaml::from_str(&text).map_err(yaml_error)?;
    check_keys(path, &text, &value)?;
    let compose: dct::Compose = serde_yaml::from_str(&text).map_err(yaml_error)?;
    let declared: BTreeSet<String> = compose.volumes.0.keys().cloned().collect();
    let mut plans = Vec::new();
    for (name, service) in &compose.services.0 {
        let service = service.clone().unwrap_or_default();
        plans.push(plan(path, &text, &dir, name, &service, &declared)?);
    }
    let plans = order(path, &text, plans)?;
    Ok(Parsed {
        path: path.to_path_buf(),
        plans,
    })
}

/// Every key of the file and of each service is one this crate starts, or an extension.
fn check_keys(path: &Path, text: &str, value: &Value) -> Result<(), Error> {
    let keys = |v: &Value| -> Vec<String> {
        v.as_mapping()
            .map(|m| {
                m.keys()
                    .filter_map(|k| k.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    for key in keys(value) {
        if !TOP.contains(&key.as_str()) && !key.starts_with("x-") {
            return Err(bad(
                path,
                line_of(text, &[], &key),
                format!(
                    "`{key}` is not supported here (top-level keys read: {})",
                    TOP.join(", ")
                ),
            ));
        }
    }
    let Some(services) = value.get("services").and_then(Value::as_mapping) else {
        return Err(bad(path, None, "no `services`"));
    };
    for (name, service) in services {
        let name = name.as_str().unwrap_or_default();
        for key in keys(service) {
            if !SERVICE.contains(&key.as_str()) && !key.starts_with("x-") {
                return Err(bad(
                    path,
                    line_of(text, &["services", name], &key),
                    format!(
                        "service `{name}`: `{key}` is not supported by this framework's \
                         compose support (keys read: {}); remove it, or start this service \
                         with a ContainerSpec of your own",
                        SERVICE.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn plan(
    path: &Path,
    text: &str,
    dir: &Path,
    name: &str,
    s: &dct::Service,
    declared: &BTreeSet<String>,
) -> Result<Plan, Error> {
    let at = |key: &str| line_of(text, &["services", name], key);
    let err =
        |key: &str, problem: String| bad(path, at(key), format!("service `{name}`: {problem}"));
    let mut spec = match (&s.image, &s.build_) {
        (_, Some(build)) => built(path, dir, name, build).map_err(|p| err("build", p))?,
        (Some(image), None) => {
            let (image, tag) = split_reference(image);
            ContainerSpec::new(image, tag)
        }
        (None, None) => return Err(err("image", "neither `image` nor `build`".into())),
    };
    match &s.environment {
        dct::Environment::List(items) => {
            for item in items {
                let (k, v) = item.split_once('=').unwrap_or((item, ""));
                spec = spec.env(k, v);
            }
        }
        dct::Environment::KvPair(map) => {
            for (k, v) in map {
                spec = spec.env(k, v.as_ref().map(ToString::to_string).unwrap_or_default());
            }
        }
    }
    for port in ports(&s.ports).map_err(|p| err("ports", p))? {
        spec = spec.expose(port);
    }
    let mut volumes = Vec::new();
    for v in &s.volumes {
        match mount(dir, v, declared).map_err(|p| err("volumes", p))? {
            Mounted::Bind(host, target, ro) => spec = spec.bind(host, target, ro),
            Mounted::Named(volume, target) => volumes.push((volume, target)),
            Mounted::Tmpfs(target) => spec = spec.tmpfs(target, ""),
        }
    }
    match &s.tmpfs {
        Some(dct::Tmpfs::Simple(p)) => spec = spec.tmpfs(p, ""),
        Some(dct::Tmpfs::List(list)) => {
            for p in list {
                spec = spec.tmpfs(p, "");
            }
        }
        None => {}
    }
    match &s.command {
        Some(dct::Command::Simple(c)) => spec = spec.cmd(split_words(c)),
        Some(dct::Command::Args(a)) => spec = spec.cmd(a.clone()),
        None => {}
    }
    match &s.entrypoint {
        Some(dct::Entrypoint::Simple(c)) => spec = spec.entrypoint(split_words(c)),
        Some(dct::Entrypoint::List(a)) => spec = spec.entrypoint(a.clone()),
        None => {}
    }
    if let Some(user) = &s.user {
        spec = spec.user(user);
    }
    match &s.labels {
        dct::Labels::List(items) => {
            for item in items {
                let (k, v) = item.split_once('=').unwrap_or((item, ""));
                spec = spec.label(k, v);
            }
        }
        dct::Labels::Map(map) => {
            for (k, v) in map {
                spec = spec.label(k, v);
            }
        }
    }
    if let Some(check) = &s.healthcheck
        && let Some((wait, deadline)) = health(check).map_err(|p| err("healthcheck", p))?
    {
        spec = spec.wait_for(wait).startup_timeout(deadline);
    }
    let depends_on = match &s.depends_on {
        dct::DependsOnOptions::Simple(list) => list.iter().map(|d| (d.clone(), false)).collect(),
        dct::DependsOnOptions::Conditional(map) => {
            let mut deps = Vec::new();
            for (d, c) in map {
                let healthy = match c.condition.as_str() {
                    "service_started" => false,
                    "service_healthy" => true,
                    other => {
                        return Err(err(
                            "depends_on",
                            format!(
                                "condition `{other}` of `{d}` is not supported (service_started, service_healthy)"
                            ),
                        ));
                    }
                };
                deps.push((d.clone(), healthy));
            }
            deps
        }
    };
    Ok(Plan {
        name: name.to_owned(),
        spec: spec.alias(name),
        volumes,
        depends_on,
    })
}

/// The plans in an order where every service comes after those it depends on; a dependency
/// on an unknown service or a cycle is an error naming them.
fn order(path: &Path, text: &str, plans: Vec<Plan>) -> Result<Vec<Plan>, Error> {
    let names: BTreeSet<String> = plans.iter().map(|p| p.name.clone()).collect();
    for p in &plans {
        for (d, _) in &p.depends_on {
            if !names.contains(d) {
                return Err(bad(
                    path,
                    line_of(text, &["services", &p.name], "depends_on"),
                    format!(
                        "service `{}` depends on `{d}`, which the file does not define",
                        p.name
                    ),
                ));
            }
        }
    }
    let mut left: BTreeMap<String, Plan> = plans.into_iter().map(|p| (p.name.clone(), p)).collect();
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::new();
    while !left.is_empty() {
        let ready: Vec<String> = left
            .values()
            .filter(|p| p.depends_on.iter().all(|(d, _)| done.contains(d)))
            .map(|p| p.name.clone())
            .collect();
        if ready.is_empty() {
            let cycle: Vec<&str> = left.keys().map(String::as_str).collect();
            let first = cycle.first().copied().unwrap_or_default();
            return Err(bad(
                path,
                line_of(text, &["services", first], "depends_on"),
                format!(
                    "`depends_on` has a cycle among services {}",
                    cycle.join(", ")
                ),
            ));
        }
        for name in ready {
            done.insert(name.clone());
            out.extend(left.remove(&name));
        }
    }
    Ok(out)
}
