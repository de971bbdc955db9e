INSERT INTO notes (owner, body) VALUES ('seed', 'present in every fresh database');
