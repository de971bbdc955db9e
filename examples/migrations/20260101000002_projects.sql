-- Projects, milestones, tasks and what hangs off them.
CREATE TYPE task_status AS ENUM ('todo', 'doing', 'review', 'done', 'cancelled');

CREATE TABLE projects (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organisation_id bigint NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    key text NOT NULL CHECK (key ~ '^[A-Z]{2,6}$'),
    name text NOT NULL,
    archived boolean NOT NULL DEFAULT false,
    UNIQUE (organisation_id, key)
);

CREATE TABLE project_members (
    project_id bigint NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (project_id, user_id)
);

CREATE TABLE milestones (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id bigint NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    title text NOT NULL,
    due_on date
);

CREATE TABLE tasks (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id bigint NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    number integer NOT NULL,
    title text NOT NULL,
    status task_status NOT NULL DEFAULT 'todo',
    milestone_id bigint REFERENCES milestones(id) ON DELETE SET NULL,
    parent_id bigint REFERENCES tasks(id) ON DELETE CASCADE,
    created_by bigint REFERENCES users(id),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, number)
);

CREATE TABLE task_assignees (
    task_id bigint NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (task_id, user_id)
);

CREATE TABLE comments (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id bigint NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    author_id bigint REFERENCES users(id),
    body text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tags (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organisation_id bigint NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    name text NOT NULL,
    UNIQUE (organisation_id, name)
);

CREATE TABLE task_tags (
    task_id bigint NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    tag_id bigint NOT NULL REFERENCES tags(id) ON DELETE CASCADE,
    PRIMARY KEY (task_id, tag_id)
);

CREATE TABLE attachments (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id bigint NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    file_name text NOT NULL,
    bytes bigint NOT NULL CHECK (bytes >= 0)
);

CREATE TABLE time_entries (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id bigint NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    user_id bigint NOT NULL REFERENCES users(id),
    minutes integer NOT NULL CHECK (minutes > 0),
    logged_on date NOT NULL DEFAULT current_date
);
