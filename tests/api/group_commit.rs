//! Group commit: concurrent sends share transactions, yet each is checked under
//! its own sender's identity, stored once, and acknowledged only after COMMIT.

use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{as_id, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_sends_share_commits_but_each_is_checked_as_its_own_sender() {
    let app = spawn_app().await;
    let mut chats = Vec::new();
    for i in 0..6 {
        let token = app.token(&format!("c{i}"), "user");
        let session = app.open_session(&token).await;
        chats.push((token, session["conversation_id"].clone()));
    }
    let stranger = app.token("stranger", "user");
    let before = app.counts().await;

    // 120 sends at once: most allowed, some into foreign conversations, some
    // customer "internal notes" — all in the same batches.
    let sends = (0..120).map(|n| {
        let (token, conversation) = &chats[n % chats.len()];
        let (token, internal, expected) = match n % 10 {
            7 => (&stranger, false, StatusCode::NOT_FOUND),
            8 => (token, true, StatusCode::FORBIDDEN),
            _ => (token, false, StatusCode::CREATED),
        };
        let body = json!({ "body": format!("m{n}"), "client_msg_id": Uuid::new_v4(), "internal": internal });
        let app = &app;
        async move { (app.send_json(token, conversation, &body).await, expected) }
    });
    let results = futures::future::join_all(sends).await;
    let mut created = Vec::new();
    for ((status, body), expected) in &results {
        assert_eq!(status, expected, "{body}");
        if *status == StatusCode::CREATED {
            created.push(body.clone());
        }
    }
    assert_eq!(created.len(), 96);
    assert_eq!(
        app.counts().await.messages,
        before.messages + 96,
        "exactly the allowed ones"
    );

    // Acked means committed: every acked id is in the table.
    let ids: Vec<Uuid> = created
        .iter()
        .map(|m| Uuid::parse_str(as_id(&m["id"])).unwrap())
        .collect();
    let stored = app
        .db
        .query_one(
            "SELECT count(*) FROM chat_messages WHERE id = ANY($1)",
            &[&ids],
        )
        .await
        .unwrap()
        .get::<_, i64>(0);
    assert_eq!(stored, 96);
    // Batching happened: fewer transactions than messages.
    let transactions = app
        .db
        .query_one(
            "SELECT count(DISTINCT xmin::text) FROM chat_messages WHERE id = ANY($1)",
            &[&ids],
        )
        .await
        .unwrap()
        .get::<_, i64>(0);
    assert!(
        transactions < 96,
        "{transactions} transactions for 96 messages"
    );
    // Each conversation's seqs are distinct and the counter moved once per row.
    let gaps = app
        .count(
            "SELECT count(*) FROM (SELECT conversation_id, count(*) AS n, count(DISTINCT seq) AS d
                                     FROM chat_messages GROUP BY 1) x WHERE n <> d",
        )
        .await;
    assert_eq!(gaps, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retry_inside_the_same_batch_is_answered_with_the_stored_message() {
    let app = spawn_app().await;
    let token = app.token("retrier", "user");
    let session = app.open_session(&token).await;
    let conversation = &session["conversation_id"];
    let seq_before = app
        .count(&format!(
            "SELECT last_seq FROM conversations WHERE id = '{}'",
            as_id(conversation)
        ))
        .await;
    let message = json!({ "body": "once", "client_msg_id": Uuid::new_v4() });
    let others =
        (0..30).map(|n| json!({ "body": format!("other {n}"), "client_msg_id": Uuid::new_v4() }));
    let all: Vec<_> = std::iter::repeat_n(message.clone(), 10)
        .chain(others)
        .collect();
    let results =
        futures::future::join_all(all.iter().map(|m| app.send_json(&token, conversation, m))).await;
    let copies: Vec<_> = results
        .iter()
        .filter(|(_, m)| m["body"] == "once")
        .collect();
    assert_eq!(copies.len(), 10);
    assert_eq!(
        copies
            .iter()
            .filter(|(s, _)| *s == StatusCode::CREATED)
            .count(),
        1
    );
    assert!(copies.iter().all(|(_, m)| m["id"] == copies[0].1["id"]));
    let seq_after = app
        .count(&format!(
            "SELECT last_seq FROM conversations WHERE id = '{}'",
            as_id(conversation)
        ))
        .await;
    assert_eq!(
        seq_after - seq_before,
        31,
        "one seq per stored message, none for retries"
    );
}

/// A batch asks the write rule once per sender and conversation, not once
/// per item. The planner pulls a plain CTE up into its one use, and then
/// called `can_write` (and the moderation settings) for every item: a third
/// of a batch's time, measured.
#[tokio::test]
async fn a_batch_asks_the_write_rule_once_per_sender_and_conversation() {
    let app = spawn_app().await;
    let mut items = Vec::new();
    let mut senders = serde_json::Map::new();
    for who in ["pa", "pb"] {
        let token = app.token(who, "user");
        let session = app.open_session(&token).await;
        senders.insert(who.into(), json!("user"));
        for n in 0..6 {
            items.push(
                json!({ "sub": who, "role": "user", "conversation_id": session["conversation_id"],
                               "client_msg_id": Uuid::new_v4(), "kind": "text",
                               "body": format!("{who} {n}"), "internal": false }),
            );
        }
    }
    let (items, senders) = (json!(items), serde_json::Value::Object(senders));
    let (rows, calls) = app
        .calls_of(
            "write_refusal",
            "",
            "SELECT outcome FROM pgchat.send_batch($1, $2)",
            &[&items, &senders],
        )
        .await;
    assert_eq!(rows.len(), 12);
    assert!(rows.iter().all(|r| r.get::<_, &str>(0) == "created"));
    // two pairs, each asked by the plan and by the insert policy
    assert!(
        calls <= 4,
        "the write rule was asked {calls} times for 2 pairs"
    );
    assert!(calls > 0, "the statistics counted nothing");
}
