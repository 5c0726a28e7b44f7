//! Limits against floods, kept in memory per node: a token bucket of sends per
//! user (REST and WebSocket together), and counts of open realtime sessions
//! (WebSocket, SSE and long poll alike: `realtime::session` takes the permit)
//! per user and per client address. Exceeding one is a 429 with `Retry-After`
//! (an `error` frame with `retry_after` on a socket).

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::auth::Identity;
use crate::config::LimitsConfig;
use crate::error::ApiError;

pub struct Limits {
    sends: Option<DefaultKeyedRateLimiter<String>>,
    /// Typing and presence announcements per user.
    ephemeral: Option<DefaultKeyedRateLimiter<String>>,
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
        let sends = NonZeroU32::new(config.send_rate).map(|rate| {
            let burst = NonZeroU32::new(config.send_burst.max(config.send_rate)).unwrap_or(rate);
            RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        let ephemeral = NonZeroU32::new(config.ephemeral_rate).map(|rate| {
            let burst = NonZeroU32::new(config.ephemeral_rate.saturating_mul(2)).unwrap_or(rate);
            RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        Self {
            sends,
            ephemeral,
            config: config.clone(),
            open: Mutex::default(),
        }
    }

    /// Takes one send from the caller's bucket.
    pub fn check_send(&self, caller: &Identity) -> Result<(), ApiError> {
        Self::take(self.sends.as_ref(), caller)
    }

    /// Takes one typing or presence announcement from the caller's bucket.
    pub fn check_ephemeral(&self, caller: &Identity) -> Result<(), ApiError> {
        Self::take(self.ephemeral.as_ref(), caller)
    }

    fn take(
        bucket: Option<&DefaultKeyedRateLimiter<String>>,
        caller: &Identity,
    ) -> Result<(), ApiError> {
        let Some(bucket) = bucket else {
            return Ok(());
        };
        bucket.check_key(&caller.sub).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            ApiError::RateLimited {
                retry_after_secs: wait.as_secs().max(1),
            }
        })
    }

    /// Forgets buckets that are full again (bounded memory with many users).
    pub fn sweep(&self) {
        for bucket in [&self.sends, &self.ephemeral].into_iter().flatten() {
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
