-- Who is connected, per server node. UNLOGGED: presence is rebuilt by live
-- connections after a crash, so it need not survive one (and skips the WAL).
-- Each node refreshes its rows' expiry while it lives; when a node dies its
-- rows expire and any surviving node's sweeper announces those users offline.
CREATE UNLOGGED TABLE presence (
  user_id     text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  node_id     uuid NOT NULL,
  status      text NOT NULL DEFAULT 'online' CHECK (status IN ('online', 'away', 'busy')),
  connections integer NOT NULL DEFAULT 1 CHECK (connections >= 0),
  expires_at  timestamptz NOT NULL,
  PRIMARY KEY (user_id, node_id)
);
CREATE INDEX presence_expiry_idx ON presence (expires_at);
CREATE INDEX presence_node_idx ON presence (node_id);
