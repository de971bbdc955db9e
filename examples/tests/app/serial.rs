//! Tests that take turns on something outside the database: a shared export file.
//! `#[file_serial]` serialises them across processes too (nextest); plain `#[serial]` only
//! within one process.

use std::io::Write;
use std::path::PathBuf;

use rstest::rstest;
use serial_test::file_serial;

fn export_file() -> PathBuf {
    std::env::temp_dir().join("fixtures-examples-export.csv")
}

/// Writes an export, then reads it back: another test writing at the same time would change it.
fn export_and_check(rows: &[&str]) {
    let path = export_file();
    let mut f = std::fs::File::create(&path).unwrap();
    for r in rows {
        writeln!(f, "{r}").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    drop(f);
    let back = std::fs::read_to_string(&path).unwrap();
    assert_eq!(back.lines().collect::<Vec<_>>(), rows);
}

#[rstest]
#[file_serial(export)]
fn exports_organisations() {
    export_and_check(&["acme", "globex", "initech"]);
}

#[rstest]
#[file_serial(export)]
fn exports_projects() {
    export_and_check(&["WEB", "API"]);
}

#[rstest]
#[file_serial(export)]
#[tokio::test]
async fn exports_tasks() {
    tokio::task::spawn_blocking(|| export_and_check(&["WEB-1", "WEB-2", "API-1", "API-2"]))
        .await
        .unwrap();
}
