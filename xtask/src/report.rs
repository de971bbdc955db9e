//! Adds up the fixture reports (JSON lines) that every test process appended.

use std::collections::BTreeMap;

/// Per fixture: scope, setups, teardowns, users, setup ms (its own), waited ms (for its
/// dependencies), teardown ms, failures.
#[derive(Debug, Default, Clone)]
pub(crate) struct Row {
    scope: String,
    pub(crate) setups: u64,
    teardowns: u64,
    leases: u64,
    failures: u64,
    pub(crate) setup_ms: f64,
    pub(crate) waited_ms: f64,
    pub(crate) teardown_ms: f64,
    pub(crate) processes: u64,
    /// Each setup's own time (ms), from every process.
    pub(crate) samples: Vec<f64>,
}

impl Row {
    /// The `q` quantile (0.5: the median) of its setups' own times, in ms.
    pub(crate) fn quantile_ms(&self, q: f64) -> f64 {
        quantile(&self.samples, q)
    }
}

/// The `q` quantile of `values` (0 when empty).
pub(crate) fn quantile(values: &[f64], q: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return 0.0;
    }
    v[((v.len() - 1) as f64 * q).round() as usize]
}

/// The numbers of the JSON array field `key` of `line` (empty when absent).
pub(crate) fn numbers(line: &str, key: &str) -> Vec<f64> {
    let Some(start) = line.find(&format!("\"{key}\":[")) else {
        return Vec::new();
    };
    let rest = &line[start + key.len() + 4..];
    let end = rest.find(']').unwrap_or(rest.len());
    rest[..end]
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect()
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = &line[start..];
    let rest = rest.strip_prefix('"').unwrap_or(rest);
    let end = rest.find(['"', ',', '}'])?;
    Some(&rest[..end])
}

pub(crate) fn aggregate(text: &str) -> BTreeMap<String, Row> {
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    for line in text.lines() {
        let (Some(name), Some(module)) = (field(line, "fixture"), field(line, "module")) else {
            continue;
        };
        let num = |k: &str| {
            field(line, k)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        let segments: Vec<&str> = module.split("::").collect();
        let tail = segments[segments.len().saturating_sub(2)..].join("::");
        let row = rows.entry(format!("{tail}::{name}")).or_default();
        row.scope = field(line, "scope").unwrap_or("?").to_owned();
        row.setups += num("setups") as u64;
        row.teardowns += num("teardowns") as u64;
        row.leases += num("leases") as u64;
        row.failures += num("failures") as u64;
        row.setup_ms += num("setup_ms");
        row.waited_ms += num("waited_ms");
        row.teardown_ms += num("teardown_ms");
        row.processes += 1;
        row.samples.extend(numbers(line, "setup_samples_ms"));
    }
    rows
}

pub(crate) fn table(rows: &BTreeMap<String, Row>) -> String {
    let mut out = format!(
        "{:<48} {:<7} {:>6} {:>9} {:>6} {:>10} {:>10} {:>10} {:>12}\n",
        "fixture",
        "scope",
        "setups",
        "teardowns",
        "users",
        "setup ms",
        "median ms",
        "waited ms",
        "teardown ms"
    );
    for (name, r) in rows {
        out += &format!(
            "{:<48} {:<7} {:>6} {:>9} {:>6} {:>10.1} {:>10.2} {:>10.1} {:>12.1}{}\n",
            name,
            r.scope,
            r.setups,
            r.teardowns,
            r.leases,
            r.setup_ms,
            r.quantile_ms(0.5),
            r.waited_ms,
            r.teardown_ms,
            if r.failures > 0 {
                format!("  ({} failed)", r.failures)
            } else {
                String::new()
            }
        );
    }
    out
}

pub(crate) fn summary(rows: &BTreeMap<String, Row>) -> String {
    let sum = |f: fn(&Row) -> f64| rows.values().map(f).sum::<f64>();
    format!(
        "fixtures: {} fixtures, {} setups, {} teardowns, {} uses, {} failed setups; \
         {:.0} ms in setup, {:.0} ms in teardown",
        rows.len(),
        sum(|r| r.setups as f64),
        sum(|r| r.teardowns as f64),
        sum(|r| r.leases as f64),
        sum(|r| r.failures as f64),
        sum(|r| r.setup_ms),
        sum(|r| r.teardown_ms),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_of_several_processes_add_up() {
        let text = "{\"run\":\"r\",\"pid\":1,\"fixture\":\"db\",\"module\":\"m\",\"scope\":\"suite\",\"setups\":1,\"failures\":0,\"teardowns\":1,\"leases\":3,\"setup_ms\":10.5,\"teardown_ms\":2.000,\"setup_samples_ms\":[10.5]}\n\
                    {\"run\":\"r\",\"pid\":2,\"fixture\":\"db\",\"module\":\"m\",\"scope\":\"suite\",\"setups\":1,\"failures\":0,\"teardowns\":1,\"leases\":2,\"setup_ms\":1.5,\"teardown_ms\":1.000,\"setup_samples_ms\":[0.5,1.0]}\n";
        let rows = aggregate(text);
        let r = &rows["m::db"];
        assert_eq!(rows.len(), 1);
        assert_eq!((r.setups, r.teardowns, r.leases, r.processes), (2, 2, 5, 2));
        assert!((r.setup_ms - 12.0).abs() < 1e-9);
        assert_eq!(r.samples, [10.5, 0.5, 1.0]);
        assert!((r.quantile_ms(0.5) - 1.0).abs() < 1e-9);
        assert!(summary(&rows).starts_with("fixtures: 1 fixtures, 2 setups, 2 teardowns, 5 uses"));
    }
}
