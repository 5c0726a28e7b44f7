ALTER TABLE attachments ENABLE ROW LEVEL SECURITY;

-- An attachment is visible to its uploader (while they can read the
-- conversation), and to whoever can see a message that carries it: the
-- subquery reads chat_messages under the caller's own RLS, so internal notes,
-- delete-for-me and membership apply to attachments as they do to messages.
-- A tombstoned message no longer shows its file. A room's avatar or banner
-- is visible to whoever can see the room (pgchat.is_room_image).
DROP POLICY IF EXISTS attachments_select ON attachments;
CREATE POLICY attachments_select ON attachments FOR SELECT TO pgchat_user
  USING ((uploader_id = (SELECT auth.uid())
          AND pgchat.can_read(conversation_id, (SELECT auth.uid()), (SELECT auth.role())))
         OR (status = 'ready' AND EXISTS (
               SELECT 1 FROM chat_messages m
                WHERE m.attachment_id = attachments.id AND m.deleted_at IS NULL))
         OR (status = 'ready' AND kind = 'image'
             AND pgchat.is_room_image(id, (SELECT auth.uid()), (SELECT auth.role()))));

-- You upload in your own name where you may write (the conversation's upload
-- settings are checked by the rules trigger, sql/70_attachments.sql).
DROP POLICY IF EXISTS attachments_insert ON attachments;
CREATE POLICY attachments_insert ON attachments FOR INSERT TO pgchat_user
  WITH CHECK (uploader_id = (SELECT auth.uid())
              AND pgchat.can_write(conversation_id, (SELECT auth.uid()), (SELECT auth.role())));

-- Only the uploader completes an upload.
DROP POLICY IF EXISTS attachments_update ON attachments;
CREATE POLICY attachments_update ON attachments FOR UPDATE TO pgchat_user
  USING (uploader_id = (SELECT auth.uid()))
  WITH CHECK (uploader_id = (SELECT auth.uid()));

-- A message may carry an attachment only if it is the sender's own completed
-- upload in the same conversation, and the message is a file kind. RESTRICTIVE:
-- this holds in addition to chat_messages_insert (policies/chat_messages.sql),
-- on every path that inserts as a request (one message, group commit).
DROP POLICY IF EXISTS chat_messages_attachment ON chat_messages;
CREATE POLICY chat_messages_attachment ON chat_messages AS RESTRICTIVE FOR INSERT TO pgchat_user
  WITH CHECK (attachment_id IS NULL
              OR (kind IN ('image', 'file', 'audio', 'video')
                  AND pgchat.attachment_usable(attachment_id, conversation_id, (SELECT auth.uid()))));
