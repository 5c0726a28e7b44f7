-- Supabase Realtime presence (src/compat/supabase/relay.rs): what each
-- client tracks on a channel, on every node's behalf, so a client joining on
-- any node is given the whole channel's state. UNLOGGED, like `presence`:
-- rebuilt by live sockets after a crash. A node refreshes its rows' expiry
-- while it lives; a dead node's rows expire and a surviving node announces
-- them as leaves. The server's own table: requests never read it.
CREATE UNLOGGED TABLE supabase_presence (
  ref        text PRIMARY KEY,
  topic      text NOT NULL,
  key        text NOT NULL,
  node_id    uuid NOT NULL,
  meta       jsonb NOT NULL,
  expires_at timestamptz NOT NULL
);
CREATE INDEX supabase_presence_topic_idx ON supabase_presence (topic);
CREATE INDEX supabase_presence_node_idx ON supabase_presence (node_id);
CREATE INDEX supabase_presence_expiry_idx ON supabase_presence (expires_at);
