//! What one round of notifications announced for one conversation, and how
//! that becomes the ordered changes to deliver.
//!
//! A change comes with its row as of that change (members, sessions, rooms,
//! and a statement's new or updated messages when they fit in NOTIFY) or
//! without it (rows too big or too many), and then it is read back from the
//! tables. A read-back sees
//! only a row's latest version: a message edited, pinned and unpinned before
//! the listener read it is one row at the unpin's change_seq. So rows that
//! came with their notification are delivered as they were, each with its own
//! event, and the read fills in the rest. A new message whose row had changed
//! again before it could be read back is not lost either: its next change is
//! delivered as `message_new` (remembered across rounds in [`Unannounced`]).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde_json::Value;
use uuid::Uuid;

use crate::service::changes::{Change, ChangeEvent, Table};

/// A round's announcements for one conversation.
#[derive(Debug)]
pub struct Announced {
    conversation: Uuid,
    /// The lowest change_seq announced.
    pub from: i64,
    /// The highest change_seq announced.
    pub upto: i64,
    /// New messages: seq ranges (`lo`, `hi`) with the count of rows written.
    inserted: Vec<(i64, i64, u64)>,
    /// Changes whose row came with the notification, by change_seq.
    notified: BTreeMap<i64, Change>,
    /// Some change came without its row: the tables must be read.
    incomplete: bool,
}

impl Announced {
    pub fn new(conversation: Uuid) -> Self {
        Self {
            conversation,
            from: i64::MAX,
            upto: i64::MIN,
            inserted: Vec::new(),
            notified: BTreeMap::new(),
            incomplete: false,
        }
    }

    pub fn conversation(&self) -> Uuid {
        self.conversation
    }

    fn span(&mut self, lo: i64, hi: i64) {
        self.from = self.from.min(lo);
        self.upto = self.upto.max(hi);
    }

    /// `n` new messages, change_seqs (= seqs) `lo..=hi`, with their rows
    /// when the notification carried them all.
    pub fn inserted(&mut self, lo: i64, hi: i64, n: u64, rows: Option<&HashMap<String, Value>>) {
        self.span(lo, hi);
        self.inserted.push((lo, hi, n));
        match rows {
            Some(rows) if rows.len() as u64 == n => {
                self.messages(rows, &HashMap::new(), ChangeEvent::MessageNew)
            }
            _ => self.incomplete = true,
        }
    }

    /// Updated messages, change_seqs `lo..=hi`, with the event and the row of
    /// each change where the notification carried them.
    pub fn updated(
        &mut self,
        lo: i64,
        hi: i64,
        events: &HashMap<String, ChangeEvent>,
        rows: Option<&HashMap<String, Value>>,
    ) {
        self.span(lo, hi);
        match rows {
            Some(rows) => self.messages(rows, events, ChangeEvent::MessageUpdated),
            None => self.incomplete = true,
        }
    }

    /// Message rows that came with their notification, by change_seq, each
    /// with its event (`events`, else `otherwise`).
    fn messages(
        &mut self,
        rows: &HashMap<String, Value>,
        events: &HashMap<String, ChangeEvent>,
        otherwise: ChangeEvent,
    ) {
        for (cs, row) in rows {
            let Ok(change_seq) = cs.parse() else {
                self.incomplete = true;
                continue;
            };
            let event = events.get(cs).copied().unwrap_or(otherwise);
            self.notified.insert(
                change_seq,
                Change {
                    table: Table::Message,
                    event,
                    conversation_id: self.conversation,
                    change_seq,
                    internal: row["internal"].as_bool().unwrap_or(true),
                    user_id: None,
                    row: row.clone(),
                },
            );
        }
    }

    /// A session, member or room change, with its row unless it was too big.
    pub fn row_change(
        &mut self,
        table: Table,
        event: ChangeEvent,
        change_seq: i64,
        user_id: Option<&str>,
        row: Option<&Value>,
    ) {
        self.span(change_seq, change_seq);
        let Some(row) = row else {
            self.incomplete = true;
            return;
        };
        self.notified.insert(
            change_seq,
            Change {
                table,
                event,
                conversation_id: self.conversation,
                change_seq,
                internal: false,
                user_id: user_id.map(str::to_owned),
                row: row.clone(),
            },
        );
    }

    /// New messages were announced (members' inboxes hear of them).
    pub fn has_new(&self) -> bool {
        !self.inserted.is_empty()
    }

    /// Whether the tables must be read to deliver every change after `after`:
    /// some change came without its row, or a change_seq in between was not
    /// announced in this round (a gap, filled by the read).
    pub fn needs_read(&self, after: Option<i64>) -> bool {
        self.incomplete
            || after.is_some_and(|after| {
                let wanted = self.upto - after;
                wanted > 0 && self.notified.range(after + 1..=self.upto).count() as i64 != wanted
            })
    }

