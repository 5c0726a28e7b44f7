-- Verified identity (issue 19, item 7): a customer of the host site signed in
-- through the widget with their host user id and its HMAC under the site's
-- secret (PGCHAT_IDENTITY_SECRET), as Intercom and Chatwoot do. The host site
-- vouched for this id then; staff see `verified` on the contact. Only the
-- server writes it (pgchat.verify_contact), never a request's role.
ALTER TABLE users ADD COLUMN verified_at timestamptz;
