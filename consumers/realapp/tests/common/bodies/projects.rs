//! Projects: who creates them where, who sees them.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::TestApp;

/// A new user's personal organisation has no projects; the demo one's are not theirs.
pub async fn a_new_user_sees_no_projects(app: TestApp) {
    let olivia = app.sign_up("olivia").await;
    assert_eq!(app.get_ok("/projects", &olivia.token).await, json!([]));
    let demo_project = app.get("/projects/1", Some(&olivia.token)).await;
    assert_eq!(demo_project.status(), StatusCode::NOT_FOUND);
}

/// A project is created in the user's organisation and listed, with no tasks yet.
pub async fn creates_a_project(app: TestApp) {
    let peggy = app.sign_up("peggy").await;
    let body = json!({
        "organisation_id": peggy.organisation,
        "name": "Website",
        "description": "The new site",
    });
    let project = app
        .post_expect("/projects", Some(&peggy.token), body, StatusCode::CREATED)
        .await;
    assert_eq!(project["name"], "Website");
    assert_eq!(project["description"], "The new site");
    assert_eq!(
        (project["tasks"].as_i64(), project["done"].as_i64()),
        (Some(0), Some(0))
    );
    assert_eq!(
        app.get_ok("/projects", &peggy.token).await,
        json!([project])
    );
}

/// Two projects of one organisation may not share a name; another organisation's may.
pub async fn project_names_are_unique(app: TestApp) {
    let rupert = app.sign_up("rupert").await;
    app.project(&rupert, "Getting started").await;
    let body = json!({ "organisation_id": rupert.organisation, "name": "Getting started" });
    let again = app
        .post_expect("/projects", Some(&rupert.token), body, StatusCode::CONFLICT)
        .await;
    assert!(again["error"].as_str().unwrap().contains("exists"));
    assert_eq!(app.count("SELECT count(*) FROM projects").await, 2);
}

/// A project needs a name.
pub async fn rejects_an_empty_project_name(app: TestApp) {
    let sybil = app.sign_up("sybil").await;
    let body = json!({ "organisation_id": sybil.organisation, "name": "   " });
    app.post_expect(
        "/projects",
        Some(&sybil.token),
        body,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(app.count("SELECT count(*) FROM projects").await, 1);
}

/// An organisation the user is no member of is not shown to exist.
pub async fn cannot_create_in_another_organisation(app: TestApp) {
    let trent = app.sign_up("trent").await;
    let body = json!({ "organisation_id": 1, "name": "Hijack" });
    let answer = app
        .post_expect("/projects", Some(&trent.token), body, StatusCode::NOT_FOUND)
        .await;
    assert_eq!(answer["error"], "no such organisation");
    assert_eq!(
        app.count("SELECT count(*) FROM projects WHERE organisation_id = 1")
            .await,
        1
    );
}

/// The demo user sees the seeded project with its task counts.
pub async fn the_demo_project_is_seeded(app: TestApp) {
    let token = app.demo().await;
    let projects = app.get_ok("/projects", &token).await;
    assert_eq!(
        projects,
        json!([{
            "id": 1,
            "organisation_id": 1,
            "name": "Getting started",
            "description": "A tour of the app.",
            "tasks": 3,
            "done": 1,
        }])
    );
    assert_eq!(app.get_ok("/projects/1", &token).await, projects[0]);
}

/// One user's project is invisible to another, in lists and by id.
pub async fn another_user_cannot_see_my_project(app: TestApp) {
    let uma = app.sign_up("uma").await;
    let victor = app.sign_up("victor").await;
    let id = app.project(&uma, "Secret plans").await;
    assert_eq!(app.get_ok("/projects", &victor.token).await, json!([]));
    let path = format!("/projects/{id}");
    let answer = app.get(&path, Some(&victor.token)).await;
    assert_eq!(answer.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.get_ok(&path, &uma.token).await["name"], "Secret plans");
}

/// Ids continue after the seeded rows, whatever ran before.
pub async fn project_ids_continue_after_the_seed(app: TestApp) {
    let walter = app.sign_up("walter").await;
    assert_eq!(walter.id, 2);
    assert_eq!(walter.organisation, 2);
    assert_eq!(app.project(&walter, "First").await, 2);
    assert_eq!(app.project(&walter, "Second").await, 3);
}

/// Projects are listed oldest first.
pub async fn projects_are_listed_in_order(app: TestApp) {
    let wendy = app.sign_up("wendy").await;
    for name in ["Gamma", "Alpha", "Beta"] {
        app.project(&wendy, name).await;
    }
    let projects = app.get_ok("/projects", &wendy.token).await;
    let names: Vec<&str> = projects
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Gamma", "Alpha", "Beta"]);
}

/// The number of projects per organisation is capped by a setting; creating one is audited.
pub async fn the_project_limit_comes_from_settings(app: TestApp) {
    let xavier = app.sign_up("xavier").await;
    app.execute("UPDATE settings SET value = '2' WHERE key = 'max_projects_per_organisation'")
        .await;
    app.project(&xavier, "One").await;
    app.project(&xavier, "Two").await;
    let body = json!({ "organisation_id": xavier.organisation, "name": "Three" });
    let refused: Value = app
        .post_expect(
            "/projects",
            Some(&xavier.token),
            body,
            StatusCode::FORBIDDEN,
        )
        .await;
    assert!(refused["error"].as_str().unwrap().contains("limit"));
    let path = format!("/organisations/{}/audit", xavier.organisation);
    let log = app.get_ok(&path, &xavier.token).await;
    let created = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "project.created")
        .count();
    assert_eq!(created, 2);
}
