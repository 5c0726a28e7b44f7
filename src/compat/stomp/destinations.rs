//! pgchat's STOMP destinations: what a SUBSCRIBE or a SEND names, parsed once.
//!
//! - `/topic/chat/{id}` — the chat's messages (new, edited, deleted);
//!   `/topic/chat/{id}/typing`, `/read`, `/presence` — who types, read
//!   positions, members joining and leaving;
//! - `/app/chat/{id}/send|typing|read|join|leave` — what a client does;
//! - `/user/queue/inbox` — the caller's own inbox events.
//!
//! `{id}` is a support session's id or a conversation's (`session::Chats`
//! resolves it); the chat's events all travel on one pgchat topic, the
//! conversation, and [`Feed`] says which part of it a subscription wants.

use uuid::Uuid;

/// The part of a chat's events one subscription receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Feed {
    Messages,
    Typing,
    Read,
    Presence,
}

/// Something a client may SUBSCRIBE to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subscription {
    Chat { id: Uuid, feed: Feed },
    Inbox,
}

/// What a client may SEND to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Send,
    Typing,
    Read,
    Join,
    Leave,
}

pub const INBOX: &str = "/user/queue/inbox";

pub fn subscription(destination: &str) -> Option<Subscription> {
    if destination == INBOX {
        return Some(Subscription::Inbox);
    }
    let rest = destination.strip_prefix("/topic/chat/")?;
    let (id, feed) = match rest.split_once('/') {
        None => (rest, Feed::Messages),
        Some((id, "typing")) => (id, Feed::Typing),
        Some((id, "read")) => (id, Feed::Read),
        Some((id, "presence")) => (id, Feed::Presence),
        Some(_) => return None,
    };
    let id = Uuid::parse_str(id).ok()?;
    Some(Subscription::Chat { id, feed })
}

pub fn action(destination: &str) -> Option<(Uuid, Action)> {
    let rest = destination.strip_prefix("/app/chat/")?;
    let (id, action) = rest.split_once('/')?;
    let action = match action {
        "send" => Action::Send,
        "typing" => Action::Typing,
        "read" => Action::Read,
        "join" => Action::Join,
        "leave" => Action::Leave,
        _ => return None,
    };
    Some((Uuid::parse_str(id).ok()?, action))
}

/// The destination a chat's feed is delivered under (a MESSAGE's `destination`).
pub fn chat_destination(id: Uuid, feed: Feed) -> String {
    match feed {
        Feed::Messages => format!("/topic/chat/{id}"),
        Feed::Typing => format!("/topic/chat/{id}/typing"),
        Feed::Read => format!("/topic/chat/{id}/read"),
        Feed::Presence => format!("/topic/chat/{id}/presence"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_parse_and_print_back() {
        let id = Uuid::new_v4();
        for feed in [Feed::Messages, Feed::Typing, Feed::Read, Feed::Presence] {
            let name = chat_destination(id, feed);
            assert_eq!(
                subscription(&name),
                Some(Subscription::Chat { id, feed }),
                "{name}"
            );
        }
        assert_eq!(subscription(INBOX), Some(Subscription::Inbox));
        assert_eq!(
            action(&format!("/app/chat/{id}/send")),
            Some((id, Action::Send))
        );
        assert_eq!(
            action(&format!("/app/chat/{id}/leave")),
            Some((id, Action::Leave))
        );
        for bad in [
            "/topic/chat/nope",
            &format!("/topic/chat/{id}/other"),
            &format!("/topic/chat/{id}/typing/x"),
            "/queue/x",
            "",
        ] {
            assert_eq!(subscription(bad), None, "{bad}");
        }
        assert_eq!(action(&format!("/app/chat/{id}")), None);
        assert_eq!(action(&format!("/app/chat/{id}/dance")), None);
    }
}
