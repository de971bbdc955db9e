//! The sweep at start-up: what crashed or killed runs left behind is removed by the next
//! process that uses the engine. Never a live run's.
//!
//! A container or network of ours goes when its expiry has passed, or when its run's owner
//! is gone — judged only for runs of this machine (an owner's pid means nothing on another
//! machine sharing a remote engine), and a run from an earlier boot of this machine is gone.
//! Reused containers go only when idle past their expiry.

use fixtures_core::watchdog::ProcessRef;

use crate::client_types::Listed;
use crate::engine::Engine;
use crate::labels::{self, Machine, Parsed, now};
use crate::reuse;

/// What to do with one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Keep,
    Remove(&'static str),
}

/// The sweep's decision for a resource with these labels and this name.
pub(crate) fn judge(
    parsed: &Parsed,
    name: &str,
    current_run: &str,
    here: &Machine,
    now: u64,
    alive: impl Fn(&ProcessRef) -> bool,
) -> Verdict {
    if parsed.reuse {
        let expiry = reuse::expiry_in_name(name).or(parsed.expires_at);
        return match expiry {
            Some(t) if t <= now => Verdict::Remove("reused and idle past its expiry"),
            _ => Verdict::Keep,
        };
    }
    if parsed.run_id.as_deref() == Some(current_run) {
        return Verdict::Keep;
    }
    if parsed.expires_at.is_some_and(|t| t <= now) {
        return Verdict::Remove("past its expiry");
    }
    if parsed.machine.as_deref() != Some(here.id.as_str()) {
        return Verdict::Keep; // another machine's run: only its expiry says anything here
    }
    if parsed.boot.as_deref() != Some(here.boot.as_str()) {
        return Verdict::Remove("its run is from an earlier boot of this machine");
    }
    if parsed
        .pid_namespace
        .as_deref()
        .is_some_and(|ns| ns != here.pid_namespace)
    {
        // A run of another PID namespace (a CI job's container): its pids mean nothing here.
        return Verdict::Keep;
    }
    match &parsed.run_owner {
        Some(owner) if !alive(owner) => Verdict::Remove("its run's owner is gone"),
        _ => Verdict::Keep,
    }
}

fn managed() -> Vec<String> {
    vec![format!(
        "{}={}",
        labels::MANAGED_BY,
        labels::MANAGED_BY_VALUE
    )]
}

fn doomed(found: Vec<Listed>) -> Vec<(Listed, &'static str)> {
    let (here, current, t) = (Machine::here(), fixtures_core::run_id(), now());
    found
        .into_iter()
        .filter_map(|r| {
            match judge(
                &Parsed::from(&r.labels),
                &r.name,
                current,
                here,
                t,
                ProcessRef::is_alive,
            ) {
                Verdict::Remove(why) => Some((r, why)),
                Verdict::Keep => None,
            }
        })
        .collect()
}

