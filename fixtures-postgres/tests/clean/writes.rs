//! What one simulated test does to the schema of `seeded.rs`: a random sequence of writes,
//! each one round trip (a statement, or a transaction that commits or fails whole).
#![allow(dead_code)]

/// splitmix64: a small deterministic generator, enough to pick writes.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// An id near the seed rows' (1..=6): seed rows and the test's own are both hit.
    fn id(&mut self) -> usize {
        1 + self.below(6)
    }
}

/// What a write does to the clean that follows, when it succeeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Data only: restored in place.
    Data,
    /// A schema change: the clean must ask for a replacement.
    Ddl,
    /// A write the snapshot cannot undo in place (the stale view refreshed, a seed row of
    /// `stamped` gone): the clean must ask for a replacement.
    Replace,
    /// A write the cleaner may not be able to tell from one it cannot undo (an insert into
    /// `stamped`): either outcome is right, if the database ends where it must.
    MayReplace,
}

/// One write.
#[derive(Debug, Clone)]
pub struct Write {
    pub sql: String,
    pub effect: Effect,
}

/// What the schema and the role allow.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// The `stamped` table exists.
    pub stamped: bool,
    /// The test runs as a superuser (may set `session_replication_role`; the framework then
    /// watches DDL with an event trigger).
    pub superuser: bool,
}

/// A random test: one to six writes (three without a superuser, where a write to a seeded
/// table that foreign keys point at already asks for a replacement); now and then a schema
/// change.
pub fn random_test(rng: &mut Rng, shape: Shape) -> Vec<Write> {
    let most = if shape.superuser { 6 } else { 3 };
    let mut out: Vec<Write> = (0..1 + rng.below(most))
        .map(|_| random_write(rng, shape))
        .collect();
    if rng.below(20) == 0 {
        let at = rng.below(out.len() + 1);
        out.insert(at, random_ddl(rng, shape));
    }
    out
}

fn data(sql: String) -> Write {
    Write {
        sql,
        effect: Effect::Data,
    }
}

