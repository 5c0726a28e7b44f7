"""Generates docs/openapi.json, the OpenAPI 3.1 document the server serves at
GET /v1/openapi.json. Edit this file, then run `python3 scripts/openapi.py`;
tests/api/operations.rs fails when a route the router serves is missing.
"""
import os
import json
S = lambda name: {"$ref": f"#/components/schemas/{name}"}
def obj(props, required=(), extra=False, desc=None):
    o = {"type": "object", "properties": props}
    if required: o["required"] = list(required)
    if not extra: o["additionalProperties"] = False
    if desc: o["description"] = desc
    return o
string = lambda **k: {"type": "string", **k}
integer = lambda **k: {"type": "integer", **k}
boolean = {"type": "boolean"}
uuid = {"type": "string", "format": "uuid"}
ts = {"type": "string", "format": "date-time"}
def enum(*v): return {"type": "string", "enum": list(v)}

ERR = {"$ref": "#/components/responses/Error"}
def err_set(*codes):
    return {str(c): ERR for c in codes}
STD = (400, 401, 404, 429, 503)

def op(summary, tag, ok=None, ok_status="200", body=None, params=(), errors=STD, auth=True, desc=None, content_type="application/json", ok_desc="OK"):
    o = {"summary": summary, "tags": [tag]}
    if desc: o["description"] = desc
    if params: o["parameters"] = list(params)
    if body is not None:
        o["requestBody"] = {"required": True, "content": {content_type: {"schema": body}}}
    resp = {}
    if ok is None:
        resp[ok_status] = {"description": ok_desc}
    elif isinstance(ok, dict) and "__raw__" in ok:
        resp[ok_status] = ok["__raw__"]
    else:
        resp[ok_status] = {"description": ok_desc, "content": {"application/json": {"schema": ok}}}
    resp.update(err_set(*errors))
    if auth and "401" not in resp: resp["401"] = ERR
    o["responses"] = resp
    if not auth: o["security"] = []
    return o

def q(name, schema, desc=None, required=False):
    p = {"name": name, "in": "query", "required": required, "schema": schema}
    if desc: p["description"] = desc
    return p
def pp(name, schema=uuid, desc=None):
    p = {"name": name, "in": "path", "required": True, "schema": schema}
    if desc: p["description"] = desc
    return p
ID = pp("id")
limit = q("limit", integer(minimum=1, maximum=100, default=50))
cursor = q("cursor", string(), "the next_cursor of the previous page")
def items(ref): return obj({"items": {"type": "array", "items": ref}}, ["items"], extra=True)
def page(ref): return obj({"items": {"type": "array", "items": ref}, "next_cursor": {"type": ["string", "null"]}}, ["items", "next_cursor"], extra=True)

message_input = obj({
    "body": string(minLength=1, maxLength=5000, description="1–5000 characters, not only whitespace, no NUL; optional for a poll (its question)"),
    "client_msg_id": {**uuid, "description": "made by the client; the idempotency key"},
    "kind": {**S("MessageKind")},
    "reply_to": {"type": ["string", "null"], "format": "uuid"},
    "internal": {"type": "boolean", "default": False, "description": "an agent-only note (agents and admins)"},
    "attachment_id": {"type": ["string", "null"], "format": "uuid"},
    "poll": {**S("PollInput"), "description": "with kind poll, and only then"},
}, ["client_msg_id"])

