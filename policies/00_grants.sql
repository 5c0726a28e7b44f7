-- What the request role may touch at all; the per-table policies decide which rows.
-- Columns a caller must never set directly (counters, seq numbers, the search
-- vector) are left out of the column grants.
GRANT USAGE ON SCHEMA public, auth, pgchat TO pgchat_user;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA auth, pgchat TO pgchat_user;

REVOKE ALL ON ALL TABLES IN SCHEMA public FROM pgchat_user;
GRANT SELECT ON users, conversations, conversation_members, live_chat_sessions, chat_messages TO pgchat_user;
GRANT INSERT (id, role, name, email, last_seen_at) ON users TO pgchat_user;
GRANT UPDATE (role, name, email, last_seen_at) ON users TO pgchat_user;
GRANT INSERT (id, kind, title, description, settings, direct_key, created_by) ON conversations TO pgchat_user;
GRANT UPDATE (title, description, settings) ON conversations TO pgchat_user;
GRANT INSERT (conversation_id, user_id, role) ON conversation_members TO pgchat_user;
GRANT UPDATE (pinned, muted, archived, deleted_at, hidden_before_seq, last_read_seq,
              last_delivered_seq, left_at, role, banned, lang) ON conversation_members TO pgchat_user;
GRANT INSERT (id, conversation_id, customer_id, subject, category, priority) ON live_chat_sessions TO pgchat_user;
GRANT UPDATE (agent_id, status, category, priority, assigned_at, first_response_at, ended_at,
              ended_by, rating, feedback, rated_at, description, snoozed_until, labels)
  ON live_chat_sessions TO pgchat_user;
-- seq: a batch of sends inserts its rows numbered from the conversation's
-- reservation (sql/25_send_batch.sql); otherwise the trigger numbers every row.
GRANT INSERT (id, conversation_id, seq, sender_id, sender_role, client_msg_id, kind, body, reply_to,
              internal, attachment_id, metadata, poll) ON chat_messages TO pgchat_user;
GRANT UPDATE (body, edited_at, deleted_at, metadata) ON chat_messages TO pgchat_user;
-- presence (and anything not granted above) is the server's own: requests never read it.

-- Support desk (migrations/V4): agents manage their own row, staff read the
-- desk; the outbox and the settings are the server's own.
GRANT SELECT ON agents, session_assignments, canned_responses TO pgchat_user;
GRANT INSERT (user_id, status, capacity, skills, enabled) ON agents TO pgchat_user;
GRANT UPDATE (status, capacity, skills, enabled) ON agents TO pgchat_user;
GRANT DELETE ON agents TO pgchat_user;
GRANT INSERT (id, owner_id, shortcut, title, body, created_by) ON canned_responses TO pgchat_user;
GRANT UPDATE (shortcut, title, body, updated_at) ON canned_responses TO pgchat_user;
GRANT DELETE ON canned_responses TO pgchat_user;
GRANT UPDATE (ended_reason) ON live_chat_sessions TO pgchat_user;
-- Jobs of the server (and operators in psql), never of a request.
REVOKE EXECUTE ON FUNCTION pgchat.assign_waiting(integer), pgchat.end_inactive(integer),
                           pgchat.wake_snoozed(integer),
                           pgchat.agent_presence(text, text) FROM PUBLIC, pgchat_user;
-- Every reader of a conversation's changes goes through changes_as_caller,
-- which applies the caller's visibility; this one is the server's (fan-out).
REVOKE EXECUTE ON FUNCTION pgchat.changes(uuid, bigint, bigint, bigint, bigint, boolean, bigint),
                           pgchat.changes_of(uuid[], bigint[], bigint[], bigint[], bigint)
  FROM PUBLIC, pgchat_user;

-- Direct conversations, rooms and message features (migrations/V3): reactions
-- are yours to add and take back; moderators silence members and pin
-- messages; the room directory lists open rooms to everyone.
GRANT SELECT ON message_reactions TO pgchat_user;
GRANT INSERT (message_id, emoji, user_id) ON message_reactions TO pgchat_user;
GRANT DELETE ON message_reactions TO pgchat_user;
GRANT UPDATE (silenced_until) ON conversation_members TO pgchat_user;
GRANT UPDATE (pinned_at, pinned_by) ON chat_messages TO pgchat_user;
GRANT SELECT ON pgchat.room_directory TO pgchat_user;
REVOKE EXECUTE ON FUNCTION pgchat.purge_expired(integer) FROM PUBLIC, pgchat_user;
GRANT SELECT ON desk_audit TO pgchat_user;
-- Polls (migrations/V14): a ballot is yours to cast, change and take back; a
-- poll's results are the message's (the server keeps them).
GRANT SELECT ON poll_votes TO pgchat_user;
GRANT INSERT (message_id, user_id, options) ON poll_votes TO pgchat_user;
GRANT UPDATE (options) ON poll_votes TO pgchat_user;
GRANT DELETE ON poll_votes TO pgchat_user;
-- Delete for me, per message (migrations/V15): yours to add.
GRANT SELECT ON hidden_messages TO pgchat_user;
GRANT INSERT (user_id, message_id) ON hidden_messages TO pgchat_user;
-- Join requests (migrations/V23): yours to make and withdraw, your rooms'
-- to read and reject as their moderator (RLS).
GRANT SELECT, DELETE ON room_join_requests TO pgchat_user;
GRANT INSERT (conversation_id, user_id) ON room_join_requests TO pgchat_user;

