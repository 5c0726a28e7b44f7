//! Outside protocols, each a thin adapter over the realtime session core.

pub mod sockjs;
pub mod stomp;
