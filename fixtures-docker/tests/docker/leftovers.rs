//! Nothing left behind: `kill -9`, the sweep at the next start, reuse across runs. Each
//! `child_*` test is ignored in normal runs and started by its test as a child process.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fixtures_core::prelude::*;
use fixtures_core::watchdog::ProcessRef;
use fixtures_docker::{Container, Error, Network};

use crate::common::{self, Helper, child, line, run, svc, text, web_spec};

// ------------------------------------------------------------------------------ kill -9 --

#[fixture(scope = suite)]
async fn doomed_shared(setup: &Setup) -> Result<Container, Error> {
    fixtures_docker::start(setup, svc().label("test", "doomed-suite")).await
}

#[fixture(scope = test)]
async fn doomed_net(setup: &Setup) -> Result<Network, Error> {
    fixtures_docker::network(setup, "doomed").await
}

#[fixture(scope = test)]
async fn doomed_own(setup: &Setup, doomed_net: Lease<Network>) -> Result<Container, Error> {
    fixtures_docker::start(
        setup,
        svc().label("test", "doomed").network(doomed_net.name()),
    )
    .await
}

#[test]
#[ignore = "run by leftovers::kill_9_leaves_nothing_behind"]
fn child_holds_containers_until_killed() {
    let _shared = doomed_shared::fixture()
        .try_lease()
        .expect("suite container");
    let _own = doomed_own::fixture().try_lease().expect("test container");
    let ready = std::env::var("FIXTURES_DOCKER_READY_FILE").unwrap();
    std::fs::write(ready, "ready").unwrap();
    std::thread::sleep(Duration::from_secs(120));
}

/// A child run `run_id` holding a suite and a test container (and a network), once ready.
fn doomed_child(run_id: &str) -> std::process::Child {
    let ready = common::scratch(&format!("{run_id}-ready"));
    let mut cmd = child("leftovers::child_holds_containers_until_killed");
    cmd.env("FIXTURES_RUN_ID", run_id)
        .env("FIXTURES_DOCKER_READY_FILE", &ready);
    let mut process = cmd.spawn().unwrap();
    let started = common::wait_until(Duration::from_secs(90), || ready.exists());
    if !started {
        let _ = process.kill();
        panic!(
            "the child never got ready:\n{}",
            text(&process.wait_with_output().unwrap())
        );
    }
    process
}

#[test]
fn kill_9_leaves_nothing_behind() {
    let run_id = format!("kill9-{}", std::process::id());
    let mut process = doomed_child(&run_id);
    let labels = [format!("org.fixtures.run-id={run_id}")];
    assert_eq!(
        common::of_run(&run_id).len(),
        2,
        "a suite and a test container"
    );
    assert_eq!(common::networks(&labels).len(), 1);
    process.kill().unwrap(); // SIGKILL: no exit hook runs
    let _ = process.wait();
    let killed = Instant::now();
    let gone = common::wait_until(Duration::from_secs(10), || {
        common::of_run(&run_id).is_empty() && common::networks(&labels).is_empty()
    });
    eprintln!(
        "MEASURE after kill -9, all gone after {:?}",
        killed.elapsed()
    );
    assert!(gone, "left: {:?}", common::of_run(&run_id));
}

/// The run's processes a CI job's cancellation reaches: those of this process's cgroup (not
/// the engine's containers) with `FIXTURES_RUN_ID=run` and a watchdog role.
fn watchdogs_of(run: &str) -> Vec<i32> {
    let want = format!("FIXTURES_RUN_ID={run}");
    let ours = std::fs::read_to_string("/proc/self/cgroup").ok();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if std::fs::read_to_string(entry.path().join("cgroup")).ok() != ours {
            continue;
        }
        let Ok(env) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        let vars: Vec<&[u8]> = env.split(|b| *b == 0).collect();
        if vars.contains(&want.as_bytes()) && vars.iter().any(|v| v.starts_with(b"FIXTURES_ROLE="))
        {
            found.push(pid);
        }
    }
    found
}

