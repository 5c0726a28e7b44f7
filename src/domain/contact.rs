//! A contact's context as a request gives it: the customer's display name,
//! the custom attributes the host page sets (`pgchat('identify', {...})` in a
//! widget, `PATCH /v1/contacts/me`), and where a session was opened from. All
//! bounded here, so what reaches the database is small and well-formed.

use serde::Deserialize;
use serde_json::{Map, Value};

/// A display name: 1 to 100 characters, not only whitespace, no control
/// characters; trimmed.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct DisplayName(String);

impl DisplayName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DisplayName {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        let trimmed = value.trim();
        if trimmed.is_empty()
            || trimmed.chars().count() > 100
            || trimmed.chars().any(char::is_control)
        {
            return Err("name is 1 to 100 characters without control characters".into());
        }
        Ok(Self(trimmed.to_owned()))
    }
}

/// Keys a change of attributes may name at once (a contact keeps at most 50:
/// the database counts them after the merge).
const MAX_KEYS: usize = 50;
/// The longest text value.
const MAX_TEXT: usize = 500;

/// Custom attributes to merge into a contact's: keys of 1 to 50 of
/// `A-Z a-z 0-9 _ . -`, values text (up to 500 characters), numbers or
/// booleans; `null` removes a key.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(try_from = "Map<String, Value>")]
pub struct Attributes(Map<String, Value>);

impl Attributes {
    /// The keys to set, with their values.
    pub fn set(&self) -> Value {
        Value::Object(
            self.0
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    }

    /// The keys to remove.
    pub fn removed(&self) -> Vec<String> {
        self.0
            .iter()
            .filter(|(_, v)| v.is_null())
            .map(|(k, _)| k.clone())
            .collect()
    }
}

impl TryFrom<Map<String, Value>> for Attributes {
    type Error = String;
    fn try_from(map: Map<String, Value>) -> Result<Self, Self::Error> {
        if map.len() > MAX_KEYS {
            return Err(format!("attributes has at most {MAX_KEYS} keys"));
        }
        for (key, value) in &map {
            let key_ok = (1..=50).contains(&key.len())
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
            if !key_ok {
                return Err(format!(
                    "attribute {key:?}: a key is 1 to 50 of A-Z, a-z, 0-9, '_', '.', '-'"
                ));
            }
            match value {
                Value::String(s) if s.chars().count() <= MAX_TEXT && !s.contains('\0') => {}
                Value::Number(_) | Value::Bool(_) | Value::Null => {}
                _ => {
                    return Err(format!(
                        "attribute {key:?}: a value is text (up to {MAX_TEXT} characters), a number, a boolean or null"
                    ))
                }
            }
        }
        Ok(Self(map))
    }
}

/// A host site's user hash: the HMAC-SHA256 of a user id under the site's
/// identity secret, as 64 hexadecimal digits (either case), as Intercom and
/// Chatwoot take it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct UserHash([u8; 32]);

impl UserHash {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl TryFrom<String> for UserHash {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        let invalid = || "user_hash is an HMAC-SHA256 as 64 hexadecimal digits".to_owned();
        if value.len() != 64 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid());
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(value.as_bytes().chunks(2)) {
            let pair = std::str::from_utf8(pair).map_err(|_| invalid())?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| invalid())?;
        }
        Ok(Self(bytes))
    }
}

