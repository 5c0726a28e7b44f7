//! Supabase compatibility with the real clients: starts `pgchat serve` on a
//! fresh database and runs the node tests of `tests/supabase/` — unmodified
//! `@supabase/supabase-js` and `@supabase/realtime-js` (realtime over `ws`,
//! both serializers), writes through `/rest/v1`, pgchat's own API and plain SQL
//! (`pg`). The tests mint Supabase-style tokens with the server's HS256 secret.
//! `TEST_LOG=1` shows the server's log.

mod node_harness;

#[test]
fn supabase_js_apps_run_on_pgchat() {
    let secret = pgchat::auth::random_secret();
    node_harness::Suite {
        folder: "supabase",
        installed_marker: "@supabase/supabase-js",
        // Sessions are claimed by the tests; auto-assignment would race them.
        server_env: vec![
            ("PGCHAT_JWT_SECRET", secret.clone()),
            ("PGCHAT_ASSIGNMENT_MODE", "manual".into()),
            ("PGCHAT_JWT_ROLE_CLAIM", "app_metadata.pgchat_role".into()),
            ("PGCHAT_JWT_ROLE_MAP", "support=agent".into()),
        ],
        node_env: vec![("PGCHAT_JWT_SECRET", secret)],
    }
    .run();
}
