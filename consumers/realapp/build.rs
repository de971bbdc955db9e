//! Rebuilds when a migration changes (`sqlx::migrate!` embeds them), as `sqlx migrate
//! build-script` writes it.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
