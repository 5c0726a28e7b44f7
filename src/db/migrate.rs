//! `pgchat migrate`: refinery applies the versioned tables in `migrations/`,
//! then every file of `sql/` (functions, triggers, views) and `policies/` (RLS)
//! is re-applied in one transaction, in file-name order. All of it runs under
//! an advisory lock, so several nodes starting at once migrate one at a time.

use anyhow::Context;
use include_dir::{include_dir, Dir};
use sha2::{Digest, Sha256};

mod versioned {
    refinery::embed_migrations!("migrations");
}

static SQL: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/sql");
static POLICIES: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/policies");

/// Arbitrary, fixed: the advisory lock key of migrations.
const LOCK_KEY: i64 = 0x7067_6368_6174;

pub async fn run(client: &mut tokio_postgres::Client) -> anyhow::Result<()> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&LOCK_KEY])
        .await?;
    let result = apply(client).await;
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY])
        .await?;
    result
}

async fn apply(client: &mut tokio_postgres::Client) -> anyhow::Result<()> {
    let report = versioned::migrations::runner()
        .run_async(client)
        .await
        .context("applying migrations/")?;
    for migration in report.applied_migrations() {
        tracing::info!(migration = %migration, "applied");
    }
    let tx = client.transaction().await?;
    for (path, sql) in repeatable_files() {
        tx.batch_execute(sql)
            .await
            .with_context(|| format!("applying {path}"))?;
    }
    tx.commit().await?;
    Ok(())
}

/// `sql/` then `policies/`, each in file-name order.
fn repeatable_files() -> Vec<(String, &'static str)> {
    let mut files = Vec::new();
    for (folder, dir) in [("sql", &SQL), ("policies", &POLICIES)] {
        let mut these: Vec<_> = dir
            .files()
            .filter(|f| f.path().extension().is_some_and(|e| e == "sql"))
            .map(|f| {
                let path = format!("{folder}/{}", f.path().display());
                (path, f.contents_utf8().expect("SQL files are UTF-8"))
            })
            .collect();
        these.sort();
        files.extend(these);
    }
    files
}

/// A digest of every schema file: equal digests mean equal schemas (the test
/// harness names its template database after it).
pub fn fingerprint() -> String {
    let mut hasher = Sha256::new();
    for migration in versioned::migrations::runner().get_migrations() {
        hasher.update(migration.to_string());
        hasher.update(migration.checksum().to_le_bytes());
    }
    for (path, sql) in repeatable_files() {
        hasher.update(path);
        hasher.update(sql);
    }
    hasher.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