#[test]
fn a_run_killed_whole_watchdog_included_leaves_nothing_behind() {
    let run_id = format!("killall-{}", std::process::id());
    let mut process = doomed_child(&run_id);
    let labels = [format!("org.fixtures.run-id={run_id}")];
    assert_eq!(common::of_run(&run_id).len(), 2);
    // The reaper in the engine is started off the first container's path, and waits.
    let reaper = [format!("org.fixtures.reaper-of={run_id}")];
    let waiting = common::wait_until(Duration::from_secs(10), || {
        common::containers(&reaper)
            .iter()
            .any(|c| c.state == "running")
    });
    if !waiting {
        // Ended as a normal kill: the run's own watchdog removes what it holds.
        let _ = process.kill();
        let _ = process.wait();
        panic!("no reaper container running");
    }
    // Everything of the run a CI job's cancellation reaches, at once: its watchdogs (first,
    // so that none sees the test process die and cleans up), then the test process.
    let watchdogs = watchdogs_of(&run_id);
    assert!(!watchdogs.is_empty(), "no watchdog to kill");
    for pid in watchdogs {
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status();
    }
    process.kill().unwrap();
    let _ = process.wait();
    let killed = Instant::now();
    let gone = common::wait_until(Duration::from_secs(10), || {
        common::of_run(&run_id).is_empty()
            && common::networks(&labels).is_empty()
            && common::containers(&reaper).is_empty()
    });
    eprintln!(
        "MEASURE after the whole run's kill, all gone after {:?}",
        killed.elapsed()
    );
    assert!(
        gone,
        "left: {:?} {:?} reaper {:?}",
        common::of_run(&run_id),
        common::networks(&labels),
        common::containers(&reaper)
    );
}

// ------------------------------------------------------------------------------- sweep --

#[fixture(scope = test)]
async fn plain(setup: &Setup) -> Result<Container, Error> {
    fixtures_docker::start(setup, svc().label("test", "plain")).await
}

#[test]
#[ignore = "run by the sweep and reuse tests: a next start"]
fn child_starts_one_container() {
    let _c = plain::fixture().try_lease().expect("starts");
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A container made by hand with our labels, as another run would have left it.
fn leftover(
    run_id: &str,
    run_owner: ProcessRef,
    machine: &str,
    boot: &str,
    expires_at: u64,
) -> String {
    let labels = [
        ("org.fixtures.managed-by", "fixtures".to_owned()),
        ("org.fixtures.run-id", run_id.to_owned()),
        ("org.fixtures.run-owner", run_owner.to_string()),
        ("org.fixtures.owner", run_owner.to_string()),
        ("org.fixtures.machine", machine.to_owned()),
        ("org.fixtures.boot", boot.to_owned()),
        ("org.fixtures.expires-at", expires_at.to_string()),
        ("test", "leftover".to_owned()),
    ];
    create(&labels, true)
}

/// A container of testsvc's image with `labels`, made by hand; started when `start`.
fn create(labels: &[(&str, String)], start: bool) -> String {
    use bollard::models::ContainerCreateBody;
    let image = svc().image_ref();
    common::engine(async |d| {
        let body = ContainerCreateBody {
            image: Some(image),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect(),
            ),
            ..Default::default()
        };
        let id = d.create_container(None, body).await.unwrap().id;
        if !start {
            return id;
        }
        // A reaper watching the run may remove it between the two calls: the start then
        // finds it gone or going, which is what the caller waits for anyway.
        match d.start_container(&id, None).await {
            Ok(()) => {}
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404 | 409,
                ..
            }) => {}
            Err(e) => panic!("starting {id}: {e}"),
        }
        id
    })
}

