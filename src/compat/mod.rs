//! Outside protocols: adapters that let clients written for other systems talk
//! to pgchat, each a thin layer over the same services and the realtime
//! session core.

pub mod sockjs;
pub mod stomp;
pub mod supabase;
