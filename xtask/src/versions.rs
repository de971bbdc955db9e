//! The Postgres suites against other server versions: Debian's 13 (bullseye) and 17 (trixie),
//! built locally as the 15 image is (no registry), on the Docker backend. The same tests; a
//! run checks first that the server it gets is the version it asked for.

use std::process::{Command, Stdio};

use crate::{Result, cargo, root, run};

/// The other majors CI runs the suites against (15 is the main runs' version).
const MAJORS: [&str; 2] = ["13", "17"];

/// Builds the images (kept when up to date), then runs `fixtures-postgres`'s tests against
/// each version with `env` (the Docker backend's settings).
pub(crate) fn run_all(env: &[(&'static str, String)]) -> Result {
    let mut build = Command::new("bash");
    build.arg(root().join("scripts/build-images.sh"));
    build.args(MAJORS.iter().map(|m| format!("postgres{m}")));
    run(&mut build)?;
    for major in MAJORS {
        let image = format!("fixtures-local/postgres:{major}");
        let with_image = |cmd: &mut Command| {
            cmd.envs(env.iter().map(|(k, v)| (*k, v.as_str())))
                .env("FIXTURES_POSTGRES_IMAGE", &image)
                .env("FIXTURES_TEST_POSTGRES_IMAGE", &image);
        };
        let mut probe = cargo(&[
            "test",
            "-p",
            "fixtures-postgres",
            "--test",
            "postgres",
            "--",
            "--ignored",
            "--exact",
            "children::report_server_version",
            "--nocapture",
        ]);
        with_image(&mut probe);
        let out = probe
            .current_dir(root())
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("cannot ask {image} its version: {e}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let want = format!("SERVER-VERSION={major}.");
        if !out.status.success() || !stdout.contains(&want) {
            return Err(format!(
                "the suite for {image} did not get a Postgres {major} server:\n{stdout}"
            ));
        }
        eprintln!(
            "{image}: {}",
            stdout.lines().find(|l| l.contains(&want)).unwrap_or("")
        );
        let mut suite = cargo(&["test", "-p", "fixtures-postgres", "--no-fail-fast"]);
        with_image(&mut suite);
        run(&mut suite)?;
    }
    Ok(())
}
