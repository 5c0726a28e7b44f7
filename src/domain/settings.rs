//! What an admin changes on the settings screen: the desk's settings (`PATCH
//! /v1/admin/settings`) and an email template's texts (`PUT
//! /v1/admin/email-templates/{kind}`). Each field parses here; the database
//! checks the rest (its constraints, and which placeholders a template may use).

use serde::{Deserialize, Serialize};

/// Present and not `null` (with the struct's `#[serde(default)]`: absent is `None`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// How waiting sessions are given to agents (`desk_settings.assignment_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AssignmentMode {
    Manual,
    RoundRobin,
    LeastLoaded,
}

/// Longest duration a setting takes: a year, in seconds.
pub const MAX_SETTING_SECS: i64 = 31_536_000;

/// A duration setting in seconds, 0 (off) to a year.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Seconds(i64);

impl TryFrom<i64> for Seconds {
    type Error = String;
    fn try_from(value: i64) -> Result<Self, Self::Error> {
        if (0..=MAX_SETTING_SECS).contains(&value) {
            Ok(Self(value))
        } else {
            Err(format!(
                "a duration is 0 to {MAX_SETTING_SECS} seconds, not {value}"
            ))
        }
    }
}

impl From<Seconds> for i64 {
    fn from(value: Seconds) -> Self {
        value.0
    }
}

/// The desk settings a request changes; absent fields keep their value,
/// `null` is refused (every setting has a value). Serialized as the
/// column → value object `pgchat.patch_desk_settings` takes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SettingsChanges {
    #[serde(deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub assignment_mode: Option<AssignmentMode>,
    #[serde(deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub sla_first_response_secs: Option<Seconds>,
    #[serde(deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub inactivity_timeout_secs: Option<Seconds>,
    #[serde(deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub reopen_window_secs: Option<Seconds>,
    #[serde(deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub escalation_sla_secs: Option<Seconds>,
    /// The content filter's mode in support conversations (`desk_settings.moderation`).
    #[serde(deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub moderation: Option<super::ModerationMode>,
}

impl SettingsChanges {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// An email's subject line: 1 to 300 characters, not only whitespace, on one
/// line (a line break in a header would let it add headers).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct EmailSubject(String);

impl EmailSubject {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EmailSubject {
    type Error = &'static str;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        let text = value.trim();
        if text.is_empty() || text.chars().count() > 300 || text.chars().any(char::is_control) {
            return Err("subject is 1 to 300 characters on one line, without control characters");
        }
        Ok(Self(text.to_owned()))
    }
}

/// An email's plain-text body: 1 to 20,000 characters, not only whitespace,
/// no control characters but line breaks and tabs.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct EmailBody(String);

impl EmailBody {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EmailBody {
    type Error = &'static str;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        let bad = |c: char| c.is_control() && !matches!(c, '\n' | '\r' | '\t');
        if value.trim().is_empty() || value.chars().count() > 20_000 || value.chars().any(bad) {
            return Err("body is 1 to 20000 characters, without control characters but line breaks and tabs");
        }
        Ok(Self(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn settings_changes_parse_each_field_and_serialize_what_was_given() {
        let changes: SettingsChanges = serde_json::from_value(json!({
            "assignment_mode": "round-robin", "sla_first_response_secs": 300
        }))
        .unwrap();
        assert_eq!(
            serde_json::to_value(&changes).unwrap(),
            json!({ "assignment_mode": "round-robin", "sla_first_response_secs": 300 })
        );
        assert!(serde_json::from_value::<SettingsChanges>(json!({}))
            .unwrap()
            .is_empty());
        for bad in [
            json!({ "assignment_mode": "random" }),
            json!({ "sla_first_response_secs": -1 }),
            json!({ "reopen_window_secs": 31_536_001 }),
            json!({ "inactivity_timeout_secs": "60" }),
            json!({ "escalation_sla_secs": null }),
            json!({ "notifications_enabled": true }),
            json!({ "id": false }),
        ] {
            assert!(
                serde_json::from_value::<SettingsChanges>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn email_texts_are_bounded_and_subjects_one_line() {
        assert_eq!(
            EmailSubject::try_from("  Re: {subject} ".to_owned())
                .unwrap()
                .as_str(),
            "Re: {subject}"
        );
        for bad in ["", "  ", "a\r\nBcc: x@y.z", "a\nb", &"x".repeat(301)] {
            assert!(EmailSubject::try_from(bad.to_owned()).is_err(), "{bad:?}");
        }
        assert!(EmailBody::try_from("Hi {customer_name},\n\n\tthanks".to_owned()).is_ok());
        for bad in ["", " \n ", "a\u{0}b", &"x".repeat(20_001)] {
            assert!(EmailBody::try_from(bad.to_owned()).is_err(), "{bad:?}");
        }
    }
}
