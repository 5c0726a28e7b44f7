//! The SockJS sessions of the xhr transports on this node. A session outlives
//! the requests that carry it: `xhr_streaming` or `xhr` requests take its
//! outgoing frames (one receiver at a time), `xhr_send` requests bring its
//! incoming ones. Each session runs one STOMP connection (`stomp::session`)
//! in a task of its own.
//!
//! Bounded: at most `PGCHAT_SOCKJS_MAX_SESSIONS` sessions (then 503), each
//! with bounded queues both ways (`stomp::ws::{INBOUND, OUTBOUND}`: a receiver
//! that stops taking frames lets the outgoing queue fill, and the STOMP
//! connection is evicted by the session core's write deadline); a session with
//! no receiver for [`DISCONNECT_DELAY`] is closed and forgotten.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{mpsc, OwnedMutexGuard};

use crate::compat::stomp::session::{self, Link};
use crate::compat::stomp::ws::{INBOUND, OUTBOUND};
use crate::compat::stomp::StompState;
use crate::error::ApiError;

/// A session without a receiver for this long is closed (SockJS's default).
pub const DISCONNECT_DELAY: Duration = Duration::from_secs(5);

/// A session's outgoing frames, held by its one receiver at a time.
pub type Receiver = OwnedMutexGuard<mpsc::Receiver<String>>;

pub struct Sessions {
    table: Mutex<HashMap<String, Arc<Entry>>>,
    max: usize,
}

pub struct Entry {
    /// Taken (closed) when the session times out: the STOMP connection ends.
    inbound: Mutex<Option<mpsc::Sender<Bytes>>>,
    outbound: Arc<tokio::sync::Mutex<mpsc::Receiver<String>>>,
    /// When a receiver last came or went.
    seen: Mutex<Instant>,
}

impl Entry {
    /// The outgoing frames, unless another receiver holds them.
    pub fn receiver(&self) -> Option<Receiver> {
        let receiver = self.outbound.clone().try_lock_owned().ok()?;
        self.touch();
        Some(receiver)
    }

    pub fn touch(&self) {
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    /// Where received messages go (`None`: the session is closing).
    pub fn inbound(&self) -> Option<mpsc::Sender<Bytes>> {
        self.inbound
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// No receiver for longer than the disconnect delay.
    fn idle(&self) -> bool {
        let seen = *self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.elapsed() > DISCONNECT_DELAY && self.outbound.try_lock().is_ok()
    }

    fn close_inbound(&self) {
        self.inbound
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }
}

impl Sessions {
    pub fn new(max: usize) -> Self {
        Self {
            table: Mutex::new(HashMap::new()),
            max,
        }
    }

    pub fn get(&self, id: &str) -> Option<Arc<Entry>> {
        self.table
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }

    /// The session `id`, and whether it was opened now (its STOMP connection
    /// started; the receiver answers `o` first).
    pub fn open(
        self: &Arc<Self>,
        id: &str,
        state: &StompState,
        peer: IpAddr,
    ) -> Result<(Arc<Entry>, bool), ApiError> {
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = table.get(id) {
            return Ok((entry.clone(), false));
        }
        if table.len() >= self.max {
            return Err(ApiError::Unavailable(
                "too many SockJS sessions on this node; retry later".into(),
            ));
        }
        let (inbound_tx, inbound) = mpsc::channel(INBOUND);
        let (outbound, outbound_rx) = mpsc::channel(OUTBOUND);
        let entry = Arc::new(Entry {
            inbound: Mutex::new(Some(inbound_tx)),
            outbound: Arc::new(tokio::sync::Mutex::new(outbound_rx)),
            seen: Mutex::new(Instant::now()),
        });
        table.insert(id.to_owned(), entry.clone());
        drop(table);
        // Counted while its STOMP connection runs, so a graceful stop waits for
        // it; its last frames then leave with a receiving request, which the
        // drain lets finish.
        let open = state.realtime.realtime.metrics.open_socket();
        let serve = session::serve(state.clone(), peer, Link { inbound, outbound });
        let connection = async move {
            serve.await;
            drop(open);
        };
        tokio::spawn(watch(
            self.clone(),
            id.to_owned(),
            entry.clone(),
            connection,
        ));
        Ok((entry, true))
    }

    fn remove(&self, id: &str, entry: &Arc<Entry>) {
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        if table.get(id).is_some_and(|e| Arc::ptr_eq(e, entry)) {
            table.remove(id);
        }
    }
}

/// Runs a session's STOMP connection; closes it when no receiver came for the
/// disconnect delay, and forgets the session once it ended and was left alone
/// that long (so its last receiver could read `c[…]`).
async fn watch(
    sessions: Arc<Sessions>,
    id: String,
    entry: Arc<Entry>,
    connection: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(connection);
    let mut ended = false;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            () = &mut connection, if !ended => ended = true,
            _ = tick.tick() => {
                if entry.idle() {
                    if ended {
                        break;
                    }
                    entry.close_inbound();
                }
            }
        }
    }
    sessions.remove(&id, &entry);
}
