//! Cursors of channels that ended, remembered per user and channel name on
//! this node, so that joining the channel again (realtime-js rejoins by itself
//! after a reconnect) replays what changed meanwhile: Supabase's
//! postgres_changes loses those changes; pgchat does not. Bounded: entries
//! live `TTL`, and at most `CAPACITY` are kept (the oldest go first).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::realtime::hub::Topic;

const TTL: Duration = Duration::from_secs(15 * 60);
const CAPACITY: usize = 50_000;

/// (user, channel name)
type Key = (String, String);

/// Where a channel's conversation topics stood, and when it ended.
type Kept = (Instant, HashMap<Topic, i64>);

#[derive(Default)]
pub struct Resume {
    cursors: Mutex<HashMap<Key, Kept>>,
}

impl Resume {
    /// Remembers where `user`'s channel `name` stood.
    pub fn keep(&self, user: &str, name: &str, cursors: HashMap<Topic, i64>) {
        let mut map = self.cursors.lock().expect("poisoned");
        if map.len() >= CAPACITY {
            map.retain(|_, (at, _)| at.elapsed() < TTL);
            if map.len() >= CAPACITY {
                let oldest = map
                    .iter()
                    .min_by_key(|(_, (at, _))| *at)
                    .map(|(k, _)| k.clone());
                if let Some(oldest) = oldest {
                    map.remove(&oldest);
                }
            }
        }
        map.insert(
            (user.to_owned(), name.to_owned()),
            (Instant::now(), cursors),
        );
    }

    /// Takes what `user`'s channel `name` had reached (empty if nothing recent).
    pub fn take(&self, user: &str, name: &str) -> HashMap<Topic, i64> {
        let mut map = self.cursors.lock().expect("poisoned");
        match map.remove(&(user.to_owned(), name.to_owned())) {
            Some((at, cursors)) if at.elapsed() < TTL => cursors,
            _ => HashMap::new(),
        }
    }
}
