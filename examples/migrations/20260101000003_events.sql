-- Audit log, notifications, webhooks; and a view over open work.
CREATE TABLE audit_log (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organisation_id bigint NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    actor_id bigint REFERENCES users(id),
    action text NOT NULL,
    subject text NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE notifications (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    message text NOT NULL,
    read_at timestamptz
);

CREATE TABLE webhooks (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organisation_id bigint NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    url text NOT NULL,
    active boolean NOT NULL DEFAULT true
);

CREATE TABLE webhook_deliveries (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id bigint NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event text NOT NULL,
    status_code integer,
    delivered_at timestamptz NOT NULL DEFAULT now()
);

CREATE VIEW open_tasks_per_project AS
SELECT p.id AS project_id, p.key, count(t.id) FILTER (WHERE t.status NOT IN ('done', 'cancelled')) AS open_tasks
FROM projects p LEFT JOIN tasks t ON t.project_id = p.id
GROUP BY p.id, p.key;
