//! Logging in and out, and what a session lets through.

use reqwest::StatusCode;
use serde_json::Value;

use crate::common::{PASSWORD, TestApp};

/// The right password opens a session: a 64-digit hex token for the user.
pub async fn logs_in_with_the_right_password(app: TestApp) {
    let grace = app.sign_up("grace").await;
    let answer = app.login(&grace.email, PASSWORD).await;
    assert_eq!(answer.status(), StatusCode::CREATED);
    let session: Value = answer.json().await.unwrap();
    let token = session["token"].as_str().unwrap();
    assert_eq!(token.len(), 64);
    assert!(token.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(session["user_id"], grace.id);
    assert_eq!(app.get_ok("/me", token).await["email"], grace.email);
}

/// A wrong password opens nothing.
pub async fn rejects_a_wrong_password(app: TestApp) {
    let heidi = app.sign_up("heidi").await;
    let answer = app.login(&heidi.email, "not the password").await;
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.count("SELECT count(*) FROM sessions").await, 1);
}

/// An unknown email is refused like a wrong password.
pub async fn rejects_an_unknown_email(app: TestApp) {
    let answer = app.login("nobody@example.com", PASSWORD).await;
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized");
    assert_eq!(app.count("SELECT count(*) FROM sessions").await, 0);
}

/// Without a token, the caller's routes are closed.
pub async fn me_needs_a_session(app: TestApp) {
    for path in ["/me", "/projects", "/organisations/1/audit"] {
        let answer = app.get(path, None).await;
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
}

/// A token that no login gave is refused.
pub async fn rejects_a_made_up_token(app: TestApp) {
    let made_up = "ab".repeat(32);
    let answer = app.get("/me", Some(&made_up)).await;
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    let demo = app.demo().await;
    assert_ne!(demo, made_up);
    assert_eq!(app.get_ok("/me", &demo).await["id"], 1);
}

/// Logging out ends the session for good.
pub async fn logout_ends_the_session(app: TestApp) {
    let ivan = app.sign_up("ivan").await;
    let answer = app.delete("/sessions", Some(&ivan.token)).await;
    assert_eq!(answer.status(), StatusCode::NO_CONTENT);
    let after = app.get("/me", Some(&ivan.token)).await;
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.count("SELECT count(*) FROM sessions").await, 0);
}

/// Each login is a session of its own; logging out of one keeps the other.
pub async fn two_logins_are_two_sessions(app: TestApp) {
    let judy = app.sign_up("judy").await;
    let second = app.token(&judy.email, PASSWORD).await;
    assert_ne!(second, judy.token);
    let answer = app.delete("/sessions", Some(&judy.token)).await;
    assert_eq!(answer.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get_ok("/me", &second).await["id"], judy.id);
    let first = app.get("/me", Some(&judy.token)).await;
    assert_eq!(first.status(), StatusCode::UNAUTHORIZED);
}

/// The email's case does not matter at login.
pub async fn login_ignores_the_case_of_the_email(app: TestApp) {
    let token = app.token("  DEMO@Example.COM ", "demo-password").await;
    assert_eq!(app.get_ok("/me", &token).await["email"], "demo@example.com");
}

/// A session past its expiry (the configured 24 hours) is refused.
pub async fn expired_sessions_are_refused(app: TestApp) {
    let token = app.demo().await;
    let lifetime = app
        .count("SELECT extract(epoch FROM expires_at - created_at)::bigint / 3600 FROM sessions")
        .await;
    assert_eq!(lifetime, 24);
    app.execute("UPDATE sessions SET expires_at = now() - interval '1 minute'")
        .await;
    let answer = app.get("/me", Some(&token)).await;
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
}

/// Passwords are stored as argon2id PHC strings of the default parameters, salted.
pub async fn passwords_are_stored_hashed(app: TestApp) {
    app.sign_up("mallory").await;
    app.sign_up("niaj").await;
    let hashes: Vec<String> =
        sqlx::query_scalar("SELECT password_hash FROM users WHERE id > 1 ORDER BY id")
            .fetch_all(&app.db_pool)
            .await
            .unwrap();
    assert_eq!(hashes.len(), 2);
    for hash in &hashes {
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(!hash.contains(crate::common::PASSWORD));
        assert!(realapp::verify_password(PASSWORD, hash));
    }
    assert_ne!(
        hashes[0], hashes[1],
        "the same password, salted differently"
    );
}
