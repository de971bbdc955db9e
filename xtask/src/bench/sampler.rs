//! How many Postgres servers a run has alive: sampled every ~100 ms while it runs.
//!
//! Counted: containers of the benchmark image that belong to the run (their
//! `org.fixtures.run-owner` is a process of the run's tree, or they carry this xtask's
//! `org.fixtures.bench` label: testcontainers' and the `#[sqlx::test]` server), and local
//! Postgres servers of ours (`cluster_name=fixtures-pg-local`) started since the run began.
//! Other engineers' containers and servers on the same machine are not counted.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{IMAGE, docker};
use crate::Result;

/// The label the benchmark's own containers carry (value: [`bench_id`]).
pub(crate) const BENCH_LABEL: &str = "org.fixtures.bench";

/// This xtask's identity on the containers it has started (or had started).
pub(crate) fn bench_id() -> String {
    format!("xtask-{}", std::process::id())
}

/// What a run had alive.
#[derive(Debug, Default)]
pub(crate) struct Sampled {
    /// The most servers alive at once.
    pub(crate) peak: usize,
    /// Every container of the run seen alive.
    pub(crate) containers: BTreeSet<String>,
}

pub(crate) struct Sampler {
    thread: JoinHandle<Sampled>,
}

impl Sampler {
    /// Samples the tree of `root` (the runner's process) until `stop`; `kept` are containers
    /// an earlier run left for this one (counted while they run).
    pub(crate) fn start(root: u32, kept: BTreeSet<String>, stop: Arc<AtomicBool>) -> Sampler {
        let thread = std::thread::spawn(move || {
            let mut sampled = Sampled::default();
            while !stop.load(Ordering::Acquire) {
                let tree = descendants(root);
                let mine = run_containers(&tree, &kept);
                let local = local_servers()
                    .values()
                    .filter(|owner| tree.contains(owner))
                    .count();
                sampled.peak = sampled.peak.max(mine.len() + local);
                sampled.containers.extend(mine);
                std::thread::sleep(Duration::from_millis(100));
            }
            sampled
        });
        Sampler { thread }
    }

    pub(crate) fn finish(self) -> Sampled {
        self.thread.join().unwrap_or_default()
    }
}