schemas = {
    "Error": obj({"error": obj({"code": string(description="snake_case, stable"), "message": string()}, ["code", "message"])}, ["error"]),
    "MessageKind": enum("text", "image", "file", "audio", "video", "poll"),
    "PollInput": obj({
        "question": string(minLength=1, maxLength=300), "options": {"type": "array", "items": string(minLength=1, maxLength=100), "minItems": 2, "maxItems": 10, "uniqueItems": True},
        "multiple": {"type": "boolean", "default": False}, "anonymous": {"type": "boolean", "default": False},
        "closes_at": {"type": ["string", "null"], "format": "date-time", "description": "in the future"},
    }, ["question", "options"]),
    "Poll": obj({
        "question": string(), "options": {"type": "array", "items": string()}, "multiple": boolean, "anonymous": boolean,
        "closes_at": {"type": ["string", "null"], "format": "date-time"}, "closed_at": {"type": ["string", "null"], "format": "date-time"},
        "closed_by": {"type": ["string", "null"]},
        "results": obj({"counts": {"type": "array", "items": integer()},
                        "voters": {"type": ["array", "null"], "items": {"type": "array", "items": string()}, "description": "per option, oldest first; null in an anonymous poll"},
                        "total_votes": integer(), "total_voters": integer()}, ["counts", "voters", "total_votes", "total_voters"]),
    }, ["question", "options", "results"], extra=True, desc="A poll message's poll and its results as they stand."),
    "Category": enum("payment", "shipping", "account", "returns", "technical", "other"),
    "Priority": enum("low", "medium", "high", "urgent"),
    "SessionStatus": enum("waiting", "active", "pending", "snoozed", "resolved", "closed", "ended"),
    "RoomType": enum("public", "private", "group", "announcement"),
    "MemberRole": enum("owner", "admin", "moderator", "member"),
    "AgentStatus": enum("online", "away", "busy", "offline"),
    "Message": obj({
        "id": uuid, "conversation_id": uuid, "seq": integer(), "change_seq": integer(),
        "sender_id": {"type": ["string", "null"]}, "sender_role": string(), "sender_name": {"type": ["string", "null"]},
        "client_msg_id": {"type": ["string", "null"], "format": "uuid"}, "kind": string(), "body": string(),
        "reply_to": {"type": ["string", "null"], "format": "uuid"}, "internal": boolean,
        "attachment": {"type": ["object", "null"]}, "poll": {"oneOf": [S("Poll"), {"type": "null"}]}, "reactions": {"type": "object", "additionalProperties": {"type": "array", "items": string()}},
        "metadata": {"type": ["object", "null"], "description": "the server's own messages (sender_role system): a notice's event, the assistant's ai.sources and ai.confidence"},
        "created_at": ts, "edited_at": {"type": ["string", "null"], "format": "date-time"}, "deleted_at": {"type": ["string", "null"], "format": "date-time"},
        "moderation": {"type": ["string", "null"], "enum": ["held", "rejected", None],
                       "description": "held for review (or rejected while held): read only by its sender and the reviewers"},
        "translation": obj({"lang": string(), "text": string()}, ["lang", "text"],
                           desc="reading a page of messages with a language (?lang, or my lang in the conversation): its cached translation, when there is one"),
    }, ["id", "conversation_id", "seq", "change_seq", "body", "created_at"], extra=True, desc="A message as every path shows it (sql/05_json.sql)."),
    "Session": obj({
        "id": uuid, "conversation_id": uuid, "status": S("SessionStatus"), "customer_id": string(),
        "agent_id": {"type": ["string", "null"]}, "subject": string(), "category": S("Category"), "priority": S("Priority"),
        "started_at": ts, "ended_at": {"type": ["string", "null"], "format": "date-time"},
        "rating": {"type": ["integer", "null"]}, "feedback": {"type": ["string", "null"]},
        "description": {"type": ["string", "null"]}, "snoozed_until": {"type": ["string", "null"], "format": "date-time"},
        "resolved_at": {"type": ["string", "null"], "format": "date-time"}, "closed_at": {"type": ["string", "null"], "format": "date-time"},
        "ticket_status": enum("OPEN", "IN_PROGRESS", "RESOLVED", "CLOSED"),
        "labels": {"type": "array", "items": string()},
        "team_id": {"type": ["string", "null"], "format": "uuid"},
        "escalation_level": integer(minimum=0, maximum=10),
        "escalated_at": {"type": ["string", "null"], "format": "date-time"},
        "escalation_reason": {"type": ["string", "null"]},
        "escalation_due_at": {"type": ["string", "null"], "format": "date-time", "description": "the escalation SLA: a staff answer is due by then"},
        "escalation_breached": boolean,
        "offline": {"type": "boolean", "description": "opened while the desk was closed: waits as a ticket"},
        "context": {"type": "object", "description": "where it was opened from: page_url, page_title, referrer, locale, user_agent"},
    }, ["id", "conversation_id", "status", "customer_id", "subject"], extra=True),
    "Conversation": obj({"id": uuid, "kind": string(), "unread": integer(), "last_message": {"oneOf": [S("Message"), {"type": "null"}]}}, ["id", "kind"], extra=True),
    "Room": obj({"id": uuid, "name": string(), "type": S("RoomType"), "description": {"type": ["string", "null"]}, "settings": S("RoomSettings"), "member_count": integer(),
                 "avatar": {"oneOf": [S("RoomImage"), {"type": "null"}]}, "banner": {"oneOf": [S("RoomImage"), {"type": "null"}]},
                 "my_role": {"type": ["string", "null"]}, "join_requested": {"type": "boolean", "description": "I asked to join and wait for a moderator"}},
                ["id", "name", "type"], extra=True),
    "RoomImage": obj({"id": uuid, "url": string(description="GET with the bearer token: whoever can see the room"),
                      "thumbnail_url": {"type": ["string", "null"]}, "mime_type": string(), "width": {"type": ["integer", "null"]},
                      "height": {"type": ["integer", "null"]}}, ["id", "url"], extra=True),
    "JoinRequest": obj({"room_id": uuid, "user_id": string(), "name": {"type": ["string", "null"]}, "status": enum("requested"), "requested_at": ts},
                       ["room_id", "user_id", "status", "requested_at"]),
    "RoomPreview": obj({"room": S("Room"), "member_count": integer(), "messages": {"type": "array", "items": S("Message"),
                        "description": "the latest, oldest first; never internal or deleted; to non-members without file URLs"}},
                       ["room", "member_count", "messages"]),
    "RoomSettings": obj({
        "allow_invites": boolean, "max_members": {"type": ["integer", "null"], "minimum": 2, "maximum": 100000},
        "allow_file_uploads": boolean, "enable_ai": boolean,
        "retention_days": {"type": ["integer", "null"], "minimum": 1, "maximum": 3650}, "anonymous_posting": boolean,
        "max_upload_bytes": {"type": ["integer", "null"], "minimum": 1, "maximum": 104857600},
        "avatar_attachment_id": {"type": ["string", "null"], "format": "uuid", "description": "my own completed image upload"},
        "banner_attachment_id": {"type": ["string", "null"], "format": "uuid", "description": "my own completed image upload"},
        "require_approval": {"type": "boolean", "description": "joining asks; a moderator approves"},
        "allowed_mime_types": {"type": ["array", "null"], "minItems": 1, "maxItems": 50,
                               "items": string(pattern="^[a-z0-9.+-]+/([a-z0-9.+-]+|\\*)$"), "description": "null: any type; image/* every image"},
        "auto_translate": {"type": "boolean", "description": "translate new messages into the members' languages; needs enable_ai (422 auto_translate_needs_ai)"},
        "moderation": S("ModerationMode"),
    }),
    "ModerationMode": enum("off", "flag", "hold", "reject"),
    "ModerationLists": obj({"words": {"type": "array", "items": string()}, "patterns": {"type": "array", "items": string()},
                            "updated_at": ts, "updated_by": {"type": ["string", "null"]}}, ["words", "patterns"]),
    "ModerationItem": obj({"id": integer(), "conversation_id": uuid, "message_id": uuid, "sender_id": {"type": ["string", "null"]},
                           "action": enum("flag", "hold"), "matched": {"type": ["string", "null"]},
                           "status": enum("pending", "approved", "rejected"), "created_at": ts,
                           "decided_by": {"type": ["string", "null"]}, "decided_at": {"type": ["string", "null"], "format": "date-time"},
                           "reason": {"type": ["string", "null"]},
                           "edited_body": {"type": ["string", "null"], "description": "an edit held for review: the text approving applies"},
                           "message": S("Message")},
                          ["id", "conversation_id", "message_id", "action", "status", "message"], extra=True),
    "Member": obj({"conversation_id": uuid, "user_id": string(), "role": string(), "banned": boolean, "silenced": boolean}, ["user_id", "role"], extra=True),
    "Agent": obj({"user_id": string(), "status": S("AgentStatus"), "capacity": integer(), "skills": {"type": "array", "items": S("Category")}, "enabled": boolean}, ["user_id", "status"], extra=True),
    "Team": obj({"id": uuid, "name": string(), "description": {"type": ["string", "null"]},
                 "escalate_to": {"type": ["string", "null"], "format": "uuid", "description": "the next tier: where an escalation without a named team goes"},
                 "escalation_sla_secs": {"type": ["integer", "null"], "description": "null: the desk's PGCHAT_ESCALATION_SLA_SECS"},
                 "members": {"type": "array", "items": string()}, "waiting": integer(), "created_at": ts, "updated_at": ts},
                ["id", "name", "members"], extra=True),
    "Canned": obj({"id": uuid, "shortcut": string(), "title": {"type": ["string", "null"]}, "body": string(), "shared": boolean, "owner_id": {"type": ["string", "null"]}}, ["id", "shortcut", "body"], extra=True),
    "Attachment": obj({"id": uuid, "conversation_id": uuid, "filename": string(), "size": integer(), "mime_type": string(), "status": string(), "upload_url": {"type": ["string", "null"]}}, ["id"], extra=True),
    "Contact": obj({"id": string(), "role": enum("user", "agent", "admin"), "name": {"type": ["string", "null"]},
                    "email": {"type": ["string", "null"], "format": "email"}, "email_notifications": boolean,
                    "attributes": {"type": "object", "description": "custom attributes the host page set: text, numbers, booleans"},
                    "verified": {"type": "boolean", "description": "signed in through the widget with a correct user hash (POST /v1/widget/token)"}},
                   ["id", "role", "email", "email_notifications"], extra=True, desc="A user as they see themselves."),
    "Stats": {"type": "object", "description": "The desk's figures over a range (docs/api.md)."},
    "Ready": obj({"status": string(), "database": string(), "listener": string()}, ["status"]),
}

