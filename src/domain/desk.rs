//! Values of the support desk (and the availability statuses presence shares
//! with it) that parse: request structs deserialize into them, so an invalid
//! value is a 400 before any SQL runs.

use std::fmt::Write as _;

use serde::Deserialize;

/// How available someone says they are: the one list of these values. An
/// agent's desk status is any of them (only `online` agents are auto-assigned
/// sessions); a presence status ([`PresenceStatus`]) is any but `offline`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentStatus {
    Online,
    Away,
    Busy,
    Offline,
}

impl AgentStatus {
    pub const ALL: &'static [&'static str] = &["online", "away", "busy", "offline"];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Away => "away",
            Self::Busy => "busy",
            Self::Offline => "offline",
        }
    }
}

/// A status a user sets on their presence: an [`AgentStatus`] but `offline`
/// (being offline is having no connection; it is never set).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "AgentStatus")]
pub struct PresenceStatus(AgentStatus);

impl PresenceStatus {
    pub const ALL: &'static [&'static str] = &["online", "away", "busy"];

    pub fn as_str(self) -> &'static str {
        self.0.as_str()
    }
}

impl TryFrom<AgentStatus> for PresenceStatus {
    type Error = &'static str;
    fn try_from(status: AgentStatus) -> Result<Self, Self::Error> {
        match status {
            AgentStatus::Offline => Err("status must be online, away or busy"),
            other => Ok(Self(other)),
        }
    }
}

/// 1 to 50 of a-z, 0-9, '-' and '_', starting with a letter or digit: the
/// words shortcuts and labels are made of.
fn is_word(text: &str) -> bool {
    let mut chars = text.chars();
    text.len() <= 50
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// A label on a support session (`billing`, `vip`, `bug-123`): a word, as
/// shortcuts are; a session has at most 20.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Label(String);

impl Label {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Label {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        if !is_word(&value) {
            return Err(
                "a label is 1 to 50 of a-z, 0-9, '-' and '_', starting with a letter or digit"
                    .into(),
            );
        }
        Ok(Self(value))
    }
}

/// The most active sessions assignment gives an agent: 0 to 1000.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "i64")]
pub struct Capacity(i32);

impl Capacity {
    pub const MAX: i64 = 1000;

    pub fn value(self) -> i32 {
        self.0
    }
}

impl TryFrom<i64> for Capacity {
    type Error = String;
    fn try_from(value: i64) -> Result<Self, Self::Error> {
        match value {
            0..=Self::MAX => Ok(Self(value as i32)),
            _ => Err(format!(
                "capacity must be an integer from 0 to {}",
                Self::MAX
            )),
        }
    }
}

/// A canned response's shortcut: lowercase letters, digits, `-` and `_`, up to
/// 50, starting with a letter or digit. A leading `/` (as typed in a chat box)
/// is accepted and dropped.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Shortcut(String);

impl Shortcut {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Shortcut {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        let text = value.trim();
        let text = text.strip_prefix('/').unwrap_or(text);
        if !is_word(text) {
            return Err(
                "shortcut must be 1 to 50 of a-z, 0-9, '-' and '_', starting with a letter or digit"
                    .into(),
            );
        }
        Ok(Self(text.to_owned()))
    }
}

/// A canned response's text: 1 to 5000 characters, not only whitespace.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct CannedBody(String);

impl CannedBody {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CannedBody {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        if value.trim().is_empty() || value.chars().count() > 5000 || value.contains('\0') {
            return Err("body must be 1 to 5000 characters, without NUL".into());
        }
        Ok(Self(value))
    }
}

/// A canned response's title: up to 200 characters.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct CannedTitle(String);

impl CannedTitle {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CannedTitle {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        if value.chars().count() > 200 || value.contains('\0') {
            return Err("title must be at most 200 characters, without NUL".into());
        }
        Ok(Self(value.trim().to_owned()))
    }
}

/// Replaces `{name}` placeholders with their values. Unknown placeholders and
/// placeholders without a value are left as written, so the agent sees what
/// was not filled in; `{{` and `}}` stand for literal braces.
pub fn render(template: &str, values: &[(&str, Option<&str>)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(at) = rest.find(['{', '}']) {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
            continue;
        }
        if tail.starts_with('{') {
            if let Some(end) = tail.find('}') {
                let name = &tail[1..end];
                match values.iter().find(|(key, _)| *key == name) {
                    Some((_, Some(value))) => out.push_str(value),
                    _ => {
                        let _ = write!(out, "{{{name}}}");
                    }
                }
                rest = &tail[end + 1..];
                continue;
            }
        }
        out.push_str(&tail[..1]);
        rest = &tail[1..];
    }
    out.push_str(rest);
    out
}

/// Text of 1 to `max` characters, not only whitespace, without control
/// characters (line breaks allowed in multi-line text); trimmed.
fn short_text(value: String, max: usize, multiline: bool, what: &str) -> Result<String, String> {
    let trimmed = value.trim();
    let bad_char = |c: char| c.is_control() && !(multiline && (c == '\n' || c == '\t'));
    if trimmed.is_empty() || trimmed.chars().count() > max || trimmed.chars().any(bad_char) {
        return Err(format!(
            "{what} is 1 to {max} characters, not only whitespace, without control characters"
        ));
    }
    Ok(trimmed.to_owned())
}

/// A team's name: 1 to 100 characters (unique, case-insensitively).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct TeamName(String);

impl TeamName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TeamName {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        short_text(value, 100, false, "a team's name").map(Self)
    }
}

