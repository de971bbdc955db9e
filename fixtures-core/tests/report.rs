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
