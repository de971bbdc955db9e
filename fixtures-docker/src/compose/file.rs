//! Reading a compose file: the YAML checked key by key against what this crate starts (an
//! unsupported key is an error that names it and its line, never ignored), then read with
//! `docker-compose-types`' serde types into one plan per service.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use docker_compose_types as dct;
use serde_yaml::Value;

use super::lines::{interpolate, line_of, split_words};
use crate::error::Error;
use crate::reference::split_reference;
use crate::spec::ContainerSpec;
use crate::wait::WaitFor;

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

/// A service's `build`: its Dockerfile's base image (`FROM`, a local image: no registry is
/// asked) and the rest of its lines as the spec's derivation steps.
fn built(
    path: &Path,
    dir: &Path,
    name: &str,
    build: &dct::BuildStep,
) -> Result<ContainerSpec, String> {
    let (context, dockerfile, inline) = match build {
        dct::BuildStep::Simple(c) => (c.clone(), None, None),
        dct::BuildStep::Advanced(a) => (
            a.context.clone(),
            a.dockerfile.clone(),
            a.dockerfile_inline.clone(),
        ),
    };
    let file = dir
        .join(&context)
        .join(dockerfile.unwrap_or_else(|| "Dockerfile".into()));
    let text = match inline {
        Some(t) => t,
        None => std::fs::read_to_string(&file)
            .map_err(|e| format!("cannot read its Dockerfile {}: {e}", file.display()))?,
    };
    let mut lines = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let from = lines.next().unwrap_or_default().trim();
    let base = from
        .strip_prefix("FROM ")
        .or_else(|| from.strip_prefix("from "))
        .map(str::trim)
        .filter(|b| !b.contains(' '))
        .ok_or_else(|| {
            format!(
                "its Dockerfile must start with `FROM <image>` (one stage; read by {} for `{name}`)",
                path.display()
            )
        })?;
    let (image, tag) = split_reference(base);
    let steps: Vec<&str> = lines.collect();
    let spec = ContainerSpec::new(image, tag);
    Ok(if steps.is_empty() {
        spec
    } else {
        spec.derive(steps.join("\n"))
    })
}

/// The container ports a service publishes (on 127.0.0.1, at a random host port: a host
/// port written in the file is not used, so that runs on one machine do not collide).
fn ports(p: &dct::Ports) -> Result<Vec<u16>, String> {
    let mut out = Vec::new();
    match p {
        dct::Ports::Short(list) => {
            for item in list {
                let spec = item.split('/').next().unwrap_or(item);
                let target = spec.rsplit(':').next().unwrap_or(spec);
                let port = target.parse().map_err(|_| {
                    format!("port `{item}`: only single TCP ports are supported, not ranges")
                })?;
                if item.ends_with("/udp") {
                    return Err(format!("port `{item}`: UDP is not supported"));
                }
                out.push(port);
            }
        }
        dct::Ports::Long(list) => out.extend(list.iter().map(|p| p.target)),
    }
    Ok(out)
}

enum Mounted {
    Bind(String, String, bool),
    Named(String, String),
    Tmpfs(String),
}

