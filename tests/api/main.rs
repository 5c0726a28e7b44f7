//! The integration tests: one binary, a module per feature. Each test starts
//! the real server on port 0 with a database of its own (see `helpers`).
//!
//! `cargo test --test api` uses `DATABASE_URL` when set (a server on which the
//! tests may create databases), otherwise a private PostgreSQL cluster in the
//! temp folder, shared by test runs. `TEST_LOG=1` shows the server's logs.

mod abuse;
mod ai;
mod assignment;
mod attachments;
mod auth;
mod auto_translate;
mod background;
mod bad_input;
mod business_hours;
mod canned;
mod chaos;
mod chat_helpers;
mod contact_context;
mod deletion;
mod deployment;
mod desk;
mod direct;
mod email;
mod faults;
mod fuzz;
mod group_commit;
mod helpers;
mod hostile;
mod injection;
mod jwt_attacks;
mod lifecycle;
mod limits;
mod load_balancer;
mod message_features;
mod messages;
mod moderation;
mod moderation_live;
mod notifications;
mod operations;
mod polls;
mod realtime;
mod reports;
mod revocation;
mod rls;
mod rooms;
mod rooms_profile;
mod rooms_realtime;
mod routes;
mod s3_server;
mod security_matrix;
mod session_core;
mod settings;
mod socket_parity;
mod stats;
mod stomp;
mod stub_http;
mod support;
mod teams;
mod tls;
mod web;
mod ws_client;
