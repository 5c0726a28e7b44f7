//! JWT attacks against a server that trusts an RSA public key (an outside
//! issuer, `PGCHAT_JWT_PUBLIC_KEY`): HS/RS key confusion, `alg: none`, an
//! expired or not-yet-valid token, a tampered payload, another key, keys
//! smuggled in the header. Every one is a 401, and provisions nobody.
//! (tests/api/auth.rs has the same attacks against the HS256 secret.)

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_error, b64url, spawn_app_with, TestApp};

/// Test-only RSA keys (made with `openssl genrsa 2048`; they protect nothing).
const ISSUER_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----\nMIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQCEvz+V6UhGznWB\n/CNMHRl5AFp8i7S5Ikm3OhZ82EYnNsVLiI8bnHxZaNrCkTbBOI1xg+B8BNttFu+i\njgvHjNe/ESRWqy6cUk2vfKQAupr1XAXNRbpuk8yZ+3MBaANJfJ8qUtHy5cRuVg8N\nVNjhyK8sAuZ6Wq+E8MYDdgqeSZ4nug02AEVrX1vIMQXbVt8fQqxMEwvqORQ5FYTj\njVArgeJ/JLYn3X/1QWKINISEPW5B/JIPwV0IpjpQEjRUhDsYXoo3zAUok4gUcyon\ndb7t2Hboye/HegEXquGJOlBaIrxMpzz/W/LjTG+wC0HtWFqIX3KhmNakt776oxyA\nh8X5S7ATAgMBAAECggEAAXoDIg7DQA5h3j1Iwzr7oo3vc702GG0aNtCNmXvqY9tH\nHIz7UopOE8yHymxFGKchY6bc42RGcJM1vTApT2HwsG5nYhNrZE/CD3aqeFubB6mr\nYtootbwtJXVXlSdsCfA58QWU0kfeBIAukK5l7zUFRc8Oc0P4+diXy0gP3Czjdnum\nOgRjANBofAIcUiiu/lHFNsiRKqB6+nx+JCq3bHnVJDUrfhY8JiYpj8JDwubb12WV\n6QB9LiQTZe4iv/PVGbTCCbgwrBFQyP2oSiyEnFhpUjQHiIIHx1vsp+IIr63veyz/\nK6nET5LCSWI2jJIaOuu4zKT+E77E7wrFMisEXmWucQKBgQC6IXlxHV+2RgW5uU8R\nPaNklgnaP1MxTGHlEIUBanjy3v5jD68IAmVC97b5U8F3Bp/af+5vgx2G5D0Qtb53\nm8+w96K/S+95LrDdxc1Hr2APCwP+Z8tyx9icx0GduAbiIzLSU13aKR26ewE4nwsX\nFSfmdOBepnzvYPy62EcXMMeZmQKBgQC2k8jXZQf4PMfNRHFzoXEXDkFl7Fa/0dj6\ni3HNGzHOQCwMa4Do46Z/G/bdTcOxnHw21ClALPNEGXjlFOk2etoWiXmNaMKpTYx4\nsAkcsPFS7oGO28v0A18UtzG86u7Yt9w9fakfoZOKqoEa8Kmwp468J+CZcisfB6s2\n1i47znfaiwKBgBCexJVRJibEgeZfoavMcTaeHysZ1HfmdidaHkZOF5a4SsbVs69n\nZ1tfezswO2pBcSy1l7jlYFGXN8yyLdvIUfdfZWznfu63OJvU+cuY4V72gNjKs+P/\n7FuzfyxyLksrEXKudwbv/POV4DoKGZdqEDIH5bEN9MH7SxX0EgUEGg6hAoGBALJd\ndDOBfySzdFqDh/Z3/LySb698EU+6WaiC/D1tWN3u8Vl82OYsKKc7EZQn+YuVngAO\nivIoN8wKuoHKSP+xS0gDLB3K/4lYumfZSj2eW1Qyr515+yk69fON+Ohf99D+5gmo\nrsW5GyO36QMBpDVxrE8DAjfGQnxBCLI80dQZpBt7AoGBAKt+UDG86M8JRKcgwTV2\nUIGpI2FZXTlB/u/qdOirREqM1exy6FEyDGk+37Em2zK9/e8slna9h3oForVH8oGp\nUoUwEeSBoIikZcWHzskO6VHyktBjNP39fHqFcwd1IVSxB5uSeTZNzCP7ubZj2OZj\nitjvCrn8LqLo9clgJokPDrgY\n-----END PRIVATE KEY-----";
const ISSUER_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAhL8/lelIRs51gfwjTB0Z\neQBafIu0uSJJtzoWfNhGJzbFS4iPG5x8WWjawpE2wTiNcYPgfATbbRbvoo4Lx4zX\nvxEkVqsunFJNr3ykALqa9VwFzUW6bpPMmftzAWgDSXyfKlLR8uXEblYPDVTY4civ\nLALmelqvhPDGA3YKnkmeJ7oNNgBFa19byDEF21bfH0KsTBML6jkUORWE441QK4Hi\nfyS2J91/9UFiiDSEhD1uQfySD8FdCKY6UBI0VIQ7GF6KN8wFKJOIFHMqJ3W+7dh2\n6Mnvx3oBF6rhiTpQWiK8TKc8/1vy40xvsAtB7VhaiF9yoZjWpLe++qMcgIfF+Uuw\nEwIDAQAB\n-----END PUBLIC KEY-----";
const ATTACKER_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDRgRq0DIQ26bOB\nqh0ZwIIISm9sqUy+EQMe4CebuYh2U/37wbEQRi/wRqZDN7E8no/CI5rPGtfehEt0\nurHf3KjPyPf0odNp7u1BcHAT7lhHDn0JMhMGrlsVtRxcAaENf8rUwNNwHo3/8x9i\nA4TWC63I31j0oGUccylKjSP+VMFJXZXhcis2Gt+IH4Jx3hpwIZoUvRqeiVJYacZ0\nzh/aDsIbtMoGRHlYs0PWsAptYtOvgBjilOIaat8O0FvDTlaV6LtLV0513fTz1/4p\ncySAHpSD8D02EN+nszb1FexdpHVO4Rs6NenHkaKqAS2+DXwtq32RBMQFxJGEhbJt\nvUrAoGrfAgMBAAECggEAEKP+EH4MBGaUrQBrlk+NpIXxCsL5xwEH6+xnCP34Ilny\niwwr+bxxc1bRPvaN++AmUAfO9JNPwStl6OwpU7wtpm9yjnpKFhh1vORm6pZcaaxz\nbwcMrtOrhXJgwcgZWD6lyDdWtAmhQsq3W+wmoW/FCnb/FFMnJNba2UKTsNBfl+mT\nsZGEf4R0PyfqdPKVy+f7jlc9yEJE6yOFHFDnXowc/N+6m6XpxGdhL4ekV1T1CGBu\no6N69vNlfhLsLJFu3sm3sQSIKunvzonbRXH2J2C9aQVQ3a0WfLNKolfJP/2drLk8\nK7l0ZcSLX5IWvoPyxMJewv0npHJ8FAu9ImCzNHEfFQKBgQD2Rak1SukQRGezEWQp\nQ9nQdq7ZYN38rTjApdZxdfTHVnzqB19XO3vTvjOIN7z3MDDYGrM4RUEm1IAWDKGU\nPEDzaz5XxXZv6ThmaARufSQlUtcnm/icVN+QG65UhV7EUds3CaxWTixG98E5cooM\nHTQMIVslJICuygxzXSIfNIy6ewKBgQDZx6ReTIWMTV+mz6SRbCAT3IXNZnwwJlza\ncNz+HLgpS0shHUlW0XMQDdKzY70Br0K2MQtcpmabEPVaaxTyiNaM/zEs0B6Z8ZVZ\nL3VerZWnJPbcjhKmCSSukE3q0gIvdZ0fCLJKQryR3GwmhqQzkHKMfc46Tetc1ncf\nb+w2buwl7QKBgHQvo0fgQpqJGz9xGgcZ2r4t8AngWHqoIplI5CX9V3FgDWi/96wJ\nBT99gYRnf4BDPRgHaLxIeBdgs9kzNlvgHWh6FRyFrX3Y0uIFeunBonb1YUpvnFfs\n9thfJtz7Wx1V3Q1XQ/YnxV3p70AyGIzkjjSW3BBm60sLSdp3euyr9yTXAoGBAJO6\nQV1WOyE5OzFEmTWsSvYuGPWEF6nx2/qxpLcbdDFOyd/kpeMmoQ660bquZX/HC1Hb\nYwGuPtvhXQ3Apaz/9cofMZRceOWkYtLkxpE63tFK2coy9aN7gE6JxNENND5NYg+z\nLn4BVzj6dMKNgsUXrxxuGn6ibI3FTXkdyvYBuF7hAoGAXjsAez933qk4lSTlKfdP\nNaQqEWslJo7RlCsbK1cvLmhJWg+2zrIyCbBfqTqFgT0XfQmyjVDYg9cRch5L4pio\nB50b0COSIUsuB0qRd9YR3U+1d3doG4bbUlW/epwLfpiUHcfVCoKvr/gvgMfZD6Bv\nXqbeyG9Ux8zP/Big+uDDqc4=\n-----END PRIVATE KEY-----";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn claims(sub: &str, role: &str) -> Value {
    json!({ "sub": sub, "role": role, "exp": now() + 3600, "iat": now() })
}

