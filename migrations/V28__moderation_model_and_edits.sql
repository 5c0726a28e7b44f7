-- Moderation, continued (issue 21): the optional model check and moderated
-- edits. Functions and triggers are in sql/47_moderation.sql and
-- sql/47_moderation_model.sql.

-- The model check (PGCHAT_AI_MODERATION, written by each server at start-up
-- like the rest of ai_settings): messages the content filter checks are also
-- sent to the AI provider chain's moderation check, after they are stored.
ALTER TABLE ai_settings ADD COLUMN moderation_check boolean NOT NULL DEFAULT false;

-- An edit held for review (a room or desk in `hold` mode): the message keeps
-- its text, the edit waits here; approving the item applies it.
ALTER TABLE moderation_queue ADD COLUMN edited_body text;

-- The model check is an assistant's job like a mention. The kinds are read
-- from the constraint as it stands, so a kind another migration of the same
-- release added is kept.
DO $$
DECLARE
  kinds text[];
BEGIN
  SELECT array_agg(DISTINCT k[1]) INTO kinds
    FROM pg_constraint c, regexp_matches(pg_get_constraintdef(c.oid), '''([a-z_]+)''', 'g') AS k
   WHERE c.conrelid = 'ai_jobs'::regclass AND c.conname = 'ai_jobs_kind_check';
  ALTER TABLE ai_jobs DROP CONSTRAINT ai_jobs_kind_check;
  EXECUTE format('ALTER TABLE ai_jobs ADD CONSTRAINT ai_jobs_kind_check CHECK (kind = ANY (%L::text[]))',
                 array_append(kinds, 'moderation'));
END $$;
