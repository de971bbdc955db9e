-- The demo account (demo@example.com, password "demo-password", hashed with argon2's default
-- parameters), owner of the demo organisation, with a project to look around in.
INSERT INTO users (email, name, password_hash) VALUES
    ('demo@example.com', 'Demo User', '$argon2id$v=19$m=19456,t=2,p=1$9ADLQhKjl4tOicf3Gen0dg$YneG1HNgZya76oWTmI3QcPiQ8EnSOTxKu6BtLS9J/Uw');

INSERT INTO memberships (organisation_id, user_id, role_id)
SELECT o.id, u.id, 1 FROM organisations o, users u
WHERE o.slug = 'demo' AND u.email = 'demo@example.com';

INSERT INTO user_settings (user_id, key, value)
SELECT id, 'theme', 'dark' FROM users WHERE email = 'demo@example.com';

INSERT INTO projects (organisation_id, name, description, created_by)
SELECT o.id, 'Getting started', 'A tour of the app.', u.id
FROM organisations o, users u
WHERE o.slug = 'demo' AND u.email = 'demo@example.com';

INSERT INTO tasks (project_id, title, done, done_at, created_by)
SELECT p.id, t.title, t.done, CASE WHEN t.done THEN now() END, p.created_by
FROM projects p,
     (VALUES (1, 'Create an account', TRUE),
             (2, 'Create a project', FALSE),
             (3, 'Invite a colleague', FALSE)) AS t (n, title, done)
WHERE p.name = 'Getting started'
ORDER BY t.n;

INSERT INTO tags (organisation_id, name)
SELECT id, t.name FROM organisations, (VALUES ('docs'), ('onboarding')) AS t (name)
WHERE slug = 'demo';

INSERT INTO task_tags (task_id, tag_id)
SELECT tasks.id, tags.id FROM tasks, tags
WHERE tasks.title = 'Create a project' AND tags.name = 'onboarding';

INSERT INTO comments (task_id, author_id, body)
SELECT t.id, t.created_by, 'Welcome aboard!' FROM tasks t WHERE t.title = 'Create an account';

INSERT INTO audit_log (organisation_id, actor_id, action, subject)
SELECT o.id, NULL, 'organisation.created', o.slug FROM organisations o WHERE o.slug = 'demo';
