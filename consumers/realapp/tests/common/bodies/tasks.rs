//! Tasks, their tags and comments.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::TestApp;

/// A task is created open, in its project.
pub async fn creates_a_task(app: TestApp) {
    let yara = app.sign_up("yara").await;
    let project = app.project(&yara, "Chores").await;
    let task = app
        .task(&yara.token, project, "Water the plants", &[])
        .await;
    assert_eq!(task["project_id"], project);
    assert_eq!(task["title"], "Water the plants");
    assert_eq!(task["done"], false);
    assert_eq!(task["tags"], json!([]));
    let path = format!("/projects/{project}");
    assert_eq!(app.get_ok(&path, &yara.token).await["tasks"], 1);
}

/// A project's tasks are listed oldest first, and only its own.
pub async fn lists_the_tasks_of_a_project(app: TestApp) {
    let zoe = app.sign_up("zoe").await;
    let project = app.project(&zoe, "Garden").await;
    let other = app.project(&zoe, "Kitchen").await;
    for title in ["Dig", "Plant", "Water"] {
        app.task(&zoe.token, project, title, &[]).await;
    }
    app.task(&zoe.token, other, "Clean", &[]).await;
    let tasks = app
        .get_ok(&format!("/projects/{project}/tasks"), &zoe.token)
        .await;
    let titles: Vec<&str> = tasks
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Dig", "Plant", "Water"]);
}

/// Completing a task marks it done, and the filter finds it.
pub async fn completes_a_task(app: TestApp) {
    let amy = app.sign_up("amy").await;
    let project = app.project(&amy, "Errands").await;
    let task = app.task(&amy.token, project, "Post a letter", &[]).await;
    app.task(&amy.token, project, "Buy stamps", &[]).await;
    let path = format!("/tasks/{}/complete", task["id"]);
    let done = app
        .post_expect(&path, Some(&amy.token), json!({}), StatusCode::OK)
        .await;
    assert_eq!(done["done"], true);
    let list = format!("/projects/{project}/tasks?done=true");
    let finished = app.get_ok(&list, &amy.token).await;
    assert_eq!(finished, json!([done]));
    let open = app
        .get_ok(&format!("/projects/{project}/tasks?done=false"), &amy.token)
        .await;
    assert_eq!(open[0]["title"], "Buy stamps");
}

/// A done task cannot be completed again.
pub async fn completing_twice_conflicts(app: TestApp) {
    let ben = app.sign_up("ben").await;
    let project = app.project(&ben, "Once").await;
    let task = app.task(&ben.token, project, "Only once", &[]).await;
    let path = format!("/tasks/{}/complete", task["id"]);
    app.post_expect(&path, Some(&ben.token), json!({}), StatusCode::OK)
        .await;
    app.post_expect(&path, Some(&ben.token), json!({}), StatusCode::CONFLICT)
        .await;
}

/// A task needs a title.
pub async fn rejects_an_empty_title(app: TestApp) {
    let cleo = app.sign_up("cleo").await;
    let project = app.project(&cleo, "Empty").await;
    let path = format!("/projects/{project}/tasks");
    let body = json!({ "title": "" });
    app.post_expect(
        &path,
        Some(&cleo.token),
        body,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(app.count("SELECT count(*) FROM tasks").await, 3);
}

/// Another user's project's tasks are not found, to list or to add to.
pub async fn tasks_of_an_invisible_project_are_not_found(app: TestApp) {
    let dan = app.sign_up("dan").await;
    let path = "/projects/1/tasks";
    let list = app.get(path, Some(&dan.token)).await;
    assert_eq!(list.status(), StatusCode::NOT_FOUND);
    let body = json!({ "title": "Sneaky" });
    app.post_expect(path, Some(&dan.token), body, StatusCode::NOT_FOUND)
        .await;
    assert_eq!(
        app.count("SELECT count(*) FROM tasks WHERE project_id = 1")
            .await,
        3
    );
}

/// Another user's task cannot be completed, nor commented on.
pub async fn cannot_complete_another_users_task(app: TestApp) {
    let eve = app.sign_up("eve").await;
    for path in ["/tasks/2/complete", "/tasks/2/comments"] {
        let body = json!({ "body": "mine now" });
        app.post_expect(path, Some(&eve.token), body, StatusCode::NOT_FOUND)
            .await;
    }
    let demo = app.demo().await;
    let open = app.get_ok("/projects/1/tasks?done=false", &demo).await;
    assert_eq!(open.as_array().unwrap().len(), 2);
}

/// Tags are created in the organisation once and attached, sorted; bad names are refused.
pub async fn tasks_carry_tags(app: TestApp) {
    let fay = app.sign_up("fay").await;
    let project = app.project(&fay, "Bugs").await;
    let first = app
        .task(&fay.token, project, "Crash", &["urgent", "bug"])
        .await;
    assert_eq!(first["tags"], json!(["bug", "urgent"]));
    let second = app.task(&fay.token, project, "Typo", &["bug"]).await;
    assert_eq!(second["tags"], json!(["bug"]));
    assert_eq!(
        app.count("SELECT count(*) FROM tags WHERE organisation_id = 2")
            .await,
        2
    );
    let path = format!("/projects/{project}/tasks");
    let body = json!({ "title": "Bad tag", "tags": ["Not A Slug"] });
    app.post_expect(
        &path,
        Some(&fay.token),
        body,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
}

/// The demo project's seeded tasks: one done, one tagged.
pub async fn the_demo_tasks_are_seeded(app: TestApp) {
    let token = app.demo().await;
    let tasks = app.get_ok("/projects/1/tasks", &token).await;
    assert_eq!(
        tasks,
        json!([
            { "id": 1, "project_id": 1, "title": "Create an account", "done": true, "tags": [] },
            { "id": 2, "project_id": 1, "title": "Create a project", "done": false, "tags": ["onboarding"] },
            { "id": 3, "project_id": 1, "title": "Invite a colleague", "done": false, "tags": [] },
        ])
    );
}

/// Comments are added after the seeded one and listed with their authors.
pub async fn comments_on_a_task(app: TestApp) {
    let token = app.demo().await;
    let body = json!({ "body": "Done it!" });
    let comment = app
        .post_expect("/tasks/1/comments", Some(&token), body, StatusCode::CREATED)
        .await;
    assert_eq!(comment["id"], 2);
    let comments = app.get_ok("/tasks/1/comments", &token).await;
    assert_eq!(
        comments,
        json!([
            { "id": 1, "task_id": 1, "author": "Demo User", "body": "Welcome aboard!" },
            { "id": 2, "task_id": 1, "author": "Demo User", "body": "Done it!" },
        ])
    );
}
