CREATE TABLE tags (id serial PRIMARY KEY, note_id bigint REFERENCES notes(id), name text NOT NULL);
