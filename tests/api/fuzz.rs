//! Property tests (a bounded fuzz run on every `cargo test`): the WebSocket
//! frame parser never panics and reads back every well-formed frame it is
//! given; the domain values that guard REST input accept exactly their valid
//! set and never panic. `PROPTEST_CASES=200000 cargo test --test api fuzz`
//! runs longer (RELIABILITY.md).

use proptest::prelude::*;
use serde_json::{json, Value};
use uuid::Uuid;

use pgchat::domain::desk::{CannedBody, CannedTitle, Capacity, Shortcut};
use pgchat::domain::{
    Description, Emoji, Feedback, Limit, MaxMembers, MessageBody, RetentionDays, RoomName,
    SearchQuery, SilenceMinutes, Subject, UserId,
};
use pgchat::realtime::protocol::{self, Command};

/// Characters that sit on the validators' edges, and any character at all.
fn edge_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => any::<char>(),
        2 => Just('a'),
        1 => Just(' '),
        1 => Just('\t'),
        1 => Just('\n'),
        1 => Just('\0'),
        1 => Just('\u{3000}'),
        1 => Just('é'),
        1 => Just('😀'),
        1 => Just('/'),
        1 => Just('-'),
        1 => Just('\u{1b}'),
    ]
}

/// Strings whose length (in characters) clusters around 0 and `max`: a few
/// random characters, a run of one character, a few more (cheap to make and to
/// shrink, unlike thousands of independent characters).
fn text_around(max: usize) -> impl Strategy<Value = String> {
    let run = prop_oneof![
        Just(0),
        Just(max.saturating_sub(8)),
        max.saturating_sub(12)..=max + 4,
        0..=max + 4,
    ];
    (
        proptest::collection::vec(edge_char(), 0..=8),
        edge_char(),
        run,
        proptest::collection::vec(edge_char(), 0..=4),
    )
        .prop_map(|(head, fill, n, tail)| {
            let mut s: String = head.into_iter().collect();
            s.extend(std::iter::repeat_n(fill, n));
            s.extend(tail);
            s
        })
}

/// The rule of `clean_text` in src/domain.rs, stated again independently.
fn clean(s: &str, max: usize) -> bool {
    !s.trim().is_empty() && s.chars().count() <= max && !s.contains('\0')
}

fn any_ref() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        any::<i64>().prop_map(|n| Some(json!(n))),
        "[ -~]{0,128}".prop_map(|s| Some(json!(s))),
    ]
}

