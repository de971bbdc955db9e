-- Per-project task counts, for the project list.
CREATE VIEW project_stats AS
SELECT p.id AS project_id,
       count(t.id) AS tasks,
       count(t.id) FILTER (WHERE t.done) AS done
FROM projects p
LEFT JOIN tasks t ON t.project_id = p.id
GROUP BY p.id;

CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX projects_organisation_idx ON projects (organisation_id, id);
