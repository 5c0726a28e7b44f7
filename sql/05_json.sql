-- The wire shape of each row, defined once. REST responses select these and the
-- NOTIFY triggers embed them, so a message looks the same on every path.
-- SECURITY DEFINER so that sender names resolve whatever the caller may read of `users`.

CREATE OR REPLACE FUNCTION pgchat.message_json(m chat_messages) RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT jsonb_build_object(
    'id', m.id,
    'conversation_id', m.conversation_id,
    'seq', m.seq,
    'change_seq', m.change_seq,
    'sender_id', m.sender_id,
    'sender_role', m.sender_role,
    'sender_name', (SELECT u.name FROM users u WHERE u.id = m.sender_id),
    'client_msg_id', m.client_msg_id,
    'kind', m.kind,
    'body', CASE WHEN m.deleted_at IS NULL THEN m.body ELSE '' END,
    'reply_to', m.reply_to,
    'internal', m.internal,
    'attachment', NULL,
    'reactions', '{}'::jsonb,
    'created_at', pgchat.ts(m.created_at),
    'edited_at', pgchat.ts(m.edited_at),
    'deleted_at', pgchat.ts(m.deleted_at))
$$;

CREATE OR REPLACE FUNCTION pgchat.session_json(s live_chat_sessions) RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT jsonb_build_object(
    'id', s.id,
    'conversation_id', s.conversation_id,
    'status', s.status,
    'customer_id', s.customer_id,
    'customer_name', (SELECT u.name FROM users u WHERE u.id = s.customer_id),
    'agent_id', s.agent_id,
    'agent_name', (SELECT u.name FROM users u WHERE u.id = s.agent_id),
    'subject', s.subject,
    'category', s.category,
    'priority', s.priority,
    'change_seq', s.change_seq,
    'started_at', pgchat.ts(s.started_at),
    'assigned_at', pgchat.ts(s.assigned_at),
    'first_response_at', pgchat.ts(s.first_response_at),
    'ended_at', pgchat.ts(s.ended_at),
    'ended_by', s.ended_by,
    'ended_reason', s.ended_reason,
    'first_response_due_at', pgchat.ts(pgchat.first_response_due(s)),
    'sla_breached', pgchat.sla_breached(s),
    'rating', s.rating,
    'feedback', s.feedback,
    'rated_at', pgchat.ts(s.rated_at))
$$;

-- What other members may know of a membership (never the private flags).
CREATE OR REPLACE FUNCTION pgchat.member_json(m conversation_members) RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT jsonb_build_object(
    'conversation_id', m.conversation_id,
    'user_id', m.user_id,
    'name', (SELECT u.name FROM users u WHERE u.id = m.user_id),
    'role', m.role,
    'banned', m.banned,
    'last_read_seq', m.last_read_seq,
    'last_delivered_seq', m.last_delivered_seq,
    'change_seq', m.change_seq,
    'joined_at', pgchat.ts(m.joined_at),
    'left_at', pgchat.ts(m.left_at))
$$;

-- The member's own view of their flags (the `inbox` topic, `PATCH .../me`).
CREATE OR REPLACE FUNCTION pgchat.flags_json(m conversation_members) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'conversation_id', m.conversation_id,
    'pinned', m.pinned,
    'muted', m.muted,
    'archived', m.archived,
    'deleted_at', pgchat.ts(m.deleted_at),
    'last_read_seq', m.last_read_seq)
$$;
