//! Identity: only a token signed with the configured key, in its validity
//! window, with the expected algorithm, gets through; everything else is a 401
//! with the JSON error body, and provisions nobody.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_error, b64url, spawn_app, spawn_app_with, TestApp};

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

/// An issuer's JWKS endpoint for one test (a local server, no network):
/// serves what `keys` holds at the time and counts the fetches.
async fn jwks_endpoint(keys: Arc<Mutex<Value>>, fetches: Arc<AtomicUsize>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding the JWKS endpoint");
    let address = listener.local_addr().expect("its address");
    let serve = axum::Router::new().route(
        "/auth/v1/.well-known/jwks.json",
        axum::routing::get(move || async move {
            fetches.fetch_add(1, Ordering::SeqCst);
            axum::Json(keys.lock().expect("poisoned").clone())
        }),
    );
    tokio::spawn(async move { axum::serve(listener, serve).await });
    format!("http://{address}/auth/v1/.well-known/jwks.json")
}

/// An Ed25519 signing key made for the test: its public JWK under `kid`, and a token signer.
fn ed25519_key(kid: &str) -> (Value, impl Fn(&str) -> String) {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).expect("an Ed25519 key");
    let jwk = json!({ "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "kid": kid,
                      "x": b64url(pair.public_key_raw()) });
    let key = jsonwebtoken::EncodingKey::from_ed_pem(pair.serialize_pem().as_bytes())
        .expect("the key as PEM");
    // the key signs; the kid it names is the token's own
    let sign = move |named_kid: &str| {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some(named_kid.to_owned());
        jsonwebtoken::encode(&header, &claims("rotated", "authenticated"), &key).expect("signing")
    };
    (jwk, sign)
}

#[tokio::test]
async fn a_jwks_url_is_fetched_again_for_a_new_key_id_at_most_once_per_interval() {
    let (k1, sign_k1) = ed25519_key("k1");
    let (k2, sign_k2) = ed25519_key("k2");
    let keys = Arc::new(Mutex::new(json!({ "keys": [k1.clone()] })));
    let fetches = Arc::new(AtomicUsize::new(0));
    let url = jwks_endpoint(keys.clone(), fetches.clone()).await;
    let app = spawn_app_with(|c| c.auth.jwt_jwks = Some(url)).await;
    assert_eq!(fetches.load(Ordering::SeqCst), 1, "read at start-up");
    assert_eq!(app.get(&sign_k1("k1"), PROTECTED).await.0, StatusCode::OK);

    // the issuer rotates: its first token under the new key is accepted
    *keys.lock().expect("poisoned") = json!({ "keys": [k1, k2] });
    assert_eq!(app.get(&sign_k2("k2"), PROTECTED).await.0, StatusCode::OK);
    assert_eq!(fetches.load(Ordering::SeqCst), 2, "fetched again for k2");
    assert_eq!(app.get(&sign_k2("k2"), PROTECTED).await.0, StatusCode::OK);

    // made-up key ids: refused, and the issuer is not asked again within the interval
    let forged: Vec<_> = (0..20).map(|i| sign_k2(&format!("made-up-{i}"))).collect();
    let answers =
        futures::future::join_all(forged.iter().map(|token| app.get(token, PROTECTED))).await;
    for answer in &answers {
        assert_error(answer, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 2, "rate-limited");
    assert_eq!(app.get(&sign_k1("k1"), PROTECTED).await.0, StatusCode::OK);
}
