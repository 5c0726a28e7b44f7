-- The wire shape of each row, defined once. REST responses select these and the
-- NOTIFY triggers embed them, so a message looks the same on every path.
-- SECURITY DEFINER so that sender names resolve whatever the caller may read of `users`.

-- A message's wire shape is built from the row and the parts it shows of other
-- rows (sender name, the quoted parent, the attachment). The shape is one pure
-- SQL expression (`message_wire`) and the lookups one inlinable SQL function
-- (`message_decor`), so a backlog, a refill or a fan-out of N rows is one
-- set-based query the planner turns into joins (pgchat.message_rows), not N
-- calls of a function that plans its own lookups (BENCHMARKS.md: 15x faster).

-- The parts of other rows a message shows: its sender's name, what a reply
-- shows of its parent (a snippet, its sender, whether it was deleted; null
-- when the parent is gone — purged — or is an internal note quoted by a
-- public message: the reply's JSON is the same for every reader), and its
-- attachment once the upload is ready. Scalar arguments, not the row: a
-- whole-row argument would be formed into a tuple for every row of a backlog.
DROP VIEW IF EXISTS pgchat.message_rows;
DROP FUNCTION IF EXISTS pgchat.message_decor(chat_messages);
DROP FUNCTION IF EXISTS pgchat.message_decor(text, uuid, uuid, boolean, uuid);
CREATE OR REPLACE FUNCTION pgchat.message_decor(
  msg_sender text, msg_conv uuid, msg_reply_to uuid, msg_internal boolean, msg_attachment uuid)
RETURNS TABLE (sender_name text, reply_preview jsonb, attachment_json jsonb)
LANGUAGE sql STABLE AS $$
  SELECT su.name,
         CASE WHEN p.id IS NOT NULL THEN jsonb_build_object(
           'id', p.id,
           'seq', p.seq,
           'sender_id', CASE WHEN p.anonymous THEN NULL ELSE p.sender_id END,
           'sender_name', CASE WHEN p.anonymous THEN NULL ELSE pu.name END,
           'kind', p.kind,
           'body', CASE WHEN p.deleted_at IS NULL THEN left(p.body, 140) ELSE '' END,
           'deleted', p.deleted_at IS NOT NULL) END,
         CASE WHEN a.id IS NOT NULL THEN pgchat.attachment_wire(a) END
    FROM (SELECT) one
    LEFT JOIN users su ON su.id = msg_sender
    LEFT JOIN chat_messages p
           ON p.id = msg_reply_to AND p.conversation_id = msg_conv AND (msg_internal OR NOT p.internal)
    LEFT JOIN users pu ON pu.id = p.sender_id
    LEFT JOIN attachments a ON a.id = msg_attachment AND a.status = 'ready'
$$;

-- The wire shape of a message, given its parts (see message_decor). An
-- anonymous post (a room with anonymous posting) names neither its sender nor
-- who deleted it; a tombstone shows no body, attachment or reactions.
DROP FUNCTION IF EXISTS pgchat.message_wire(chat_messages, text, chat_messages, text, attachments);
CREATE OR REPLACE FUNCTION pgchat.message_wire(
  m chat_messages, sender_name text, reply_preview jsonb, attachment jsonb)
RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', m.id,
    'conversation_id', m.conversation_id,
    'seq', m.seq,
    'change_seq', m.change_seq,
    'sender_id', CASE WHEN m.anonymous THEN NULL ELSE m.sender_id END,
    'sender_role', m.sender_role,
    'sender_name', CASE WHEN m.anonymous THEN NULL ELSE sender_name END,
    'client_msg_id', m.client_msg_id,
    'kind', m.kind,
    'body', CASE WHEN m.deleted_at IS NULL THEN m.body ELSE '' END,
    'reply_to', m.reply_to,
    'reply_preview', reply_preview,
    'internal', m.internal,
    'attachment', CASE WHEN m.deleted_at IS NULL THEN attachment END,
    -- a poll message's poll and results as they stand (sql/46_polls.sql)
    'poll', CASE WHEN m.deleted_at IS NULL THEN m.poll END,
    -- {"👍": ["alice", "bob"]}: who reacted with what, oldest first (kept by a trigger)
    'reactions', CASE WHEN m.deleted_at IS NULL THEN m.reactions ELSE '{}'::jsonb END,
    'anonymous', m.anonymous,
    -- what the server recorded with its own messages (system notices, the
    -- assistant's answers: `ai.sources`, `ai.confidence`, `ai_error`); people's
    -- messages have none
    'metadata', CASE WHEN m.sender_role = 'system' AND m.deleted_at IS NULL THEN m.metadata END,
    'pinned_at', pgchat.ts(m.pinned_at),
    'pinned_by', m.pinned_by,
    'created_at', pgchat.ts(m.created_at),
    'edited_at', pgchat.ts(m.edited_at),
    'deleted_at', pgchat.ts(m.deleted_at),
    'deleted_by', CASE WHEN m.anonymous THEN NULL ELSE m.deleted_by END,
    -- 'held' or 'rejected' while moderation keeps it from the room (only its
    -- sender and the reviewers read it then: sql/47_moderation.sql); else null
    'moderation', CASE WHEN m.moderation IN ('held', 'rejected') THEN m.moderation END)
$$;

-- One message (REST answers, acks). PL/pgSQL keeps the plan per session.
CREATE OR REPLACE FUNCTION pgchat.message_json(m chat_messages) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN RETURN (
  SELECT pgchat.message_wire(m, d.sender_name, d.reply_preview, d.attachment_json)
    FROM pgchat.message_decor(m.sender_id, m.conversation_id, m.reply_to, m.internal, m.attachment_id) d
); END
$$;

-- Many messages at once, as the server sees them (no RLS: the listener's
-- fan-out and pgchat.changes, which apply the reader's visibility themselves).
-- Not granted to pgchat_user.
CREATE VIEW pgchat.message_rows AS
  SELECT m.id, m.conversation_id, m.seq, m.change_seq, m.internal, m.deleted_at,
         pgchat.message_wire(m, d.sender_name, d.reply_preview, d.attachment_json) AS json,
         m.sender_id, m.moderation
    FROM chat_messages m
   CROSS JOIN LATERAL pgchat.message_decor(m.sender_id, m.conversation_id, m.reply_to, m.internal,
                                           m.attachment_id) d;

-- A session's wire shape, given its people's names: one expression the
-- planner inlines (pgchat.changes joins the names for a whole backlog).
CREATE OR REPLACE FUNCTION pgchat.session_wire(s live_chat_sessions, customer_name text, agent_name text)
RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', s.id,
    'conversation_id', s.conversation_id,
    'status', s.status,
    'customer_id', s.customer_id,
    'customer_name', customer_name,
    'agent_id', s.agent_id,
    'agent_name', agent_name,
    'subject', s.subject,
    'description', s.description,
    'labels', to_jsonb(s.labels),
    'team_id', s.team_id,
    'escalation_level', s.escalation_level,
    'escalated_at', pgchat.ts(s.escalated_at),
    'escalation_reason', s.escalation_reason,
    'escalation_due_at', pgchat.ts(s.escalation_due_at),
    'escalation_breached', pgchat.escalation_breached(s),
    -- opened while the desk was closed: a ticket that waits (sql/64_business_hours.sql)
    'offline', s.offline,
    -- where it was opened from: page, referrer, locale, browser (the widget's word)
    'context', s.context,
    'category', s.category,
    'priority', s.priority,
    'change_seq', s.change_seq,
    'started_at', pgchat.ts(s.started_at),
    'assigned_at', pgchat.ts(s.assigned_at),
    'first_response_at', pgchat.ts(s.first_response_at),
    'ended_at', pgchat.ts(s.ended_at),
    'ended_by', s.ended_by,
    'ended_reason', s.ended_reason,
    'snoozed_until', pgchat.ts(s.snoozed_until),
    'resolved_at', pgchat.ts(s.resolved_at),
    'closed_at', pgchat.ts(s.closed_at),
    -- the ticket state other systems use (OPEN, IN_PROGRESS, RESOLVED, CLOSED)
    'ticket_status', CASE s.status WHEN 'waiting' THEN 'OPEN'
                                   WHEN 'resolved' THEN 'RESOLVED'
                                   WHEN 'closed' THEN 'CLOSED' WHEN 'ended' THEN 'CLOSED'
                                   ELSE 'IN_PROGRESS' END,
    'first_response_due_at', pgchat.ts(pgchat.first_response_due(s)),
    'sla_breached', pgchat.sla_breached(s),
    'rating', s.rating,
    'feedback', s.feedback,
    'rated_at', pgchat.ts(s.rated_at))
$$;

-- One session (REST answers, notifications).
CREATE OR REPLACE FUNCTION pgchat.session_json(s live_chat_sessions) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN RETURN pgchat.session_wire(s,
  (SELECT u.name FROM users u WHERE u.id = s.customer_id),
  (SELECT u.name FROM users u WHERE u.id = s.agent_id));
END $$;

-- What other members may know of a membership (never the private flags),
-- given the member's name: one expression the planner inlines.
CREATE OR REPLACE FUNCTION pgchat.member_wire(m conversation_members, name text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'conversation_id', m.conversation_id,
    'user_id', m.user_id,
    'name', name,
    'role', m.role,
    'banned', m.banned,
    -- a moderator's mute: no posting while silenced (silenced_until null: until lifted)
    'silenced', m.silenced_until IS NOT NULL AND m.silenced_until > now(),
    'silenced_until', CASE WHEN isfinite(m.silenced_until) THEN pgchat.ts(m.silenced_until) END,
    'last_read_seq', m.last_read_seq,
    'last_delivered_seq', m.last_delivered_seq,
    'change_seq', m.change_seq,
    'joined_at', pgchat.ts(m.joined_at),
    'left_at', pgchat.ts(m.left_at))
$$;

-- One membership (REST answers, notifications).
CREATE OR REPLACE FUNCTION pgchat.member_json(m conversation_members) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN RETURN pgchat.member_wire(m, (SELECT u.name FROM users u WHERE u.id = m.user_id));
END $$;

-- The member's own view of their flags (the `inbox` topic, `PATCH .../me`).
-- `flags_version` orders copies of them that arrive by different paths.
CREATE OR REPLACE FUNCTION pgchat.flags_json(m conversation_members) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'conversation_id', m.conversation_id,
    'pinned', m.pinned,
    'muted', m.muted,
    'archived', m.archived,
    'deleted_at', pgchat.ts(m.deleted_at),
    'last_read_seq', m.last_read_seq,
    'flags_version', m.flags_version)
$$;

-- A room's settings with the defaults filled in (absent keys take these).
-- A group holds at most 50 members whatever its max_members says.
CREATE OR REPLACE FUNCTION pgchat.room_settings(kind text, settings jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT s || CASE WHEN kind = 'group'
                   THEN jsonb_build_object('max_members', least(coalesce((s ->> 'max_members')::int, 50), 50))
                   ELSE '{}'::jsonb END
    FROM (SELECT jsonb_build_object(
                   'allow_invites', true,
                   'max_members', NULL,
                   'allow_file_uploads', true,
                   'enable_ai', false,
                   'retention_days', NULL,
                   'anonymous_posting', false,
                   'max_upload_bytes', NULL,
                   -- room profile and admission (migrations/V23)
                   'avatar_attachment_id', NULL,
                   'banner_attachment_id', NULL,
                   'require_approval', false,
                   'allowed_mime_types', NULL,
                   -- auto-translation into the members' languages (migrations/V27)
                   'auto_translate', false) || coalesce(settings, '{}'::jsonb) AS s) d
$$;

-- A conversation as listed (GET /v1/conversations, rooms): what every member may know of it.
CREATE OR REPLACE FUNCTION pgchat.conversation_json(c conversations) RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT jsonb_build_object(
    'id', c.id,
    'kind', c.kind,
    'title', c.title,
    'description', c.description,
    'settings', CASE WHEN c.kind IN ('public', 'private', 'group', 'announcement')
                     THEN pgchat.room_settings(c.kind, c.settings)
                          || jsonb_build_object('moderation', c.moderation) ELSE c.settings END,
    'created_by', c.created_by,
    'created_at', pgchat.ts(c.created_at),
    'change_seq', c.change_seq,
    'last_seq', c.last_seq,
    'last_message_seq', c.last_message_seq,
    'last_message_at', pgchat.ts(c.last_message_at),
    'member_count', (SELECT count(*) FROM conversation_members m
                      WHERE m.conversation_id = c.id AND m.left_at IS NULL AND NOT m.banned))
$$;

-- A room's avatar or banner as clients show it: the attachment's wire shape
-- (`url`, `thumbnail_url`: readable by whoever can see the room,
-- policies/attachments.sql), or null when unset or no longer a stored image.
-- SECURITY DEFINER: only ever asked for the rooms the caller can see.
CREATE OR REPLACE FUNCTION pgchat.room_image_json(att text) RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT pgchat.attachment_wire(a) FROM attachments a
   WHERE att IS NOT NULL AND a.id = att::uuid AND a.status = 'ready' AND a.kind = 'image'
$$;

-- A room: the conversation, with the names the rooms API speaks (`type`,
-- `name`) and its profile images (`avatar`, `banner`).
CREATE OR REPLACE FUNCTION pgchat.room_json(c conversations) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT pgchat.conversation_json(c) || jsonb_build_object(
    'type', c.kind,
    'name', c.title,
    'avatar', pgchat.room_image_json(c.settings ->> 'avatar_attachment_id'),
    'banner', pgchat.room_image_json(c.settings ->> 'banner_attachment_id'))
$$;

-- A reader's unread count in a conversation: messages of others after their
-- read cursor, not notices, not deleted. It runs as the caller, so their RLS
-- counts (a customer's count never includes an internal note); every list
-- that shows `unread` uses it.
CREATE OR REPLACE FUNCTION pgchat.unread(conv uuid, reader text, after bigint) RETURNS bigint
LANGUAGE sql STABLE AS $$
  SELECT count(*) FROM chat_messages m
   WHERE m.conversation_id = conv AND m.seq > after
     AND m.sender_id IS DISTINCT FROM reader
     AND m.kind <> 'system' AND m.deleted_at IS NULL
$$;

-- ---------------------------------------------------------------------------
-- The support desk's rows.

-- Active sessions of an agent. SECURITY DEFINER: an agent transferring a
-- session must see the load of a colleague whose sessions RLS hides.
CREATE OR REPLACE FUNCTION pgchat.agent_load(agent text) RETURNS integer
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT count(*)::integer FROM live_chat_sessions WHERE agent_id = agent AND status = 'active'
$$;

-- An agent in wire shape.
CREATE OR REPLACE FUNCTION pgchat.agent_json(a agents) RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT jsonb_build_object(
    'agent_id', a.user_id,
    'name', u.name,
    'role', u.role,
    'status', a.status,
    'capacity', a.capacity,
    'active_sessions', pgchat.agent_load(a.user_id),
    'skills', to_jsonb(a.skills),
    'enabled', a.enabled,
    'connected', EXISTS (SELECT 1 FROM presence p WHERE p.user_id = a.user_id AND p.expires_at > now()),
    'status_changed_at', pgchat.ts(a.status_changed_at),
    'last_assigned_at', (SELECT pgchat.ts(max(h.assigned_at)) FROM session_assignments h WHERE h.agent_id = a.user_id))
    FROM users u WHERE u.id = a.user_id
$$;

-- A canned response in wire shape.
CREATE OR REPLACE FUNCTION pgchat.canned_json(c canned_responses) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', c.id,
    'shortcut', c.shortcut,
    'title', c.title,
    'body', c.body,
    'shared', c.owner_id IS NULL,
    'owner_id', c.owner_id,
    'created_by', c.created_by,
    'created_at', pgchat.ts(c.created_at),
    'updated_at', pgchat.ts(c.updated_at))
$$;

-- ---------------------------------------------------------------------------
-- List items: a row with what the caller sees of it. Not SECURITY DEFINER:
-- they run as the caller, so the last message, the unread count and the
-- members they read are what RLS shows them (a customer's never include an
-- internal note). Every service's response shape comes from here.

-- The caller's own membership: their flags, role and cursors.
CREATE OR REPLACE FUNCTION pgchat.me_json(me conversation_members) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT pgchat.flags_json(me) || jsonb_build_object(
    'role', me.role,
    'last_delivered_seq', me.last_delivered_seq,
    'hidden_before_seq', me.hidden_before_seq,
    'silenced', me.silenced_until IS NOT NULL AND me.silenced_until > now(),
    -- the language this member reads the conversation in (sql/77_translation.sql)
    'lang', me.lang)
$$;

-- A conversation in the caller's list (GET /v1/conversations): the
-- conversation, the unread count, the last message, the caller's membership
-- (`me`) and, in a direct conversation, the other member (`peer`, whose
-- cursors tell which of my messages were delivered and read).
CREATE OR REPLACE FUNCTION pgchat.conversation_item(c conversations, me conversation_members) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT pgchat.conversation_json(c) || jsonb_build_object(
    'unread', pgchat.unread(c.id, me.user_id, me.last_read_seq),
    'last_message', (SELECT pgchat.message_json(m) FROM chat_messages m
                      WHERE m.conversation_id = c.id ORDER BY m.seq DESC LIMIT 1),
    'me', pgchat.me_json(me),
    'peer', CASE WHEN c.kind = 'direct' THEN
              (SELECT pgchat.member_json(p) FROM conversation_members p
                WHERE p.conversation_id = c.id AND p.user_id <> me.user_id) END)
$$;

-- A conversation in the `inbox` topic's snapshot: where it stands and the
-- caller's flags and unread count (live events update it).
CREATE OR REPLACE FUNCTION pgchat.inbox_item(c conversations, me conversation_members) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'conversation_id', c.id, 'kind', c.kind, 'title', c.title,
    'last_seq', c.last_seq, 'last_message_at', pgchat.ts(c.last_message_at),
    'unread', pgchat.unread(c.id, me.user_id, me.last_read_seq))
  || pgchat.flags_json(me)
$$;

-- A room as the caller sees it (`room`: pgchat.room_directory's): the room,
-- the caller's role (null when not a current member) and unread count.
CREATE OR REPLACE FUNCTION pgchat.room_view(room jsonb, room_id uuid, me conversation_members) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT room || jsonb_build_object(
    'my_role', me.role,
    -- the caller asked to join and waits for a moderator (require_approval)
    'join_requested', me.user_id IS NULL AND EXISTS (
      SELECT 1 FROM room_join_requests r WHERE r.conversation_id = room_id AND r.user_id = auth.uid()),
    'unread', CASE WHEN me.user_id IS NULL THEN 0
                   ELSE pgchat.unread(room_id, me.user_id, me.last_read_seq) END)
$$;

-- A support session as the caller sees it: the session, their unread count
-- and its last message that is not deleted.
CREATE OR REPLACE FUNCTION pgchat.session_view(s live_chat_sessions) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT pgchat.session_json(s) || jsonb_build_object(
    'unread', pgchat.unread(s.conversation_id, auth.uid(),
                            coalesce((SELECT me.last_read_seq FROM conversation_members me
                                       WHERE me.conversation_id = s.conversation_id AND me.user_id = auth.uid()), 0)),
    'last_message', (SELECT pgchat.message_json(m) FROM chat_messages m
                      WHERE m.conversation_id = s.conversation_id AND m.deleted_at IS NULL
                      ORDER BY m.seq DESC LIMIT 1))
$$;

-- When `uid`'s `which` cursor ('delivered' or 'read') of `conv` first reached
-- `s`: NULL while it has not (or when it did before marks were kept). As the
-- caller: the cursor_marks policy shows readers of the conversation alone.
CREATE OR REPLACE FUNCTION pgchat.cursor_reached_at(conv uuid, uid text, which text, s bigint)
RETURNS timestamptz
LANGUAGE sql STABLE AS $$
  SELECT k.at FROM cursor_marks k
   WHERE k.conversation_id = conv AND k.user_id = uid AND k.cursor = which AND k.seq >= s
   ORDER BY k.seq LIMIT 1
$$;

-- Who has received and read a message: the other current members' cursors
-- compared with its seq (`read` when every other member read it, `delivered`
-- when every one received it, `sent` otherwise). An anonymous post names
-- nobody: counts and status, but `read_by` and `delivered_to` null (the member
-- missing from the lists would be its author). In a direct conversation, also
-- when the other participant received and read it (`delivered_at`, `read_at`:
-- the first move of their cursor to or past its seq, sql/48_direct_receipts.sql).
-- NULL: no such message for the caller.
CREATE OR REPLACE FUNCTION pgchat.receipts_json(message_id uuid) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'message_id', m.id, 'conversation_id', m.conversation_id, 'seq', m.seq,
    'recipients', count(r.user_id),
    'status', CASE WHEN count(r.user_id) = 0 THEN 'sent'
                   WHEN bool_and(r.last_read_seq >= m.seq) THEN 'read'
                   WHEN bool_and(greatest(r.last_read_seq, r.last_delivered_seq) >= m.seq) THEN 'delivered'
                   ELSE 'sent' END,
    'read_by', CASE WHEN NOT m.anonymous THEN
                 coalesce(jsonb_agg(r.user_id ORDER BY r.user_id)
                          FILTER (WHERE r.last_read_seq >= m.seq), '[]') END,
    'delivered_to', CASE WHEN NOT m.anonymous THEN
                 coalesce(jsonb_agg(r.user_id ORDER BY r.user_id)
                          FILTER (WHERE greatest(r.last_read_seq, r.last_delivered_seq) >= m.seq), '[]') END)
    || CASE WHEN c.kind = 'direct' THEN (
         SELECT jsonb_build_object(
                  'delivered_at', pgchat.ts(coalesce(d.at, rd.at)), 'read_at', pgchat.ts(rd.at))
           FROM (SELECT min(r.user_id) AS uid) o,
                LATERAL (SELECT pgchat.cursor_reached_at(m.conversation_id, o.uid, 'delivered', m.seq) AS at) d,
                LATERAL (SELECT pgchat.cursor_reached_at(m.conversation_id, o.uid, 'read', m.seq) AS at) rd)
       ELSE '{}'::jsonb END
    FROM chat_messages m
    JOIN conversations c ON c.id = m.conversation_id
    LEFT JOIN conversation_members r
      ON r.conversation_id = m.conversation_id AND r.user_id IS DISTINCT FROM m.sender_id
     AND r.left_at IS NULL AND NOT r.banned
   WHERE m.id = message_id
   GROUP BY m.id, c.kind
$$;

-- A search hit: the message, its rank, the matches marked in its body (HTML-
-- escaped first, so a client may render the highlight as HTML) and where it is.
CREATE OR REPLACE FUNCTION pgchat.search_hit(m chat_messages, rank real, query tsquery) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'message', pgchat.message_json(m),
    'rank', rank,
    'highlight', ts_headline('simple',
                   replace(replace(replace(m.body, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'),
                   query,
                   'StartSel=<mark>, StopSel=</mark>, MaxFragments=2, MaxWords=24, MinWords=8, FragmentDelimiter=" … "'),
    'conversation', (SELECT jsonb_build_object('id', c.id, 'kind', c.kind, 'title', c.title)
                       FROM conversations c WHERE c.id = m.conversation_id))
$$;

-- A pending notification as the outbox's worker hands it on.
CREATE OR REPLACE FUNCTION pgchat.outbox_json(o notification_outbox) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT o.payload || jsonb_build_object('id', o.id, 'created_at', pgchat.ts(o.created_at))
$$;

-- An entry of the audit trail of deletions and erasures (GET /v1/admin/audit).
CREATE OR REPLACE FUNCTION pgchat.audit_json(a desk_audit) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object('id', a.id, 'at', pgchat.ts(a.at), 'actor', a.actor,
                            'action', a.action, 'target', a.target, 'details', a.details)
$$;
