-- Who is a member, and how many a room holds, said with reasons.

-- Raises why the caller is not a current member of `conv`: `not_a_member`
-- where they can still see it (a platform admin, an agent at the waiting
-- queue), else `not_found` (a conversation they cannot see is not there for
-- them). Called by an operation on one's own membership (reading one's
-- conversation item, cursors, delete-for-me, leaving a room) when it found no
-- current membership row; raises whatever it finds, so a caller that turns
-- out to be a member (a race) is answered `not_found` too.
CREATE OR REPLACE FUNCTION pgchat.refuse_non_member(conv uuid) RETURNS void
LANGUAGE plpgsql STABLE AS $$
DECLARE
  c_kind text;
BEGIN
  SELECT kind INTO c_kind FROM conversations WHERE id = conv;
  IF FOUND AND pgchat.can_read(conv, auth.uid(), auth.role()) THEN
    PERFORM pgchat.refuse('not_a_member', 'you are not a member of this '
      || CASE WHEN pgchat.is_room(c_kind) THEN 'room' ELSE 'conversation' END);
  END IF;
  PERFORM pgchat.refuse('not_found');
END $$;

-- The size rules of a room: a group holds at most 50 members (so its
-- max_members is no more: `group_too_large`); with `members` (a room being
-- created, its owner counted), a group starts with someone besides its owner
-- (`group_needs_members`) and no room starts with more than its max_members
-- (`too_many_members`; joining a full room later is `room_full`,
-- pgchat.tg_member_rules).
CREATE OR REPLACE FUNCTION pgchat.room_size_check(kind text, settings jsonb, members integer DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  max_members integer;
BEGIN
  IF kind = 'group' AND (settings ->> 'max_members')::integer > 50 THEN
    PERFORM pgchat.refuse('group_too_large', 'a group holds at most 50 members');
  END IF;
  IF members IS NULL THEN
    RETURN;
  END IF;
  IF kind = 'group' AND members < 2 THEN
    PERFORM pgchat.refuse('group_needs_members', 'a group starts with at least one other member');
  END IF;
  max_members := (pgchat.room_settings(kind, settings) ->> 'max_members')::integer;
  IF max_members IS NOT NULL AND members > max_members THEN
    PERFORM pgchat.refuse('too_many_members', 'this room holds at most ' || max_members || ' members');
  END IF;
END $$;

-- Whoever writes a room's settings (the API's PATCH, psql), its size rule holds.
CREATE OR REPLACE FUNCTION pgchat.tg_room_size() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pgchat.room_size_check(NEW.kind, NEW.settings);
  RETURN NEW;
END $$;

-- After conversations_rules (name order): who may change a room comes first.
DROP TRIGGER IF EXISTS conversations_size ON conversations;
CREATE TRIGGER conversations_size BEFORE INSERT OR UPDATE OF settings ON conversations
  FOR EACH ROW EXECUTE FUNCTION pgchat.tg_room_size();
