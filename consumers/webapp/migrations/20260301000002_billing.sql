-- Invoices numbered by a standalone sequence (not owned by a column: TRUNCATE ... RESTART
-- IDENTITY leaves it alone), and a materialized view of the users per role.

CREATE SEQUENCE invoice_no START 1000;

CREATE TABLE invoices (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    number       bigint NOT NULL UNIQUE DEFAULT nextval('invoice_no'),
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    amount_cents bigint NOT NULL CHECK (amount_cents > 0)
);

CREATE MATERIALIZED VIEW role_counts AS
    SELECT r.name AS role, count(u.id) AS users
    FROM roles r LEFT JOIN users u ON u.role_id = r.id
    GROUP BY r.name
    WITH NO DATA;

REFRESH MATERIALIZED VIEW role_counts;
