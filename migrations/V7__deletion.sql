-- Deleting for good: a support session (admins), a user's data on request
-- (erasure), and the bytes of every attachment that goes with them.
-- Functions and triggers are in sql/72_deletion.sql, row-level security in
-- policies/.

-- Bytes to delete from the blob store. An attachment row deleted for any
-- reason (a session deleted, a user erased, a conversation removed, an upload
-- abandoned) leaves its keys here in the same transaction; the purge job
-- deletes the bytes, then the row, and retries with backoff, so no file
-- outlives its row even when a node dies right after the commit.
CREATE TABLE blob_deletions (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  storage_key text NOT NULL,
  attempts    integer NOT NULL DEFAULT 0,
  next_at     timestamptz NOT NULL DEFAULT now(),
  last_error  text,
  enqueued_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX blob_deletions_due_idx ON blob_deletions (next_at);

-- What admins deleted or erased, by whom and when: kept when the data is gone.
CREATE TABLE desk_audit (
  id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at      timestamptz NOT NULL DEFAULT now(),
  actor   text NOT NULL,
  action  text NOT NULL CHECK (action IN ('session_deleted', 'user_erased')),
  target  text NOT NULL,
  details jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX desk_audit_at_idx ON desk_audit (at DESC);

-- When a user's data was erased (their row stays: sessions name their customer).
ALTER TABLE users ADD COLUMN erased_at timestamptz;