TAG_DESC = {
    "operations": "Health, readiness, metrics, this document.",
    "support": "Support sessions.", "messages": "Messages of any conversation.",
    "conversations": "My conversations and direct conversations.", "rooms": "Rooms, members, pins.",
    "message features": "Edits, deletes, reactions, polls, receipts, search.", "desk": "Agents, canned responses, dashboard.",
    "contacts": "A user's own contact details.", "email": "Email notifications.",
    "moderation": "The content filter's lists and the review queue.",
    "attachments": "Uploads and downloads.", "ai": "The assistant.", "realtime": "WebSocket, SSE, long poll (docs/realtime.md).",
    "web": "The embedded web clients.", "dev": "Development sign-in (PGCHAT_DEV=1 only).",
}

P = {}
def add(path, method, o):
    P.setdefault(path, {})[method] = o

# operations
add("/healthz", "get", op("Liveness: the process is up", "operations", obj({"status": string()}, ["status"]), errors=(), auth=False))
add("/readyz", "get", op("Readiness: the database answers and the realtime listener is connected", "operations", S("Ready"), errors=(503,), auth=False,
    desc="503 `unavailable` with Retry-After while the database or the listener is down."))
add("/metrics", "get", op("Prometheus metrics (text exposition format)", "operations",
    {"__raw__": {"description": "Prometheus text", "content": {"text/plain": {"schema": string()}}}}, errors=(), auth=False))
add("/v1/openapi.json", "get", op("This document", "operations", {"type": "object"}, errors=(), auth=False))

# support
CONTEXT_IN = obj({"page_url": string(maxLength=2000, description="http(s)"), "page_title": string(maxLength=300),
                  "referrer": string(maxLength=2000), "locale": string(maxLength=35), "user_agent": string(maxLength=500, description="default: the User-Agent header")},
                 desc="where the widget was opened")
sess_filters = [q("status", {"oneOf": [S("SessionStatus"), enum("OPEN", "IN_PROGRESS", "RESOLVED", "CLOSED")]},
                  "a status, or a ticket state: OPEN (waiting), IN_PROGRESS (active, pending, snoozed), RESOLVED, CLOSED (closed, ended)"),
               q("label", string(), "sessions carrying this label"), q("agent_id", string()), q("customer_id", string()), q("category", S("Category")),
                q("priority", S("Priority")), q("q", string(), "subject substring or message words"), q("from", ts), q("to", ts),
                q("sla_breached", boolean), q("team_id", uuid, "sessions in this team's queue"), limit, cursor]
add("/v1/support/sessions", "get", op("List sessions (a customer: theirs; an agent: the queue and theirs; an admin: all)", "support", page(S("Session")), params=sess_filters))
add("/v1/support/sessions", "post", op("Open a support session with its first message", "support", S("Session"), "201",
    body=obj({"subject": string(minLength=1, maxLength=200), "category": S("Category"), "priority": S("Priority"), "message": message_input,
              "context": CONTEXT_IN}, ["subject", "message"]),
    errors=(400, 413, 415, 422, 429, 503), desc="201 new; 200 when the message's client_msg_id was already used by this customer (the same session)."))
add("/v1/support/sessions/{id}", "get", op("A session", "support", S("Session"), params=[ID]))
add("/v1/support/sessions/{id}/queue", "get", op("A waiting session's place in the queue and the expected wait", "support",
    obj({"session_id": string(format="uuid"), "status": string(), "position": {"type": ["integer", "null"], "minimum": 1},
         "waiting": integer(minimum=0), "expected_wait_secs": {"type": ["integer", "null"], "minimum": 0}},
        ["session_id", "status", "position", "waiting", "expected_wait_secs"]), params=[ID]))
add("/v1/support/sessions/{id}", "patch", op("Change priority, category, description, team or status (staff)", "support", S("Session"), params=[ID],
    body=obj({"priority": S("Priority"), "category": S("Category"), "description": string(maxLength=5000),
              "team_id": {"type": ["string", "null"], "format": "uuid", "description": "the team whose queue it waits in; null: none"},
              "status": enum("pending", "snoozed", "resolved", "closed", "active"), "snoozed_until": ts}),
    errors=(400, 403, 404, 409, 413, 415, 422, 503)))
add("/v1/support/sessions/bulk", "post", op("One action on up to 100 sessions, each authorized on its own; a result per item", "support",
    obj({"results": {"type": "array", "items": obj({"id": uuid, "ok": boolean, "error": obj({"code": string(), "message": string()})}, ["id", "ok"])}}),
    body=obj({"ids": {"type": "array", "items": uuid, "minItems": 1, "maxItems": 100, "uniqueItems": True},
              "action": enum("assign", "transfer", "resolve", "close", "reopen", "label", "unlabel", "priority"),
              "params": obj({"agent_id": string(minLength=1, maxLength=200), "label": string(), "priority": S("Priority")}),
              "atomic": boolean}, ["ids", "action"]),
    errors=(400, 413, 415, 503), desc="With `atomic`, one transaction: the first refusal rolls every item back (`rolled_back` on the others)."))
LABEL = [ID, pp("label", string(pattern="^[a-z0-9][a-z0-9_-]{0,49}$"), "a word: a-z, 0-9, '-', '_'")]
add("/v1/support/sessions/{id}/labels/{label}", "put", op("Label a session (staff; at most 20 labels)", "support", S("Session"),
    params=LABEL, errors=(400, 403, 404, 422, 503)))
add("/v1/support/sessions/{id}/labels/{label}", "delete", op("Take a label off a session (staff)", "support", S("Session"),
    params=LABEL, errors=(400, 403, 404, 503)))
add("/v1/support/sessions/{id}", "delete", op("Delete a session with its messages, receipts and files (admins); audited", "support", None, "204",
    params=[ID], errors=(401, 403, 404, 503), ok_desc="deleted"))
for action, summary, body, errs in [
    ("claim", "An agent takes a waiting session", None, (403, 404, 409, 503)),
    ("end", "End a session (its customer or staff)", None, (403, 404, 409, 503)),
    ("rating", "The customer rates an ended session", obj({"rating": integer(minimum=1, maximum=5), "feedback": string(maxLength=2000)}, ["rating"]), (400, 403, 404, 409, 413, 415, 503)),
    ("assign", "Give a session to an agent (admins)", obj({"agent_id": string(minLength=1, maxLength=200)}, ["agent_id"]), (400, 403, 404, 409, 422, 503)),
    ("transfer", "Hand an active session over to another agent", obj({"agent_id": string(minLength=1, maxLength=200)}, ["agent_id"]), (400, 403, 404, 409, 422, 503)),
    ("resolve", "Resolve a session (staff); the customer's message within the reopen window reopens it", None, (403, 404, 409, 503)),
    ("reopen", "Reopen a resolved session: back to its agent, or to the queue", None, (403, 404, 409, 503)),
    ("snooze", "Put a session off until a time (staff)", obj({"until": ts}, ["until"]), (400, 403, 404, 409, 413, 415, 422, 503)),
    ("close", "Close a session for good (staff)", None, (403, 404, 409, 503)),
    ("escalate", "Escalate to another team or the next tier: priority raised, reason recorded, an escalation SLA started (staff)",
     obj({"team_id": uuid, "priority": S("Priority"), "reason": string(minLength=1, maxLength=1000)}, ["reason"]), (400, 403, 404, 409, 413, 415, 422, 503)),
]:
    add(f"/v1/support/sessions/{{id}}/{action}", "post", op(summary, "support", S("Session"), params=[ID], body=body, errors=errs))

