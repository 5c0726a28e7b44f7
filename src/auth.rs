//! JWT identity: verification (HS256 by default; RS256/ES256 with a public key)
//! and minting for development and tests.

use std::fmt;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Agent,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Agent => "agent",
            Role::Admin => "admin",
        }
    }

    /// Agents and admins: they see internal notes and work the support queue.
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Agent | Role::Admin)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "user" => Ok(Role::User),
            "agent" => Ok(Role::Agent),
            "admin" => Ok(Role::Admin),
            other => Err(format!("unknown role `{other}` (user, agent or admin)")),
        }
    }
}

/// The claims pgchat reads. `role` defaults to `user` for outside issuers.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    #[serde(default = "default_role")]
    role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
}

fn default_role() -> Role {
    Role::User
}

/// Who is calling, as proven by their token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub sub: String,
    pub role: Role,
    pub name: Option<String>,
    pub email: Option<String>,
    /// Expiry (Unix seconds): a WebSocket is closed when it passes without a refresh.
    pub exp: i64,
}

impl Identity {
    /// The claims as RLS reads them (`request.jwt.claims`).
    pub fn claims_json(&self) -> String {
        serde_json::json!({ "sub": self.sub, "role": self.role }).to_string()
    }
}

/// Verifies tokens against the configured keys; each key accepts exactly one
/// algorithm, so an HS256 token can never be checked against an RSA public key.
#[derive(Clone)]
pub struct Verifier {
    keys: Vec<(Algorithm, DecodingKey)>,
    leeway: u64,
}

impl Verifier {
    pub fn new(
        hs256_secret: Option<&str>,
        public_key_pem: Option<&[u8]>,
        leeway: u64,
    ) -> anyhow::Result<Self> {
        let mut keys = Vec::new();
        if let Some(secret) = hs256_secret {
            keys.push((
                Algorithm::HS256,
                DecodingKey::from_secret(secret.as_bytes()),
            ));
        }
        if let Some(pem) = public_key_pem {
            if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
                keys.push((Algorithm::RS256, key));
            } else if let Ok(key) = DecodingKey::from_ec_pem(pem) {
                keys.push((Algorithm::ES256, key));
            } else {
                anyhow::bail!(
                    "PGCHAT_JWT_PUBLIC_KEY is neither an RSA nor an EC public key in PEM form"
                );
            }
        }
        anyhow::ensure!(!keys.is_empty(), "no JWT key configured");
        Ok(Self { keys, leeway })
    }

    pub fn verify(&self, token: &str) -> Result<Identity, ApiError> {
        let invalid = |why: &str| ApiError::Unauthorized(format!("invalid token: {why}"));
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("malformed"))?;
        let (alg, key) = self
            .keys
            .iter()
            .find(|(alg, _)| *alg == header.alg)
            .ok_or_else(|| invalid("unsupported algorithm"))?;
        let mut validation = Validation::new(*alg);
        validation.leeway = self.leeway;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp", "sub"]);
        let data = jsonwebtoken::decode::<Claims>(token, key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::ExpiredSignature => invalid("expired"),
                ErrorKind::ImmatureSignature => invalid("not yet valid"),
                ErrorKind::InvalidSignature => invalid("bad signature"),
                ErrorKind::Json(_) | ErrorKind::MissingRequiredClaim(_) => invalid("bad claims"),
                _ => invalid("rejected"),
            }
        })?;
        let claims = data.claims;
        let sub_ok = !claims.sub.is_empty()
            && claims.sub.chars().count() <= 200
            && !claims.sub.chars().any(char::is_control);
        if !sub_ok {
            return Err(invalid("bad subject"));
        }
        Ok(Identity {
            sub: claims.sub,
            role: claims.role,
            name: claims.name.filter(|n| !n.trim().is_empty()),
            email: claims.email.filter(|e| !e.trim().is_empty()),
            exp: claims.exp,
        })
    }
}

/// Mints HS256 tokens (`pgchat token`, the development sign-in, tests).
pub fn mint(
    secret: &str,
    sub: &str,
    role: Role,
    name: Option<&str>,
    email: Option<&str>,
    ttl_secs: i64,
) -> anyhow::Result<String> {
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        sub: sub.to_owned(),
        role,
        name: name.map(str::to_owned),
        email: email.map(str::to_owned),
        exp: now + ttl_secs,
        iat: Some(now),
    };
    Ok(jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )?)
}

/// 256 random bits, hex: the generated development secret.
pub fn random_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verifier() -> Verifier {
        Verifier::new(Some("secret"), None, 0).unwrap()
    }

    #[test]
    fn a_minted_token_verifies() {
        let token = mint("secret", "alice", Role::Agent, Some("Alice"), None, 60).unwrap();
        let who = verifier().verify(&token).unwrap();
        assert_eq!((who.sub.as_str(), who.role), ("alice", Role::Agent));
        assert_eq!(who.name.as_deref(), Some("Alice"));
    }

    #[test]
    fn expired_wrong_key_and_garbage_are_rejected() {
        let expired = mint("secret", "alice", Role::User, None, None, -120).unwrap();
        let wrong = mint("other", "alice", Role::User, None, None, 60).unwrap();
        for token in [expired.as_str(), wrong.as_str(), "garbage", ""] {
            assert!(
                matches!(verifier().verify(token), Err(ApiError::Unauthorized(_))),
                "{token}"
            );
        }
    }
}
