//! Values that parse: once a request field becomes one of these, it is valid.
//! Request structs deserialize straight into them (`#[serde(try_from)]`), so an
//! invalid value is a 400 naming the field before any SQL runs. The one tree of
//! them: messages, sessions, rooms and limits here, the desk's in [`desk`].

pub mod contact;
pub mod desk;
pub mod email;
pub mod hours;
pub mod moderation;
pub mod poll;
pub mod settings;

use serde::{Deserialize, Serialize};

/// Longest message body, in characters.
pub const MAX_BODY_CHARS: usize = 5000;

fn clean_text(field: &str, value: &str, max: usize) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err(format!("{field} must not be empty"));
    }
    if value.chars().count() > max {
        return Err(format!("{field} is longer than {max} characters"));
    }
    if value.contains('\0') {
        return Err(format!("{field} must not contain NUL characters"));
    }
    Ok(())
}

/// A message body: 1 to 5000 characters, not only whitespace.
///
/// ```
/// use pgchat::domain::MessageBody;
///
/// assert!(MessageBody::try_from("Hello".to_owned()).is_ok());
/// assert!(MessageBody::try_from("   ".to_owned()).is_err());
/// assert!(MessageBody::try_from("x".repeat(5001)).is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MessageBody(String);

impl MessageBody {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for MessageBody {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        clean_text("body", &value, MAX_BODY_CHARS)?;
        Ok(Self(value))
    }
}

impl From<MessageBody> for String {
    fn from(value: MessageBody) -> Self {
        value.0
    }
}

/// A support session's subject: 1 to 200 characters.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Subject(String);

impl Subject {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Subject {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        clean_text("subject", &value, 200)?;
        Ok(Self(value.trim().to_owned()))
    }
}

/// Free-text feedback with a rating: up to 2000 characters (may be empty).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Feedback(String);

impl Feedback {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Feedback {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        if value.chars().count() > 2000 || value.contains('\0') {
            return Err("feedback must be at most 2000 characters, without NUL".into());
        }
        Ok(Self(value))
    }
}

/// A rating from 1 to 5.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "i64")]
pub struct Rating(i16);

impl Rating {
    pub fn value(self) -> i16 {
        self.0
    }
}

impl TryFrom<i64> for Rating {
    type Error = String;
    fn try_from(value: i64) -> Result<Self, Self::Error> {
        match value {
            1..=5 => Ok(Self(value as i16)),
            _ => Err("rating must be an integer from 1 to 5".into()),
        }
    }
}

/// Declares a closed set of lowercase words stored as text in PostgreSQL.
macro_rules! word_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$attr:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$attr])* $variant),+ }

        impl $name {
            /// Every value, in declaration order (the web clients' lists: `web_lists`).
            pub const ALL: &'static [&'static str] = &[$($text),+];

            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    _ => Err(format!(concat!("unknown ", stringify!($name), " `{}` (one of: ", $($text, " ",)+ ")"), s)),
                }
            }
        }
    };
}

