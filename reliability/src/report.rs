//! The table of results: scenario × runner × backend → runs, leftovers, outcome, and the
//! command that reproduces it.

use std::collections::BTreeMap;

use crate::scenario::Judged;

/// One row: every run of one scenario under one runner on one backend.
#[derive(Debug, Default, Clone)]
pub struct Row {
    /// Runs made.
    pub runs: usize,
    /// Runs whose fault happened (a signal sent at its phase before the run ended by itself).
    pub delivered: usize,
    /// Resources left 10 s after the runs ended (summed).
    pub left_after_wait: usize,
    /// Resources left after the next run's start-up sweep (summed).
    pub left_after_next: usize,
    /// Next runs that passed.
    pub next_passed: usize,
    /// Runs that met the promise.
    pub ok: usize,
    /// The slowest time to nothing left, in seconds.
    pub worst_settle: f64,
    /// Exit statuses seen (`exit 130`, `signal 9`, ...), with counts.
    pub exits: BTreeMap<String, usize>,
    /// Notes from failed runs.
    pub notes: Vec<String>,
}

/// Groups judged runs into rows, keyed by (scenario, runner, backend).
pub fn rows(judged: &[Judged]) -> BTreeMap<(String, String, String), Row> {
    let mut rows: BTreeMap<(String, String, String), Row> = BTreeMap::new();
    for j in judged {
        let key = (
            j.scenario.fault.name(),
            j.scenario.runner.name().to_owned(),
            j.scenario.backend.name().to_owned(),
        );
        let row = rows.entry(key).or_default();
        row.runs += 1;
        row.delivered += usize::from(j.delivered);
        row.left_after_wait += j.after_wait.total();
        row.left_after_next += j.after_next.total();
        row.next_passed += usize::from(j.next_passed);
        row.ok += usize::from(j.ok());
        row.worst_settle = row.worst_settle.max(j.settle.as_secs_f64());
        *row.exits.entry(j.outcome.describe()).or_default() += 1;
        if !j.ok() || j.after_wait.total() > 0 {
            row.notes.push(format!(
                "{}: {} after 10 s ({}), {} after the next run, next run {}{}",
                j.run_id,
                j.after_wait.total(),
                j.after_wait,
                j.after_next.total(),
                if j.next_passed { "passed" } else { "FAILED" },
                j.check
                    .as_ref()
                    .map(|(_, why)| format!("; {why}"))
                    .unwrap_or_default()
            ));
        }
    }
    rows
}

/// The markdown table of `judged`, with `command` (given the scenario's name, runner and
/// backend) as the reproducer.
pub fn markdown(judged: &[Judged], command: impl Fn(&str, &str, &str) -> String) -> String {
    let mut out = String::from(
        "| scenario | runner | backend | runs | fault delivered | left after 10 s | left after next run | next run passed | exits | outcome | reproduce |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let rows = rows(judged);
    for ((scenario, runner, backend), row) in &rows {
        let exits: Vec<String> = row.exits.iter().map(|(e, n)| format!("{e} ×{n}")).collect();
        let outcome = if row.ok == row.runs {
            format!("ok ({} / {})", row.ok, row.runs)
        } else {
            format!("**FAIL** ({} / {} ok)", row.ok, row.runs)
        };
        out.push_str(&format!(
            "| {scenario} | {runner} | {backend} | {} | {} | {} | {} | {} / {} | {} | {outcome} | `{}` |\n",
            row.runs,
            row.delivered,
            row.left_after_wait,
            row.left_after_next,
            row.next_passed,
            row.runs,
            exits.join(", "),
            command(scenario, runner, backend),
        ));
    }
    let notes: Vec<&String> = rows.values().flat_map(|r| &r.notes).collect();
    if !notes.is_empty() {
        out.push_str("\nRuns that did not meet the promise at once:\n\n");
        for n in notes {
            out.push_str(&format!("- {n}\n"));
        }
    }
    out
}
