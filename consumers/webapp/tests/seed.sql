-- The tests' seed, applied once into the template after the migrations: an administrator
-- (the audit trigger records it), one invoice (number 1000: the next is 1001), and the
-- materialized view refreshed to count the administrator.
INSERT INTO users (email, role_id) SELECT 'admin@webapp.test', id FROM roles WHERE name = 'admin';
INSERT INTO invoices (user_id, amount_cents) VALUES (1, 4200);
REFRESH MATERIALIZED VIEW role_counts;