/// A team's description: 1 to 1000 characters.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct TeamDescription(String);

impl TeamDescription {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TeamDescription {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        short_text(value, 1000, true, "a team's description").map(Self)
    }
}

/// Why a session is escalated: 1 to 1000 characters, required.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct EscalationReason(String);

impl EscalationReason {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EscalationReason {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        short_text(value, 1000, true, "reason").map(Self)
    }
}

/// Seconds an escalated session may wait for a staff answer: 1 second to a year.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "i64")]
pub struct EscalationSla(i32);

impl EscalationSla {
    pub fn value(self) -> i32 {
        self.0
    }
}

impl TryFrom<i64> for EscalationSla {
    type Error = String;
    fn try_from(value: i64) -> Result<Self, Self::Error> {
        match value {
            1..=31_536_000 => Ok(Self(value as i32)),
            _ => Err("escalation_sla_secs is 1 to 31536000 (a year)".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_lists_are_the_types_values() {
        for text in AgentStatus::ALL {
            let status: AgentStatus = serde_json::from_value(serde_json::json!(text)).unwrap();
            assert_eq!(status.as_str(), *text);
            let presence = serde_json::from_value::<PresenceStatus>(serde_json::json!(text));
            assert_eq!(
                presence.is_ok(),
                PresenceStatus::ALL.contains(text),
                "{text}"
            );
        }
    }

    #[test]
    fn labels_are_words() {
        assert!(Label::try_from("vip".to_owned()).is_ok());
        assert!(Label::try_from("bug-123_b".to_owned()).is_ok());
        for bad in ["", "VIP", "-x", "a b", "/vip", &"x".repeat(51)] {
            assert!(Label::try_from(bad.to_owned()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn capacity_is_bounded() {
        assert_eq!(Capacity::try_from(0).unwrap().value(), 0);
        assert_eq!(Capacity::try_from(1000).unwrap().value(), 1000);
        assert!(Capacity::try_from(-1).is_err());
        assert!(Capacity::try_from(1001).is_err());
    }

    #[test]
    fn shortcuts_are_lowercase_words_with_an_optional_slash() {
        assert_eq!(
            Shortcut::try_from("/thanks".to_owned()).unwrap().as_str(),
            "thanks"
        );
        assert_eq!(
            Shortcut::try_from("refund-2_b".to_owned())
                .unwrap()
                .as_str(),
            "refund-2_b"
        );
        for bad in ["", "/", "Thanks", "-x", "a b", "é", &"x".repeat(51)] {
            assert!(Shortcut::try_from(bad.to_owned()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn canned_bodies_must_have_content() {
        assert!(CannedBody::try_from("Hi".to_owned()).is_ok());
        assert!(CannedBody::try_from("  ".to_owned()).is_err());
        assert!(CannedBody::try_from("x".repeat(5001)).is_err());
    }

    #[test]
    fn placeholders_are_filled_and_unknown_ones_kept() {
        let values = [
            ("customer_name", Some("Carol")),
            ("agent_name", Some("Ann")),
            ("subject", None),
        ];
        assert_eq!(
            render(
                "Hi {customer_name}, {agent_name} here about {subject} {order}.",
                &values
            ),
            "Hi Carol, Ann here about {subject} {order}."
        );
        assert_eq!(
            render("{{literal}} {customer_name}", &values),
            "{literal} Carol"
        );
        assert_eq!(
            render("dangling { brace } and {", &values),
            "dangling { brace } and {"
        );
        assert_eq!(render("ünïcödé {agent_name}!", &values), "ünïcödé Ann!");
    }

    #[test]
    fn team_texts_are_trimmed_and_bounded() {
        assert_eq!(
            TeamName::try_from("  Billing ".to_owned())
                .unwrap()
                .as_str(),
            "Billing"
        );
        for bad in ["", "   ", "a\nb", &"x".repeat(101)] {
            assert!(TeamName::try_from(bad.to_owned()).is_err(), "{bad:?}");
        }
        assert!(EscalationReason::try_from("line one\nline two".to_owned()).is_ok());
        for bad in ["", " \n ", "a\u{0}b", &"x".repeat(1001)] {
            assert!(
                EscalationReason::try_from(bad.to_owned()).is_err(),
                "{bad:?}"
            );
        }
        assert!(EscalationSla::try_from(0).is_err());
        assert_eq!(EscalationSla::try_from(600).unwrap().value(), 600);
        assert!(EscalationSla::try_from(31_536_001).is_err());
    }
}
