ALTER TABLE chat_messages ENABLE ROW LEVEL SECURITY;

-- Messages of conversations you can read; internal notes only for staff;
-- nothing older than your delete-for-me point, nor a message you hid for
-- yourself (the set of yours is read once per statement: a hashed subplan);
-- a message moderation holds (or rejected while held) only for its sender
-- and the conversation's reviewers (sql/47_moderation.sql).
DROP POLICY IF EXISTS chat_messages_select ON chat_messages;
CREATE POLICY chat_messages_select ON chat_messages FOR SELECT TO pgchat_user
  USING (pgchat.can_read(conversation_id, (SELECT auth.uid()), (SELECT auth.role()))
         AND (NOT internal OR (SELECT auth.is_staff()))
         AND (moderation IS NULL OR moderation IN ('flagged', 'approved')
              OR sender_id = (SELECT auth.uid())
              OR pgchat.can_review(conversation_id, (SELECT auth.uid()), (SELECT auth.role())))
         AND seq > pgchat.hidden_before(conversation_id, (SELECT auth.uid()))
         AND id NOT IN (SELECT pgchat.my_hidden_messages()));

-- You post in your own name where you may write; only staff write internal
-- notes. A system notice (joined, ended) records an action of yours and needs
-- only that you can read the conversation. A batch of sends (group commit,
-- sql/25_send_batch.sql) is one INSERT of several senders' messages: each row
-- in the name and role of a sender the server verified for the batch
-- (auth.batch()), where that sender may write (pgchat.batch_writable: can_write
-- for each of the batch's sender and conversation pairs, once per statement).
DROP POLICY IF EXISTS chat_messages_insert ON chat_messages;
CREATE POLICY chat_messages_insert ON chat_messages FOR INSERT TO pgchat_user
  WITH CHECK (CASE WHEN sender_id = (SELECT auth.uid()) THEN
                (NOT internal OR (SELECT auth.is_staff()))
                AND CASE WHEN sender_role = 'system'
                         THEN kind = 'system' AND pgchat.can_read(conversation_id, (SELECT auth.uid()), (SELECT auth.role()))
                         ELSE sender_role = (SELECT auth.role())
                              AND pgchat.can_write(conversation_id, (SELECT auth.uid()), (SELECT auth.role()))
                    END
              ELSE
                (NOT internal OR sender_role IN ('agent', 'admin'))
                AND (conversation_id, sender_id, sender_role)
                    IN (SELECT w.conversation_id, w.sender_id, w.sender_role FROM pgchat.batch_writable() w)
              END);

-- You edit and delete your own messages; moderators delete others' and pin.
-- Any message you read reaches the rules trigger (sql/45_rooms.sql,
-- tg_message_rules), which decides what each may change and refuses with the
-- reason (not_your_message, not_a_moderator, ...); the check below holds the
-- row to its sender or a pinner whatever the trigger says.
DROP POLICY IF EXISTS chat_messages_update ON chat_messages;
CREATE POLICY chat_messages_update ON chat_messages FOR UPDATE TO pgchat_user
  USING (pgchat.can_read(conversation_id, (SELECT auth.uid()), (SELECT auth.role())))
  WITH CHECK (sender_id = (SELECT auth.uid())
              OR pgchat.can_pin(conversation_id, (SELECT auth.uid()), (SELECT auth.role())));