fn mount(dir: &Path, v: &dct::Volumes, declared: &BTreeSet<String>) -> Result<Mounted, String> {
    let (kind, source, target, ro) = match v {
        dct::Volumes::Simple(s) => {
            let parts: Vec<&str> = s.split(':').collect();
            match parts.as_slice() {
                [target] => {
                    return Err(format!(
                        "anonymous volume `{target}`: name it (`name:{target}`) and declare it under `volumes`"
                    ));
                }
                [source, target] => (None, source.to_string(), target.to_string(), false),
                [source, target, mode] => (
                    None,
                    source.to_string(),
                    target.to_string(),
                    mode.split(',').any(|m| m == "ro"),
                ),
                _ => return Err(format!("volume `{s}`: expected `source:target[:mode]`")),
            }
        }
        dct::Volumes::Advanced(a) => (
            Some(a._type.clone()),
            a.source.clone().unwrap_or_default(),
            a.target.clone(),
            a.read_only,
        ),
    };
    let bind = match kind.as_deref() {
        Some("bind") => true,
        Some("volume") => false,
        Some("tmpfs") => return Ok(Mounted::Tmpfs(target)),
        Some(other) => {
            return Err(format!(
                "volume type `{other}` is not supported (bind, volume, tmpfs)"
            ));
        }
        None => source.starts_with(['.', '/', '~']),
    };
    if bind {
        let host = match source.strip_prefix("~/") {
            Some(rest) => PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(rest),
            None => dir.join(&source),
        };
        std::fs::create_dir_all(&host)
            .or_else(|e| if host.exists() { Ok(()) } else { Err(e) })
            .map_err(|e| format!("bind mount source {}: {e}", host.display()))?;
        let host = host.canonicalize().unwrap_or(host);
        return Ok(Mounted::Bind(host.display().to_string(), target, ro));
    }
    if !declared.contains(&source) {
        return Err(format!(
            "named volume `{source}` is not declared under the file's top-level `volumes`"
        ));
    }
    Ok(Mounted::Named(source, target))
}

/// A healthcheck as a readiness condition, with its deadline: the probe's command, run in the
/// container until it exits 0, for `start_period + interval × retries` (at least 60 s).
fn health(h: &dct::Healthcheck) -> Result<Option<(WaitFor, Duration)>, String> {
    if h.disable {
        return Ok(None);
    }
    let cmd: Vec<String> = match &h.test {
        None => return Ok(None),
        Some(dct::HealthcheckTest::Single(s)) => vec!["sh".into(), "-c".into(), s.clone()],
        Some(dct::HealthcheckTest::Multiple(v)) => match v.split_first() {
            Some((first, _)) if first == "NONE" => return Ok(None),
            Some((first, rest)) if first == "CMD" => rest.to_vec(),
            Some((first, rest)) if first == "CMD-SHELL" => {
                vec!["sh".into(), "-c".into(), rest.join(" ")]
            }
            _ => return Err("`test` must start with CMD, CMD-SHELL or NONE".into()),
        },
    };
    let secs = |d: &Option<String>, default: u64| {
        d.as_deref()
            .and_then(duration)
            .unwrap_or(Duration::from_secs(default))
    };
    let retries = u32::try_from(h.retries.max(3)).unwrap_or(3);
    let deadline = secs(&h.start_period, 0) + secs(&h.interval, 30) * retries;
    Ok(Some((
        WaitFor::exec(cmd),
        deadline.max(Duration::from_secs(60)),
    )))
}

/// A compose duration (`1m30s`, `10s`, `500ms`).
fn duration(text: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut number = String::new();
    let mut chars = text.trim().chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let mut unit = c.to_string();
        while let Some(&n) = chars.peek() {
            if n.is_ascii_alphabetic() {
                unit.push(n);
                chars.next();
            } else {
                break;
            }
        }
        let n: f64 = number.parse().ok()?;
        number.clear();
        let secs = match unit.as_str() {
            "h" => n * 3600.0,
            "m" => n * 60.0,
            "s" => n,
            "ms" => n / 1000.0,
            "us" => n / 1e6,
            _ => return None,
        };
        total += Duration::from_secs_f64(secs);
    }
    if !number.is_empty() {
        return None;
    }
    Some(total)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compose_durations_are_read() {
        assert_eq!(duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(duration("10"), None);
    }

    #[test]
    fn host_ports_are_not_used() {
        let p = dct::Ports::Short(vec![
            "8080".into(),
            "5433:5432".into(),
            "127.0.0.1:6380:6379/tcp".into(),
        ]);
        assert_eq!(ports(&p).unwrap(), vec![8080, 5432, 6379]);
        assert!(ports(&dct::Ports::Short(vec!["8000-8010:8000-8010".into()])).is_err());
    }
}