# messages
add("/v1/conversations/{id}/messages", "get", op("Page through messages by seq", "messages", obj({"items": {"type": "array", "items": S("Message")}, "has_more": boolean}, ["items", "has_more"]),
    params=[ID, q("before", integer()), q("after", integer()), limit,
            q("lang", string(description="add each message's cached translation into this language (422 invalid_lang); default: my lang here"))],
    errors=STD + (422,)))
add("/v1/conversations/{id}/messages", "post", op("Send a message (idempotent by client_msg_id)", "messages", S("Message"), "201", params=[ID], body=message_input,
    errors=(400, 403, 404, 409, 413, 415, 422, 429, 503), desc="201 stored; 200 the message already stored under this client_msg_id."))
add("/v1/conversations/{id}/read", "post", op("Mark read up to seq, or up to the newest of some messages", "messages", obj({"conversation_id": uuid, "last_read_seq": integer()}, extra=True), params=[ID],
    body=obj({"seq": integer(minimum=0), "message_ids": {"type": "array", "items": uuid, "minItems": 1, "maxItems": 100}},
             desc="exactly one of seq and message_ids (400 seq_or_message_ids); by ids the cursor moves to the newest of them you can see (404 when none)")))
add("/v1/conversations/{id}/poll", "get", op("Long poll: the changes after since, or wait for the next", "realtime",
    obj({"events": {"type": "array", "items": {"type": "object"}, "maxItems": 2000}, "cursor": integer(), "has_more": boolean},
        ["events", "cursor", "has_more"]),
    params=[ID, q("since", integer(minimum=0, default=0)), q("timeout_ms", integer(minimum=0, maximum=60000, default=25000))]))

# conversations
add("/v1/conversations", "get", op("My conversations, pinned first, with the last message and my unread count", "conversations", page(S("Conversation")),
    params=[q("kind", enum("support", "direct", "group", "public", "private", "announcement")), q("archived", boolean), limit, cursor]))
add("/v1/conversations/direct", "post", op("Get or start the direct conversation with a user", "conversations", S("Conversation"), "201",
    body=obj({"user_id": string(minLength=1, maxLength=200)}, ["user_id"]), errors=(400, 404, 413, 415, 422, 503), desc="201 new, 200 existing (one per pair)."))
add("/v1/conversations/{id}", "get", op("A conversation of mine", "conversations", S("Conversation"), params=[ID]))
add("/v1/conversations/{id}/me", "patch", op("My flags (pinned, muted, archived) and the language I read it in", "conversations", {"type": "object"}, params=[ID],
    body=obj({"pinned": boolean, "muted": boolean, "archived": boolean,
              "lang": {"type": ["string", "null"], "description": "a BCP 47 tag (de, pt-BR), checked by the database (422 invalid_lang, too_many_languages); null clears it"}}),
    errors=STD + (422,)))
add("/v1/conversations/{id}/me", "delete", op("Delete the conversation for me", "conversations", {"type": "object"}, params=[ID]))
add("/v1/conversations/{id}/delivered", "post", op("Mark delivered up to seq", "conversations", obj({"conversation_id": uuid, "last_delivered_seq": integer()}, extra=True), params=[ID],
    body=obj({"seq": integer(minimum=0)}, ["seq"])))
add("/v1/conversations/{id}/summary", "post", op("Summarize a conversation with the assistant (staff)", "ai", {"type": "object"}, params=[ID],
    body=obj({"post": {"type": "boolean", "default": False, "description": "also store it as an internal note"}}), errors=(400, 403, 404, 422, 429, 503)))
P["/v1/conversations/{id}/summary"]["post"]["requestBody"]["required"] = False
add("/v1/support/sessions/{id}/sentiment", "get", op("A support session's sentiment: the customer's messages scored offline (staff)", "ai",
    obj({"session_id": uuid, "score": {"type": "number", "minimum": -1, "maximum": 1}, "label": {"enum": ["positive", "neutral", "negative"]},
         "recent": {"type": "number"}, "provider": string(), "messages": {"type": "array", "items": {"type": "object"}}}), params=[ID],
    errors=(403, 404)))
add("/v1/messages/{id}/translate", "post", op("Translate a message into a language (cached per message and language)", "ai",
    obj({"message_id": uuid, "lang": string(), "text": string(), "provider": string(), "model": {"type": ["string", "null"]},
         "created_at": string(format="date-time")}), params=[ID],
    body=obj({"lang": string(pattern="^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$", description="a BCP 47 tag: de, pt-BR")}, ["lang"]),
    errors=(400, 403, 404, 409, 429, 503)))

# rooms
add("/v1/rooms", "get", op("Discover public and announcement rooms (and mine)", "rooms", page(S("Room")), params=[q("type", S("RoomType")), q("q", string(maxLength=100)), limit, cursor]))
add("/v1/rooms", "post", op("Create a room", "rooms", S("Room"), "201", body=obj({
    "name": string(minLength=1, maxLength=100), "type": S("RoomType"), "description": string(maxLength=1000), "settings": S("RoomSettings"),
    "members": {"type": "array", "maxItems": 100, "items": string(minLength=1, maxLength=200)}}, ["name", "type"]), errors=(400, 404, 413, 415, 422, 503)))
add("/v1/rooms/{id}", "get", op("A room I can find", "rooms", S("Room"), params=[ID]))
add("/v1/rooms/{id}", "patch", op("Rename, describe, change settings (owners and admins)", "rooms", S("Room"), params=[ID],
    body=obj({"name": string(minLength=1, maxLength=100), "description": {"type": ["string", "null"], "maxLength": 1000}, "settings": S("RoomSettings")}), errors=(400, 403, 404, 413, 415, 422, 503)))
add("/v1/rooms/{id}/join", "post", op("Join an open room (or ask to, where it requires approval)", "rooms", S("Room"), "201", params=[ID], errors=(403, 404, 409, 503),
    desc="201 joined, 200 already a member, 202 with a JoinRequest (`status: requested`) where the room requires approval (asking again answers the same request)."))
P["/v1/rooms/{id}/join"]["post"]["responses"]["202"] = {"description": "asked to join", "content": {"application/json": {"schema": S("JoinRequest")}}}
add("/v1/rooms/{id}/preview", "get", op("A read-only look at a public room without joining: the room, its member count, its latest messages", "rooms", S("RoomPreview"),
    params=[ID, q("limit", integer(minimum=1, maximum=100), "messages (default 20)")], errors=(400, 403, 404, 503),
    desc="Anyone signed in, for open rooms (403 `banned` to the banned); private rooms and groups to their members only (404 to others)."))