#[test]
fn leftovers_of_dead_runs_are_swept_at_the_next_start_and_live_runs_are_not() {
    // This machine's labels, as the crate writes them.
    let mine = plain::fixture().try_lease().expect("starts");
    let labels = common::labels_of(mine.id());
    let (machine, boot) = (
        &labels["org.fixtures.machine"],
        &labels["org.fixtures.boot"],
    );
    drop(mine);

    let mut dead = Helper::start();
    let dead_ref = dead.process();
    dead.kill();
    let live = Helper::start();
    let later = unix_now() + 3600;
    let pid = std::process::id();
    let stale = leftover(&format!("stale-{pid}"), dead_ref, machine, boot, later);
    let alive = leftover(&format!("live-{pid}"), live.process(), machine, boot, later);
    let expired_elsewhere = leftover(
        &format!("far-{pid}"),
        dead_ref,
        "another-machine",
        "b",
        unix_now() - 5,
    );
    let elsewhere = leftover(
        &format!("far2-{pid}"),
        dead_ref,
        "another-machine",
        "b",
        later,
    );
    let rebooted = leftover(
        &format!("boot-{pid}"),
        live.process(),
        machine,
        "an-earlier-boot",
        later,
    );

    let out = run(child("leftovers::child_starts_one_container"));
    assert!(out.status.success(), "{}", text(&out));

    let kept = [&alive, &elsewhere];
    for id in kept {
        assert!(
            common::exists(id),
            "a live run's container, or another machine's, was swept"
        );
    }
    for id in [&stale, &expired_elsewhere, &rebooted] {
        assert!(!common::exists(id), "a leftover of a dead run was kept");
    }
    for id in kept {
        common::remove(id);
    }
}

/// A reaper container as a run leaves it when its process ends between the reaper's create
/// and its start: created, never started (so never auto-removed), labelled as the crate labels
/// reapers.
fn created_reaper(run_owner: ProcessRef, machine: &str, boot: &str) -> String {
    let labels = [
        (
            "org.fixtures.reaper-of",
            format!("reaper-{}", std::process::id()),
        ),
        ("org.fixtures.run-owner", run_owner.to_string()),
        ("org.fixtures.machine", machine.to_owned()),
        ("org.fixtures.boot", boot.to_owned()),
        ("org.fixtures.expires-at", (unix_now() + 3600).to_string()),
    ];
    create(&labels, false)
}

#[test]
fn a_reaper_created_and_never_started_is_swept_once_its_run_is_gone() {
    let mine = plain::fixture().try_lease().expect("starts");
    let labels = common::labels_of(mine.id());
    let (machine, boot) = (
        labels["org.fixtures.machine"].clone(),
        labels["org.fixtures.boot"].clone(),
    );
    drop(mine);
    let mut dead = Helper::start();
    let dead_ref = dead.process();
    dead.kill();
    let live = Helper::start();
    let orphan = created_reaper(dead_ref, &machine, &boot);
    let starting = created_reaper(live.process(), &machine, &boot);

    let out = run(child("leftovers::child_starts_one_container"));
    assert!(out.status.success(), "{}", text(&out));

    assert!(
        !common::exists(&orphan),
        "a dead run's reaper, created and never started, was kept"
    );
    assert!(
        common::exists(&starting),
        "a live run's reaper (between its create and its start) was swept"
    );
    common::remove(&starting);
}

/// A container whose creation was still in flight when its run's owner died shows up in the
/// engine's list after the reaper's first pass: the reaper keeps looking for a few seconds and
/// removes it within the 10 s of the promise (RELIABILITY.md, finding 7).
#[test]
fn a_container_that_appears_after_the_reapers_pass_is_reaped_too() {
    let run_id = format!("late-{}", std::process::id());
    let mut owner = Helper::start();
    let owner_ref = owner.process();
    let mut cmd = common::this_binary(&[]);
    cmd.env("FIXTURES_ROLE", "docker-reaper")
        .env("FIXTURES_RUN_ID", &run_id)
        .env("FIXTURES_RUN_OWNER", owner_ref.to_string());
    let reaper = cmd.spawn().unwrap();
    // The reaper holds its lock and watches the owner; then the run dies.
    std::thread::sleep(Duration::from_millis(500));
    owner.kill();
    let died = Instant::now();
    // Its first pass finds nothing of the run (about 1 s); the container arrives after it.
    std::thread::sleep(Duration::from_millis(2000));
    let late = leftover(&run_id, owner_ref, "m", "b", unix_now() + 3600);
    let gone = common::wait_until(
        Duration::from_secs(10).saturating_sub(died.elapsed()),
        || !common::exists(&late),
    );
    eprintln!(
        "MEASURE a container created {:?} after the owner died: gone {gone} after {:?}",
        Duration::from_millis(2000),
        died.elapsed()
    );
    if !gone {
        common::remove(&late);
    }
    assert!(gone, "the late container outlived the reaper");
    // The reaper ends by itself once nothing of the run has been seen for a while.
    let out = common::finish(reaper, Duration::from_secs(20));
    assert!(out.status.success(), "{}", text(&out));
    assert!(common::of_run(&run_id).is_empty());
}

