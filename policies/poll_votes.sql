ALTER TABLE poll_votes ENABLE ROW LEVEL SECURITY;

-- Your own ballots only: the results (with the voters' names unless the poll
-- is anonymous) are on the message, so nobody reads another's ballot here.
DROP POLICY IF EXISTS poll_votes_select ON poll_votes;
CREATE POLICY poll_votes_select ON poll_votes FOR SELECT TO pgchat_user
  USING (user_id = (SELECT auth.uid()));

-- You vote in your own name, on a poll you can see (the messages policy:
-- internal notes, delete-for-me), where you may write (pgchat.can_write, like
-- a message). The rules trigger (sql/46_polls.sql) fills in the conversation
-- from the message before this check runs, and says why it refuses.
DROP POLICY IF EXISTS poll_votes_insert ON poll_votes;
CREATE POLICY poll_votes_insert ON poll_votes FOR INSERT TO pgchat_user
  WITH CHECK (user_id = (SELECT auth.uid())
              AND EXISTS (SELECT 1 FROM chat_messages m WHERE m.id = poll_votes.message_id)
              AND pgchat.can_write(conversation_id, (SELECT auth.uid()), (SELECT auth.role())));

-- You change your own ballot under the same conditions.
DROP POLICY IF EXISTS poll_votes_update ON poll_votes;
CREATE POLICY poll_votes_update ON poll_votes FOR UPDATE TO pgchat_user
  USING (user_id = (SELECT auth.uid()))
  WITH CHECK (user_id = (SELECT auth.uid())
              AND EXISTS (SELECT 1 FROM chat_messages m WHERE m.id = poll_votes.message_id)
              AND pgchat.can_write(conversation_id, (SELECT auth.uid()), (SELECT auth.role())));

-- You take back your own ballot (not once the poll is closed: the rules trigger).
DROP POLICY IF EXISTS poll_votes_delete ON poll_votes;
CREATE POLICY poll_votes_delete ON poll_votes FOR DELETE TO pgchat_user
  USING (user_id = (SELECT auth.uid()));
