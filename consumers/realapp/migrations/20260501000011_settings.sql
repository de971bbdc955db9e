-- Installation-wide settings (public ones are served by GET /settings), with their defaults,
-- and per-user preferences.
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    public BOOLEAN NOT NULL DEFAULT FALSE
);

INSERT INTO settings (key, value, public) VALUES
    ('app_name', 'Realapp', TRUE),
    ('signup_open', 'true', TRUE),
    ('session_ttl_hours', '24', TRUE),
    ('max_projects_per_organisation', '50', FALSE),
    ('min_password_length', '8', TRUE);

CREATE TABLE user_settings (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (user_id, key)
);
