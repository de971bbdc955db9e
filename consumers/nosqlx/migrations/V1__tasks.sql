-- The tasks, numbered by an identity; a title is given once.
CREATE TABLE tasks (
    id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title text NOT NULL UNIQUE,
    done  boolean NOT NULL DEFAULT false
);
