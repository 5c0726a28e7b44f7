//! Adapters that let clients written for other systems talk to pgchat. Each
//! is a thin layer over the same services and the realtime session core.

pub mod supabase;