/// `header.claims.signature`, the signature made over the first two parts.
fn token(header: &Value, claims: &Value, sign: impl FnOnce(&[u8]) -> String) -> String {
    let input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let signature = sign(input.as_bytes());
    format!("{input}.{signature}")
}

fn rs256(pem: &str) -> impl FnOnce(&[u8]) -> String + '_ {
    move |input| {
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).expect("an RSA key");
        jsonwebtoken::crypto::sign(input, &key, jsonwebtoken::Algorithm::RS256).expect("signing")
    }
}

fn hmac(secret: &[u8], alg: jsonwebtoken::Algorithm) -> impl FnOnce(&[u8]) -> String + '_ {
    move |input| {
        let key = jsonwebtoken::EncodingKey::from_secret(secret);
        jsonwebtoken::crypto::sign(input, &key, alg).expect("signing")
    }
}

/// A server trusting the issuer's public key; with `also_hs256`, the HS256 secret too.
async fn rsa_server(also_hs256: bool) -> TestApp {
    let dir = std::env::temp_dir().join(format!("pgchat-jwt-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("issuer.pub.pem");
    std::fs::write(&path, ISSUER_PUBLIC).unwrap();
    spawn_app_with(move |config| {
        config.auth.jwt_public_key = Some(path);
        if !also_hs256 {
            config.auth.jwt_secret = None;
        }
    })
    .await
}

async fn status_of(app: &TestApp, token: &str) -> (StatusCode, Value) {
    app.call(
        app.http
            .get(app.url("/v1/support/sessions"))
            .bearer_auth(token),
    )
    .await
}

#[tokio::test]
async fn a_token_signed_by_the_trusted_issuer_is_accepted() {
    for also_hs256 in [false, true] {
        let app = rsa_server(also_hs256).await;
        let good = token(
            &json!({ "alg": "RS256", "typ": "JWT" }),
            &claims("carol", "user"),
            rs256(ISSUER_PRIVATE),
        );
        let (status, body) = status_of(&app, &good).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

#[tokio::test]
async fn every_jwt_attack_on_an_rsa_issuer_is_401_and_provisions_nobody() {
    use jsonwebtoken::Algorithm::{HS256, HS384, HS512};
    for also_hs256 in [false, true] {
        let app = rsa_server(also_hs256).await;
        let rs = json!({ "alg": "RS256", "typ": "JWT" });
        let admin = claims("mallory", "admin");
        let genuine = token(&rs, &claims("mallory", "user"), rs256(ISSUER_PRIVATE));
        let parts: Vec<&str> = genuine.split('.').collect();
        let mut attacks: Vec<(String, String)> = Vec::new();
        let mut add = |name: &str, token: String| attacks.push((name.to_owned(), token));

        // HS/RS confusion: an HMAC made with the public key (PEM, and its DER body) as the secret.
        for (alg, name) in [(HS256, "HS256"), (HS384, "HS384"), (HS512, "HS512")] {
            let header = json!({ "alg": name, "typ": "JWT" });
            add(
                &format!("{name} keyed with the public PEM"),
                token(&header, &admin, hmac(ISSUER_PUBLIC.as_bytes(), alg)),
            );
            let trimmed = ISSUER_PUBLIC.trim_end().to_owned() + "\n";
            add(
                &format!("{name} keyed with the PEM and a newline"),
                token(&header, &admin, hmac(trimmed.as_bytes(), alg)),
            );
        }
        add(
            "RS256 header over an HMAC of the PEM",
            token(&rs, &admin, hmac(ISSUER_PUBLIC.as_bytes(), HS256)),
        );
        // alg none, in every spelling, with no signature or with a genuine one.
        for alg in ["none", "None", "NONE", "nOnE"] {
            let header = json!({ "alg": alg, "typ": "JWT" });
            add(
                &format!("alg {alg}, unsigned"),
                token(&header, &admin, |_| String::new()),
            );
            add(
                &format!("alg {alg}, a genuine signature"),
                token(&header, &admin, |_| parts[2].to_owned()),
            );
        }
        // Out of its validity window (beyond the 30 s leeway).
        let mut expired = claims("mallory", "user");
        expired["exp"] = json!(now() - 3600);
        add("expired", token(&rs, &expired, rs256(ISSUER_PRIVATE)));
        let mut early = claims("mallory", "user");
        early["nbf"] = json!(now() + 3600);
        add("not yet valid", token(&rs, &early, rs256(ISSUER_PRIVATE)));
        // A genuine signature over another payload.
        let forged = b64url(admin.to_string().as_bytes());
        add(
            "payload promoted to admin",
            format!("{}.{forged}.{}", parts[0], parts[2]),
        );
        let other = b64url(claims("carol", "user").to_string().as_bytes());
        add(
            "payload for another user",
            format!("{}.{other}.{}", parts[0], parts[2]),
        );
        add("signature cut", format!("{}.{}.", parts[0], parts[1]));
        add("signature of another token", {
            let another = token(&rs, &claims("eve", "user"), rs256(ISSUER_PRIVATE));
            format!(
                "{}.{}.{}",
                parts[0],
                parts[1],
                another.rsplit('.').next().unwrap()
            )
        });
        // Another key: the attacker's own, also offered in the header (jwk, jku, kid, x5u).
        add(
            "another RSA key",
            token(&rs, &admin, rs256(ATTACKER_PRIVATE)),
        );
        let smuggled = json!({
            "alg": "RS256", "typ": "JWT", "kid": "../../../../dev/null",
            "jku": "http://127.0.0.1:1/keys.json", "x5u": "http://127.0.0.1:1/cert.pem",
            "jwk": { "kty": "RSA", "e": "AQAB", "n": "attacker" },
        });
        add(
            "attacker key offered in the header",
            token(&smuggled, &admin, rs256(ATTACKER_PRIVATE)),
        );
        add(
            "ES256 header over an RSA signature",
            token(&json!({ "alg": "ES256" }), &admin, rs256(ISSUER_PRIVATE)),
        );
        add(
            "PS256 header over an RSA signature",
            token(&json!({ "alg": "PS256" }), &admin, rs256(ISSUER_PRIVATE)),
        );
        // Claims the server must not accept even when signed.
        add(
            "no exp",
            token(
                &rs,
                &json!({ "sub": "mallory", "role": "user" }),
                rs256(ISSUER_PRIVATE),
            ),
        );
        add(
            "no sub",
            token(
                &rs,
                &json!({ "role": "user", "exp": now() + 60 }),
                rs256(ISSUER_PRIVATE),
            ),
        );
        add(
            "unknown role",
            token(
                &rs,
                &json!({ "sub": "mallory", "role": "root", "exp": now() + 60 }),
                rs256(ISSUER_PRIVATE),
            ),
        );
        add(
            "control characters in sub",
            token(
                &rs,
                &json!({ "sub": "mal\u{1b}lory", "exp": now() + 60 }),
                rs256(ISSUER_PRIVATE),
            ),
        );

        let mut accepted = Vec::new();
        for (name, attack) in &attacks {
            let response = status_of(&app, attack).await;
            if response.0 != StatusCode::UNAUTHORIZED {
                accepted.push(format!("{name}: {} {}", response.0, response.1));
                continue;
            }
            assert_error(&response, StatusCode::UNAUTHORIZED, "unauthorized");
            // The same token on a socket is refused at the upgrade.
            let url = format!("ws://127.0.0.1:{}/v1/ws?token={attack}", app.port);
            match tokio_tungstenite::connect_async(url).await {
                Err(tokio_tungstenite::tungstenite::Error::Http(r)) if r.status() == 401 => {}
                other => accepted.push(format!(
                    "{name} on the socket: {:?}",
                    other.map(|_| "upgraded")
                )),
            }
        }
        assert!(
            accepted.is_empty(),
            "attacks not refused (HS256 also configured: {also_hs256}): {accepted:#?}"
        );
        assert_eq!(
            app.count("SELECT count(*) FROM users").await,
            0,
            "a refused token provisioned a user"
        );
        eprintln!(
            "{} JWT attacks refused (HS256 also configured: {also_hs256})",
            attacks.len()
        );
    }
}
