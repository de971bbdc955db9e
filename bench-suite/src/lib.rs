//! The benchmarks of the fixtures framework (issue #5), run by `cargo xtask bench`:
//!
//! - `tests/`: the same 200 test bodies ([`typical`]) under every isolation: our test, module
//!   and suite scopes, `#[sqlx::test]` (a database per test, migrations per test) and
//!   testcontainers-rs (a container per test). Every test is `#[ignore]`d, so that
//!   `cargo test --workspace` does not run them; the xtask runs them with `--ignored`.
//! - `benches/isolation.rs`: what a test waits for its database — a fresh clone (test scope,
//!   with and without the warm pool) or its turn on a shared, cleaned one (module and suite
//!   scope) — on the example application's 21 tables and on a generated 200-table schema.
//! - `benches/startup.rs`: suite start — a cold container, the local backend from its cached
//!   data directory, and a second process adopting the run's server.
//!
//! This library holds what they share: the test body, the 200 test names, the generated
//! schema and the statistics.
#![forbid(unsafe_code)]

use std::time::Duration;

use examples::Repo;
use sqlx::PgPool;

/// The body of every benchmark test, on the example application's schema: an organisation,
/// a user, a membership, a project and two tasks, read back and checked.
///
/// It asserts that identities start at 1: the database is fresh, or was cleaned with its
/// sequences reset.
///
/// # Panics
///
/// When a statement fails or the database was not fresh.
pub async fn typical(pool: PgPool) {
    let (org, ada) = body(pool, "acme").await;
    assert_eq!(
        (org, ada),
        (1, 1),
        "the database was neither fresh nor cleaned"
    );
}

/// The same body for tests that share one database with no isolation at all (the floors):
/// its keys are `tag`'s (a test's own name), so that tests do not collide, and it does not
/// ask for identities starting at 1.
///
/// # Panics
///
/// When a statement fails.
pub async fn unisolated(pool: PgPool, tag: &str) {
    body(pool, tag).await;
}

/// The statements of [`typical`], with `tag` in every unique key; the organisation's and the
/// user's ids.
async fn body(pool: PgPool, tag: &str) -> (i64, i64) {
    let repo = Repo::new(pool);
    let email = format!("ada@{tag}.test");
    let org = repo.create_organisation(tag, "Acme Ltd").await.unwrap();
    let ada = repo.create_user(&email, "Ada").await.unwrap();
    repo.add_member(org.id, ada.id, "owner").await.unwrap();
    let project = repo.create_project(org.id, "WEB", "Website").await.unwrap();
    let design = repo
        .create_task(project.id, "design", ada.id)
        .await
        .unwrap();
    let build = repo.create_task(project.id, "build", ada.id).await.unwrap();
    assert_eq!([design.key, build.key], ["WEB-1", "WEB-2"]);
    assert_eq!(repo.members(org.id).await.unwrap(), [email]);
    assert_eq!(repo.open_tasks(project.id).await.unwrap(), 2);
    (org.id, ada.id)
}

/// Calls `$callback!` with the 200 benchmark test names, `t000` to `t199`, in 10 modules of 20
/// (`m00 { t000 … t019 } m01 { t020 … } …`): every target defines the same tests, and module
/// scope has 10 modules to share 10 databases.
///
/// A libtest filter picks a subset by name: `t00` is 10 tests, `t00 t01 t02 t03` 40.
#[macro_export]
macro_rules! for_each_test {
    ($callback:ident) => {
        $callback! {
            m00 { t000 t001 t002 t003 t004 t005 t006 t007 t008 t009 t010 t011 t012 t013 t014 t015 t016 t017 t018 t019 }
            m01 { t020 t021 t022 t023 t024 t025 t026 t027 t028 t029 t030 t031 t032 t033 t034 t035 t036 t037 t038 t039 }
            m02 { t040 t041 t042 t043 t044 t045 t046 t047 t048 t049 t050 t051 t052 t053 t054 t055 t056 t057 t058 t059 }
            m03 { t060 t061 t062 t063 t064 t065 t066 t067 t068 t069 t070 t071 t072 t073 t074 t075 t076 t077 t078 t079 }
            m04 { t080 t081 t082 t083 t084 t085 t086 t087 t088 t089 t090 t091 t092 t093 t094 t095 t096 t097 t098 t099 }
            m05 { t100 t101 t102 t103 t104 t105 t106 t107 t108 t109 t110 t111 t112 t113 t114 t115 t116 t117 t118 t119 }
            m06 { t120 t121 t122 t123 t124 t125 t126 t127 t128 t129 t130 t131 t132 t133 t134 t135 t136 t137 t138 t139 }
            m07 { t140 t141 t142 t143 t144 t145 t146 t147 t148 t149 t150 t151 t152 t153 t154 t155 t156 t157 t158 t159 }
            m08 { t160 t161 t162 t163 t164 t165 t166 t167 t168 t169 t170 t171 t172 t173 t174 t175 t176 t177 t178 t179 }
            m09 { t180 t181 t182 t183 t184 t185 t186 t187 t188 t189 t190 t191 t192 t193 t194 t195 t196 t197 t198 t199 }
        }
    };
}

