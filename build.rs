//! The SQL folders (and later the web assets) are embedded into the binary with
//! `include_dir!`/`embed_migrations!`, which cannot see new files by themselves:
//! tell cargo to rebuild when anything under them changes.
fn main() {
    for dir in ["migrations", "sql", "policies", "web"] {
        println!("cargo:rerun-if-changed={dir}");
    }
}
