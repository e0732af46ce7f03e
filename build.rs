//! Rebuilds the server when a migration is added or changed: `sqlx::migrate!` embeds the
//! `migrations/sqlite` and `migrations/postgres` directories at compile time, and cargo does not watch it by itself.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
