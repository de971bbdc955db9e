//! The test bodies, shared by every scope's module.

use examples::{AppError, Repo, TaskStatus};
use fixtures_postgres::TestDb;

use crate::fixtures::Seeded;

pub async fn identities_start_at_one(db: &TestDb, s: &Seeded) {
    // Whatever ran before in this database, the seeded organisation is the first one.
    assert_eq!(s.org.id, 1, "in {}", db.name());
    assert_eq!(s.owner.id, 1);
}

pub async fn members_are_listed_by_email(db: &TestDb, s: &Seeded) {
    let repo = Repo::new(db.pool());
    let bob = repo.create_user("bob@acme.test", "Bob").await.unwrap();
    repo.add_member(s.org.id, bob.id, "member").await.unwrap();
    assert_eq!(
        repo.members(s.org.id).await.unwrap(),
        ["ada@acme.test", "bob@acme.test"]
    );
}

pub async fn tasks_are_numbered_per_project(db: &TestDb, s: &Seeded) {
    let repo = Repo::new(db.pool());
    let mut keys = Vec::new();
    for title in ["design", "build", "ship"] {
        keys.push(
            repo.create_task(s.project.id, title, s.owner.id)
                .await
                .unwrap()
                .key,
        );
    }
    assert_eq!(keys, ["WEB-1", "WEB-2", "WEB-3"]);
}

pub async fn status_changes_are_audited(db: &TestDb, s: &Seeded) {
    let repo = Repo::new(db.pool());
    let task = repo
        .create_task(s.project.id, "audit me", s.owner.id)
        .await
        .unwrap();
    repo.set_status(task.id, TaskStatus::Doing, s.owner.id)
        .await
        .unwrap();
    repo.set_status(task.id, TaskStatus::Done, s.owner.id)
        .await
        .unwrap();
    let trail = repo.audit_trail(s.org.id).await.unwrap();
    let task_ref = format!("task:{}", task.id);
    assert_eq!(
        trail,
        [
            "member.added user:1".to_owned(),
            format!("task.doing {task_ref}"),
            format!("task.done {task_ref}")
        ]
    );
}

pub async fn non_members_cannot_create_tasks(db: &TestDb, s: &Seeded) {
    let repo = Repo::new(db.pool());
    let eve = repo.create_user("eve@elsewhere.test", "Eve").await.unwrap();
    let err = repo
        .create_task(s.project.id, "sneaky", eve.id)
        .await
        .unwrap_err();
    assert!(
        matches!(err, AppError::NotMember { user, .. } if user == eve.id),
        "{err}"
    );
}

pub async fn the_open_tasks_view_counts_open_work(db: &TestDb, s: &Seeded) {
    let repo = Repo::new(db.pool());
    let a = repo
        .create_task(s.project.id, "a", s.owner.id)
        .await
        .unwrap();
    let _b = repo
        .create_task(s.project.id, "b", s.owner.id)
        .await
        .unwrap();
    let c = repo
        .create_task(s.project.id, "c", s.owner.id)
        .await
        .unwrap();
    repo.set_status(a.id, TaskStatus::Done, s.owner.id)
        .await
        .unwrap();
    repo.set_status(c.id, TaskStatus::Cancelled, s.owner.id)
        .await
        .unwrap();
    assert_eq!(repo.open_tasks(s.project.id).await.unwrap(), 1);
}

pub async fn tags_comments_and_assignees(db: &TestDb, s: &Seeded) {
    let repo = Repo::new(db.pool());
    let t = repo
        .create_task(s.project.id, "tag me", s.owner.id)
        .await
        .unwrap();
    repo.tag(t.id, s.org.id, "urgent").await.unwrap();
    repo.tag(t.id, s.org.id, "urgent").await.unwrap();
    repo.assign(t.id, s.owner.id).await.unwrap();
    let first = repo.comment(t.id, s.owner.id, "on it").await.unwrap();
    assert_eq!(first, 1, "comment ids restart in every test");
    let tags: i64 = sqlx::query_scalar("SELECT count(*) FROM tags")
        .fetch_one(&db.pool())
        .await
        .unwrap();
    assert_eq!(tags, 1);
}