/// The statements of a generated schema of `n` tables (`n` ≥ 1), `w001` … : identity keys, a
/// tree of foreign keys (table `i` refers to table `i / 2`, nullable), an index on each key.
pub fn wide_schema(n: usize) -> String {
    let mut sql = String::new();
    for i in 1..=n {
        let parent = if i > 1 {
            format!(" parent_id bigint REFERENCES w{:03} (id),", i / 2)
        } else {
            String::new()
        };
        sql += &format!(
            "CREATE TABLE w{i:03} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,{parent} \
             name text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());\n"
        );
        if i > 1 {
            sql += &format!("CREATE INDEX ON w{i:03} (parent_id);\n");
        }
    }
    sql
}

/// A typical test's writes on [`wide_schema`]: a few rows in 4 tables (the root, two of its
/// children and the last table).
pub fn wide_writes(n: usize) -> String {
    let last = n.max(4);
    format!(
        "INSERT INTO w001 (name) VALUES ('a'), ('b');\n\
         INSERT INTO w002 (parent_id, name) VALUES (1, 'c'), (1, 'd');\n\
         INSERT INTO w003 (parent_id, name) VALUES (2, 'e');\n\
         INSERT INTO w{last:03} (name) VALUES ('f'), ('g'), ('h');\n"
    )
}

/// Summary statistics of timed samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    /// How many samples.
    pub n: usize,
    /// The median.
    pub median: Duration,
    /// The 10th percentile.
    pub p10: Duration,
    /// The 90th percentile.
    pub p90: Duration,
}

impl Stats {
    /// The statistics of `samples` (`None` when there are none).
    pub fn of(samples: &[Duration]) -> Option<Stats> {
        if samples.is_empty() {
            return None;
        }
        let mut v = samples.to_vec();
        v.sort();
        let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
        Some(Stats {
            n: v.len(),
            median: at(0.5),
            p10: at(0.1),
            p90: at(0.9),
        })
    }

    /// `median (p10–p90)` in milliseconds.
    pub fn show(&self) -> String {
        format!("{} ({}–{})", ms(self.median), ms(self.p10), ms(self.p90))
    }
}

/// A duration in milliseconds, two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// Samples written one per line as `@<key> <milliseconds>` (what the bench processes print
/// for their parent), read back as `(key, duration)`.
pub fn parse_samples(text: &str) -> Vec<(String, Duration)> {
    text.lines()
        .filter_map(|l| {
            let (key, value) = l.strip_prefix('@')?.rsplit_once(' ')?;
            let ms: f64 = value.trim().parse().ok()?;
            Some((key.trim().to_owned(), Duration::from_secs_f64(ms / 1000.0)))
        })
        .collect()
}

/// One sample as [`parse_samples`] reads it.
pub fn sample_line(key: &str, d: Duration) -> String {
    format!("@{key} {:.4}", d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! collect_names {
        ($($m:ident { $($t:ident)* })*) => {
            [$( $( concat!(stringify!($m), "::", stringify!($t)) ),* ),*]
        };
    }

    #[test]
    fn there_are_200_tests_in_10_modules_of_20() {
        let names = for_each_test!(collect_names);
        assert_eq!(names.len(), 200);
        assert_eq!(names[0], "m00::t000");
        assert_eq!(names[199], "m09::t199");
        assert_eq!(names.iter().filter(|n| n.contains("t00")).count(), 10);
        assert_eq!(names.iter().filter(|n| n.starts_with("m03::")).count(), 20);
    }

    #[test]
    fn the_wide_schema_has_a_tree_of_foreign_keys() {
        let sql = wide_schema(100);
        assert_eq!(sql.matches("CREATE TABLE").count(), 100);
        assert!(sql.contains("CREATE TABLE w100 (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, parent_id bigint REFERENCES w050 (id),"));
        assert!(wide_writes(100).contains("INSERT INTO w100"));
    }

    #[test]
    fn stats_take_the_median_and_percentiles() {
        let d = |m| Duration::from_millis(m);
        let s = Stats::of(&[d(5), d(1), d(3), d(2), d(4)]).unwrap();
        assert_eq!((s.median, s.p10, s.p90, s.n), (d(3), d(1), d(5), 5));
        assert_eq!(Stats::of(&[]), None);
    }

    #[test]
    fn samples_round_trip_through_lines() {
        let line = sample_line("fresh app warm=4 wait", Duration::from_micros(12_345));
        let text = format!("noise\n{line}\n@bad\n");
        assert_eq!(
            parse_samples(&text),
            [(
                "fresh app warm=4 wait".to_owned(),
                Duration::from_micros(12_345)
            )]
        );
    }
}
