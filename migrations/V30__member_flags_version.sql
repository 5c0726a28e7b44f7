-- A member's own flags (pinned, muted, archived, deleted, read position) get a
-- version that every change of them raises (pgchat.tg_member_seq). Their
-- devices hear of the flags from three places — a PATCH answer, the `flags`
-- frame and a refetched conversation — which can arrive out of order; the
-- version lets a client keep the newest instead of the last to arrive.
ALTER TABLE conversation_members ADD COLUMN flags_version bigint NOT NULL DEFAULT 0;
