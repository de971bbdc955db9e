//! Runs this binary's scenarios in child processes and checks their markers.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use crate::markers::{self, Marker, count, position};

const NEXTEST_VARS: &[&str] = &[
    "NEXTEST",
    "NEXTEST_RUN_ID",
    "NEXTEST_EXECUTION_MODE",
    "NEXTEST_TEST_PHASE",
    "NEXTEST_TEST_NAME",
    "NEXTEST_BINARY_ID",
    "NEXTEST_ATTEMPT_ID",
    "FIXTURES_RUN_ID",
    "FIXTURES_REPORT_FILE",
];

fn marker_file(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fixtures-core-markers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.tsv"));
    let _ = std::fs::remove_file(&path);
    path
}

/// This binary as a child, like `cargo test` runs it.
fn child(args: &[&str], markers: &Path) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    for v in NEXTEST_VARS {
        cmd.env_remove(v);
    }
    cmd.args(args)
        .env("FIXTURES_MARKERS", markers)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn wait_with_deadline(mut child: Child, deadline: Duration) -> Output {
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "child did not finish within {deadline:?}\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn run(mut cmd: Command) -> Output {
    wait_with_deadline(cmd.spawn().unwrap(), Duration::from_secs(120))
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Exact counts for the 3 × 5 scenario, as seen from the markers.
fn assert_scenario_counts(m: &[Marker], processes: usize) {
    assert_eq!(count(m, "setup", "suite_res"), processes, "{m:#?}");
    assert_eq!(count(m, "teardown", "suite_res"), processes);
    assert_eq!(
        count(m, "setup", "module_res"),
        if processes == 1 { 3 } else { processes }
    );
    assert_eq!(
        count(m, "teardown", "module_res"),
        count(m, "setup", "module_res")
    );
    assert_eq!(count(m, "setup", "test_res"), 15);
    assert_eq!(count(m, "teardown", "test_res"), 15);
    assert_eq!(m.iter().filter(|x| x.event == "test").count(), 15);
}

/// Each module's instance is torn down after that module's last test, and each test's
/// instance after that test.
fn assert_scenario_order(m: &[Marker]) {
    for module in ["scenario_a", "scenario_b", "scenario_c"] {
        let key = format!("scenario::{module}");
        let teardown = position(m, "teardown", "module_res", &key);
        let last_test = m
            .iter()
            .rposition(|x| x.event == "test" && x.instance == key)
            .expect("tests ran");
        assert!(
            teardown > last_test,
            "{module}: torn down before its last test\n{m:#?}"
        );
    }
    let suite_down = position(m, "teardown", "suite_res", "suite");
    assert_eq!(
        suite_down,
        m.len() - 1,
        "the suite instance goes last\n{m:#?}"
    );
}

#[test]
fn cargo_test_style_run_has_exact_counts_per_scope() {
    let file = marker_file("cargo-test");
    let out = run({
        let mut c = child(&["scenario::", "--test-threads=4"], &file);
        c.env("FIXTURES_REPORT", "1");
        c
    });
    assert!(out.status.success(), "{}", text(&out));
    let m = markers::read(&file);
    assert_scenario_counts(&m, 1);
    assert_scenario_order(&m);
    // Module instances go as soon as their module is done: at least one goes before the last
    // test of the run (with 4 threads the modules overlap, but the first one ends early).
    let first_module_down = m
        .iter()
        .position(|x| x.event == "teardown" && x.fixture == "module_res")
        .unwrap();
    let last_test = m.iter().rposition(|x| x.event == "test").unwrap();
    assert!(
        first_module_down < last_test,
        "a module instance lived until exit\n{m:#?}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("fixture timings"),
        "the report is printed when asked\n{stderr}"
    );
}

/// Runs the scenario the way nextest does: a list phase, then one process per test (4 at a
/// time), all sharing one run id.
#[test]
fn nextest_style_run_has_one_process_per_test_and_one_run_id() {
    let file = marker_file("nextest");
    let run_id = format!("emulated-{}", std::process::id());
    let nextest_env = |c: &mut Command, phase: &str| {
        c.env("NEXTEST", "1")
            .env("NEXTEST_RUN_ID", &run_id)
            .env("NEXTEST_EXECUTION_MODE", "process-per-test")
            .env("NEXTEST_TEST_PHASE", phase);
    };
    let mut list = child(&["--list", "--format", "terse"], &file);
    nextest_env(&mut list, "list");
    let out = run(list);
    assert!(out.status.success(), "{}", text(&out));
    let tests: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .filter(|t| t.starts_with("scenario::"))
        .map(str::to_owned)
        .collect();
    assert_eq!(tests.len(), 18, "3 modules × 6 tests listed: {tests:?}");
    assert!(
        markers::read(&file).is_empty(),
        "the list phase set something up"
    );

    let runnable: Vec<&String> = tests.iter().filter(|t| !t.ends_with("ignored")).collect();
    for batch in runnable.chunks(4) {
        let children: Vec<Child> = batch
            .iter()
            .map(|t| {
                let mut c = child(&["--exact", t, "--nocapture"], &file);
                nextest_env(&mut c, "run");
                c.env("NEXTEST_TEST_NAME", t.as_str());
                c.spawn().unwrap()
            })
            .collect();
        for c in children {
            let out = wait_with_deadline(c, Duration::from_secs(60));
            assert!(out.status.success(), "{}", text(&out));
        }
    }
    let m = markers::read(&file);
    assert_scenario_counts(&m, 15);
    assert!(
        m.iter().all(|x| x.run == run_id),
        "every process reports the shared run id"
    );
    let pids: std::collections::HashSet<u32> = m.iter().map(|x| x.pid).collect();
    assert_eq!(pids.len(), 15);
    for pid in pids {
        let mine: Vec<&Marker> = m.iter().filter(|x| x.pid == pid).collect();
        let order: Vec<String> = mine
            .iter()
            .map(|x| format!("{} {}", x.event, x.fixture))
            .collect();
        assert_eq!(
            order[order.len() - 3..],
            [
                "teardown test_res",
                "teardown module_res",
                "teardown suite_res"
            ],
            "per process: test, then module (its module's only selected test ended), then suite"
        );
    }
}

fn module_teardown_before(m: &[Marker], module: &str, before_test: &str) {
    let key = format!("scenario::{module}");
    let down = position(m, "teardown", "module_res", &key);
    let next = m
        .iter()
        .position(|x| x.event == "test" && x.fixture == before_test)
        .unwrap_or_else(|| panic!("{before_test} did not run\n{m:#?}"));
    assert!(
        down < next,
        "{module} torn down after {before_test} started\n{m:#?}"
    );
}

#[test]
fn a_name_filter_tears_the_module_down_after_its_last_selected_test() {
    let file = marker_file("filter");
    let out = run(child(
        &[
            "--test-threads=1",
            "scenario_a::t1",
            "scenario_a::t3",
            "scenario_b::t2",
        ],
        &file,
    ));
    assert!(out.status.success(), "{}", text(&out));
    let m = markers::read(&file);
    assert_eq!(count(&m, "test", "scenario::scenario_a::t1"), 1);
    assert_eq!(count(&m, "test", "scenario::scenario_a::t3"), 1);
    assert_eq!(m.iter().filter(|x| x.event == "test").count(), 3);
    module_teardown_before(&m, "scenario_a", "scenario::scenario_b::t2");
}

#[test]
fn skip_and_exact_are_honoured() {
    let file = marker_file("skip");
    let out = run(child(
        &[
            "--test-threads=1",
            "scenario_a",
            "scenario_c::t1",
            "--skip",
            "t5",
        ],
        &file,
    ));
    assert!(out.status.success(), "{}", text(&out));
    let m = markers::read(&file);
    assert_eq!(m.iter().filter(|x| x.event == "test").count(), 5, "{m:#?}");
    module_teardown_before(&m, "scenario_a", "scenario::scenario_c::t1");

    let file = marker_file("exact");
    let out = run(child(
        &[
            "--test-threads=1",
            "--exact",
            "scenario::scenario_a::t2",
            "scenario::scenario_b::t1",
        ],
        &file,
    ));
    assert!(out.status.success(), "{}", text(&out));
    let m = markers::read(&file);
    assert_eq!(m.iter().filter(|x| x.event == "test").count(), 2, "{m:#?}");
    module_teardown_before(&m, "scenario_a", "scenario::scenario_b::t1");
}

#[test]
fn ignored_tests_count_only_when_they_will_run() {
    // Without --include-ignored, t6_ignored does not hold the module open.
    let file = marker_file("no-ignored");
    let out = run(child(
        &["--test-threads=1", "scenario_a", "scenario_b::t1"],
        &file,
    ));
    assert!(out.status.success(), "{}", text(&out));
    let m = markers::read(&file);
    module_teardown_before(&m, "scenario_a", "scenario::scenario_b::t1");

    // With it, the module is torn down after t6_ignored ran.
    let file = marker_file("include-ignored");
    let out = run(child(
        &[
            "--test-threads=1",
            "--include-ignored",
            "scenario_a",
            "scenario_b::t1",
        ],
        &file,
    ));
    assert!(out.status.success(), "{}", text(&out));
    let m = markers::read(&file);
    let t6 = position(
        &m,
        "test",
        "scenario::scenario_a::t6_ignored",
        "scenario::scenario_a",
    );
    let down = position(&m, "teardown", "module_res", "scenario::scenario_a");
    assert!(t6 < down, "{m:#?}");
    module_teardown_before(&m, "scenario_a", "scenario::scenario_b::t1");
}

fn assert_all_torn_down(m: &[Marker]) {
    for f in ["test_res", "module_res", "suite_res"] {
        assert_eq!(count(m, "setup", f), 1, "{f}\n{m:#?}");
        assert_eq!(count(m, "teardown", f), 1, "{f} not torn down\n{m:#?}");
    }
}

#[test]
fn teardown_runs_after_a_panicking_test() {
    let file = marker_file("panic");
    let out = run(child(
        &["--ignored", "--exact", "faults::panics", "faults::passes"],
        &file,
    ));
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("this test fails on purpose"));
    let m = markers::read(&file);
    assert_all_torn_down(&m);
    position(&m, "verdict", "failed", "faults::panics");
    assert_eq!(count(&m, "verdict", "failed"), 1, "{m:#?}");
    assert_eq!(
        count(&m, "verdict", "passed"),
        1,
        "faults::passes did not fail\n{m:#?}"
    );
}

