//! Moderation values: a room's or the desk's mode, the admins' word lists and
//! patterns, a reviewer's reason. Whether a pattern compiles is PostgreSQL's
//! to say (it matches with its own regular expressions: `invalid_pattern`,
//! 422, from sql/47_moderation.sql); the shape of each entry is checked here.

use serde::Deserialize;

use super::clean_text;
pub use super::ModerationMode;

/// Most entries in each list.
pub const MAX_ENTRIES: usize = 500;
/// Longest entry, in characters.
pub const MAX_ENTRY_CHARS: usize = 200;

/// One word (matched as a whole word, ignoring case) or one pattern (a
/// PostgreSQL regular expression, matched ignoring case).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Entry(String);

impl Entry {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Entry {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        clean_text("a moderation entry", &value, MAX_ENTRY_CHARS)?;
        if value.chars().any(char::is_control) {
            return Err("a moderation entry must not contain control characters".into());
        }
        Ok(Self(value))
    }
}

/// A list of entries: at most `MAX_ENTRIES`, each once.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Vec<Entry>")]
pub struct EntryList(Vec<Entry>);

impl EntryList {
    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(|e| e.0.clone()).collect()
    }
}

impl TryFrom<Vec<Entry>> for EntryList {
    type Error = String;
    fn try_from(value: Vec<Entry>) -> Result<Self, Self::Error> {
        if value.len() > MAX_ENTRIES {
            return Err(format!("at most {MAX_ENTRIES} entries per list"));
        }
        let mut seen = std::collections::HashSet::new();
        if !value.iter().all(|e| seen.insert(e.0.to_lowercase())) {
            return Err("each entry appears once in its list".into());
        }
        Ok(Self(value))
    }
}

/// Why a reviewer decided as they did: up to 500 characters.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Reason(String);

impl Reason {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Reason {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        clean_text("reason", &value, 500)?;
        Ok(Self(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_the_four_words() {
        assert_eq!(ModerationMode::ALL, &["off", "flag", "hold", "reject"]);
        assert_eq!("hold".parse::<ModerationMode>(), Ok(ModerationMode::Hold));
        assert!("block".parse::<ModerationMode>().is_err());
    }

    #[test]
    fn entries_are_short_clean_and_unique() {
        assert!(Entry::try_from("spam".to_owned()).is_ok());
        assert!(Entry::try_from(" ".to_owned()).is_err());
        assert!(Entry::try_from("a\nb".to_owned()).is_err());
        assert!(Entry::try_from("x".repeat(MAX_ENTRY_CHARS + 1)).is_err());
        let twice = vec![Entry("Spam".into()), Entry("spam".into())];
        assert!(EntryList::try_from(twice).is_err());
        let many: Vec<Entry> = (0..=MAX_ENTRIES).map(|i| Entry(format!("w{i}"))).collect();
        assert!(EntryList::try_from(many).is_err());
    }
}