/// The processes under `root` (itself included), from `/proc`.
fn descendants(root: u32) -> BTreeSet<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid …`: comm may hold spaces and parentheses.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let mut tree = BTreeSet::from([root]);
    let mut todo = vec![root];
    while let Some(p) = todo.pop() {
        for &c in children.get(&p).into_iter().flatten() {
            if tree.insert(c) {
                todo.push(c);
            }
        }
    }
    tree
}

/// The running containers of the image that belong to the run whose processes are `tree`, or
/// are among `kept`.
fn run_containers(tree: &BTreeSet<u32>, kept: &BTreeSet<String>) -> BTreeSet<String> {
    let format = format!(
        "{{{{.ID}}}}\t{{{{.Label \"org.fixtures.run-owner\"}}}}\t{{{{.Label \"{BENCH_LABEL}\"}}}}"
    );
    let ancestor = format!("ancestor={IMAGE}");
    let Ok(out) = docker(&[
        "ps",
        "--no-trunc",
        "--filter",
        &ancestor,
        "--format",
        &format,
    ]) else {
        return BTreeSet::new();
    };
    let me = bench_id();
    out.lines()
        .filter_map(|line| {
            let mut f = line.split('\t');
            let (id, owner, bench) = (f.next()?, f.next().unwrap_or(""), f.next().unwrap_or(""));
            let owner_pid = owner.split(':').next().and_then(|p| p.parse::<u32>().ok());
            let ours =
                bench == me || owner_pid.is_some_and(|p| tree.contains(&p)) || kept.contains(id);
            ours.then(|| id.to_owned())
        })
        .collect()
}

/// Local Postgres servers of ours (the postmaster's command line names the cluster), each with
/// the process that owns it (the pid in the `owner` file beside its data directory).
fn local_servers() -> HashMap<u32, u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.parse::<u32>().ok()?;
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let args: Vec<String> = cmdline
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            if !args.iter().any(|a| a == "cluster_name=fixtures-pg-local") {
                return None;
            }
            let data = args.iter().skip_while(|a| *a != "-D").nth(1)?;
            let owner = std::fs::read_to_string(Path::new(data).parent()?.join("owner")).ok()?;
            Some((pid, pid_of(&owner)?))
        })
        .collect()
}

/// The pid of a `pid:start` process reference.
fn pid_of(owner: &str) -> Option<u32> {
    owner.split(':').next()?.trim().parse().ok()
}

/// Every process this xtask has had under it, recorded every ~200 ms while it runs: whatever
/// they own is ours.
pub(crate) struct Lineage {
    seen: Arc<Mutex<BTreeSet<u32>>>,
    stop: Arc<AtomicBool>,
}

impl Lineage {
    pub(crate) fn start() -> Lineage {
        let seen = Arc::new(Mutex::new(BTreeSet::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (seen.clone(), stop.clone());
        std::thread::spawn(move || {
            while !st.load(Ordering::Acquire) {
                let tree = descendants(std::process::id());
                if let Ok(mut seen) = s.lock() {
                    seen.extend(tree);
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        Lineage { seen, stop }
    }

    fn contains(&self, pid: u32) -> bool {
        self.seen.lock().is_ok_and(|s| s.contains(&pid))
    }

    /// What a process of this xtask owned and is still there: containers, networks, local
    /// servers. Other runs on the machine are not looked at.
    fn left(&self) -> Vec<String> {
        let me = bench_id();
        let format = format!(
            "{{{{.ID}}}}\t{{{{.Name}}}}\t{{{{.Label \"org.fixtures.run-owner\"}}}}\t{{{{.Label \"org.fixtures.owner\"}}}}\t{{{{.Label \"{BENCH_LABEL}\"}}}}"
        );
        let mut left = Vec::new();
        for (what, list) in [
            ("container", &["ps", "-a"][..]),
            ("network", &["network", "ls"][..]),
        ] {
            // `docker ps` names it `.Names`, `docker network ls` `.Name`.
            let format = if what == "container" {
                format.replace(".Name}", ".Names}")
            } else {
                format.clone()
            };
            let args = [list, &["--format", &format][..]].concat();
            for line in docker(&args).unwrap_or_default().lines() {
                let f: Vec<&str> = line.split('\t').collect();
                let owned = f
                    .iter()
                    .skip(2)
                    .take(2)
                    .filter_map(|o| pid_of(o))
                    .any(|p| self.contains(p));
                if owned || f.get(4) == Some(&me.as_str()) {
                    left.push(format!("{what} {}", f.get(1).unwrap_or(&"?")));
                }
            }
        }
        for (pid, owner) in local_servers() {
            if self.contains(owner) {
                left.push(format!("local Postgres server (pid {pid})"));
            }
        }
        left
    }

    /// After everything: nothing of ours may remain (waiting up to a minute for the watchdogs
    /// that may still be at work).
    pub(crate) fn assert_nothing_left(self) -> Result {
        self.stop.store(true, Ordering::Release);
        let start = Instant::now();
        loop {
            let left = self.left();
            if left.is_empty() {
                eprintln!("\nleft behind by the benchmarks: nothing");
                return Ok(());
            }
            if start.elapsed() > Duration::from_secs(60) {
                return Err(format!("the benchmarks left: {}", left.join(", ")));
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

/// Waits until none of `containers` exists any more; removes what is still there after
/// `deadline` and returns how many that was.
pub(crate) fn wait_gone(containers: &BTreeSet<String>, deadline: Duration) -> usize {
    let start = Instant::now();
    loop {
        let all = docker(&["ps", "-a", "-q", "--no-trunc"]).unwrap_or_default();
        let left: Vec<&String> = containers
            .iter()
            .filter(|c| all.lines().any(|l| l.trim() == c.as_str()))
            .collect();
        if left.is_empty() {
            return 0;
        }
        if start.elapsed() > deadline {
            for c in &left {
                let _ = docker(&["rm", "-f", "-v", c]);
            }
            eprintln!("removed {} container(s) the run left behind", left.len());
            return left.len();
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_in_its_own_tree() {
        let me = std::process::id();
        assert!(descendants(me).contains(&me));
    }
}
