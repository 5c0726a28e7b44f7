//! A poll as its author sends it, and a ballot as a voter casts it. The
//! database checks the same shape for every writer (`pgchat.poll_new`,
//! `pgchat.tg_poll_vote_rules` in sql/46_polls.sql) and knows what only it can:
//! whether a closing time is still ahead, which indexes a poll has.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::clean_text;

/// Options a poll offers, at least and at most.
pub const MIN_OPTIONS: usize = 2;
pub const MAX_OPTIONS: usize = 10;

/// A poll: a question of 1 to 300 characters, 2 to 10 different options of
/// 1 to 100, single (the default) or multiple choice, anonymous or not, an
/// optional closing time.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(try_from = "PollInput")]
pub struct Poll {
    question: String,
    options: Vec<String>,
    multiple: bool,
    anonymous: bool,
    closes_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PollInput {
    question: String,
    options: Vec<String>,
    #[serde(default)]
    multiple: bool,
    #[serde(default)]
    anonymous: bool,
    #[serde(default)]
    closes_at: Option<DateTime<Utc>>,
}

impl TryFrom<PollInput> for Poll {
    type Error = String;
    fn try_from(input: PollInput) -> Result<Self, Self::Error> {
        clean_text("poll.question", &input.question, 300)?;
        if !(MIN_OPTIONS..=MAX_OPTIONS).contains(&input.options.len()) {
            return Err(format!("a poll has {MIN_OPTIONS} to {MAX_OPTIONS} options"));
        }
        let mut options: Vec<String> = Vec::with_capacity(input.options.len());
        for option in &input.options {
            clean_text("a poll option", option, 100)?;
            let option = option.trim().to_owned();
            if options.contains(&option) {
                return Err(format!("the option `{option}` is offered twice"));
            }
            options.push(option);
        }
        Ok(Self {
            question: input.question.trim().to_owned(),
            options,
            multiple: input.multiple,
            anonymous: input.anonymous,
            closes_at: input.closes_at,
        })
    }
}

impl Poll {
    pub fn question(&self) -> &str {
        &self.question
    }

    /// The definition as the message's `poll` column takes it.
    pub fn to_json(&self) -> Value {
        json!({
            "question": self.question,
            "options": self.options,
            "multiple": self.multiple,
            "anonymous": self.anonymous,
            "closes_at": self.closes_at,
        })
    }
}

/// The options a ballot chooses, by index: 1 to 10 of them, each once (whether
/// several are allowed, and which indexes exist, is the poll's: the database's).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Vec<i16>")]
pub struct Ballot(Vec<i16>);

impl Ballot {
    pub fn options(&self) -> &[i16] {
        &self.0
    }
}

impl TryFrom<Vec<i16>> for Ballot {
    type Error = String;
    fn try_from(options: Vec<i16>) -> Result<Self, Self::Error> {
        if options.is_empty() || options.len() > MAX_OPTIONS {
            return Err(format!("a vote chooses 1 to {MAX_OPTIONS} options"));
        }
        if options.iter().any(|&i| i < 0) {
            return Err("option indexes start at 0".into());
        }
        Ok(Self(options))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll(value: Value) -> Result<Poll, String> {
        serde_json::from_value(value).map_err(|e| e.to_string())
    }

    #[test]
    fn a_poll_has_a_question_and_two_to_ten_different_options() {
        let ok = poll(json!({"question": " Lunch? ", "options": ["pizza", " soup "]})).unwrap();
        assert_eq!(ok.question(), "Lunch?");
        assert_eq!(ok.to_json()["options"], json!(["pizza", "soup"]));
        assert_eq!(ok.to_json()["multiple"], false);
        assert!(poll(json!({"question": "?", "options": ["one"]})).is_err());
        let eleven: Vec<String> = (0..11).map(|i| i.to_string()).collect();
        assert!(poll(json!({"question": "?", "options": eleven})).is_err());
        assert!(poll(json!({"question": "?", "options": ["a", "a "]})).is_err());
        assert!(poll(json!({"question": " ", "options": ["a", "b"]})).is_err());
        assert!(poll(json!({"question": "?", "options": ["a", ""]})).is_err());
        assert!(poll(json!({"question": "?", "options": ["a", "b"], "colour": 1})).is_err());
        assert!(
            poll(json!({"question": "?", "options": ["a", "b"], "closes_at": "soon"})).is_err()
        );
    }

    #[test]
    fn a_ballot_names_one_to_ten_indexes() {
        let ballot = |v: Value| serde_json::from_value::<Ballot>(v).map_err(|e| e.to_string());
        assert_eq!(ballot(json!([0, 2])).unwrap().options(), &[0, 2]);
        assert!(ballot(json!([])).is_err());
        assert!(ballot(json!([-1])).is_err());
        assert!(ballot(json!(vec![0; 11])).is_err());
    }
}
