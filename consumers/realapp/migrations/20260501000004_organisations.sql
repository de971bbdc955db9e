-- Organisations own projects; every user gets a personal one on sign-up.
CREATE TABLE organisations (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9-]+$'),
    name TEXT NOT NULL CHECK (name <> ''),
    personal BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The demo organisation every installation starts with.
INSERT INTO organisations (slug, name) VALUES ('demo', 'Demo Inc.');
