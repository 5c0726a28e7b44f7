//! Limits against floods, kept in memory per node: a token bucket per user for
//! each kind of write ([`Write`]), counts of open realtime sessions (WebSocket,
//! SSE and long poll alike: `realtime::session` takes the permit) per user and
//! per client address, and how long one request's SQL may run. Exceeding a
//! rate or a count is a 429 with `Retry-After` (an `error` frame with
//! `retry_after` on a socket).
//!
//! Rates are taken by the services ([`check`]), not by the transports, so an
//! operation costs the same over REST, a WebSocket or any later transport.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::auth::Identity;
use crate::config::LimitsConfig;
use crate::db::Db;
use crate::error::ApiError;

/// The kinds of write a user makes; each has its own bucket per user, so a
/// flood of one kind does not starve the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Write {
    /// Messages (REST and WebSocket, one bucket): `PGCHAT_SEND_RATE` per second.
    Send,
    /// Typing and presence announcements: `PGCHAT_EPHEMERAL_RATE` per second.
    Ephemeral,
    /// Edits, deletes and pins of messages.
    Edit,
    /// Reactions added or taken back.
    React,
    /// Support sessions opened (besides the cap on open sessions).
    SessionOpen,
    /// Rooms and direct conversations created.
    RoomCreate,
    /// Everything else done to rooms and conversations: settings, joins,
    /// leaves, invites, member roles and bans, flags, delete-for-me.
    RoomWrite,
    /// Uploads declared.
    Upload,
}

impl Write {
    const ALL: [Write; 8] = [
        Write::Send,
        Write::Ephemeral,
        Write::Edit,
        Write::React,
        Write::SessionOpen,
        Write::RoomCreate,
        Write::RoomWrite,
        Write::Upload,
    ];

    /// The bucket this kind gets under `config` (None: unlimited).
    fn quota(self, config: &LimitsConfig) -> Option<Quota> {
        let per_second = |rate: u32, burst: u32| {
            let rate = NonZeroU32::new(rate)?;
            Some(Quota::per_second(rate).allow_burst(NonZeroU32::new(burst.max(rate.get()))?))
        };
        // Per-minute rates allow a minute's worth at once, then refill evenly.
        let per_minute = |rate: u32| NonZeroU32::new(rate).map(Quota::per_minute);
        match self {
            Write::Send => per_second(config.send_rate, config.send_burst),
            Write::Ephemeral => per_second(
                config.ephemeral_rate,
                config.ephemeral_rate.saturating_mul(2),
            ),
            Write::Edit => per_minute(config.edit_rate),
            Write::React => per_minute(config.reaction_rate),
            Write::SessionOpen => per_minute(config.session_open_rate),
            Write::RoomCreate => per_minute(config.room_create_rate),
            Write::RoomWrite => per_minute(config.room_write_rate),
            Write::Upload => per_minute(config.upload_rate),
        }
    }
}

/// Takes one `write` from the caller's bucket; a [`Db`] without limits (a
/// test's or a tool's) takes nothing.
pub fn check(db: &Db, write: Write, caller: &Identity) -> Result<(), ApiError> {
    db.limits()
        .map_or(Ok(()), |limits| limits.take(write, caller))
}

pub struct Limits {
    buckets: HashMap<Write, DefaultKeyedRateLimiter<String>>,
    config: LimitsConfig,
    open: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    by_user: HashMap<String, usize>,
    by_ip: HashMap<IpAddr, usize>,
}

impl Limits {
    pub fn new(config: &LimitsConfig) -> Self {
        let buckets = Write::ALL
            .into_iter()
            .filter_map(|write| Some((write, RateLimiter::keyed(write.quota(config)?))))
            .collect();
        Self {
            buckets,
            config: config.clone(),
            open: Mutex::default(),
        }
    }

    /// Takes one `write` from the caller's bucket.
    fn take(&self, write: Write, caller: &Identity) -> Result<(), ApiError> {
        let Some(bucket) = self.buckets.get(&write) else {
            return Ok(());
        };
        bucket.check_key(&caller.sub).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            ApiError::RateLimited {
                retry_after_secs: wait.as_secs().max(1),
            }
        })
    }

    /// How long one statement of a request may run (`PGCHAT_STATEMENT_TIMEOUT_MS`;
    /// zero: no limit). `Db::begin_as` sets it for the request's transaction.
    pub fn statement_timeout(&self) -> Duration {
        Duration::from_millis(self.config.statement_timeout_ms)
    }

    /// The most waiting or active support sessions a customer may have (0: no cap).
    pub fn max_open_sessions(&self) -> i32 {
        i32::try_from(self.config.max_open_sessions).unwrap_or(i32::MAX)
    }

    /// The most words a search query may have (`PGCHAT_SEARCH_MAX_TERMS`; 0: no bound).
    pub fn search_max_terms(&self) -> usize {
        self.config.search_max_terms
    }

    /// Forgets buckets that are full again (bounded memory with many users).
    pub fn sweep(&self) {
        for bucket in self.buckets.values() {
            bucket.retain_recent();
            bucket.shrink_to_fit();
        }
    }

    /// Admits one more realtime session (any transport) for `caller` from
    /// `ip`; dropping the permit gives its place back.
    pub fn admit(self: &Arc<Self>, caller: &Identity, ip: IpAddr) -> Result<Permit, ApiError> {
        let mut open = self.open.lock().expect("poisoned");
        let user = open.by_user.get(&caller.sub).copied().unwrap_or(0);
        let from_ip = open.by_ip.get(&ip).copied().unwrap_or(0);
        let full = |limit: usize, count: usize| limit > 0 && count >= limit;
        if full(self.config.ws_max_per_user, user) || full(self.config.ws_max_per_ip, from_ip) {
            return Err(ApiError::RateLimited {
                retry_after_secs: 5,
            });
        }
        *open.by_user.entry(caller.sub.clone()).or_default() += 1;
        *open.by_ip.entry(ip).or_default() += 1;
        Ok(Permit {
            limits: self.clone(),
            user: caller.sub.clone(),
            ip,
        })
    }
}

/// An open realtime session's place in the counts.
pub struct Permit {
    limits: Arc<Limits>,
    user: String,
    ip: IpAddr,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut open = self.limits.open.lock().expect("poisoned");
        let Open { by_user, by_ip } = &mut *open;
        release(by_user, &self.user);
        release(by_ip, &self.ip);
    }
}

fn release<K: std::hash::Hash + Eq>(counts: &mut HashMap<K, usize>, key: &K) {
    if let Some(count) = counts.get_mut(key) {
        *count -= 1;
        if *count == 0 {
            counts.remove(key);
        }
    }
}