// ------------------------------------------------------------------------------- reuse --

#[fixture(scope = test)]
async fn reusable(setup: &Setup) -> Result<Container, Error> {
    let key = std::env::var("FIXTURES_DOCKER_REUSE_KEY").unwrap_or_default();
    fixtures_docker::start(setup, web_spec().label("test-reuse", key).reuse(true)).await
}

#[test]
#[ignore = "run by leftovers::a_reused_container_survives_its_run_and_is_adopted_by_the_next"]
fn child_uses_a_reusable_container() {
    let t = Instant::now();
    let c = reusable::fixture().try_lease().expect("starts or adopts");
    println!("MS={}", t.elapsed().as_millis());
    println!("ID={}", c.id());
    println!("ADOPTED={}", c.adopted());
    assert_eq!(
        common::http_get(&c.address(8080).unwrap(), "/health").0,
        200
    );
    // Released and adopted again at once (within the same second: the expiry in its name
    // does not change).
    let id = c.id().to_owned();
    drop(c);
    let again = reusable::fixture()
        .try_lease()
        .expect("adopted again at once");
    if std::env::var_os("FIXTURES_REUSE").is_some() {
        assert_eq!(again.id(), id);
        assert!(again.adopted());
    }
}

#[test]
fn a_reused_container_survives_its_run_and_is_adopted_by_the_next() {
    let key = format!("{}-{}", std::process::id(), unix_now());
    let use_it = |reuse: bool| {
        let mut cmd = child("leftovers::child_uses_a_reusable_container");
        cmd.env("FIXTURES_DOCKER_REUSE_KEY", &key);
        if reuse {
            cmd.env("FIXTURES_REUSE", "1");
        }
        let out = run(cmd);
        assert!(out.status.success(), "{}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let id = line(&stdout, "ID=").to_owned();
        let adopted = line(&stdout, "ADOPTED=") == "true";
        let ms: u64 = line(&stdout, "MS=").parse().unwrap();
        (id, adopted, ms)
    };
    let (first, adopted, _) = use_it(true);
    assert!(!adopted);
    std::thread::sleep(Duration::from_secs(2)); // the first run's reaper has had its turn
    assert!(
        common::exists(&first),
        "a reused container survives its run"
    );

    let (second, adopted, ms) = use_it(true);
    eprintln!("MEASURE reused container adopted in {ms} ms");
    assert!(adopted);
    assert_eq!(second, first);
    let found = common::containers(&[format!("test-reuse={key}")]);
    assert_eq!(found.len(), 1, "{found:?}");
    let expiry: u64 = found[0]
        .name
        .rsplit_once("-until-")
        .unwrap()
        .1
        .parse()
        .unwrap();
    assert!(
        expiry > unix_now() + 25 * 60,
        "the idle clock restarted: {}",
        found[0].name
    );

    let (third, adopted, _) = use_it(false);
    assert!(
        !adopted && third != first,
        "without FIXTURES_REUSE=1 nothing is reused"
    );
    assert!(!common::exists(&third));

    // Idle past its expiry: the next start sweeps it.
    let expired = format!(
        "{}-until-{}",
        found[0].name.rsplit_once("-until-").unwrap().0,
        unix_now() - 1
    );
    common::engine(async |d| {
        let opts = bollard::query_parameters::RenameContainerOptionsBuilder::new()
            .name(&expired)
            .build();
        d.rename_container(&first, opts).await.unwrap();
    });
    let out = run(child("leftovers::child_starts_one_container"));
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        !common::exists(&first),
        "an expired reused container is swept"
    );
}