word_enum!(
    /// What the content filter does with a matching message (a room's
    /// `settings.moderation`, the desk's `desk_settings.moderation`; the rest
    /// of moderation's values are in [`moderation`]).
    #[derive(Default)]
    ModerationMode { #[default] Off => "off", Flag => "flag", Hold => "hold", Reject => "reject" }
);
word_enum!(
    /// What a support session is about.
    #[derive(Default)]
    Category { #[default] Other => "other", Payment => "payment", Shipping => "shipping", Account => "account", Returns => "returns", Technical => "technical" }
);
word_enum!(
    /// How urgent a support session is; the queue drains urgent first.
    #[derive(Default)]
    Priority { Low => "low", #[default] Medium => "medium", High => "high", Urgent => "urgent" }
);
word_enum!(
    /// A support session's status: a live chat and a ticket (the transitions:
    /// sql/40_guards.sql). `ended` is a live chat that ended; `closed` a ticket
    /// closed for good; `resolved` reopens when the customer writes.
    SessionStatus {
        Waiting => "waiting", Active => "active", Pending => "pending", Snoozed => "snoozed",
        Resolved => "resolved", Closed => "closed", Ended => "ended"
    }
);

impl SessionStatus {
    /// Over for now (resolved) or for good (closed, ended): rated, not assigned.
    pub fn is_over(self) -> bool {
        matches!(self, Self::Resolved | Self::Closed | Self::Ended)
    }
}

/// A list filter on the status: one status, or one of the four ticket states
/// other systems use — OPEN (waiting), IN_PROGRESS (active, pending, snoozed),
/// RESOLVED, CLOSED (closed, ended).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct StatusFilter(Vec<SessionStatus>);

impl StatusFilter {
    pub fn statuses(&self) -> Vec<&'static str> {
        self.0.iter().map(|s| s.as_str()).collect()
    }
}

impl TryFrom<String> for StatusFilter {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        use SessionStatus::*;
        Ok(Self(match value.as_str() {
            "OPEN" => vec![Waiting],
            "IN_PROGRESS" => vec![Active, Pending, Snoozed],
            "RESOLVED" => vec![Resolved],
            "CLOSED" => vec![Closed, Ended],
            one => vec![one
                .parse::<SessionStatus>()
                .map_err(|e| format!("{e}, or OPEN, IN_PROGRESS, RESOLVED, CLOSED"))?],
        }))
    }
}

/// A ticket's description: up to 5000 characters.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct SessionDescription(String);

impl SessionDescription {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SessionDescription {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        if value.chars().count() > 5000 {
            return Err("description is at most 5000 characters".into());
        }
        Ok(Self(value))
    }
}
word_enum!(
    /// Kinds a client may send; `system` and `ai_response` are written by the server only.
    #[derive(Default)]
    MessageKind { #[default] Text => "text", Image => "image", File => "file", Audio => "audio", Video => "video", Poll => "poll" }
);

/// The word lists the web clients show, by the name they import them as
/// (`/client/vocabulary.js`, generated from these types): the one definition.
pub fn web_lists() -> Vec<(&'static str, &'static [&'static str])> {
    vec![
        ("CATEGORIES", Category::ALL),
        ("PRIORITIES", Priority::ALL),
        ("SESSION_STATUSES", SessionStatus::ALL),
        ("MESSAGE_KINDS", MessageKind::ALL),
        ("ROOM_TYPES", RoomType::ALL),
        ("MEMBER_ROLES", MemberRole::ALL),
        ("MODERATOR_ROLES", MemberRole::MODERATORS),
        ("AGENT_STATUSES", desk::AgentStatus::ALL),
        ("PRESENCE_STATUSES", desk::PresenceStatus::ALL),
    ]
}

/// A page size: 1 to 100, default 50.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "i64")]
pub struct Limit(i64);

impl Limit {
    pub const DEFAULT: i64 = 50;
    pub const MAX: i64 = 100;

    pub fn get(self) -> i64 {
        self.0
    }
}

impl Default for Limit {
    fn default() -> Self {
        Self(Self::DEFAULT)
    }
}

impl TryFrom<i64> for Limit {
    type Error = String;
    fn try_from(n: i64) -> Result<Self, Self::Error> {
        match n {
            1..=Self::MAX => Ok(Self(n)),
            n => Err(format!(
                "limit must be between 1 and {}, got {n}",
                Self::MAX
            )),
        }
    }
}

/// A position in a conversation's changes to resume after (`since`, a
/// `change_seq`): 0 or more, on every transport.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "i64")]
pub struct Since(i64);

impl Since {
    /// A cursor the server handed out (never negative).
    pub fn cursor(change_seq: i64) -> Self {
        Self(change_seq.max(0))
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl TryFrom<i64> for Since {
    type Error = String;
    fn try_from(n: i64) -> Result<Self, Self::Error> {
        if n < 0 {
            return Err(format!("since is a change_seq, 0 or more; got {n}"));
        }
        Ok(Self(n))
    }
}

impl std::str::FromStr for Since {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let n: i64 = text
            .trim()
            .parse()
            .map_err(|_| format!("since is a change_seq, 0 or more; got `{text}`"))?;
        Self::try_from(n)
    }
}

/// The error code of a request field that did not parse: the fields every
/// transport shares keep their own code, the rest are `fallback`.
pub fn invalid_field_code(field: &str, fallback: &'static str) -> &'static str {
    match field {
        "limit" => "invalid_limit",
        "since" => "invalid_since",
        _ => fallback,
    }
}

// ── direct conversations, rooms and message features ──────────────────────

/// A user id (a JWT `sub`): 1 to 200 characters, no control characters.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct UserId(String);

impl UserId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for UserId {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        if value.is_empty() || value.chars().count() > 200 || value.chars().any(char::is_control) {
            return Err("user_id must be 1 to 200 characters without control characters".into());
        }
        Ok(Self(value))
    }
}

/// A room's name: 1 to 100 characters (trimmed), not blank.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct RoomName(String);

impl RoomName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RoomName {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        clean_text("name", &value, 100)?;
        Ok(Self(value.trim().to_owned()))
    }
}

/// A room's description: up to 1000 characters (may be empty).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Description(String);

impl Description {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Description {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        if value.chars().count() > 1000 || value.contains('\0') {
            return Err("description must be at most 1000 characters, without NUL".into());
        }
        Ok(Self(value))
    }
}

/// A reaction: one emoji (or a short code such as `:tada:`), 1 to 32
/// characters, no whitespace, control characters or `/`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Emoji(String);

impl Emoji {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Emoji {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        let bad = |c: char| c.is_whitespace() || c.is_control() || c == '/';
        if value.is_empty() || value.chars().count() > 32 || value.chars().any(bad) {
            return Err(
                "a reaction is 1 to 32 characters without whitespace, control characters or /"
                    .into(),
            );
        }
        Ok(Self(value))
    }
}

/// Longest custom status text, in characters.
pub const MAX_STATUS_TEXT_CHARS: usize = 100;

/// A custom presence status ("In a meeting until 3"): 1 to 100 characters,
/// not blank, no control characters; kept trimmed.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct StatusText(String);

impl StatusText {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for StatusText {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        clean_text("status_text", &value, MAX_STATUS_TEXT_CHARS)?;
        if value.chars().any(char::is_control) {
            return Err("status_text must not contain control characters".into());
        }
        Ok(Self(value.trim().to_owned()))
    }
}

/// Messages named by id in one request (mark read by ids): 1 to 100 of them.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Vec<uuid::Uuid>")]
pub struct MessageIds(Vec<uuid::Uuid>);

impl MessageIds {
    pub const MAX: usize = 100;

    pub fn ids(&self) -> &[uuid::Uuid] {
        &self.0
    }
}

impl TryFrom<Vec<uuid::Uuid>> for MessageIds {
    type Error = String;
    fn try_from(ids: Vec<uuid::Uuid>) -> Result<Self, Self::Error> {
        if ids.is_empty() || ids.len() > Self::MAX {
            return Err(format!("message_ids names 1 to {} messages", Self::MAX));
        }
        Ok(Self(ids))
    }
}

/// A full-text search query: 1 to 200 characters, not blank.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct SearchQuery(String);

impl SearchQuery {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SearchQuery {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        clean_text("q", &value, 200)?;
        Ok(Self(value.trim().to_owned()))
    }
}

word_enum!(
    /// The kinds of room: public (anyone finds and joins), private (by
    /// invitation), group (2–50 people, by invitation), announcement (anyone
    /// joins; only owners and admins post).
    RoomType { Public => "public", Private => "private", Group => "group", Announcement => "announcement" }
);
word_enum!(
    /// Every kind of conversation.
    ConversationKind { Support => "support", Direct => "direct", Group => "group", Public => "public", Private => "private", Announcement => "announcement" }
);
word_enum!(
    /// A member's role in a room, highest first.
    MemberRole { Owner => "owner", Admin => "admin", Moderator => "moderator", Member => "member" }
);

impl MemberRole {
    /// The roles that moderate a room (rank of `moderator` and up): what the
    /// web clients offer moderators (`MODERATOR_ROLES`).
    pub const MODERATORS: &'static [&'static str] = &["owner", "admin", "moderator"];

    /// owner 4, admin 3, moderator 2, member 1 (as `pgchat.role_rank`).
    pub fn rank(self) -> i32 {
        match self {
            Self::Owner => 4,
            Self::Admin => 3,
            Self::Moderator => 2,
            Self::Member => 1,
        }
    }
}

/// The most members a group may have.
pub const MAX_GROUP_MEMBERS: u32 = 50;

/// A room's member limit: 2 to 100000.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "i64")]
pub struct MaxMembers(u32);

impl MaxMembers {
    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<i64> for MaxMembers {
    type Error = String;
    fn try_from(value: i64) -> Result<Self, Self::Error> {
        match value {
            2..=100_000 => Ok(Self(value as u32)),
            _ => Err("max_members must be an integer from 2 to 100000".into()),
        }
    }
}

/// The largest upload a room takes, in bytes: 1 to 100 MiB (the database's
/// check on room settings says the same).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "i64")]
pub struct MaxUploadBytes(i64);

impl TryFrom<i64> for MaxUploadBytes {
    type Error = String;
    fn try_from(value: i64) -> Result<Self, Self::Error> {
        match value {
            1..=104_857_600 => Ok(Self(value)),
            _ => Err("max_upload_bytes must be an integer from 1 to 104857600 (100 MiB)".into()),
        }
    }
}

/// The file types a room takes: 1 to 50 types such as `image/png`, or
/// `image/*` for every subtype; lowercase, each once (the database's check on
/// room settings says the same).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Vec<String>")]
pub struct AllowedMimeTypes(Vec<String>);

impl AllowedMimeTypes {
    fn valid(t: &str) -> bool {
        let part = |p: &str, max: usize| {
            !p.is_empty()
                && p.len() <= max
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b))
        };
        match t.split_once('/') {
            Some((kind, "*")) => part(kind, 60),
            Some((kind, sub)) => part(kind, 60) && part(sub, 100),
            None => false,
        }
    }
}

impl TryFrom<Vec<String>> for AllowedMimeTypes {
    type Error = String;
    fn try_from(values: Vec<String>) -> Result<Self, Self::Error> {
        let mut types: Vec<String> = Vec::with_capacity(values.len());
        for value in values {
            let t = value.trim().to_ascii_lowercase();
            if !Self::valid(&t) {
                return Err(format!(
                    "allowed_mime_types: {value:?} is not a type such as image/png or image/*"
                ));
            }
            if !types.contains(&t) {
                types.push(t);
            }
        }
        match types.len() {
            1..=50 => Ok(Self(types)),
            _ => Err("allowed_mime_types takes 1 to 50 types (null: any type)".into()),
        }
    }
}

/// How long a room keeps messages: 1 to 3650 days.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "i64")]
pub struct RetentionDays(u32);

impl TryFrom<i64> for RetentionDays {
    type Error = String;
    fn try_from(value: i64) -> Result<Self, Self::Error> {
        match value {
            1..=3650 => Ok(Self(value as u32)),
            _ => Err("retention_days must be an integer from 1 to 3650".into()),
        }
    }
}

/// How long a moderator silences a member: 1 minute to 1 year.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "i64")]
pub struct SilenceMinutes(i32);

impl SilenceMinutes {
    pub fn get(self) -> i32 {
        self.0
    }
}

impl TryFrom<i64> for SilenceMinutes {
    type Error = String;
    fn try_from(value: i64) -> Result<Self, Self::Error> {
        match value {
            1..=525_600 => Ok(Self(value as i32)),
            _ => Err("silenced_minutes must be an integer from 1 to 525600".into()),
        }
    }
}

/// `null` as `Some(None)`, absent as `None` (with `#[serde(default)]`).
pub fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Room settings as a client sends them: every field optional (absent: keep,
/// or the default for a new room); `null` clears a nullable one (`max_members`,
/// `retention_days`, `max_upload_bytes`, the images, `allowed_mime_types`).
/// A new setting is a field here, a key in `to_patch`, and its check in the
/// database (`pgchat.room_settings_valid`, replaced by a migration).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomSettings {
    pub allow_invites: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    pub max_members: Option<Option<MaxMembers>>,
    pub allow_file_uploads: Option<bool>,
    pub enable_ai: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    pub retention_days: Option<Option<RetentionDays>>,
    pub anonymous_posting: Option<bool>,
    /// `null`: the server's default (`PGCHAT_MAX_UPLOAD_BYTES`).
    #[serde(default, deserialize_with = "nullable")]
    pub max_upload_bytes: Option<Option<MaxUploadBytes>>,
    /// The room's avatar and banner: the setter's own completed image upload.
    #[serde(default, deserialize_with = "nullable")]
    pub avatar_attachment_id: Option<Option<uuid::Uuid>>,
    #[serde(default, deserialize_with = "nullable")]
    pub banner_attachment_id: Option<Option<uuid::Uuid>>,
    /// Joining by oneself becomes a request that a moderator approves.
    pub require_approval: Option<bool>,
    /// `null`: every type the server takes.
    #[serde(default, deserialize_with = "nullable")]
    pub allowed_mime_types: Option<Option<AllowedMimeTypes>>,
    /// Translate each new message into the members' languages (needs
    /// `enable_ai`; the database refuses one without the other).
    pub auto_translate: Option<bool>,
    /// The content filter's mode in this room: a column of its own
    /// (`conversations.moderation`), not part of [`RoomSettings::to_patch`].
    pub moderation: Option<ModerationMode>,
}

impl RoomSettings {
    /// The JSON merged into the stored settings (`null`: remove the key).
    pub fn to_patch(&self) -> serde_json::Value {
        let mut patch = serde_json::Map::new();
        let mut put = |key: &str, value: serde_json::Value| {
            patch.insert(key.to_owned(), value);
        };
        if let Some(v) = self.allow_invites {
            put("allow_invites", v.into());
        }
        if let Some(v) = self.max_members {
            put("max_members", v.map(|m| m.0).into());
        }
        if let Some(v) = self.allow_file_uploads {
            put("allow_file_uploads", v.into());
        }
        if let Some(v) = self.enable_ai {
            put("enable_ai", v.into());
        }
        if let Some(v) = self.retention_days {
            put("retention_days", v.map(|d| d.0).into());
        }
        if let Some(v) = self.anonymous_posting {
            put("anonymous_posting", v.into());
        }
        if let Some(v) = self.max_upload_bytes {
            put("max_upload_bytes", v.map(|b| b.0).into());
        }
        if let Some(v) = self.avatar_attachment_id {
            put("avatar_attachment_id", v.map(|id| id.to_string()).into());
        }
        if let Some(v) = self.banner_attachment_id {
            put("banner_attachment_id", v.map(|id| id.to_string()).into());
        }
        if let Some(v) = self.require_approval {
            put("require_approval", v.into());
        }
        if let Some(v) = &self.allowed_mime_types {
            put("allowed_mime_types", v.as_ref().map(|t| t.0.clone()).into());
        }
        if let Some(v) = self.auto_translate {
            put("auto_translate", v.into());
        }
        serde_json::Value::Object(patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_text_is_short_and_printable() {
        let text = StatusText::try_from("  In a meeting ".to_owned()).unwrap();
        assert_eq!(text.as_str(), "In a meeting");
        assert!(StatusText::try_from("é".repeat(100)).is_ok());
        assert!(StatusText::try_from("é".repeat(101)).is_err());
        assert!(StatusText::try_from("  ".to_owned()).is_err());
        assert!(StatusText::try_from("a\u{7}b".to_owned()).is_err());
    }

    #[test]
    fn message_ids_name_one_to_a_hundred() {
        assert!(MessageIds::try_from(vec![]).is_err());
        assert!(MessageIds::try_from(vec![uuid::Uuid::nil(); 100]).is_ok());
        assert!(MessageIds::try_from(vec![uuid::Uuid::nil(); 101]).is_err());
    }

    #[test]
    fn a_body_must_have_content_and_fit() {
        assert!(MessageBody::try_from("hi".to_owned()).is_ok());
        assert!(MessageBody::try_from("x".repeat(5000)).is_ok());
        assert!(
            MessageBody::try_from("é".repeat(5000)).is_ok(),
            "characters, not bytes"
        );
        for bad in ["", "  \n\t ", "a\0b"] {
            assert!(MessageBody::try_from(bad.to_owned()).is_err(), "{bad:?}");
        }
        assert!(MessageBody::try_from("x".repeat(5001)).is_err());
    }

    #[test]
    fn limits_and_ratings_are_bounded() {
        assert_eq!(Limit::default().get(), 50);
        assert_eq!(Limit::try_from(100).unwrap().get(), 100);
        assert!(Limit::try_from(0).is_err());
        assert!(Limit::try_from(101).is_err());
        assert_eq!("7".parse::<Since>().unwrap().get(), 7);
        assert!("-1".parse::<Since>().is_err());
        assert!(Since::try_from(-1).is_err());
        assert!(Rating::try_from(0).is_err());
        assert!(Rating::try_from(6).is_err());
        assert_eq!(Rating::try_from(5).unwrap().value(), 5);
    }

    #[test]
    fn words_default_to_the_documented_values() {
        assert_eq!(Category::default(), Category::Other);
        assert_eq!(Priority::default(), Priority::Medium);
        assert_eq!(MessageKind::default(), MessageKind::Text);
    }

    #[test]
    fn words_parse_from_their_text() {
        assert_eq!("urgent".parse::<Priority>().unwrap(), Priority::Urgent);
        assert!("URGENT".parse::<Priority>().is_err());
        assert_eq!(Category::Returns.as_str(), "returns");
    }

    #[test]
    fn room_values_parse() {
        assert!(UserId::try_from("bob".to_owned()).is_ok());
        assert!(UserId::try_from(String::new()).is_err());
        assert!(UserId::try_from("a\nb".to_owned()).is_err());
        assert_eq!(
            RoomName::try_from("  Lobby ".to_owned()).unwrap().as_str(),
            "Lobby"
        );
        assert!(RoomName::try_from("   ".to_owned()).is_err());
        assert!(RoomName::try_from("x".repeat(101)).is_err());
        assert!(Emoji::try_from("👍".to_owned()).is_ok());
        assert!(Emoji::try_from("👨‍👩‍👧‍👦".to_owned()).is_ok(), "a ZWJ sequence");
        for bad in ["", "a b", "x/y", "\t"] {
            assert!(Emoji::try_from(bad.to_owned()).is_err(), "{bad:?}");
        }
        assert!(SearchQuery::try_from(" ".to_owned()).is_err());
        assert!(MaxMembers::try_from(1).is_err());
        assert!(RetentionDays::try_from(0).is_err());
        assert!(SilenceMinutes::try_from(525_601).is_err());
        assert!(MemberRole::Owner.rank() > MemberRole::Admin.rank());
        let moderators: Vec<&str> = MemberRole::ALL
            .iter()
            .filter(|r| r.parse::<MemberRole>().unwrap().rank() >= MemberRole::Moderator.rank())
            .copied()
            .collect();
        assert_eq!(moderators, MemberRole::MODERATORS);
    }

    #[test]
    fn room_settings_tell_absent_from_null() {
        let s: RoomSettings = serde_json::from_str(
            r#"{"retention_days": null, "max_members": 10, "enable_ai": true}"#,
        )
        .unwrap();
        assert_eq!(
            s.to_patch(),
            serde_json::json!({"retention_days": null, "max_members": 10, "enable_ai": true})
        );
        assert_eq!(RoomSettings::default().to_patch(), serde_json::json!({}));
        assert!(serde_json::from_str::<RoomSettings>(r#"{"colour": "red"}"#).is_err());
        assert!(serde_json::from_str::<RoomSettings>(r#"{"max_members": 1}"#).is_err());
    }

    #[test]
    fn room_profile_settings_parse() {
        let s: RoomSettings = serde_json::from_str(
            r#"{"allowed_mime_types": ["image/*", " IMAGE/PNG", "image/png"],
                "avatar_attachment_id": "6f1c2b1e-8f0a-4c3e-9d2a-0b1c2d3e4f50",
                "banner_attachment_id": null, "require_approval": true}"#,
        )
        .unwrap();
        assert_eq!(
            s.to_patch(),
            serde_json::json!({"allowed_mime_types": ["image/*", "image/png"],
                               "avatar_attachment_id": "6f1c2b1e-8f0a-4c3e-9d2a-0b1c2d3e4f50",
                               "banner_attachment_id": null, "require_approval": true})
        );
        for bad in [
            r#"{"allowed_mime_types": []}"#,
            r#"{"allowed_mime_types": ["png"]}"#,
            r#"{"allowed_mime_types": ["*/*"]}"#,
            r#"{"allowed_mime_types": ["image/p g"]}"#,
            r#"{"avatar_attachment_id": "not-a-uuid"}"#,
            r#"{"require_approval": "yes"}"#,
        ] {
            assert!(serde_json::from_str::<RoomSettings>(bad).is_err(), "{bad}");
        }
        let many: Vec<String> = (0..51).map(|i| format!("application/x-{i}")).collect();
        assert!(AllowedMimeTypes::try_from(many).is_err());
    }
}
