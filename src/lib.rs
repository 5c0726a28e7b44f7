//! pgchat: a realtime chat and support-desk backend whose one source of truth is
//! PostgreSQL. See ARCHITECTURE.md for the map.

pub mod auth;
pub mod bench;
pub mod client_addr;
pub mod compat;
pub mod config;
pub mod db;
pub mod desk;
pub mod domain;
pub mod embedded;
pub mod error;
pub mod extract;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod pg_listen;
pub mod realtime;
pub mod service;
pub mod startup;
pub mod storage;
pub mod supervisor;
pub mod telemetry;
