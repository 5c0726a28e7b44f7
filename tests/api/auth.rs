//! Identity: only a token signed with the configured key, in its validity
//! window, with the expected algorithm, gets through; everything else is a 401
//! with the JSON error body, and provisions nobody.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_error, b64url, spawn_app, TestApp};

const PROTECTED: &str = "/v1/support/sessions";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A JWT made by hand from a header and claims, with an HS256/384/512 signature
/// under `secret` (or the given raw signature part).
fn jwt(header: &Value, claims: &Value, signature: Signature<'_>) -> String {
    let signing_input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let signature = match signature {
        Signature::Raw(raw) => raw.to_owned(),
        Signature::Hmac(alg, secret) => {
            let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes());
            jsonwebtoken::crypto::sign(signing_input.as_bytes(), &key, alg).expect("signing")
        }
    };
    format!("{signing_input}.{signature}")
}

enum Signature<'a> {
    Raw(&'a str),
    Hmac(jsonwebtoken::Algorithm, &'a str),
}

fn claims(sub: &str, role: &str) -> Value {
    json!({ "sub": sub, "role": role, "exp": now() + 3600, "iat": now() })
}

/// Asserts that `token` is refused with 401 on a protected route and that no
/// user row was provisioned for it.
async fn assert_refused(app: &TestApp, token: &str) {
    let response = app
        .call(app.http.get(app.url(PROTECTED)).bearer_auth(token))
        .await;
    assert_error(&response, StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(
        app.count("SELECT count(*) FROM users").await,
        0,
        "a refused token provisioned a user: {token}"
    );
}

#[tokio::test]
async fn a_valid_token_is_accepted() {
    let app = spawn_app().await;
    let (status, body) = app.get(&app.token("alice", "user"), PROTECTED).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["items"], json!([]));
}

#[tokio::test]
async fn a_request_without_a_token_is_unauthorized() {
    let app = spawn_app().await;
    let response = app.call(app.http.get(app.url(PROTECTED))).await;
    assert_error(&response, StatusCode::UNAUTHORIZED, "unauthorized");

    let post = app
        .call(
            app.http
                .post(app.url(PROTECTED))
                .json(&json!({ "subject": "x", "message": { "body": "x", "client_msg_id": uuid::Uuid::new_v4() } })),
        )
        .await;
    assert_error(&post, StatusCode::UNAUTHORIZED, "unauthorized");

    for header in [
        "",
        "Bearer",
        "Bearer ",
        "Basic YWxpY2U6c2VjcmV0",
        "Token abc",
    ] {
        let response = app
            .call(
                app.http
                    .get(app.url(PROTECTED))
                    .header("authorization", header),
            )
            .await;
        assert_error(&response, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    assert_eq!(app.count("SELECT count(*) FROM users").await, 0);
}

#[tokio::test]
async fn a_garbage_token_is_unauthorized() {
    let app = spawn_app().await;
    for token in ["garbage", "a.b.c", "..", "e30.e30.", "😀.😀.😀"] {
        assert_refused(&app, token).await;
    }
}

#[tokio::test]
async fn an_expired_token_is_unauthorized() {
    let app = spawn_app().await;
    let expired = pgchat::auth::mint(
        &app.secret,
        "alice",
        pgchat::auth::Role::User,
        None,
        None,
        -3600,
    )
    .expect("minting");
    assert_refused(&app, &expired).await;
}

#[tokio::test]
async fn a_token_not_yet_valid_is_unauthorized() {
    let app = spawn_app().await;
    let mut early = claims("alice", "user");
    early["nbf"] = json!(now() + 3600);
    let token = jwt(
        &json!({ "alg": "HS256", "typ": "JWT" }),
        &early,
        Signature::Hmac(jsonwebtoken::Algorithm::HS256, &app.secret),
    );
    assert_refused(&app, &token).await;
}

#[tokio::test]
async fn a_token_with_a_tampered_payload_is_unauthorized() {
    let app = spawn_app().await;
    let genuine = app.token("mallory", "user");
    let parts: Vec<&str> = genuine.split('.').collect();
    assert_eq!(parts.len(), 3);
    // Same header and signature, payload promoted to admin.
    let forged_payload = b64url(claims("mallory", "admin").to_string().as_bytes());
    let tampered = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
    assert_refused(&app, &tampered).await;

    // Another user's identity under the genuine signature.
    let other_payload = b64url(claims("alice", "user").to_string().as_bytes());
    assert_refused(&app, &format!("{}.{other_payload}.{}", parts[0], parts[2])).await;
}

#[tokio::test]
async fn a_token_signed_with_another_key_is_unauthorized() {
    let app = spawn_app().await;
    let wrong = pgchat::auth::mint(
        "not-the-server-secret",
        "alice",
        pgchat::auth::Role::Admin,
        None,
        None,
        3600,
    )
    .expect("minting");
    assert_refused(&app, &wrong).await;
}

#[tokio::test]
async fn an_unsigned_alg_none_token_is_unauthorized() {
    let app = spawn_app().await;
    let genuine = app.token("mallory", "admin");
    let genuine_signature = genuine.rsplit('.').next().expect("a signature");
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = json!({ "alg": alg, "typ": "JWT" });
        let admin = claims("mallory", "admin");
        assert_refused(&app, &jwt(&header, &admin, Signature::Raw(""))).await;
        assert_refused(
            &app,
            &jwt(&header, &admin, Signature::Raw(genuine_signature)),
        )
        .await;
    }
}

#[tokio::test]
async fn a_token_with_an_algorithm_other_than_hs256_is_unauthorized() {
    let app = spawn_app().await;
    use jsonwebtoken::Algorithm::{HS384, HS512};
    for (name, alg) in [("HS384", HS384), ("HS512", HS512)] {
        // Signed with the right secret, but not with the one algorithm configured.
        let token = jwt(
            &json!({ "alg": name, "typ": "JWT" }),
            &claims("alice", "user"),
            Signature::Hmac(alg, &app.secret),
        );
        assert_refused(&app, &token).await;
    }
    // An RS256 header over an HMAC signature made with the secret (key confusion).
    let token = jwt(
        &json!({ "alg": "RS256", "typ": "JWT" }),
        &claims("alice", "user"),
        Signature::Raw(&b64url(b"not an rsa signature")),
    );
    assert_refused(&app, &token).await;
}

#[tokio::test]
async fn a_token_missing_exp_or_sub_or_with_a_bad_subject_is_unauthorized() {
    let app = spawn_app().await;
    let header = json!({ "alg": "HS256", "typ": "JWT" });
    let signed = |claims: Value| {
        jwt(
            &header,
            &claims,
            Signature::Hmac(jsonwebtoken::Algorithm::HS256, &app.secret),
        )
    };
    let too_long = "x".repeat(201);
    for bad in [
        json!({ "sub": "alice", "role": "user" }),
        json!({ "role": "user", "exp": now() + 3600 }),
        json!({ "sub": "", "role": "user", "exp": now() + 3600 }),
        json!({ "sub": too_long, "role": "user", "exp": now() + 3600 }),
        json!({ "sub": "al\u{0}ice", "role": "user", "exp": now() + 3600 }),
        json!({ "sub": "alice", "role": "superuser", "exp": now() + 3600 }),
        json!({ "sub": "alice", "role": "user", "exp": "tomorrow" }),
    ] {
        assert_refused(&app, &signed(bad)).await;
    }
}
