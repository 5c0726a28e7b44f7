//! Values that parse: once a request field becomes one of these, it is valid.
//! Request structs deserialize straight into them (`#[serde(try_from)]`), so an
//! invalid value is a 400 naming the field before any SQL runs.

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
    /// What a support session is about.
    #[derive(Default)]
    Category { Payment => "payment", Shipping => "shipping", Account => "account", Returns => "returns", Technical => "technical", #[default] Other => "other" }
);
word_enum!(
    /// How urgent a support session is; the queue drains urgent first.
    #[derive(Default)]
    Priority { Low => "low", #[default] Medium => "medium", High => "high", Urgent => "urgent" }
);
word_enum!(
    /// waiting → active → ended.
    SessionStatus { Waiting => "waiting", Active => "active", Ended => "ended" }
);
word_enum!(
    /// Kinds a client may send; `system` and `ai_response` are written by the server only.
    #[derive(Default)]
    MessageKind { #[default] Text => "text", Image => "image", File => "file", Audio => "audio", Video => "video" }
);

/// A page size: 1 to 100, default 50.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit(i64);

impl Limit {
    pub const DEFAULT: i64 = 50;
    pub const MAX: i64 = 100;

    pub fn parse(value: Option<i64>) -> Result<Self, String> {
        match value.unwrap_or(Self::DEFAULT) {
            n @ 1..=Self::MAX => Ok(Self(n)),
            n => Err(format!(
                "limit must be between 1 and {}, got {n}",
                Self::MAX
            )),
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(Limit::parse(None).unwrap().get(), 50);
        assert_eq!(Limit::parse(Some(100)).unwrap().get(), 100);
        assert!(Limit::parse(Some(0)).is_err());
        assert!(Limit::parse(Some(101)).is_err());
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
}