#[test]
fn teardown_runs_after_process_exit() {
    let file = marker_file("exit");
    let out = run(child(&["--ignored", "--exact", "faults::exits"], &file));
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert_all_torn_down(&markers::read(&file));
}

/// Waits (up to 30 s) until the child's test has written its `test` marker.
fn wait_for_the_test(file: &Path) {
    let start = Instant::now();
    while !markers::read(file).iter().any(|m| m.event == "test") {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the test never started"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn signal_run(signal: &str, expected_code: i32) {
    let file = marker_file(&format!("signal-{signal}"));
    let child = child(
        &["--ignored", "--exact", "faults::waits_for_a_signal"],
        &file,
    )
    .spawn()
    .unwrap();
    wait_for_the_test(&file);
    let status: ExitStatus = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = wait_with_deadline(child, Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(expected_code), "{}", text(&out));
    assert_all_torn_down(&markers::read(&file));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("SIG{signal} received")));
}

#[test]
fn teardown_runs_after_signals() {
    signal_run("INT", 130);
    signal_run("TERM", 143);
    signal_run("HUP", 129);
}

/// nextest killed with SIGKILL leaves its test processes running (each is in its own process
/// group): a test process whose run owner dies ends itself, finalizers run, exit 129.
#[test]
fn a_test_process_ends_itself_when_its_run_owner_dies() {
    let file = marker_file("owner-dies");
    let mut owner = Command::new("sleep").arg("60").spawn().unwrap();
    let owner_ref = fixtures_core::watchdog::ProcessRef::of(owner.id()).unwrap();
    let child = child(
        &["--ignored", "--exact", "faults::waits_for_a_signal"],
        &file,
    )
    .env(
        "FIXTURES_RUN_ID",
        format!("owner-dies-{}", std::process::id()),
    )
    .env("FIXTURES_RUN_OWNER", owner_ref.to_string())
    .spawn()
    .unwrap();
    wait_for_the_test(&file);
    owner.kill().unwrap();
    owner.wait().unwrap();
    let died = Instant::now();
    let out = wait_with_deadline(child, Duration::from_secs(30));
    let ended = died.elapsed();
    assert_eq!(out.status.code(), Some(129), "{}", text(&out));
    assert!(
        ended < Duration::from_secs(5),
        "ended {ended:?} after its owner"
    );
    assert_all_torn_down(&markers::read(&file));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the run's owner (the test runner"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_failing_setup_is_reported_and_remembered() {
    let file = marker_file("broken");
    let out = run(child(
        &["--ignored", "--test-threads=1", "broken_setup::"],
        &file,
    ));
    let all = text(&out);
    assert!(!out.status.success(), "{all}");
    assert!(
        all.contains("test faults::broken_setup::first ... FAILED"),
        "{all}"
    );
    assert!(
        all.contains("test faults::broken_setup::second ... FAILED"),
        "{all}"
    );
    assert!(
        all.contains(
            "ERROR at setup of fixture `broken` (module scope, instance `faults::broken_setup`"
        ),
        "{all}"
    );
    assert!(all.contains("caused by: cannot reach the service"), "{all}");
    assert!(
        all.contains("hint: start the service, or point SERVICE_URL at one"),
        "{all}"
    );
    assert!(all.contains("remembered for this module instance"), "{all}");
    let m = markers::read(&file);
    assert_eq!(
        count(&m, "setup-attempt", "broken"),
        1,
        "the second test did not retry\n{m:#?}"
    );
}

