-- The roles a member can have in an organisation, ranked (a lower rank may do more).
CREATE TABLE roles (
    id SMALLINT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    rank SMALLINT NOT NULL,
    can_manage_members BOOLEAN NOT NULL,
    can_write BOOLEAN NOT NULL
);

INSERT INTO roles (id, name, rank, can_manage_members, can_write) VALUES
    (1, 'owner', 0, TRUE, TRUE),
    (2, 'admin', 1, TRUE, TRUE),
    (3, 'member', 2, FALSE, TRUE),
    (4, 'viewer', 3, FALSE, FALSE);