    /// The changes to deliver, in change_seq order, up to `through`: `read`
    /// (read back from the tables, latest versions) with the notified rows
    /// in their place, each message's first appearance as `message_new`.
    /// Rows announced as new but not found (changed again since) are
    /// remembered in `unannounced` unless `through` stops short of `upto`
    /// (the rest is refilled from the tables).
    pub fn merge(
        self,
        read: Vec<Change>,
        through: i64,
        unannounced: &mut Unannounced,
    ) -> Vec<Delivery> {
        let c = self.conversation;
        let read_new: HashSet<i64> = read
            .iter()
            .filter(|ch| ch.event == ChangeEvent::MessageNew)
            .filter_map(seq_of)
            .collect();
        let mut all: BTreeMap<i64, Change> =
            read.into_iter().map(|ch| (ch.change_seq, ch)).collect();
        all.extend(self.notified.into_iter().filter(|(cs, _)| *cs <= through));
        let inserted = |seq: i64| {
            self.inserted
                .iter()
                .any(|(lo, hi, _)| (*lo..=*hi).contains(&seq))
        };
        let mut announced = HashSet::new();
        let deliveries: Vec<Delivery> = all
            .into_values()
            .filter(|ch| ch.change_seq <= through)
            .map(|mut change| {
                // a message announced as new at its own number (seq =
                // change_seq): a held message released by a reviewer
                // (sql/47_moderation.sql) takes a new seq in an update
                let released = change.event == ChangeEvent::MessageNew;
                let fresh = seq_of(&change).is_some_and(|seq| {
                    (inserted(seq)
                        || read_new.contains(&seq)
                        || unannounced.take(c, seq)
                        || (released && seq == change.change_seq))
                        && announced.insert(seq)
                });
                if fresh {
                    change.event = ChangeEvent::MessageNew;
                } else if change.event == ChangeEvent::MessageNew {
                    change.event = ChangeEvent::MessageUpdated;
                }
                Delivery { change, fresh }
            })
            .collect();
        if through >= self.upto {
            // Only ranges without holes (a number taken by a change that left
            // no row would wait forever).
            for &(lo, hi, n) in &self.inserted {
                if hi - lo + 1 == n as i64 {
                    for seq in (lo..=hi).filter(|seq| !announced.contains(seq)) {
                        unannounced.add(c, seq);
                    }
                }
            }
        }
        deliveries
    }
}

/// A change to deliver; `fresh` when it is the first a reader hears of a new
/// message (inboxes get those).
#[derive(Debug)]
pub struct Delivery {
    pub change: Change,
    pub fresh: bool,
}

fn seq_of(change: &Change) -> Option<i64> {
    (change.table == Table::Message)
        .then(|| change.row["seq"].as_i64())
        .flatten()
}

/// Messages announced as new whose row had changed again before the listener
/// read it: their next change is delivered as `message_new`. Bounded: past
/// `LIMIT` entries (messages deleted for good before their next change, say)
/// it starts again, and those deliver as updates.
#[derive(Default)]
pub struct Unannounced {
    seqs: HashMap<Uuid, BTreeSet<i64>>,
    len: usize,
}

impl Unannounced {
    const LIMIT: usize = 100_000;

    fn add(&mut self, c: Uuid, seq: i64) {
        if self.len >= Self::LIMIT {
            tracing::warn!("too many new messages waiting for their next change; forgetting them");
            self.clear();
        }
        if self.seqs.entry(c).or_default().insert(seq) {
            self.len += 1;
        }
    }

    fn take(&mut self, c: Uuid, seq: i64) -> bool {
        let Some(seqs) = self.seqs.get_mut(&c) else {
            return false;
        };
        let taken = seqs.remove(&seq);
        if taken {
            self.len -= 1;
            if seqs.is_empty() {
                self.seqs.remove(&c);
            }
        }
        taken
    }

    /// Whether a message of `c` waits for its next change.
    pub fn has(&self, c: Uuid) -> bool {
        self.seqs.contains_key(&c)
    }