#[test]
fn dependencies_are_torn_down_in_reverse_order_of_setup() {
    let file = marker_file("deps");
    let out = run(child(&["--test-threads=1", "deps::"], &file));
    assert!(out.status.success(), "{}", text(&out));
    let m = markers::read(&file);
    let order: Vec<String> = m
        .iter()
        .filter(|x| x.event != "test")
        .map(|x| format!("{} {}", x.event, x.fixture))
        .collect();
    // chains_are_built_in_order runs first (alphabetical), then leaf_sees_the_whole_chain.
    assert_eq!(
        order,
        [
            "setup chain_a",
            "setup chain_b",
            "setup chain_c",
            "teardown chain_c",
            "teardown chain_b",
            "teardown chain_a",
            "setup dep_root",
            "setup dep_mid",
            "setup dep_leaf",
            "teardown dep_leaf",
            "teardown dep_mid",
            "teardown dep_root",
        ],
        "{m:#?}"
    );
}

/// Checks the markers of a real `cargo nextest run` of the scenario, recorded by
/// `cargo xtask test` (which sets `FIXTURES_CHECK_NEXTEST_MARKERS` and runs this with `--ignored`).
#[test]
#[ignore = "run by `cargo xtask test` after a real nextest run of the scenario"]
fn markers_of_a_real_nextest_run() {
    let path = std::env::var("FIXTURES_CHECK_NEXTEST_MARKERS")
        .expect("FIXTURES_CHECK_NEXTEST_MARKERS names the marker file of the nextest run");
    let m = markers::read(Path::new(&path));
    assert_scenario_counts(&m, 15);
    let runs: std::collections::HashSet<&str> = m.iter().map(|x| x.run.as_str()).collect();
    assert_eq!(
        runs.len(),
        1,
        "all processes of one nextest run share its run id: {runs:?}"
    );
    assert!(
        !runs.iter().next().unwrap().starts_with('p'),
        "NEXTEST_RUN_ID was used"
    );
}
