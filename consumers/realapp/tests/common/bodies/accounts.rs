//! Sign-up, the public settings and the demo account.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{PASSWORD, TestApp};

/// `GET /health` answers, through the database.
pub async fn health_check_works(app: TestApp) {
    let answer = app.get("/health", None).await;
    assert_eq!(answer.status(), StatusCode::OK);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body, json!({ "status": "ok" }));
}

/// The settings seeded by the migrations are served, the private one is not.
pub async fn public_settings_are_seeded(app: TestApp) {
    let answer = app.get("/settings", None).await;
    assert_eq!(answer.status(), StatusCode::OK);
    let settings: Value = answer.json().await.unwrap();
    assert_eq!(
        settings,
        json!([
            { "key": "app_name", "value": "Realapp" },
            { "key": "min_password_length", "value": "8" },
            { "key": "session_ttl_hours", "value": "24" },
            { "key": "signup_open", "value": "true" },
        ])
    );
}

/// A new account is answered with its id (after the demo user's), email and name, and
/// stored once.
pub async fn registers_a_user(app: TestApp) {
    let answer = app.register("alice@example.com", "Alice", PASSWORD).await;
    assert_eq!(answer.status(), StatusCode::CREATED);
    let user: Value = answer.json().await.unwrap();
    assert_eq!(
        user,
        json!({ "id": 2, "email": "alice@example.com", "name": "Alice" })
    );
    let count = app
        .count("SELECT count(*) FROM users WHERE email = 'alice@example.com'")
        .await;
    assert_eq!(count, 1);
}

/// An email registers once, whatever its case.
pub async fn rejects_a_duplicate_email(app: TestApp) {
    let first = app.register("bob@example.com", "Bob", PASSWORD).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let again = app.register("BOB@example.com", "Bobby", PASSWORD).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let body: Value = again.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("already registered")
    );
    assert_eq!(app.count("SELECT count(*) FROM users").await, 2);
}

/// A password shorter than the configured minimum is refused before any hashing.
pub async fn rejects_a_short_password(app: TestApp) {
    let answer = app.register("carol@example.com", "Carol", "short").await;
    assert_eq!(answer.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error"], "the password needs at least 8 characters");
    assert_eq!(app.count("SELECT count(*) FROM users").await, 1);
}

/// Something that is not an email is refused.
pub async fn rejects_an_invalid_email(app: TestApp) {
    for email in ["", "dave", "@example.com"] {
        let answer = app.register(email, "Dave", PASSWORD).await;
        assert_eq!(
            answer.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{email:?}"
        );
    }
    let blank_name = app.register("dave@example.com", "  ", PASSWORD).await;
    assert_eq!(blank_name.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.count("SELECT count(*) FROM users").await, 1);
}

/// A body that is not JSON, or lacks a field, is refused by the extractor.
pub async fn rejects_malformed_json(app: TestApp) {
    let answer = app
        .client
        .post(format!("{}/users", app.address))
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    let missing = app.post("/users", None, json!({ "email": "x@y.z" })).await;
    assert_eq!(missing.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

/// Sign-up gives the user a personal organisation they own, and default preferences.
pub async fn registration_creates_a_personal_workspace(app: TestApp) {
    let erin = app.sign_up("erin").await;
    let me = app.get_ok("/me", &erin.token).await;
    assert_eq!(me["email"], "erin@example.com");
    assert_eq!(me["theme"], "light");
    assert_eq!(
        me["organisations"],
        json!([{
            "id": erin.organisation,
            "slug": format!("u-{}", erin.id),
            "name": "erin's workspace",
            "role": "owner",
        }])
    );
}

/// The demo account owns the demo organisation and keeps its dark theme.
pub async fn the_demo_user_is_seeded(app: TestApp) {
    let token = app.demo().await;
    let me = app.get_ok("/me", &token).await;
    assert_eq!(me["id"], 1);
    assert_eq!(me["name"], "Demo User");
    assert_eq!(me["theme"], "dark");
    assert_eq!(
        me["organisations"],
        json!([{ "id": 1, "slug": "demo", "name": "Demo Inc.", "role": "owner" }])
    );
}

/// Sign-up is written to the new organisation's audit log; the demo organisation's log holds
/// only its seeded entry.
pub async fn registration_is_audited(app: TestApp) {
    let frank = app.sign_up("frank").await;
    let path = format!("/organisations/{}/audit", frank.organisation);
    let log = app.get_ok(&path, &frank.token).await;
    let actions: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["user.registered", "organisation.created"]);
    assert_eq!(log[0]["subject"], "frank@example.com");
    let demo = app.demo().await;
    let seeded = app.get_ok("/organisations/1/audit", &demo).await;
    assert_eq!(seeded.as_array().unwrap().len(), 1);
    assert_eq!(seeded[0]["subject"], "demo");
}
