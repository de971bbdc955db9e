-- Every database of the application starts with one task (id 1).
INSERT INTO tasks (title) VALUES ('Read the README');
