//! The timings report tells a fixture's own setup time from the time it waited for its
//! dependencies (a server starting, say), so that a database that takes 3 ms is not reported
//! as taking as long as the server it waited for.

use std::time::Duration;

use fixtures_core::prelude::*;
use fixtures_core::report;

#[fixture(scope = suite)]
async fn slow_server() -> Result<u32, std::convert::Infallible> {
    tokio::time::sleep(Duration::from_millis(400)).await;
    Ok(1)
}

#[fixture(scope = test)]
async fn quick_db(slow_server: Lease<u32>) -> Result<u32, std::convert::Infallible> {
    Ok(*slow_server + 1)
}

#[test]
fn waiting_for_a_dependency_is_not_counted_as_the_fixtures_own_setup() {
    assert_eq!(*quick_db::fixture().try_lease().unwrap(), 2);
    let rows = report::rows();
    let row = |name: &str| {
        rows.iter()
            .find(|r| r.meta.name == name)
            .unwrap_or_else(|| panic!("no row for {name}"))
            .stats
    };
    let (db, server) = (row("quick_db"), row("slow_server"));
    assert!(
        server.setup_time >= Duration::from_millis(400),
        "{server:?}"
    );
    assert!(db.waited_time >= Duration::from_millis(400), "{db:?}");
    assert!(
        db.setup_time < Duration::from_millis(200),
        "the wait counted as its own: {db:?}"
    );
    let table = report::render(&rows);
    assert!(table.contains("waited ms"), "{table}");
}

#[fixture(scope = test)]
async fn timed(slow_server: Lease<u32>) -> Result<u32, std::convert::Infallible> {
    tokio::time::sleep(Duration::from_millis(20 * u64::from(*slow_server))).await;
    Ok(0)
}

#[test]
fn each_setup_is_a_sample_of_its_own_so_that_medians_and_tails_can_be_told() {
    for _ in 0..3 {
        drop(timed::fixture().try_lease().unwrap());
    }
    let row = report::rows()
        .into_iter()
        .find(|r| r.meta.name == "timed")
        .expect("a row for timed");
    let samples = row.meta.setup_samples();
    assert_eq!(samples.len(), 3, "{samples:?}");
    assert!(
        samples.iter().all(|d| *d >= Duration::from_millis(20)),
        "{samples:?}"
    );
    // The wait for the server is not in the first sample either.
    assert!(samples[0] < Duration::from_millis(300), "{samples:?}");
    let line = report::json_lines(&[row]);
    let start = line
        .find("\"setup_samples_ms\":[")
        .expect("the samples field")
        + 20;
    let listed: Vec<f64> = line[start..line.len() - 3]
        .split(',')
        .map(|n| n.parse().expect("a number"))
        .collect();
    assert_eq!(listed.len(), 3, "{line}");
    assert!(listed.iter().all(|&ms| ms >= 20.0), "{line}");
}