/// A well-formed client frame: the JSON, and what parsing it must give.
#[derive(Clone, Debug)]
enum Frame {
    Subscribe(String, Option<i64>),
    Unsubscribe(String),
    Send {
        conversation: Uuid,
        client: Uuid,
        body: String,
        kind: Option<&'static str>,
        reply_to: Option<Uuid>,
        internal: Option<bool>,
    },
    TypingStart(Uuid),
    TypingStop(Uuid),
    MarkRead(Uuid, i64),
    SetPresence(&'static str),
    AccessToken(String),
    Ping,
}

fn uuid() -> impl Strategy<Value = Uuid> {
    any::<u128>().prop_map(Uuid::from_u128)
}

fn frame() -> impl Strategy<Value = Frame> {
    let body = text_around(50).prop_filter("a valid body", |s| clean(s, 5000));
    prop_oneof![
        (".{0,80}", proptest::option::of(0..i64::MAX)).prop_map(|(t, s)| Frame::Subscribe(t, s)),
        ".{0,80}".prop_map(Frame::Unsubscribe),
        (
            uuid(),
            uuid(),
            body,
            proptest::option::of(prop_oneof![
                Just("text"),
                Just("image"),
                Just("file"),
                Just("audio"),
                Just("video")
            ]),
            proptest::option::of(uuid()),
            proptest::option::of(any::<bool>()),
        )
            .prop_map(|(conversation, client, body, kind, reply_to, internal)| {
                Frame::Send {
                    conversation,
                    client,
                    body,
                    kind,
                    reply_to,
                    internal,
                }
            }),
        uuid().prop_map(Frame::TypingStart),
        uuid().prop_map(Frame::TypingStop),
        (uuid(), any::<i64>()).prop_map(|(c, s)| Frame::MarkRead(c, s)),
        prop_oneof![Just("online"), Just("away"), Just("busy")].prop_map(Frame::SetPresence),
        ".{0,300}".prop_map(Frame::AccessToken),
        Just(Frame::Ping),
    ]
}

impl Frame {
    fn to_json(&self) -> Value {
        match self {
            Frame::Subscribe(topic, since) => {
                let mut v = json!({ "type": "subscribe", "topic": topic });
                if let Some(since) = since {
                    v["since"] = json!(since);
                }
                v
            }
            Frame::Unsubscribe(topic) => json!({ "type": "unsubscribe", "topic": topic }),
            Frame::Send {
                conversation,
                client,
                body,
                kind,
                reply_to,
                internal,
            } => {
                let mut v = json!({ "type": "send_message", "conversation_id": conversation, "client_msg_id": client, "body": body });
                if let Some(kind) = kind {
                    v["kind"] = json!(kind);
                }
                if let Some(reply_to) = reply_to {
                    v["reply_to"] = json!(reply_to);
                }
                if let Some(internal) = internal {
                    v["internal"] = json!(internal);
                }
                v
            }
            Frame::TypingStart(c) => json!({ "type": "typing_start", "conversation_id": c }),
            Frame::TypingStop(c) => json!({ "type": "typing_stop", "conversation_id": c }),
            Frame::MarkRead(c, seq) => {
                json!({ "type": "mark_read", "conversation_id": c, "seq": seq })
            }
            Frame::SetPresence(status) => json!({ "type": "set_presence", "status": status }),
            Frame::AccessToken(token) => json!({ "type": "access_token", "token": token }),
            Frame::Ping => json!({ "type": "ping" }),
        }
    }

    /// Whether `command` is what this frame says.
    fn matches(&self, command: &Command) -> bool {
        match (self, command) {
            (Frame::Subscribe(t, s), Command::Subscribe { topic, since }) => {
                t == topic && *s == since.map(|since| since.get())
            }
            (Frame::Unsubscribe(t), Command::Unsubscribe { topic }) => t == topic,
            (
                Frame::Send {
                    conversation,
                    client,
                    body,
                    kind,
                    reply_to,
                    internal,
                },
                Command::SendMessage {
                    conversation_id,
                    client_msg_id,
                    body: parsed,
                    kind: parsed_kind,
                    reply_to: parsed_reply,
                    internal: parsed_internal,
                    attachment_id,
                    poll,
                },
            ) => {
                conversation == conversation_id
                    && client == client_msg_id
                    && parsed.as_ref().map(|b| b.as_str()) == Some(body)
                    && kind.unwrap_or("text") == parsed_kind.as_str()
                    && reply_to == parsed_reply
                    && internal.unwrap_or(false) == *parsed_internal
                    && attachment_id.is_none()
                    && poll.is_none()
            }
            (
                Frame::TypingStart(c),
                Command::TypingStart {
                    conversation_id,
                    internal,
                },
            ) => c == conversation_id && !internal,
            (Frame::TypingStop(c), Command::TypingStop { conversation_id }) => c == conversation_id,
            (
                Frame::MarkRead(c, s),
                Command::MarkRead {
                    conversation_id,
                    seq,
                    message_ids: None,
                },
            ) => c == conversation_id && Some(s) == seq.as_ref(),
            (
                Frame::SetPresence(s),
                Command::SetPresence {
                    status: Some(status),
                    status_text: None,
                },
            ) => *s == status.as_str(),
            (Frame::AccessToken(t), Command::AccessToken { token }) => t == token,
            (Frame::Ping, Command::Ping {}) => true,
            _ => false,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(1024), ..ProptestConfig::default() })]