/// A bounded text field of a session's context.
fn field(value: Option<String>, max: usize, name: &str) -> Result<Option<String>, String> {
    match value {
        Some(text) if text.chars().count() > max || text.chars().any(char::is_control) => Err(
            format!("context.{name} is at most {max} characters without control characters"),
        ),
        other => Ok(other.filter(|t| !t.is_empty())),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContext {
    page_url: Option<String>,
    page_title: Option<String>,
    referrer: Option<String>,
    locale: Option<String>,
    user_agent: Option<String>,
}

/// Where a session was opened from, as the widget says (and the browser's
/// User-Agent when it does not): page URL and title, referrer, locale.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawContext")]
pub struct SessionContext {
    page_url: Option<String>,
    page_title: Option<String>,
    referrer: Option<String>,
    locale: Option<String>,
    user_agent: Option<String>,
}

impl TryFrom<RawContext> for SessionContext {
    type Error = String;
    fn try_from(raw: RawContext) -> Result<Self, Self::Error> {
        let url = |value: Option<String>, name: &str| {
            let value = field(value, 2000, name)?;
            match value {
                Some(u) if !(u.starts_with("https://") || u.starts_with("http://")) => {
                    Err(format!("context.{name} is an http(s) URL"))
                }
                other => Ok(other),
            }
        };
        let locale = field(raw.locale, 35, "locale")?;
        if let Some(l) = &locale {
            if !l
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err("context.locale is a language tag such as en-GB".into());
            }
        }
        Ok(Self {
            page_url: url(raw.page_url, "page_url")?,
            page_title: field(raw.page_title, 300, "page_title")?,
            referrer: url(raw.referrer, "referrer")?,
            locale,
            user_agent: field(raw.user_agent, 500, "user_agent")?,
        })
    }
}

impl SessionContext {
    /// The browser's User-Agent header when the widget gave none (cut to 500
    /// characters, dropped if it is not clean text).
    pub fn with_user_agent(mut self, header: Option<&str>) -> Self {
        if self.user_agent.is_none() {
            self.user_agent = header
                .filter(|ua| !ua.chars().any(char::is_control))
                .map(|ua| ua.chars().take(500).collect());
        }
        self
    }

    /// The JSON the session stores (only the fields given).
    pub fn stored(&self) -> Value {
        let fields = [
            ("page_url", &self.page_url),
            ("page_title", &self.page_title),
            ("referrer", &self.referrer),
            ("locale", &self.locale),
            ("user_agent", &self.user_agent),
        ];
        Value::Object(
            fields
                .into_iter()
                .filter_map(|(k, v)| v.clone().map(|v| (k.to_owned(), Value::String(v))))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn attributes_are_bounded_scalars_and_null_removes() {
        let attrs: Attributes = serde_json::from_value(
            json!({ "plan": "pro", "orders": 12, "vip": true, "old": null }),
        )
        .unwrap();
        assert_eq!(
            attrs.set(),
            json!({ "plan": "pro", "orders": 12, "vip": true })
        );
        assert_eq!(attrs.removed(), vec!["old".to_owned()]);
        for bad in [
            json!({ "nested": { "a": 1 } }),
            json!({ "list": [1] }),
            json!({ "bad key": 1 }),
            json!({ "": 1 }),
            json!({ "long": "x".repeat(501) }),
            Value::Object((0..51).map(|i| (format!("k{i}"), json!(i))).collect()),
        ] {
            assert!(
                serde_json::from_value::<Attributes>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_user_hash_is_64_hex_digits() {
        let hash: UserHash = serde_json::from_value(json!("AB".repeat(32))).unwrap();
        assert_eq!(hash.as_bytes(), &[0xab; 32]);
        for bad in [
            json!("ab".repeat(31)),
            json!("zz".repeat(32)),
            json!("+a".repeat(32)),
            json!(""),
            json!(12),
        ] {
            assert!(
                serde_json::from_value::<UserHash>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_session_context_keeps_what_was_given_and_the_user_agent_as_fallback() {
        let context: SessionContext = serde_json::from_value(
            json!({ "page_url": "https://shop.example/cart", "page_title": "Cart", "locale": "en-GB" }),
        )
        .unwrap();
        assert_eq!(
            context.with_user_agent(Some("Mozilla/5.0")).stored(),
            json!({ "page_url": "https://shop.example/cart", "page_title": "Cart", "locale": "en-GB",
                    "user_agent": "Mozilla/5.0" })
        );
        for bad in [
            json!({ "page_url": "javascript:alert(1)" }),
            json!({ "locale": "en GB" }),
            json!({ "page_title": "x".repeat(301) }),
            json!({ "other": 1 }),
        ] {
            assert!(
                serde_json::from_value::<SessionContext>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }
}
