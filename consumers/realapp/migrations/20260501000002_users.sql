-- Accounts. Emails are unique whatever their case; the password is stored as an argon2 PHC
-- string.
CREATE TABLE users (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email TEXT NOT NULL CHECK (position('@' IN email) > 1),
    name TEXT NOT NULL CHECK (name <> ''),
    password_hash TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_login_at TIMESTAMPTZ
);

CREATE UNIQUE INDEX users_email_key ON users (lower(email));