fn random_write(rng: &mut Rng, shape: Shape) -> Write {
    let k = rng.id();
    let r = rng.below(2000);
    let q = rng.below(5) as i64 - 1;
    let sql = match rng.below(52) {
        0 => format!("INSERT INTO customers (name) VALUES ('c{r}')"),
        // Fails after taking a serial id and a ticket.
        1 => "INSERT INTO customers (name) VALUES (NULL)".to_string(),
        2 => format!("UPDATE customers SET name = name || '!' WHERE id = {k}"),
        // Cascades to "Order", then to "Line Items".
        3 | 4 => format!("DELETE FROM customers WHERE id = {k}"),
        // Fails while orders reference the customer.
        5 => format!("UPDATE customers SET id = id + 100 WHERE id = {k}"),
        // Fails (taking an identity value) when the customer is gone.
        6 | 7 => format!(
            "INSERT INTO \"Sales\".\"Order\" (customer_id, total) VALUES ({k}, {})",
            r % 30
        ),
        8 => format!(
            "UPDATE \"Sales\".\"Order\" SET total = total + 1, \"Note\" = 'u' \
             WHERE customer_id = {k}"
        ),
        9 => format!("DELETE FROM \"Sales\".\"Order\" WHERE id = {k}"),
        // The CHECK or the foreign key fails now and then, after taking an id.
        10 | 11 => {
            format!("INSERT INTO \"Sales\".\"Line Items\" (order_id, qty) VALUES ({k}, {q})")
        }
        12 => format!("DELETE FROM \"Sales\".\"Line Items\" WHERE qty > {}", q + 1),
        13 => "INSERT INTO cyc_a (b_id) VALUES (NULL); \
               INSERT INTO cyc_b (a_id) VALUES (currval('cyc_a_id_seq')); \
               UPDATE cyc_a SET b_id = currval('cyc_b_id_seq') WHERE id = currval('cyc_a_id_seq');"
            .to_string(),
        // Fails at commit while another row of the cycle points at a deleted one.
        14 => format!(
            "BEGIN; DELETE FROM cyc_b WHERE a_id = {k}; DELETE FROM cyc_a WHERE id = {k}; COMMIT;"
        ),
        15 => format!("UPDATE cyc_a SET b_id = NULL WHERE id = {k}"),
        16 => format!("INSERT INTO events (at, what) VALUES ({}, 'e')", r % 1500),
        // Moves rows to another partition.
        17 => format!(
            "UPDATE events SET at = at + 100 WHERE at < 100 AND id % 2 = {}",
            k % 2
        ),
        18 => format!("DELETE FROM events WHERE id = {k}"),
        // Fails (the partition's bound) after taking an id.
        19 => "INSERT INTO events_high (at) VALUES (50)".to_string(),
        20 => "INSERT INTO dogs (name, barks) VALUES ('fido', false)".to_string(),
        // Through the parent: its children too.
        21 => format!("DELETE FROM animals WHERE id = {k}"),
        22 => "UPDATE animals SET name = upper(name)".to_string(),
        23 => format!(
            "INSERT INTO cache VALUES ('k{k}', 'v') ON CONFLICT (k) DO UPDATE SET v = cache.v || '+'"
        ),
        24 => format!("DELETE FROM cache WHERE k = 'k{k}'"),
        25 => "INSERT INTO \"no columns\" DEFAULT VALUES".to_string(),
        26 => "DELETE FROM \"no columns\" WHERE ctid IN (SELECT ctid FROM \"no columns\" LIMIT 1)"
            .to_string(),
        // The audit trigger writes `audit`.
        27 => format!("INSERT INTO notes (body) VALUES ('n{r}')"),
        28 => "UPDATE notes SET body = body || '.'".to_string(),
        29 => "DELETE FROM notes WHERE id % 2 = 0".to_string(),
        30 => "DELETE FROM audit WHERE id = 1".to_string(),
        31 => "SELECT nextval('tickets')".to_string(),
        32 => format!(
            "SELECT setval('tickets', {}, {})",
            1 + r,
            r.is_multiple_of(2)
        ),
        33 => format!("SELECT setval('customers_id_seq', {})", 1 + r),
        34 => "SELECT nextval('\"Sales\".\"Order_id_seq\"')".to_string(),
        35 => "BEGIN; SELECT nextval('events_id_seq'); ROLLBACK;".to_string(),
        36 | 37 => "REFRESH MATERIALIZED VIEW order_totals".to_string(),
        // Refreshed back in place with a superuser (the event trigger records it); without
        // one, the fingerprint sees new contents (if any) and asks for a replacement.
        38 => {
            return Write {
                sql: "REFRESH MATERIALIZED VIEW CONCURRENTLY order_totals".to_string(),
                effect: if shape.superuser {
                    Effect::Data
                } else {
                    Effect::MayReplace
                },
            };
        }
        39 => "TRUNCATE \"Sales\".\"Line Items\"".to_string(),
        40 => "TRUNCATE cache, events_high".to_string(),
        41 => "TRUNCATE customers CASCADE".to_string(),
        42 => "TRUNCATE notes, dogs RESTART IDENTITY".to_string(),
        // Rows whose foreign key points at nothing (refused without the right to set it).
        43 => "SET session_replication_role = replica; \
               INSERT INTO \"Sales\".\"Line Items\" (order_id, qty) VALUES (999, 1); \
               RESET session_replication_role;"
            .to_string(),
        // Many rows: the cleaner truncates (and puts the seed rows back from the copies).
        44 => "INSERT INTO customers (name) SELECT 'bulk ' || g FROM generate_series(1, 8000) g"
            .to_string(),
        45 => "INSERT INTO notes (body) SELECT 'bulk ' || g FROM generate_series(1, 2000) g"
            .to_string(),
        // A transaction that fails whole, after taking ids.
        46 => format!(
            "BEGIN; INSERT INTO customers (name) VALUES ('gone'); \
             INSERT INTO notes (body) VALUES ('gone'); SELECT 1 / {}; COMMIT;",
            k % 2
        ),
        47 => format!(
            "BEGIN; SAVEPOINT s; DELETE FROM customers WHERE id = {k}; ROLLBACK TO s; \
             INSERT INTO notes (body) VALUES ('after savepoint'); COMMIT;"
        ),
        // A session's own objects are no schema change.
        48 => "CREATE TEMPORARY TABLE mine (v int); INSERT INTO mine VALUES (1);".to_string(),
        49 if shape.stamped => {
            let (sql, effect) = match k % 3 {
                0 => (
                    "INSERT INTO stamped (v) VALUES ('test')".to_string(),
                    Effect::MayReplace,
                ),
                // The seed row is id 1.
                1 => (
                    format!("DELETE FROM stamped WHERE id = {}", k % 2),
                    if k % 2 == 1 {
                        Effect::Replace
                    } else {
                        Effect::MayReplace
                    },
                ),
                _ => (
                    "UPDATE stamped SET v = v || '!'".to_string(),
                    Effect::Replace,
                ),
            };
            return Write { sql, effect };
        }
        49 => "SELECT nextval('audit_id_seq')".to_string(),
        50 if rng.below(3) == 0 => {
            return Write {
                sql: "REFRESH MATERIALIZED VIEW stale_counts".to_string(),
                effect: Effect::Replace,
            };
        }
        50 => format!(
            "SELECT setval('\"Sales\".\"Line Items_id_seq\"', {}, false)",
            1 + r
        ),
        _ => format!(
            "INSERT INTO customers (name, bio) VALUES ('long', repeat('z', {}))",
            3000 + r
        ),
    };
    data(sql)
}

/// A schema change, as a test might make.
fn random_ddl(rng: &mut Rng, _shape: Shape) -> Write {
    let ddl = [
        "CREATE TABLE made_in_test (id serial PRIMARY KEY, customer_id int REFERENCES customers (id))",
        "ALTER TABLE notes ADD COLUMN extra int",
        "CREATE INDEX ON customers (name)",
        "DROP TABLE cache",
        "ALTER TABLE notes DISABLE TRIGGER audit_notes",
        "COMMENT ON TABLE notes IS 'changed by a test'",
        "CREATE VIEW made_in_test_v AS SELECT 1 AS one",
        "ALTER SEQUENCE tickets INCREMENT BY 5",
        "DROP MATERIALIZED VIEW order_totals",
        "ALTER TABLE \"Sales\".\"Order\" ALTER COLUMN \"Note\" SET DEFAULT 'd'",
        "CREATE FUNCTION made_in_test() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        "ALTER TABLE animals RENAME COLUMN name TO label",
        "DROP TABLE \"Sales\".\"Line Items\"",
        "ALTER TABLE customers ADD CONSTRAINT short_name CHECK (length(name) < 100)",
        "ALTER TABLE events DETACH PARTITION events_high",
    ];
    let n = ddl.len();
    Write {
        sql: ddl[rng.below(n)].to_string(),
        effect: Effect::Ddl,
    }
}
