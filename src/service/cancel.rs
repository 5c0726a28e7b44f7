//! Reads that stop when their caller goes away. tokio-postgres does not cancel
//! a query when its future is dropped: the server runs it to the end and the
//! pooled connection stays busy meanwhile, so a few clients that send an
//! expensive request and hang up could hold the whole pool.

use std::ops::{Deref, DerefMut};

use tokio_postgres::NoTls;

use crate::db::Client;

/// A pooled connection for a long read. Ended with [`CancelOnDrop::finish`], it
/// goes back to the pool. Dropped before that — the request's future was
/// dropped because its client disconnected — it leaves the pool for good,
/// PostgreSQL is asked to cancel what runs on it, and it is closed: a cancel
/// sent late can only hit this connection, never another request's query.
pub struct CancelOnDrop(Option<Client>);

impl CancelOnDrop {
    pub fn new(client: Client) -> Self {
        Self(Some(client))
    }

    /// The read is over (answered or failed): the connection is reusable.
    pub fn finish(mut self) {
        self.0.take();
    }
}

impl Deref for CancelOnDrop {
    type Target = Client;
    fn deref(&self) -> &Client {
        self.0.as_ref().expect("present until finished or dropped")
    }
}

impl DerefMut for CancelOnDrop {
    fn deref_mut(&mut self) -> &mut Client {
        self.0.as_mut().expect("present until finished or dropped")
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let Some(client) = self.0.take() else {
            return;
        };
        let token = client.cancel_token();
        let detached = Client::take(client);
        tokio::spawn(async move {
            if let Err(error) = token.cancel_query(NoTls).await {
                tracing::debug!(%error, "cancelling an abandoned query");
            }
            drop(detached);
        });
    }
}
