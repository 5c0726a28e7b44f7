//! Broadcast and presence (placeholder while being built).
use crate::auth::Identity;
use crate::compat::supabase::phoenix::{Incoming, Vsn};
use axum::extract::ws::Message;
use serde_json::Value;
use std::collections::HashMap;

#[derive(Clone, Debug, Default)]
pub struct ChannelConfig;
impl ChannelConfig {
    pub fn parse(_config: &Value) -> Result<Self, String> {
        Ok(Self)
    }
}
pub enum Ack {
    Silent,
    Reply,
}
#[derive(Default)]
pub struct Relay;
impl Relay {
    pub fn member(&self) -> Member {
        Member
    }
}
pub struct Member;
pub struct Relayed;
impl Relayed {
    pub fn frames<C>(
        &self,
        _vsn: Vsn,
        _channels: &HashMap<String, C>,
        _member: &Member,
    ) -> Vec<Message> {
        Vec::new()
    }
}
impl Member {
    pub async fn next(&mut self) -> Option<Relayed> {
        std::future::pending().await
    }
    pub async fn push(
        &mut self,
        _topic: &str,
        _c: &ChannelConfig,
        _frame: &Incoming,
    ) -> Result<Ack, String> {
        Err("not yet".into())
    }
    pub async fn join(
        &mut self,
        _topic: &str,
        _c: &ChannelConfig,
        _caller: &Identity,
    ) -> Option<Value> {
        None
    }
    pub async fn leave(&mut self, _topic: &str) {}
}