-- Attachments and the assistant (migrations/V5): requests create and complete
-- their own uploads (the storage key is the database's choice, never the
-- request's) and read the FAQ; the assistant's jobs, quota and settings are the
-- server's own (the quota through pgchat.ai_take_quota, as the caller).
GRANT SELECT ON attachments, ai_faq TO pgchat_user;
GRANT INSERT (id, conversation_id, uploader_id, filename, mime_type, kind, size) ON attachments TO pgchat_user;
GRANT UPDATE (status, completed_at, thumbnail_key, width, height) ON attachments TO pgchat_user;

-- Email (migrations/V8): a user sets their own address and opt-out (the users
-- policy admits their own row only); the outbox, the templates and the signing
-- key are the server's own.
GRANT UPDATE (email_notifications) ON users TO pgchat_user;

-- Translations (migrations/V20): cached by whoever may read the message.
GRANT SELECT, INSERT ON message_translations TO pgchat_user;
GRANT UPDATE (source, text, provider, model, created_at) ON message_translations TO pgchat_user;

-- A model's sentiment scores (migrations/V31): cached by the staff who asked.
GRANT SELECT, INSERT ON message_sentiment TO pgchat_user;
GRANT UPDATE (source, score, provider, model, created_at) ON message_sentiment TO pgchat_user;

-- Teams (migrations/V11): staff read them, admins write them (RLS); staff
-- route a session to a team (the routing rule is pgchat.tg_session_team);
-- escalation's columns are written only by pgchat.escalate.
GRANT SELECT ON teams, team_members TO pgchat_user;
GRANT INSERT (name, description, escalate_to, escalation_sla_secs) ON teams TO pgchat_user;
GRANT UPDATE (name, description, escalate_to, escalation_sla_secs, updated_at) ON teams TO pgchat_user;
GRANT DELETE ON teams TO pgchat_user;
GRANT INSERT (team_id, agent_id) ON team_members TO pgchat_user;
GRANT DELETE ON team_members TO pgchat_user;
GRANT UPDATE (team_id) ON live_chat_sessions TO pgchat_user;

-- Business hours (migrations/V12): admins' (RLS); the rest read availability
-- through pgchat.availability_json.
GRANT SELECT, DELETE ON business_hours TO pgchat_user;
GRANT INSERT (team_id, time_zone, weekly, holidays) ON business_hours TO pgchat_user;

-- Contact context (migrations/V13): a user sets their own attributes (the
-- users policy admits their own row only); a customer's session keeps the
-- context it was opened with.
GRANT UPDATE (attributes) ON users TO pgchat_user;
GRANT INSERT (context) ON live_chat_sessions TO pgchat_user;

-- The settings screen (migrations/V21): admins (RLS) read and change the desk
-- settings (pgchat.patch_desk_settings) and the email templates, and read the
-- webhook's outbox.
GRANT SELECT ON desk_settings, email_templates, notification_outbox TO pgchat_user;
GRANT UPDATE (assignment_mode, sla_first_response_secs, inactivity_timeout_secs, reopen_window_secs,
              escalation_sla_secs, moderation, admin_set, updated_at) ON desk_settings TO pgchat_user;
GRANT UPDATE (subject, body, updated_at) ON email_templates TO pgchat_user;
-- Moderation (migrations/V24): a room's mode is written with the room; the
-- lists are read by admins and changed through pgchat.moderation_put; the
-- queue is read under its policy and decided through pgchat.moderation_decide.
GRANT INSERT (moderation), UPDATE (moderation) ON conversations TO pgchat_user;
GRANT SELECT ON moderation_lists, moderation_queue TO pgchat_user;

-- Verified identity (migrations/V26): users.verified_at has no grant; only the
-- server's widget sign-in sets it.
REVOKE EXECUTE ON FUNCTION pgchat.verify_contact(text) FROM PUBLIC, pgchat_user;