add("/v1/rooms/{id}/requests", "get", op("Requests to join, oldest first (moderators and up)", "rooms", items(S("JoinRequest")), params=[ID], errors=(403, 404, 503)))
DECIDE = [ID, pp("user_id", string(minLength=1, maxLength=200))]
add("/v1/rooms/{id}/requests/{user_id}/approve", "post", op("Approve a request: they become a member (moderators and up)", "rooms", S("Member"), params=DECIDE, errors=(400, 403, 404, 409, 503)))
add("/v1/rooms/{id}/requests/{user_id}/reject", "post", op("Reject a request: it is removed (moderators and up)", "rooms", None, "204", params=DECIDE, errors=(400, 403, 404, 503), ok_desc="rejected"))
leave = op("Leave a room", "rooms", {"type": "object"}, params=[ID], errors=(404, 409, 503))
add("/v1/rooms/{id}/leave", "delete", leave)
add("/v1/rooms/{id}/leave", "post", dict(leave, summary="Leave a room (POST alias)"))
add("/v1/rooms/{id}/members", "get", op("Members (banned=true: the banned, for moderators)", "rooms", items(S("Member")), params=[ID, q("banned", boolean)]))
add("/v1/rooms/{id}/members", "post", op("Invite a user", "rooms", S("Member"), "201", params=[ID],
    body=obj({"user_id": string(minLength=1, maxLength=200), "role": S("MemberRole")}, ["user_id"]), errors=(400, 403, 404, 409, 413, 415, 422, 503)))
MEMBER = [ID, pp("user_id", string(minLength=1, maxLength=200))]
add("/v1/rooms/{id}/members/{user_id}", "patch", op("Change a member's role, ban, silence", "rooms", S("Member"), params=MEMBER,
    body=obj({"role": S("MemberRole"), "banned": boolean, "silenced": boolean, "silenced_minutes": integer(minimum=1, maximum=525600)}), errors=(400, 403, 404, 409, 413, 415, 422, 503)))
add("/v1/rooms/{id}/members/{user_id}", "delete", op("Remove a member", "rooms", S("Member"), params=MEMBER, errors=(400, 403, 404, 409, 503)))
add("/v1/rooms/{id}/pins", "get", op("Pinned messages, newest pin first", "rooms", items(S("Message")), params=[ID]))
PIN = [ID, pp("message_id")]
add("/v1/rooms/{id}/pins/{message_id}", "put", op("Pin a message (moderators and up)", "rooms", S("Message"), params=PIN, errors=(400, 403, 404, 409, 503)))
add("/v1/rooms/{id}/pins/{message_id}", "delete", op("Unpin a message", "rooms", S("Message"), params=PIN, errors=(400, 403, 404, 409, 503)))

# message features
add("/v1/messages/{id}", "patch", op("Edit my message", "message features", S("Message"), params=[ID], body=obj({"body": string(minLength=1, maxLength=5000)}, ["body"]), errors=(400, 403, 404, 409, 413, 415, 422, 503)))
add("/v1/messages/{id}", "delete", op("Delete a message (a tombstone)", "message features", S("Message"), params=[ID], errors=(403, 404, 409, 503)))
EMO = [ID, pp("emoji", string(minLength=1, maxLength=32), "one emoji or a short code, URL-encoded")]
add("/v1/messages/{id}/reactions/{emoji}", "put", op("React", "message features", S("Message"), params=EMO, errors=(400, 403, 404, 409, 503)))
add("/v1/messages/{id}/reactions/{emoji}", "delete", op("Take a reaction back", "message features", S("Message"), params=EMO, errors=(400, 403, 404, 409, 503)))
add("/v1/messages/{id}/me", "delete", op("Delete a message for me: hidden from my history, search, unread counts and resume; nobody else's view changes", "message features", None, "204",
    params=[ID], errors=(404, 429, 503), ok_desc="hidden (again: nothing changes)"))
add("/v1/messages/{id}/vote", "put", op("Vote in a poll (again: the vote is replaced)", "message features", S("Message"), params=[ID],
    body=obj({"options": {"type": "array", "items": integer(minimum=0, maximum=9), "minItems": 1, "maxItems": 10}}, ["options"]),
    errors=(400, 403, 404, 409, 413, 415, 422, 429, 503), desc="409 `poll_closed`; 422 `invalid_poll_vote` (an index the poll has not, several in a single-choice poll), `not_a_poll`."))
add("/v1/messages/{id}/vote", "delete", op("Take my vote back", "message features", S("Message"), params=[ID], errors=(403, 404, 409, 422, 429, 503)))
add("/v1/messages/{id}/close-poll", "post", op("Close a poll (its author or a moderator)", "message features", S("Message"), params=[ID], errors=(403, 404, 409, 422, 429, 503)))
add("/v1/messages/{id}/receipts", "get", op("Who has the message delivered and read", "message features", {"type": "object"}, params=[ID]))
add("/v1/search", "get", op("Full-text search of the messages I may read", "message features", items(S("Message")),
    params=[q("q", string(minLength=1, maxLength=200), required=True), q("conversation_id", uuid), limit]))

# desk
add("/v1/agents", "get", op("The desk's agents (staff)", "desk", items(S("Agent")), params=[q("status", S("AgentStatus"))], errors=(400, 403, 503)))
agent_body = obj({"status": S("AgentStatus"), "capacity": integer(minimum=0, maximum=1000), "skills": {"type": "array", "items": S("Category")}, "enabled": boolean})
add("/v1/agents/me", "get", op("My agent record (404 when not on the desk)", "desk", S("Agent"), errors=(403, 404, 503)))
add("/v1/agents/me", "put", op("My status and capacity (agents)", "desk", S("Agent"), body=agent_body, errors=(400, 403, 413, 415, 422, 503)))
AG = [pp("id", string(), "the agent's user id")]
add("/v1/agents/{id}", "get", op("An agent (staff)", "desk", S("Agent"), params=AG, errors=(403, 404, 503)))
add("/v1/agents/{id}", "put", op("Enrol or change an agent (admins)", "desk", S("Agent"), params=AG, body=agent_body, errors=(400, 403, 404, 413, 415, 422, 503)))
add("/v1/agents/{id}", "delete", op("Take an agent off the desk (admins)", "desk", None, "204", params=AG, errors=(403, 404, 503), ok_desc="removed"))
add("/v1/support/canned", "get", op("Canned responses I may use (mine and shared)", "desk", items(S("Canned")), params=[q("q", string()), q("prefix", string())], errors=(400, 403, 503)))
add("/v1/support/canned", "post", op("Create a canned response (staff; shared: admins)", "desk", S("Canned"), "201",
    body=obj({"shortcut": string(pattern="^/?[a-z0-9][a-z0-9_-]{0,49}$"), "title": string(maxLength=200), "body": string(minLength=1, maxLength=5000), "shared": boolean}, ["shortcut", "body"]),
    errors=(400, 403, 409, 413, 415, 422, 503)))
add("/v1/support/canned/lookup", "get", op("The response a /shortcut names, placeholders filled", "desk", S("Canned"),
    params=[q("shortcut", string(), required=True), q("session_id", uuid)], errors=(400, 403, 404, 503)))
add("/v1/support/canned/{id}", "patch", op("Change a canned response", "desk", S("Canned"), params=[ID],
    body=obj({"shortcut": string(), "title": string(maxLength=200), "body": string(minLength=1, maxLength=5000)}), errors=(400, 403, 404, 409, 413, 415, 503)))