    pub fn clear(&mut self) {
        self.seqs.clear();
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const C: Uuid = Uuid::nil();

    fn message(change_seq: i64, seq: i64, body: &str, event: ChangeEvent) -> Change {
        Change {
            table: Table::Message,
            event,
            conversation_id: C,
            change_seq,
            internal: false,
            user_id: None,
            row: json!({ "seq": seq, "change_seq": change_seq, "body": body, "internal": false }),
        }
    }

    fn updated(a: &mut Announced, cs: i64, seq: i64, body: &str, event: &str) {
        let events = HashMap::from([(cs.to_string(), ChangeEvent::parse(event).unwrap())]);
        let rows = HashMap::from([(
            cs.to_string(),
            json!({ "seq": seq, "change_seq": cs, "body": body, "internal": false }),
        )]);
        a.updated(cs, cs, &events, Some(&rows));
    }

    fn summary(deliveries: &[Delivery]) -> Vec<(i64, ChangeEvent, String, bool)> {
        deliveries
            .iter()
            .map(|d| {
                (
                    d.change.change_seq,
                    d.change.event,
                    d.change.row["body"].as_str().unwrap_or("").to_owned(),
                    d.fresh,
                )
            })
            .collect()
    }

    #[test]
    fn every_change_of_one_round_is_delivered_as_it_was_though_the_row_moved_on() {
        // sent at 10, edited at 11, pinned at 12: the read-back finds the row at 12
        let mut a = Announced::new(C);
        a.inserted(10, 10, 1, None);
        updated(&mut a, 11, 10, "edited", "message_updated");
        updated(&mut a, 12, 10, "edited", "message_pinned");
        assert!(a.needs_read(Some(9)));
        let read = vec![message(12, 10, "edited", ChangeEvent::MessageNew)];
        let mut unannounced = Unannounced::default();
        let out = a.merge(read, 12, &mut unannounced);
        use ChangeEvent::*;
        assert_eq!(
            summary(&out),
            [
                (11, MessageNew, "edited".into(), true),
                (12, MessagePinned, "edited".into(), false)
            ]
        );
        assert!(!unannounced.has(C));
    }

    #[test]
    fn a_new_message_read_after_it_changed_again_is_new_at_its_next_change() {
        use ChangeEvent::*;
        let mut unannounced = Unannounced::default();
        // round 1: the insert at 10; by the read the row is at 11 (out of range)
        let mut first = Announced::new(C);
        first.inserted(10, 10, 1, None);
        let out = first.merge(Vec::new(), 10, &mut unannounced);
        assert!(out.is_empty());
        assert!(unannounced.has(C));
        // round 2: its edit, with the row as of then: the first the reader hears of it
        let mut second = Announced::new(C);
        updated(&mut second, 11, 10, "hello", "message_updated");
        assert!(
            !second.needs_read(Some(10)),
            "the notified row is all there is"
        );
        let out = second.merge(Vec::new(), 11, &mut unannounced);
        assert_eq!(summary(&out), [(11, MessageNew, "hello".into(), true)]);
        assert!(!unannounced.has(C));
        // round 3: a later change of it is an update again
        let mut third = Announced::new(C);
        updated(&mut third, 12, 10, "", "message_deleted");
        let out = third.merge(Vec::new(), 12, &mut unannounced);
        assert_eq!(summary(&out), [(12, MessageDeleted, "".into(), false)]);
    }

    #[test]
    fn members_and_rooms_come_with_their_rows_and_need_no_read() {
        let mut a = Announced::new(C);
        let joined = json!({ "user_id": "carol", "role": "member" });
        let promoted = json!({ "user_id": "carol", "role": "moderator" });
        a.row_change(
            Table::Member,
            ChangeEvent::MemberJoined,
            5,
            Some("carol"),
            Some(&joined),
        );
        a.row_change(
            Table::Member,
            ChangeEvent::MemberUpdated,
            6,
            Some("carol"),
            Some(&promoted),
        );
        assert!(!a.needs_read(Some(4)));
        assert!(a.needs_read(Some(3)), "4 was not announced: a gap to read");
        let out = a.merge(Vec::new(), 6, &mut Unannounced::default());
        let roles: Vec<&Value> = out.iter().map(|d| &d.change.row["role"]).collect();
        assert_eq!(roles, [&json!("member"), &json!("moderator")]);
        assert!(out.iter().all(|d| !d.fresh));
    }

    #[test]
    fn a_row_too_big_to_carry_is_read_back() {
        let mut a = Announced::new(C);
        a.row_change(
            Table::Member,
            ChangeEvent::MemberJoined,
            5,
            Some("carol"),
            None,
        );
        assert!(a.needs_read(Some(4)));
        let mut events = HashMap::new();
        events.insert("6".to_owned(), ChangeEvent::Reaction);
        let mut b = Announced::new(C);
        b.updated(6, 6, &events, None);
        assert!(b.needs_read(Some(5)));
    }

    #[test]
    fn a_range_with_holes_is_not_remembered() {
        let mut unannounced = Unannounced::default();
        let mut a = Announced::new(C);
        a.inserted(10, 12, 2, None);
        a.merge(Vec::new(), 12, &mut unannounced);
        assert!(!unannounced.has(C));
    }

    #[test]
    fn new_messages_that_came_with_their_rows_need_no_read() {
        use ChangeEvent::*;
        let rows = |seqs: &[i64]| -> HashMap<String, Value> {
            seqs.iter()
                .map(|&s| {
                    (
                        s.to_string(),
                        json!({ "seq": s, "change_seq": s, "body": "hi", "internal": false }),
                    )
                })
                .collect()
        };
        let mut a = Announced::new(C);
        a.inserted(10, 11, 2, Some(&rows(&[10, 11])));
        updated(&mut a, 12, 10, "edited", "message_updated");
        assert!(!a.needs_read(Some(9)), "every change came with its row");
        let out = a.merge(Vec::new(), 12, &mut Unannounced::default());
        assert_eq!(
            summary(&out),
            [
                (10, MessageNew, "hi".into(), true),
                (11, MessageNew, "hi".into(), true),
                (12, MessageUpdated, "edited".into(), false)
            ]
        );
        // a notification that carried only some of its rows is read back
        let mut b = Announced::new(C);
        b.inserted(10, 11, 2, Some(&rows(&[10])));
        assert!(b.needs_read(Some(9)));
    }
}
