//! The start-up check that the database can carry this deployment: enough
//! connections for every node's pool and LISTEN connections, a NOTIFY queue
//! that is being drained, and autovacuum on (without it dead rows stay, and the
//! planner's statistics lag behind the tables until they double and the node
//! analyzes them: `db::statistics`). It only warns: a server that starts and says
//! why it may struggle beats one that refuses to start.

/// Connections each node holds outside its pool: the realtime listener, the
/// desk's, the assistant's and the Supabase adapter's LISTEN connections.
pub const LISTEN_CONNECTIONS: usize = 4;

/// NOTIFY queue usage from which the check warns (sends fail at 100%).
const QUEUE_WARNING: f64 = 0.5;

/// The server settings the check reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub max_connections: i32,
    /// Reserved for superusers (and, from PostgreSQL 16, `pg_use_reserved_connections`).
    pub reserved_connections: i32,
    /// `pg_notification_queue_usage()`, 0 to 1.
    pub notify_queue_usage: f64,
    /// PostgreSQL 17's `max_notify_queue_pages` (the queue's size), when the server has it.
    pub max_notify_queue_pages: Option<String>,
    /// `autovacuum`: on, or statistics go stale unless someone runs ANALYZE.
    pub autovacuum: bool,
}

impl Settings {
    pub async fn read(client: &tokio_postgres::Client) -> Result<Self, tokio_postgres::Error> {
        let row = client
            .query_one(
                "SELECT current_setting('max_connections')::int,
                        current_setting('superuser_reserved_connections')::int
                          + coalesce(current_setting('reserved_connections', true)::int, 0),
                        pg_notification_queue_usage(),
                        current_setting('max_notify_queue_pages', true),
                        current_setting('autovacuum')::boolean",
                &[],
            )
            .await?;
        Ok(Self {
            max_connections: row.get(0),
            reserved_connections: row.get(1),
            notify_queue_usage: row.get(2),
            max_notify_queue_pages: row.get(3),
            autovacuum: row.get(4),
        })
    }

    /// One sentence per problem, for `nodes` nodes with pools of `pool_size`.
    pub fn warnings(&self, pool_size: usize, nodes: usize) -> Vec<String> {
        let mut warnings = Vec::new();
        let usable = (self.max_connections - self.reserved_connections).max(0) as usize;
        let needed = nodes.max(1) * (pool_size + LISTEN_CONNECTIONS);
        if needed > usable {
            warnings.push(format!(
                "PostgreSQL's max_connections is {} ({usable} usable after reserved connections), but {} node(s) × \
                 ({pool_size} pooled + {LISTEN_CONNECTIONS} LISTEN connections) need {needed}: raise max_connections, \
                 or lower PGCHAT_DB_POOL_SIZE or PGCHAT_EXPECTED_NODES",
                self.max_connections,
                nodes.max(1),
            ));
        }
        if self.notify_queue_usage >= QUEUE_WARNING {
            let size = self
                .max_notify_queue_pages
                .as_deref()
                .map(|pages| format!(" (max_notify_queue_pages = {pages})"))
                .unwrap_or_default();
            warnings.push(format!(
                "PostgreSQL's NOTIFY queue is {:.0}% full{size}: a session that LISTENs without reading, or a \
                 long-open transaction, holds it back, and at 100% every send fails; look for it in pg_stat_activity",
                self.notify_queue_usage * 100.0
            ));
        }
        if !self.autovacuum {
            warnings.push(
                "PostgreSQL's autovacuum is off: dead rows of edits, receipts and presence are never reclaimed, \
                 and the planner's statistics lag behind the tables (pgchat analyzes a table only once it has \
                 doubled: PGCHAT_STATS_CHECK_SECS); turn it on, or run VACUUM ANALYZE regularly"
                    .to_owned(),
            );
        }
        warnings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(max_connections: i32, usage: f64) -> Settings {
        Settings {
            max_connections,
            reserved_connections: 3,
            notify_queue_usage: usage,
            max_notify_queue_pages: Some("1048576".into()),
            autovacuum: true,
        }
    }

    #[test]
    fn the_pools_of_every_node_must_fit_in_max_connections() {
        // 4 × (16 + 4) = 80 ≤ 97; 5 × 20 = 100 is not.
        assert!(settings(100, 0.0).warnings(16, 4).is_empty());
        assert_eq!(
            settings(100, 0.0).warnings(16, 5),
            ["PostgreSQL's max_connections is 100 (97 usable after reserved connections), but 5 node(s) × \
              (16 pooled + 4 LISTEN connections) need 100: raise max_connections, or lower PGCHAT_DB_POOL_SIZE \
              or PGCHAT_EXPECTED_NODES"]
        );
    }

    #[test]
    fn a_filling_notify_queue_is_reported() {
        assert!(settings(100, 0.1).warnings(16, 1).is_empty());
        let warnings = settings(100, 0.62).warnings(16, 1);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].starts_with(
            "PostgreSQL's NOTIFY queue is 62% full (max_notify_queue_pages = 1048576)"
        ));
    }

    #[test]
    fn autovacuum_off_is_reported() {
        let off = Settings {
            autovacuum: false,
            ..settings(100, 0.0)
        };
        let warnings = off.warnings(16, 1);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].starts_with("PostgreSQL's autovacuum is off"));
    }
}