    /// Any text at all: parse answers, never panics, and a failure names its problem.
    #[test]
    fn the_frame_parser_never_panics_on_any_text(text in ".{0,400}") {
        let request = protocol::parse(&text);
        if let Err(error) = &request.command {
            prop_assert!(!error.code().is_empty());
            prop_assert!(error.status().is_client_error());
        }
    }

    /// JSON-shaped noise: objects with random keys and values, nested.
    #[test]
    fn the_frame_parser_never_panics_on_json_noise(value in json_noise()) {
        let request = protocol::parse(&value.to_string());
        if let Err(error) = &request.command {
            prop_assert!(error.status().is_client_error());
        }
    }

    /// Every well-formed frame parses into exactly its command, with its ref.
    #[test]
    fn well_formed_frames_round_trip(frame in frame(), reference in any_ref()) {
        let mut value = frame.to_json();
        if let Some(reference) = &reference {
            value["ref"] = reference.clone();
        }
        let request = protocol::parse(&value.to_string());
        prop_assert_eq!(&request.reference, reference.as_ref().unwrap_or(&Value::Null));
        let command = request.command.map_err(|e| TestCaseError::fail(format!("{value}: {e}")))?;
        prop_assert!(frame.matches(&command), "{} parsed as {:?}", value, command);
    }

    /// A well-formed frame with one byte changed, cut short, or an unknown field
    /// added: an answer (usually an error), never a panic; unknown fields are refused.
    #[test]
    fn mutated_frames_are_answered(frame in frame(), at in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let text = frame.to_json().to_string();
        let mut bytes = text.clone().into_bytes();
        let i = at.index(bytes.len());
        bytes[i] = byte;
        if let Ok(mutated) = String::from_utf8(bytes) {
            let _ = protocol::parse(&mutated);
        }
        let end = cut.index(text.len());
        if text.is_char_boundary(end) {
            let _ = protocol::parse(&text[..end]);
        }
        let mut extra = frame.to_json();
        extra["unexpected"] = json!(1);
        let request = protocol::parse(&extra.to_string());
        prop_assert!(request.command.is_err(), "an unknown field was accepted: {}", extra);
    }

    /// A ref longer than 128 bytes, or not a number or string, is refused by name.
    #[test]
    fn bad_refs_are_refused(long in "[a-z]{129,300}", frame in frame()) {
        for bad in [json!(long), json!([1]), json!({"a": 1}), json!(true)] {
            let mut value = frame.to_json();
            value["ref"] = bad;
            let request = protocol::parse(&value.to_string());
            prop_assert_eq!(request.command.map(|_| ()).unwrap_err().code(), "invalid_ref");
        }
    }

    #[test]
    fn message_bodies_accept_exactly_the_valid_set(s in text_around(5000)) {
        let valid = clean(&s, 5000);
        let parsed = MessageBody::try_from(s.clone());
        prop_assert_eq!(parsed.is_ok(), valid);
        if let Ok(body) = parsed {
            prop_assert_eq!(body.as_str(), s.as_str(), "stored verbatim");
        }
        // The serde path (request structs) agrees with the direct one.
        prop_assert_eq!(serde_json::from_value::<MessageBody>(json!(s)).is_ok(), valid);
    }

    #[test]
    fn subjects_names_queries_accept_exactly_the_valid_set(s in text_around(200)) {
        prop_assert_eq!(Subject::try_from(s.clone()).is_ok(), clean(&s, 200));
        if let Ok(subject) = Subject::try_from(s.clone()) {
            prop_assert_eq!(subject.as_str(), s.trim());
        }
        prop_assert_eq!(SearchQuery::try_from(s.clone()).is_ok(), clean(&s, 200));
        prop_assert_eq!(RoomName::try_from(s.clone()).is_ok(), clean(&s, 100));
        let user_ok = !s.is_empty() && s.chars().count() <= 200 && !s.chars().any(char::is_control);
        prop_assert_eq!(UserId::try_from(s.clone()).is_ok(), user_ok);
        prop_assert_eq!(serde_json::from_value::<Subject>(json!(s)).is_ok(), clean(&s, 200));
    }