add("/v1/support/canned/{id}", "delete", op("Delete a canned response", "desk", None, "204", params=[ID], errors=(403, 404, 503), ok_desc="deleted"))
TEAM_BODY = {"name": string(minLength=1, maxLength=100), "description": {"type": ["string", "null"], "maxLength": 1000},
             "escalate_to": {"type": ["string", "null"], "format": "uuid"},
             "escalation_sla_secs": {"type": ["integer", "null"], "minimum": 1, "maximum": 31536000}}
add("/v1/teams", "get", op("Teams of agents (staff)", "desk", items(S("Team")), errors=(403, 503)))
add("/v1/teams", "post", op("Create a team (admins)", "desk", S("Team"), "201", body=obj(TEAM_BODY, ["name"]), errors=(400, 403, 409, 413, 415, 422, 503)))
add("/v1/teams/{id}", "patch", op("Change a team (admins); null clears a setting", "desk", S("Team"), params=[ID], body=obj(TEAM_BODY), errors=(400, 403, 404, 409, 413, 415, 422, 503)))
add("/v1/teams/{id}", "delete", op("Delete a team (admins); its sessions lose their team", "desk", None, "204", params=[ID], errors=(403, 404, 503), ok_desc="deleted"))
TM = [ID, pp("agent_id", string(), "an agent of the desk")]
add("/v1/teams/{id}/members/{agent_id}", "put", op("Put an agent in a team (admins; idempotent)", "desk", S("Team"), params=TM, errors=(400, 403, 404, 422, 503)))
add("/v1/teams/{id}/members/{agent_id}", "delete", op("Take an agent out of a team (admins; idempotent)", "desk", S("Team"), params=TM, errors=(400, 403, 404, 503)))
SCHEDULE = {"time_zone": string(maxLength=64, description="an IANA zone, e.g. Europe/Paris"),
            "weekly": {"type": "object", "description": "mon … sun → [{open, close}] local HH:MM (close up to 24:00), ordered, not overlapping; a day left out is closed",
                       "additionalProperties": {"type": "array", "maxItems": 8, "items": obj({"open": string(pattern="^[0-2][0-9]:[0-5][0-9]$"), "close": string(pattern="^[0-2][0-9]:[0-5][0-9]$")}, ["open", "close"])}},
            "holidays": {"type": "array", "items": {"type": "string", "format": "date"}, "maxItems": 366}}
HOURS = obj({"desk": {"oneOf": [obj(SCHEDULE, ["time_zone", "weekly"], extra=True), {"type": "null"}]},
             "teams": {"type": "array", "items": obj({"team_id": uuid, **SCHEDULE}, ["team_id", "time_zone", "weekly"], extra=True)}}, extra=True)
add("/v1/admin/business-hours", "get", op("The desk's and the teams' business hours (admins)", "desk", HOURS, errors=(403, 503)))
add("/v1/admin/business-hours", "put", op("Replace every schedule at once (admins); no desk schedule: always open", "desk", HOURS,
    body=obj({"desk": {"oneOf": [obj(SCHEDULE, ["time_zone", "weekly"]), {"type": "null"}]},
              "teams": {"type": "array", "items": obj({"team_id": uuid, **SCHEDULE}, ["team_id", "time_zone", "weekly"])}}),
    errors=(400, 403, 413, 415, 422, 503)))
add("/v1/support/availability", "get", op("Whether the desk (or a team) is open now, for the widget (any signed-in caller)", "support",
    obj({"team_id": {"type": ["string", "null"], "format": "uuid"}, "open": boolean, "within_hours": boolean, "agents_online": integer(),
         "time_zone": {"type": ["string", "null"]}, "next_open_at": {"type": ["string", "null"], "format": "date-time"},
         "expected_first_reply_secs": {"type": ["integer", "null"], "description": "the median first answer of recent sessions"},
         "ask_email": boolean}, ["open", "within_hours", "agents_online", "expected_first_reply_secs", "ask_email"], extra=True),
    params=[q("team_id", uuid)], errors=(400, 503)))

# presence
PRESENCE = obj({"user_id": string(), "role": enum("user", "agent", "admin"), "status": enum("online", "away", "busy", "offline"),
                "status_text": {"type": ["string", "null"], "maxLength": 100},
                "last_seen": {"type": ["string", "null"], "format": "date-time", "description": "when the last connection closed; null while online"}},
               ["user_id", "role", "status", "status_text", "last_seen"])
add("/v1/presence/me", "get", op("My presence", "realtime", PRESENCE, errors=(503,)))
add("/v1/presence/me", "patch", op("Set my status and/or custom status text (null clears it)", "realtime", PRESENCE,
    body=obj({"status": enum("online", "away", "busy"), "status_text": {"type": ["string", "null"], "minLength": 1, "maxLength": 100}}),
    errors=(400, 415, 429, 503)))
add("/v1/presence/{user_id}", "get", op("A user's presence: status, custom status text, last seen", "realtime", PRESENCE,
    params=[pp("user_id", string(minLength=1, maxLength=200))], errors=(400, 404, 503)))

# contacts and email
add("/v1/contacts/me", "get", op("Me as a contact: my email address and whether I get email notifications", "contacts", S("Contact"), errors=(503,)))
ATTRS = {"type": "object", "maxProperties": 50, "propertyNames": {"pattern": "^[A-Za-z0-9_.-]{1,50}$"},
         "additionalProperties": {"type": ["string", "number", "boolean", "null"], "maxLength": 500},
         "description": "merged into mine; null removes a key; at most 50 once merged (422 too_many_attributes)"}
add("/v1/contacts/me", "patch", op("Set my email address (null removes it), email notifications, name or custom attributes", "contacts", S("Contact"),
    body=obj({"email": {"type": ["string", "null"], "format": "email", "maxLength": 254}, "email_notifications": boolean,
              "name": string(minLength=1, maxLength=100), "attributes": ATTRS}),
    errors=(400, 413, 415, 422, 503)))
CONTEXT = obj({"page_url": string(maxLength=2000), "page_title": string(maxLength=300), "referrer": string(maxLength=2000),
               "locale": string(maxLength=35), "user_agent": string(maxLength=500)})
add("/v1/contacts/{user_id}", "get", op("A customer as staff see them: attributes, latest context, previous sessions (staff)", "contacts",
    obj({"id": string(), "role": string(), "name": {"type": ["string", "null"]}, "email": {"type": ["string", "null"]},
         "attributes": {"type": "object"}, "verified": boolean, "verified_at": {"type": ["string", "null"], "format": "date-time"},
         "context": {"type": ["object", "null"]}, "session_count": integer(),
         "sessions": {"type": "array", "items": {"type": "object"}}}, ["id", "attributes", "verified", "sessions"], extra=True),
    params=[pp("user_id", string(), "the user's id")], errors=(400, 403, 404, 503)))
add("/v1/widget/token", "post", op("The widget's verified sign-in: a host site's customer, by their user id and its HMAC-SHA256 under PGCHAT_IDENTITY_SECRET (no sign-in)", "contacts",
    obj({"token": string(), "sub": string(), "role": {"const": "user"}, "exp": integer(), "verified": {"const": True}}, ["token", "sub", "role", "exp", "verified"]),
    body=obj({"user_id": string(minLength=1, maxLength=200), "user_hash": string(pattern="^[0-9A-Fa-f]{64}$")}, ["user_id", "user_hash"]),
    errors=(400, 403, 413, 415, 422, 503), auth=False,
    desc="403 `invalid_user_hash`: not the HMAC of user_id under the site's secret; 403 `customers_only`: the id is an agent's or admin's; "
         "422 `identity_verification_off`: the server has no PGCHAT_IDENTITY_SECRET; 422 `widget_signin_unavailable`: no HS256 secret to sign with."))