/// Removes leftovers of dead runs (containers first, then networks and volumes). Problems are logged:
/// a failed sweep must not fail the test that triggered it.
pub(crate) async fn at_start(engine: &Engine) {
    match engine.client.list_containers(&managed()).await {
        Ok(found) => {
            let removals = doomed(found).into_iter().map(|(c, why)| async move {
                tracing::info!(container = %c.name, reason = why, "sweeping a leftover container");
                if let Err(e) = crate::launch::remove(engine, &c.id, &c.name).await {
                    tracing::warn!("sweep: {e}");
                }
            });
            futures_util::future::join_all(removals).await;
        }
        Err(e) => tracing::warn!("sweep: cannot list containers: {e}"),
    }
    // Reaper containers of dead runs: one created and never started stays otherwise.
    let reapers = vec![labels::REAPER_OF.to_owned()];
    match engine.client.list_containers(&reapers).await {
        Ok(found) => {
            for (c, why) in doomed(found) {
                tracing::info!(container = %c.name, reason = why, "sweeping a leftover reaper");
                if let Err(e) = crate::launch::remove(engine, &c.id, &c.name).await {
                    tracing::warn!("sweep: {e}");
                }
            }
        }
        Err(e) => tracing::warn!("sweep: cannot list reaper containers: {e}"),
    }
    match engine.client.list_networks(&managed()).await {
        Ok(found) => {
            for (n, why) in doomed(found) {
                tracing::info!(network = %n.name, reason = why, "sweeping a leftover network");
                if let Err(e) = engine.client.remove_network(&n.id).await {
                    tracing::warn!("sweep: cannot remove network `{}`: {e}", n.name);
                }
            }
        }
        Err(e) => tracing::warn!("sweep: cannot list networks: {e}"),
    }
    match engine.client.list_volumes(&managed()).await {
        Ok(found) => {
            for (v, why) in doomed(found) {
                tracing::info!(volume = %v.name, reason = why, "sweeping a leftover volume");
                if let Err(e) = engine.client.remove_volume(&v.name).await {
                    tracing::warn!("sweep: cannot remove volume `{}`: {e}", v.name);
                }
            }
        }
        Err(e) => tracing::warn!("sweep: cannot list volumes: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_000_000;

    fn here() -> Machine {
        Machine {
            id: "m1".into(),
            boot: "b1".into(),
            pid_namespace: "b1/ns1".into(),
        }
    }

    fn ours(run: &str, owner: ProcessRef) -> Parsed {
        Parsed {
            run_id: Some(run.into()),
            owner: Some(owner),
            run_owner: Some(owner),
            machine: Some("m1".into()),
            boot: Some("b1".into()),
            pid_namespace: Some("b1/ns1".into()),
            expires_at: Some(NOW + 3600),
            reuse: false,
        }
    }

    const LIVE: ProcessRef = ProcessRef { pid: 10, start: 1 };
    const DEAD: ProcessRef = ProcessRef { pid: 11, start: 1 };

    fn judge_it(p: &Parsed, name: &str) -> Verdict {
        judge(p, name, "current", &here(), NOW, |o| *o == LIVE)
    }

    #[test]
    fn a_dead_owners_leftover_is_removed() {
        assert!(matches!(
            judge_it(&ours("old", DEAD), "c"),
            Verdict::Remove(_)
        ));
    }

    #[test]
    fn a_live_runs_resource_is_kept() {
        assert_eq!(judge_it(&ours("other", LIVE), "c"), Verdict::Keep);
    }

    #[test]
    fn the_current_runs_resource_is_kept_even_if_its_owner_looks_dead() {
        assert_eq!(judge_it(&ours("current", DEAD), "c"), Verdict::Keep);
    }

    #[test]
    fn another_machines_resource_is_judged_by_expiry_only() {
        let mut p = ours("other", DEAD);
        p.machine = Some("m2".into());
        p.boot = Some("b9".into());
        assert_eq!(judge_it(&p, "c"), Verdict::Keep);
        p.expires_at = Some(NOW - 1);
        assert!(matches!(judge_it(&p, "c"), Verdict::Remove(_)));
    }

    #[test]
    fn a_run_of_another_pid_namespace_is_judged_by_expiry_only() {
        // Its owner's pid, read here, names another process or none.
        let mut p = ours("other", DEAD);
        p.pid_namespace = Some("b1/ns2".into());
        assert_eq!(judge_it(&p, "c"), Verdict::Keep);
        p.expires_at = Some(NOW - 1);
        assert!(matches!(judge_it(&p, "c"), Verdict::Remove(_)));
        // Made before the label existed: judged as before.
        let mut old = ours("other", DEAD);
        old.pid_namespace = None;
        assert!(matches!(judge_it(&old, "c"), Verdict::Remove(_)));
    }

    #[test]
    fn an_earlier_boot_means_the_owner_is_gone() {
        let mut p = ours("other", LIVE);
        p.boot = Some("b0".into());
        assert!(matches!(judge_it(&p, "c"), Verdict::Remove(_)));
    }

    #[test]
    fn an_expired_resource_goes_whoever_owns_it() {
        let mut p = ours("other", LIVE);
        p.expires_at = Some(NOW);
        assert!(matches!(judge_it(&p, "c"), Verdict::Remove(_)));
    }

    #[test]
    fn without_an_owner_label_only_expiry_counts() {
        let mut p = ours("other", DEAD);
        p.run_owner = None;
        assert_eq!(judge_it(&p, "c"), Verdict::Keep);
    }

    #[test]
    fn reused_containers_go_only_when_idle_past_the_expiry_in_their_name() {
        let mut p = ours("old", DEAD);
        p.reuse = true;
        p.expires_at = Some(NOW - 100); // the first expiry, refreshed since in the name
        let fresh = reuse::name_for("0123456789abcdef", NOW + 60);
        assert_eq!(
            judge_it(&p, &fresh),
            Verdict::Keep,
            "a dead owner does not matter"
        );
        let stale = reuse::name_for("0123456789abcdef", NOW - 1);
        assert!(matches!(judge_it(&p, &stale), Verdict::Remove(_)));
        assert!(
            matches!(judge_it(&p, "renamed-by-hand"), Verdict::Remove(_)),
            "label fallback"
        );
    }
}
