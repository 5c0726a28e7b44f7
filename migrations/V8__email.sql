-- Email notifications: each user's opt-out, the templates, the email outbox
-- and its settings. Triggers and functions are in sql/62_email.sql.

-- A user's own setting: whether the desk may email them (their address is users.email).
ALTER TABLE users ADD COLUMN email_notifications boolean NOT NULL DEFAULT true;

-- One row, the server's own: whether email is configured (written by every
-- server at start, read by the triggers) and the key that signs unsubscribe
-- links. The key is made here, at random (gen_random_uuid draws from the
-- operating system's secure source), so every node shares it and it never
-- needs configuring; replacing it invalidates the links already sent.
CREATE TABLE email_settings (
  id          boolean PRIMARY KEY DEFAULT true CHECK (id),
  enabled     boolean NOT NULL DEFAULT false,
  signing_key text NOT NULL DEFAULT replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '')
                CHECK (length(signing_key) >= 32),
  updated_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO email_settings DEFAULT VALUES;

-- The subject and plain-text body of each kind of email, with {placeholders}
-- (see sql/62_email.sql for the values each kind has). Edit them with psql;
-- every email ends with an unsubscribe footer the server adds.
CREATE TABLE email_templates (
  kind       text PRIMARY KEY CHECK (kind IN ('reply', 'assigned')),
  subject    text NOT NULL CHECK (length(subject) BETWEEN 1 AND 300 AND subject !~ '[\r\n]'),
  body       text NOT NULL CHECK (length(body) BETWEEN 1 AND 20000),
  updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO email_templates (kind, subject, body) VALUES
  ('reply', '{agent_name} replied: {subject}',
   E'Hi {customer_name},\n\n{agent_name} replied to your conversation "{subject}":\n\n{message}\n\nOpen the chat to answer.'),
  ('assigned', 'Conversation assigned to you: {subject}',
   E'Hi {agent_name},\n\n{assigned_by} assigned you a conversation with {customer_name}.\n\nSubject: {subject}\nCategory: {category}, priority: {priority}\nSession: {session_id}');

-- Emails waiting for the email worker, written by triggers in the transaction
-- of what caused them: an agent's reply to a customer who is not connected, a
-- session given to an agent who is not connected. A row is sent once (workers
-- take rows with FOR UPDATE SKIP LOCKED and record the outcome in the same
-- transaction); after the last failed attempt it stays as a dead letter.
-- The recipient's address and the template are read when it is sent.
CREATE TABLE email_outbox (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind            text NOT NULL REFERENCES email_templates (kind),
  user_id         text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  session_id      uuid REFERENCES live_chat_sessions (id) ON DELETE CASCADE,
  -- what caused it: one email per reply, or per assignment, and recipient
  message_id      uuid REFERENCES chat_messages (id) ON DELETE CASCADE,
  assignment_id   bigint REFERENCES session_assignments (id) ON DELETE CASCADE,
  -- the template's placeholder values, as they were when it was queued
  placeholders    jsonb NOT NULL,
  status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  last_error      text,
  -- the SMTP reply code of the last attempt, if the server answered
  last_status     integer,
  created_at      timestamptz NOT NULL DEFAULT now(),
  delivered_at    timestamptz,
  CHECK (num_nonnulls(message_id, assignment_id) = 1),
  UNIQUE (message_id, user_id),
  UNIQUE (assignment_id, user_id)
);
CREATE INDEX email_outbox_due_idx ON email_outbox (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX email_outbox_user_idx ON email_outbox (user_id) WHERE status = 'pending';