UNSUB = [q("token", string(), "the signed token of the link in an email", required=True)]
UNSUB_OK = obj({"email_notifications": {"const": False}}, ["email_notifications"])
add("/v1/email/unsubscribe", "get", op("Stop email notifications: the link in every email (no sign-in)", "email", UNSUB_OK, params=UNSUB,
    errors=(400, 404, 503), auth=False, desc="400 `invalid_unsubscribe_token` for a token that is missing, altered or from another server."))
add("/v1/email/unsubscribe", "post", op("One-click unsubscribe (RFC 8058): what mail clients send", "email", UNSUB_OK, params=UNSUB,
    errors=(400, 404, 503), auth=False))
RANGE = [q("from", ts), q("to", ts)]
add("/v1/admin/stats", "get", op("The dashboard (admins)", "desk", S("Stats"), params=RANGE, errors=(400, 403, 503)))
add("/v1/admin/stats/agents/{id}", "get", op("One agent's figures (admins)", "desk", S("Stats"), params=AG + RANGE, errors=(400, 403, 404, 503)))
REPORT_ROW = obj({"key": {"type": ["string", "null"], "description": "the day or week (YYYY-MM-DD, UTC), agent id, team id or label"},
                  "name": {"type": ["string", "null"]}, "sessions_opened": integer(), "sessions_resolved": integer(),
                  "first_response_secs": obj({"median": {"type": ["number", "null"]}, "average": {"type": ["number", "null"]}}),
                  "resolution_secs": obj({"median": {"type": ["number", "null"]}, "average": {"type": ["number", "null"]}}),
                  "sla_breaches": integer(), "escalation_breaches": integer(), "ratings": integer(),
                  "rating_average": {"type": ["number", "null"]}}, extra=True)
add("/v1/admin/reports", "get", op("The desk's figures over a range by day, week, agent, team or label, as JSON or CSV (admins)", "desk",
    {"__raw__": {"description": "the report", "content": {
        "application/json": {"schema": obj({"from": ts, "to": ts, "group_by": string(), "rows": {"type": "array", "items": REPORT_ROW}}, extra=True)},
        "text/csv": {"schema": string(description="a header row, then a row per group; RFC 4180 quoting, CRLF")}}}},
    params=[q("from", ts, "default: 30 days before `to`"), q("to", ts, "default: now"),
            q("group_by", enum("day", "week", "agent", "team", "label"), "default: day"), q("format", enum("json", "csv"), "default: json")],
    errors=(400, 403, 503),
    desc="400 `invalid_group_by`, `invalid_format`, `invalid_range` (not RFC 3339, `from` not before `to`, or more than 366 days)."))
add("/v1/admin/users/{id}/erase", "post", op("Erase a user's data on request (admins); audited", "desk",
    obj({"messages": integer(), "attachments": integer(), "mode": enum("anonymize", "delete")}),
    params=[pp("id", string(), "the user's id")], body=obj({"messages": enum("anonymize", "delete")}), errors=(400, 403, 404, 413, 415, 503)))
add("/v1/admin/audit", "get", op("The audit trail of deletions, erasures and moderation, newest first (admins)", "desk",
    obj({"items": {"type": "array", "items": obj({"id": integer(), "at": ts, "actor": string(), "action": enum("session_deleted", "user_erased", "moderation_approved", "moderation_rejected", "moderation_lists_changed"),
                                                  "target": string(), "details": {"type": "object"}})}}),
    params=[limit], errors=(400, 403, 503)))

SECS = lambda: integer(minimum=0, maximum=31536000)
SETTINGS = obj({"assignment_mode": enum("manual", "round-robin", "least-loaded"), "sla_first_response_secs": integer(), "inactivity_timeout_secs": integer(),
                "reopen_window_secs": integer(), "escalation_sla_secs": integer(),
                "notifications_enabled": {"type": "boolean", "description": "a webhook is configured (the server's, read-only)"},
                "admin_set": {"type": "array", "items": string(), "description": "the settings set here; a server's start leaves them be"},
                "updated_at": ts}, extra=True, desc="the desk_settings row; columns added by later versions appear too")
add("/v1/admin/settings", "get", op("The desk settings (admins)", "desk", SETTINGS, errors=(403, 503)))
add("/v1/admin/settings", "patch", op("Change desk settings (admins); they outlive restarts", "desk", SETTINGS,
    body=obj({"assignment_mode": enum("manual", "round-robin", "least-loaded"), "sla_first_response_secs": SECS(), "inactivity_timeout_secs": SECS(),
              "reopen_window_secs": SECS(), "escalation_sla_secs": SECS(), "moderation": S("ModerationMode")}),
    errors=(400, 403, 413, 415, 503), desc="400 `invalid_body` for an unknown field, a null or a value out of range; 400 `nothing_to_change` for an empty object."))
TEMPLATE = obj({"kind": enum("reply", "assigned"), "subject": string(), "body": string(),
                "placeholders": {"type": "array", "items": string(), "description": "the {names} this kind of email fills"}, "updated_at": ts}, extra=True)
add("/v1/admin/email-templates", "get", op("The email templates, and whether email is on (admins)", "desk",
    obj({"email_enabled": boolean, "items": {"type": "array", "items": TEMPLATE}}, ["email_enabled", "items"], extra=True), errors=(403, 503)))
add("/v1/admin/email-templates/{kind}", "put", op("Replace an email template's subject and body (admins)", "desk", TEMPLATE,
    params=[pp("kind", enum("reply", "assigned"))],
    body=obj({"subject": string(minLength=1, maxLength=300, description="one line"), "body": string(minLength=1, maxLength=20000)}, ["subject", "body"]),
    errors=(400, 403, 404, 413, 415, 422, 503),
    desc="422 `unknown_placeholder` for a {name} this kind of email does not fill (`{{` and `}}` are literal braces); 404 for an unknown kind."))
add("/v1/admin/webhooks", "get", op("The webhook's status (admins): host, signing, outbox counts and latest notifications", "desk",
    obj({"configured": boolean, "host": {"type": ["string", "null"], "description": "host[:port] only: never the URL's path, query or credentials, nor the secret"},
         "signed": boolean,
         "outbox": obj({"pending": integer(), "failed": integer(), "delivered": integer(),
                        "recent": {"type": "array", "items": obj({"id": integer(), "status": enum("pending", "delivered", "dead"), "user_id": string(),
                                                                  "conversation_id": uuid, "message_id": {"type": ["string", "null"]}, "attempts": integer(),
                                                                  "last_status": {"type": ["integer", "null"]}, "last_error": {"type": ["string", "null"]},
                                                                  "created_at": ts, "next_attempt_at": {"type": ["string", "null"]},
                                                                  "delivered_at": {"type": ["string", "null"]}}, extra=True)}}, extra=True)},
        ["configured", "host", "signed", "outbox"], extra=True),
    params=[limit], errors=(400, 403, 503)))
