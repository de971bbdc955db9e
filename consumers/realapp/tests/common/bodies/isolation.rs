//! Seeded rows that tests change behind the API's back, and what members of an organisation
//! may do: each test finds the database as the migrations left it.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{PASSWORD, TestApp};

/// The roles the first migration inserts, ranked.
pub async fn the_roles_are_seeded(app: TestApp) {
    let roles: Vec<(String, bool, bool)> =
        sqlx::query_as("SELECT name, can_write, can_manage_members FROM roles ORDER BY rank")
            .fetch_all(&app.db_pool)
            .await
            .unwrap();
    let expected = [
        ("owner", true, true),
        ("admin", true, true),
        ("member", true, false),
        ("viewer", false, false),
    ];
    let expected: Vec<(String, bool, bool)> = expected
        .iter()
        .map(|(n, w, m)| ((*n).to_owned(), *w, *m))
        .collect();
    assert_eq!(roles, expected);
    let health = app.get("/health", None).await;
    assert_eq!(health.status(), StatusCode::OK);
}

/// The database starts with the demo user alone, and the demo organisation's rows.
pub async fn only_the_demo_user_exists_at_first(app: TestApp) {
    assert_eq!(app.count("SELECT count(*) FROM users").await, 1);
    assert_eq!(app.count("SELECT count(*) FROM organisations").await, 1);
    assert_eq!(app.count("SELECT count(*) FROM sessions").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM audit_log").await, 1);
    app.sign_up("gina").await;
    assert_eq!(app.count("SELECT count(*) FROM users").await, 2);
}

/// Deleting the demo project (and, by cascade, its tasks, tags' uses and comments) empties
/// the demo user's list.
pub async fn deletes_the_demo_project(app: TestApp) {
    app.execute("DELETE FROM projects WHERE id = 1").await;
    assert_eq!(app.count("SELECT count(*) FROM tasks").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM comments").await, 0);
    let token = app.demo().await;
    assert_eq!(app.get_ok("/projects", &token).await, json!([]));
}

/// The demo project is there with its tasks and comment, whatever a test before deleted.
pub async fn the_demo_project_is_there(app: TestApp) {
    assert_eq!(app.count("SELECT count(*) FROM tasks").await, 3);
    assert_eq!(app.count("SELECT count(*) FROM comments").await, 1);
    let token = app.demo().await;
    assert_eq!(app.get_ok("/projects/1", &token).await["tasks"], 3);
}

/// With sign-up closed in the settings, registering is refused.
pub async fn closes_sign_up(app: TestApp) {
    app.execute("UPDATE settings SET value = 'false' WHERE key = 'signup_open'")
        .await;
    let answer = app.register("hank@example.com", "Hank", PASSWORD).await;
    assert_eq!(answer.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.count("SELECT count(*) FROM users").await, 1);
}

/// Sign-up is open, whatever a test before closed.
pub async fn sign_up_is_open(app: TestApp) {
    let settings = app.get("/settings", None).await;
    let settings: serde_json::Value = settings.json().await.unwrap();
    assert_eq!(
        settings[3],
        json!({ "key": "signup_open", "value": "true" })
    );
    let answer = app.register("iris@example.com", "Iris", PASSWORD).await;
    assert_eq!(answer.status(), StatusCode::CREATED);
}

/// An owner adds a member, who then sees the organisation's projects and may add tasks.
pub async fn a_member_sees_the_organisations_projects(app: TestApp) {
    let jack = app.sign_up("jack").await;
    let kim = app.sign_up("kim").await;
    let project = app.project(&jack, "Shared").await;
    let path = format!("/organisations/{}/members", jack.organisation);
    let body = json!({ "email": kim.email, "role": "member" });
    let member = app
        .post_expect(&path, Some(&jack.token), body, StatusCode::CREATED)
        .await;
    assert_eq!(member["role"], "member");
    let projects = app.get_ok("/projects", &kim.token).await;
    assert_eq!(projects[0]["id"], project);
    let task = app.task(&kim.token, project, "Kim's task", &[]).await;
    assert_eq!(task["project_id"], project);
}

/// A viewer sees the projects but may not create any.
pub async fn a_viewer_cannot_create_projects(app: TestApp) {
    let lena = app.sign_up("lena").await;
    let mark = app.sign_up("mark").await;
    app.project(&lena, "Read only").await;
    let path = format!("/organisations/{}/members", lena.organisation);
    let body = json!({ "email": mark.email, "role": "viewer" });
    app.post_expect(&path, Some(&lena.token), body, StatusCode::CREATED)
        .await;
    assert_eq!(
        app.get_ok("/projects", &mark.token).await[0]["name"],
        "Read only"
    );
    let body = json!({ "organisation_id": lena.organisation, "name": "Mine" });
    app.post_expect("/projects", Some(&mark.token), body, StatusCode::FORBIDDEN)
        .await;
}

/// A plain member may not add members, and adding someone twice is a conflict.
pub async fn a_member_cannot_add_members(app: TestApp) {
    let nora = app.sign_up("nora").await;
    let oscar = app.sign_up("oscar").await;
    let path = format!("/organisations/{}/members", nora.organisation);
    let body = json!({ "email": oscar.email, "role": "member" });
    app.post_expect(&path, Some(&nora.token), body.clone(), StatusCode::CREATED)
        .await;
    app.post_expect(&path, Some(&nora.token), body, StatusCode::CONFLICT)
        .await;
    let demo = json!({ "email": "demo@example.com", "role": "admin" });
    app.post_expect(&path, Some(&oscar.token), demo, StatusCode::FORBIDDEN)
        .await;
}

/// An organisation's audit log is not shown to outsiders, nor to plain members.
pub async fn the_audit_log_is_private(app: TestApp) {
    let pat = app.sign_up("pat").await;
    let outsider = app.get("/organisations/1/audit", Some(&pat.token)).await;
    assert_eq!(outsider.status(), StatusCode::NOT_FOUND);
    let demo = app.demo().await;
    let body = json!({ "email": pat.email, "role": "member" });
    app.post_expect(
        "/organisations/1/members",
        Some(&demo),
        body,
        StatusCode::CREATED,
    )
    .await;
    let member = app.get("/organisations/1/audit", Some(&pat.token)).await;
    assert_eq!(member.status(), StatusCode::FORBIDDEN);
    let log = app.get_ok("/organisations/1/audit", &demo).await;
    assert_eq!(log[1]["action"], "member.added");
}