    #[test]
    fn free_texts_accept_exactly_the_valid_set(s in text_around(2000)) {
        let no_nul = !s.contains('\0');
        let n = s.chars().count();
        prop_assert_eq!(Feedback::try_from(s.clone()).is_ok(), n <= 2000 && no_nul);
        prop_assert_eq!(Description::try_from(s.clone()).is_ok(), n <= 1000 && no_nul);
        prop_assert_eq!(CannedTitle::try_from(s.clone()).is_ok(), n <= 200 && no_nul);
        prop_assert_eq!(CannedBody::try_from(s.clone()).is_ok(), clean(&s, 5000));
        if let Ok(feedback) = Feedback::try_from(s.clone()) {
            prop_assert_eq!(feedback.as_str(), s.as_str());
        }
    }

    #[test]
    fn emojis_and_shortcuts_accept_exactly_the_valid_set(s in text_around(50)) {
        let bad = |c: char| c.is_whitespace() || c.is_control() || c == '/';
        let emoji_ok = !s.is_empty() && s.chars().count() <= 32 && !s.chars().any(bad);
        prop_assert_eq!(Emoji::try_from(s.clone()).is_ok(), emoji_ok);
        let trimmed = s.trim();
        let short = trimmed.strip_prefix('/').unwrap_or(trimmed);
        let word = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
        let shortcut_ok = short.len() <= 50
            && short.chars().next().is_some_and(word)
            && short.chars().all(|c| word(c) || c == '-' || c == '_');
        prop_assert_eq!(Shortcut::try_from(s.clone()).is_ok(), shortcut_ok);
    }

    #[test]
    fn numbers_accept_exactly_their_ranges(n in prop_oneof![any::<i64>(), -3i64..1_000_003]) {
        prop_assert_eq!(pgchat::domain::Rating::try_from(n).is_ok(), (1..=5).contains(&n));
        prop_assert_eq!(Limit::try_from(n).is_ok(), (1..=100).contains(&n));
        prop_assert_eq!(pgchat::domain::Since::try_from(n).is_ok(), n >= 0);
        prop_assert_eq!(MaxMembers::try_from(n).is_ok(), (2..=100_000).contains(&n));
        prop_assert_eq!(RetentionDays::try_from(n).is_ok(), (1..=3650).contains(&n));
        prop_assert_eq!(SilenceMinutes::try_from(n).is_ok(), (1..=525_600).contains(&n));
        prop_assert_eq!(Capacity::try_from(n).is_ok(), (0..=1000).contains(&n));
        if let Ok(limit) = Limit::try_from(n) {
            prop_assert_eq!(limit.get(), n);
        }
    }
}

/// Cases per property: `PROPTEST_CASES` when set (a longer run), else `default`.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Random JSON, biased towards frame-like objects.
fn json_noise() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,20}".prop_map(Value::from),
        prop_oneof![
            Just("subscribe"),
            Just("send_message"),
            Just("ping"),
            Just("mark_read"),
            Just("typing_start"),
            Just("access_token"),
            Just("set_presence"),
            Just("inbox"),
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("type".to_owned()),
                    Just("ref".to_owned()),
                    Just("topic".to_owned()),
                    Just("since".to_owned()),
                    Just("conversation_id".to_owned()),
                    Just("body".to_owned()),
                    Just("client_msg_id".to_owned()),
                    Just("seq".to_owned()),
                    Just("status".to_owned()),
                    "[a-z_]{1,12}",
                ],
                inner,
                0..6,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