# moderation
ENTRIES = {"type": "array", "maxItems": 500, "items": string(minLength=1, maxLength=200)}
add("/v1/admin/moderation", "get", op("The moderation word lists and patterns (admins)", "moderation", S("ModerationLists"), errors=(403, 503)))
add("/v1/admin/moderation", "put", op("Replace the word lists and patterns (admins; audited)", "moderation", S("ModerationLists"),
    body=obj({"words": ENTRIES, "patterns": {**ENTRIES, "description": "PostgreSQL regular expressions, matched ignoring case"}}),
    errors=(400, 403, 413, 415, 422, 503), desc="422 `invalid_pattern`: a pattern PostgreSQL cannot compile (nothing changes)."))
add("/v1/moderation/queue", "get", op("The review queue: items of the conversations the caller reviews, oldest first", "moderation",
    obj({"items": {"type": "array", "items": S("ModerationItem")}, "next_cursor": {"type": ["string", "null"]}}),
    params=[q("status", enum("pending", "approved", "rejected", "all")), limit, cursor], errors=(400, 503)))
for decision, what in (("approve", "Approve: a held message reaches everyone as a new message; a flag is cleared"),
                       ("reject", "Reject: a held message is never delivered; a flagged one is deleted")):
    o = op(what + " (audited)", "moderation", S("ModerationItem"), params=[pp("id", integer())],
           body=obj({"reason": string(minLength=1, maxLength=500)}), errors=(400, 404, 409, 413, 503))
    o["requestBody"]["required"] = False
    add(f"/v1/moderation/queue/{{id}}/{decision}", "post", o)

# attachments + ai
add("/v1/attachments", "post", op("Ask to upload a file into a conversation", "attachments", S("Attachment"), "201",
    body=obj({"conversation_id": uuid, "filename": string(minLength=1, maxLength=255), "size": integer(minimum=1), "mime_type": string()}, ["conversation_id", "filename", "size", "mime_type"]),
    errors=(400, 403, 404, 413, 415, 422, 503)))
DL = {"__raw__": {"description": "the bytes", "content": {"application/octet-stream": {"schema": string(format="binary")}}}}
add("/v1/attachments/{id}", "get", dict(op("Download: the bytes, or a redirect to a presigned URL", "attachments", DL, params=[ID], errors=(403, 404, 409, 503)),
    ))
P["/v1/attachments/{id}"]["get"]["responses"]["302"] = {"description": "redirect to a presigned URL", "headers": {"Location": {"schema": string()}}}
add("/v1/attachments/{id}/thumbnail", "get", op("An image's thumbnail", "attachments", DL, params=[ID], errors=(403, 404, 409, 503)))
P["/v1/attachments/{id}/thumbnail"]["get"]["responses"]["302"] = {"description": "redirect to a presigned URL", "headers": {"Location": {"schema": string()}}}
add("/v1/attachments/{id}/content", "put", op("Upload the bytes through the server (at most the declared size)", "attachments", S("Attachment"), params=[ID],
    body=string(format="binary"), content_type="application/octet-stream", errors=(400, 403, 404, 409, 413, 422, 503)))
add("/v1/attachments/{id}/complete", "post", op("Complete an upload made to the presigned URL", "attachments", S("Attachment"), params=[ID], errors=(403, 404, 409, 422, 503)))
add("/v1/ai/ask", "post", op("Ask the assistant", "ai", {"type": "object"},
    body=obj({"question": string(minLength=1), "conversation_id": uuid}, ["question"]), errors=(400, 403, 404, 413, 415, 422, 429, 503)))

# realtime
add("/v1/ws", "get", op("WebSocket upgrade (JSON text frames; docs/realtime.md)", "realtime", None, "101",
    params=[q("token", string(), "the JWT, for browsers that cannot set headers")], errors=(400, 429), ok_desc="Switching Protocols"))
add("/v1/events", "get", op("Server-Sent Events of one topic", "realtime",
    {"__raw__": {"description": "an event stream; each data is a WebSocket frame; the server ends it after `unsubscribed` or with a last `closed` event (token expired, too slow, restarting)",
                 "content": {"text/event-stream": {"schema": string()}}}},
    params=[q("topic", string(), required=True), q("since", integer(minimum=0)), q("token", string())], errors=(400, 403, 404, 429, 503)))

# web
HTML = {"__raw__": {"description": "HTML", "content": {"text/html": {"schema": string()}}}}
for path, summary in [("/", "The index page"), ("/desk", "The agent desk"), ("/chat", "The chat page")]:
    add(path, "get", op(summary, "web", HTML, errors=(), auth=False))
add("/dev", "get", op("The development sign-in page (PGCHAT_DEV=1 only)", "dev", HTML, errors=(404,), auth=False))
JS = {"__raw__": {"description": "a static asset", "content": {"*/*": {"schema": string()}}}}
add("/widget.js", "get", op("The customer widget", "web", JS, errors=(), auth=False))
add("/favicon.ico", "get", op("The pages' icon (an SVG)", "web", JS, errors=(), auth=False))
add("/client/{file}", "get", op("The JS client library's files", "web", JS, params=[pp("file", string())], errors=(404,), auth=False))
add("/assets/{file}", "get", op("The pages' assets", "web", JS, params=[pp("file", string())], errors=(404,), auth=False))
add("/v1/dev/token", "post", op("Mint a token for any user (PGCHAT_DEV=1 only)", "dev", obj({"token": string(), "sub": string(), "role": string(), "name": {"type": ["string", "null"]}, "exp": integer()}, extra=True),
    body=obj({"sub": string(minLength=1, maxLength=200), "role": enum("user", "agent", "admin"), "name": string(), "email": string(), "ttl_secs": integer(minimum=10, maximum=604800)}, ["sub"]),
    errors=(400, 404, 413, 415, 422), auth=False))

doc = {
    "openapi": "3.1.0",
    "info": {"title": "pgchat REST API", "version": "0.1.0",
             "description": "Realtime chat and support-desk backend on PostgreSQL. Every error is `{\"error\": {\"code\", \"message\"}}`; "
                            "404 also means \"not visible to you\". The WebSocket protocol is in docs/realtime.md; the prose reference in docs/api.md. "
                            "A test (tests/api/operations.rs) fails when a served route is missing here."},
    "servers": [{"url": "http://localhost:8080"}],
    "security": [{"bearer": []}],
    "tags": [{"name": k, "description": v} for k, v in TAG_DESC.items()],
    "paths": dict(sorted(P.items())),
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                                       "description": "HS256 with PGCHAT_JWT_SECRET (or RS256/ES256 with PGCHAT_JWT_PUBLIC_KEY); claims sub, role, exp. WebSocket, SSE and poll also take ?token="}},
        "responses": {"Error": {"description": "An error", "headers": {"Retry-After": {"description": "on 429 and 503", "schema": integer()}},
                                "content": {"application/json": {"schema": S("Error")}}}},
        "schemas": schemas,
    },
}
open(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'docs', 'openapi.json'), 'w').write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
print(sum(len(v) for v in P.values()), "operations")
