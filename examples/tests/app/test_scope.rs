//! The tests with `test`-scoped databases: `use crate::fixtures::pg::test_scope::db;`
//! is the only line that differs between the scope modules.

use fixtures_core::prelude::*;
use fixtures_postgres::TestDb;
use rstest::rstest;

use crate::cases;
use crate::fixtures::{Seeded, pg::test_scope::db, seeded_org};

seeded_org!();

#[rstest]
#[tokio::test]
async fn identities_start_at_one(db: Lease<TestDb>, org: Lease<Seeded>) {
    cases::identities_start_at_one(&db, &org).await;
}

#[rstest]
#[tokio::test]
async fn members_are_listed_by_email(db: Lease<TestDb>, org: Lease<Seeded>) {
    cases::members_are_listed_by_email(&db, &org).await;
}

#[rstest]
#[tokio::test]
async fn tasks_are_numbered_per_project(db: Lease<TestDb>, org: Lease<Seeded>) {
    cases::tasks_are_numbered_per_project(&db, &org).await;
}

#[rstest]
#[tokio::test]
async fn status_changes_are_audited(db: Lease<TestDb>, org: Lease<Seeded>) {
    cases::status_changes_are_audited(&db, &org).await;
}

#[rstest]
#[tokio::test]
async fn non_members_cannot_create_tasks(db: Lease<TestDb>, org: Lease<Seeded>) {
    cases::non_members_cannot_create_tasks(&db, &org).await;
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_open_tasks_view_counts_open_work(db: Lease<TestDb>, org: Lease<Seeded>) {
    cases::the_open_tasks_view_counts_open_work(&db, &org).await;
}

/// A sync test: it brings its own runtime.
#[rstest]
fn tags_comments_and_assignees(db: Lease<TestDb>, org: Lease<Seeded>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(cases::tags_comments_and_assignees(&db, &org));
}
