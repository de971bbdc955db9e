-- The notes, numbered by an identity.
CREATE TABLE notes (
    id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title text NOT NULL CHECK (title <> ''),
    body  text NOT NULL DEFAULT ''
);
