-- Every database of the application starts with the welcome note (id 1).
INSERT INTO notes (title, body) VALUES ('Welcome', 'Write your first note.');
