-- Contact context (issue 19, item 7): what the host page tells the desk about
-- a customer (custom attributes, set by the customer's widget through
-- PATCH /v1/contacts/me) and where each session was opened from (page,
-- browser, locale), which staff read with the customer's previous sessions
-- (GET /v1/contacts/{user_id}). Functions are in sql/62_email.sql beside
-- contact_json.

-- {"plan": "pro", "orders": 12}: at most 50 keys of scalars (the API parses
-- them; the CHECK bounds what psql may write).
ALTER TABLE users ADD COLUMN attributes jsonb NOT NULL DEFAULT '{}'
  CHECK (jsonb_typeof(attributes) = 'object' AND octet_length(attributes::text) <= 16384);

-- {"page_url", "page_title", "referrer", "locale", "user_agent"}: given when
-- the session is opened (the browser's User-Agent when the widget gives none).
ALTER TABLE live_chat_sessions ADD COLUMN context jsonb NOT NULL DEFAULT '{}'
  CHECK (jsonb_typeof(context) = 'object' AND octet_length(context::text) <= 8192);
