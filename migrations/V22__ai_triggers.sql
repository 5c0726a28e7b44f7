-- The assistant's trigger phrases (issue 21): what calls it (PGCHAT_AI_TRIGGERS,
-- default `@ai`, `@assistant`) and what asks for a translation
-- (PGCHAT_AI_TRANSLATE_TRIGGERS, default `translate`), written by each server at
-- start-up like the rest of ai_settings (sql/75_ai.sql reads them).
ALTER TABLE ai_settings
  ADD COLUMN triggers text[] NOT NULL DEFAULT '{@ai,@assistant}'
    CHECK (cardinality(triggers) BETWEEN 1 AND 20 AND array_position(triggers, NULL) IS NULL),
  ADD COLUMN translate_triggers text[] NOT NULL DEFAULT '{translate}'
    CHECK (cardinality(translate_triggers) BETWEEN 1 AND 20 AND array_position(translate_triggers, NULL) IS NULL);

-- A translation asked in a message ("Translate to de: …", or "Translate" in
-- reply to a message) is a job like a mention.
ALTER TABLE ai_jobs DROP CONSTRAINT ai_jobs_kind_check;
ALTER TABLE ai_jobs ADD CONSTRAINT ai_jobs_kind_check
  CHECK (kind IN ('mention', 'first_response', 'translate'));
