//! JWT identity: verification (HS256 by default; RS256/ES256 with a public key
//! or a JWKS) and minting for development and tests.
//!
//! Outside issuers (Supabase Auth, an identity provider) name roles their own
//! way (`role: "authenticated"`, `app_metadata.role: "support"`): which claim
//! names the pgchat role and how its values map is configuration
//! ([`RoleClaim`]), shared by every transport and adapter.

mod jwks;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;

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

/// The claims pgchat mints (verification reads any claims through [`RoleClaim`]).
#[derive(Debug, Serialize)]
struct Claims {
    sub: String,
    role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    exp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
}

/// Which claim names the caller's pgchat role and what its values mean.
/// The default reads `role` and knows `user`, `agent`, `admin` and Supabase's
/// `authenticated` (a signed-in user); a token without the claim is a `user`;
/// any other value (Supabase's `anon`, `service_role`) is refused, so a key
/// that names no person is never taken for one.
#[derive(Clone, Debug)]
pub struct RoleClaim {
    path: Vec<String>,
    values: HashMap<String, Role>,
}

impl Default for RoleClaim {
    fn default() -> Self {
        Self::new("role", &[]).expect("the default role claim")
    }
}

impl RoleClaim {
    /// `path` is dotted (`app_metadata.role`); `extra` adds to (or overrides)
    /// the default value map.
    pub fn new(path: &str, extra: &[(String, Role)]) -> anyhow::Result<Self> {
        let path: Vec<String> = path.split('.').map(str::to_owned).collect();
        anyhow::ensure!(
            path.iter().all(|p| !p.is_empty()),
            "PGCHAT_JWT_ROLE_CLAIM is a dotted claim path such as `role` or `app_metadata.role`"
        );
        let mut values: HashMap<String, Role> = [
            ("user", Role::User),
            ("agent", Role::Agent),
            ("admin", Role::Admin),
            ("authenticated", Role::User),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        values.extend(extra.iter().cloned());
        Ok(Self { path, values })
    }

    /// Parses `value=role` pairs (`PGCHAT_JWT_ROLE_MAP`: `support=agent,owner=admin`).
    pub fn parse_map(pairs: &[String]) -> anyhow::Result<Vec<(String, Role)>> {
        pairs
            .iter()
            .filter(|p| !p.trim().is_empty())
            .map(|pair| {
                let (value, role) = pair.split_once('=').ok_or_else(|| {
                    anyhow::anyhow!("PGCHAT_JWT_ROLE_MAP: `{pair}` is not `claim value=role`")
                })?;
                let role = role
                    .trim()
                    .parse::<Role>()
                    .map_err(|e| anyhow::anyhow!("PGCHAT_JWT_ROLE_MAP: {e}"))?;
                Ok((value.trim().to_owned(), role))
            })
            .collect()
    }

    /// The role the claims name (absent: `user`), or why none.
    fn role(&self, claims: &Value) -> Result<Role, String> {
        let value = self
            .path
            .iter()
            .try_fold(claims, |at, key| at.get(key))
            .filter(|v| !v.is_null());
        match value {
            None => Ok(Role::User),
            Some(Value::String(s)) => self
                .values
                .get(s)
                .copied()
                .ok_or_else(|| format!("role `{s}` is not mapped to a pgchat role")),
            Some(_) => Err("the role claim is not a string".into()),
        }
    }
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

/// One verification key: the one algorithm it accepts, and its `kid` when it
/// came from a JWKS (a token naming another kid is not checked against it).
#[derive(Clone)]
struct Key {
    alg: Algorithm,
    kid: Option<String>,
    key: DecodingKey,
}

/// Verifies tokens against the configured keys; each key accepts exactly one
/// algorithm, so an HS256 token can never be checked against an RSA public key.
#[derive(Clone)]
pub struct Verifier {
    keys: Vec<Key>,
    /// A JWKS at a URL, fetched again when a token names a key it lacks.
    remote: Option<Arc<jwks::RemoteJwks>>,
    leeway: u64,
    roles: RoleClaim,
}

fn invalid(why: &str) -> ApiError {
    ApiError::Unauthorized(format!("invalid token: {why}"))
}

impl Verifier {
    pub fn new(
        hs256_secret: Option<&str>,
        public_key_pem: Option<&[u8]>,
        jwks: Option<JwksKeys>,
        leeway: u64,
    ) -> anyhow::Result<Self> {
        let mut keys = Vec::new();
        let mut key = |alg, kid, key| keys.push(Key { alg, kid, key });
        if let Some(secret) = hs256_secret {
            key(
                Algorithm::HS256,
                None,
                DecodingKey::from_secret(secret.as_bytes()),
            );
        }
        if let Some(pem) = public_key_pem {
            if let Ok(rsa) = DecodingKey::from_rsa_pem(pem) {
                key(Algorithm::RS256, None, rsa);
            } else if let Ok(ec) = DecodingKey::from_ec_pem(pem) {
                key(Algorithm::ES256, None, ec);
            } else {
                anyhow::bail!(
                    "PGCHAT_JWT_PUBLIC_KEY is neither an RSA nor an EC public key in PEM form"
                );
            }
        }
        let remote = match jwks {
            Some(JwksKeys::File(set)) => {
                keys.extend(jwks_keys(&set)?);
                None
            }
            Some(JwksKeys::Url(remote)) => Some(remote),
            None => None,
        };
        anyhow::ensure!(
            !keys.is_empty() || remote.is_some(),
            "no JWT key configured"
        );
        Ok(Self {
            keys,
            remote,
            leeway,
            roles: RoleClaim::default(),
        })
    }

    /// This verifier, reading roles with `roles` (`PGCHAT_JWT_ROLE_CLAIM`/`_MAP`).
    pub fn with_roles(self, roles: RoleClaim) -> Self {
        Self { roles, ..self }
    }

    /// Checks signature, algorithm and time claims; returns the claims.
    async fn decode(&self, token: &str, required: &[&str]) -> Result<Value, ApiError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("malformed"))?;
        if let (Some(remote), Some(kid)) = (&self.remote, &header.kid) {
            let known = |k: &Key| k.kid.as_deref() == Some(kid.as_str());
            if !self.keys.iter().any(known) && !remote.keys().iter().any(known) {
                remote.refresh_for(kid).await;
            }
        }
        let remote = self.remote.as_ref().map(|r| r.keys()).unwrap_or_default();
        let candidates = || {
            self.keys
                .iter()
                .chain(remote.iter())
                .filter(|k| k.alg == header.alg)
        };
        // A token naming a key id is checked against that key when we have it.
        let key = candidates()
            .find(|k| k.kid.is_some() && k.kid == header.kid)
            .or_else(|| candidates().next())
            .ok_or_else(|| invalid("unsupported algorithm"))?;
        let mut validation = Validation::new(key.alg);
        validation.leeway = self.leeway;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        validation.set_required_spec_claims(required);
        let data = jsonwebtoken::decode::<Value>(token, &key.key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::ExpiredSignature => invalid("expired"),
                ErrorKind::ImmatureSignature => invalid("not yet valid"),
                ErrorKind::InvalidSignature => invalid("bad signature"),
                ErrorKind::Json(_) | ErrorKind::MissingRequiredClaim(_) => invalid("bad claims"),
                _ => invalid("rejected"),
            }
        })?;
        Ok(data.claims)
    }

    /// Verifies a project key that names no person (Supabase's `apikey`, an
    /// `anon` token): signature and expiry only.
    pub async fn verify_key(&self, token: &str) -> Result<(), ApiError> {
        self.decode(token, &["exp"]).await.map(drop)
    }

    pub async fn verify(&self, token: &str) -> Result<Identity, ApiError> {
        let claims = self.decode(token, &["exp", "sub"]).await?;
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
        let sub = text(claims.get("sub")).ok_or_else(|| invalid("bad claims"))?;
        let exp = claims
            .get("exp")
            .and_then(Value::as_i64)
            .ok_or_else(|| invalid("bad claims"))?;
        let sub_ok =
            !sub.is_empty() && sub.chars().count() <= 200 && !sub.chars().any(char::is_control);
        if !sub_ok {
            return Err(invalid("bad subject"));
        }
        let role = self.roles.role(&claims).map_err(|why| invalid(&why))?;
        // Supabase keeps the display name in user_metadata.
        let meta = claims.get("user_metadata");
        let name = text(claims.get("name"))
            .or_else(|| text(meta.and_then(|m| m.get("full_name"))))
            .or_else(|| text(meta.and_then(|m| m.get("name"))));
        Ok(Identity {
            sub,
            role,
            name: name.filter(|n| !n.trim().is_empty()),
            email: text(claims.get("email")).filter(|e| !e.trim().is_empty()),
            exp,
        })
    }
}

/// The keys of `PGCHAT_JWT_JWKS`: a file's, read once, or a URL's, kept fresh.
pub enum JwksKeys {
    File(JwkSet),
    Url(Arc<jwks::RemoteJwks>),
}

/// Reads a JWKS from a file, or from an `http(s)://` URL — then fetched again
/// when a token names a key id it lacks (the issuer rotated its keys), at most
/// once per `min_refresh`.
pub async fn load_jwks(source: &str, min_refresh: std::time::Duration) -> anyhow::Result<JwksKeys> {
    use anyhow::Context;
    if source.starts_with("http://") || source.starts_with("https://") {
        let remote = jwks::RemoteJwks::fetch(source, min_refresh).await?;
        return Ok(JwksKeys::Url(Arc::new(remote)));
    }
    let text =
        std::fs::read_to_string(source).with_context(|| format!("reading the JWKS {source}"))?;
    let set = serde_json::from_str(&text).with_context(|| format!("{source} is not a JWKS"))?;
    Ok(JwksKeys::File(set))
}

/// A JWKS's keys, each with its one algorithm: the key's declared one, else
/// the one its type implies (symmetric keys are refused: a JWKS is public).
fn jwks_keys(set: &JwkSet) -> anyhow::Result<Vec<Key>> {
    use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, KeyAlgorithm};
    set.keys
        .iter()
        .map(|jwk| {
            let alg = match (&jwk.common.key_algorithm, &jwk.algorithm) {
                (Some(KeyAlgorithm::RS256), _) => Algorithm::RS256,
                (Some(KeyAlgorithm::ES256), _) => Algorithm::ES256,
                (Some(KeyAlgorithm::EdDSA), _) => Algorithm::EdDSA,
                (Some(other), _) => anyhow::bail!("JWKS key algorithm {other:?} is not supported"),
                (None, AlgorithmParameters::RSA(_)) => Algorithm::RS256,
                (None, AlgorithmParameters::EllipticCurve(ec))
                    if ec.curve == EllipticCurve::P256 =>
                {
                    Algorithm::ES256
                }
                (None, AlgorithmParameters::OctetKeyPair(_)) => Algorithm::EdDSA,
                (None, _) => anyhow::bail!("a JWKS key is neither RSA, P-256 nor Ed25519"),
            };
            let key = DecodingKey::from_jwk(jwk)
                .map_err(|e| anyhow::anyhow!("reading a JWKS key: {e}"))?;
            Ok(Key {
                alg,
                kid: jwk.common.key_id.clone(),
                key,
            })
        })
        .collect()
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
        Verifier::new(Some("secret"), None, None, 0).unwrap()
    }

    fn sign(claims: Value) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"secret"),
        )
        .unwrap()
    }

    /// An Ed25519 key pair made for this test (`openssl genpkey -algorithm ed25519`).
    const ED_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIK8cwz68mVXNqbotrb09zFV5bxCCLi1oc2vk7opOHnV9
-----END PRIVATE KEY-----
";
    const ED_PUBLIC_X: &str = "sn_P5-JNbcSFs4UVdKr3pk_KEYnCfn_dihQDpvBVaNQ";

    #[tokio::test]
    async fn a_jwks_key_verifies_tokens_naming_its_kid() {
        let set: JwkSet = serde_json::from_value(serde_json::json!({ "keys": [
            { "kty": "OKP", "crv": "Ed25519", "x": ED_PUBLIC_X, "kid": "k1", "alg": "EdDSA" },
        ]}))
        .unwrap();
        let verifier = Verifier::new(None, None, Some(JwksKeys::File(set)), 0).unwrap();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some("k1".into());
        let claims = serde_json::json!({
            "sub": "u1", "role": "authenticated", "exp": chrono::Utc::now().timestamp() + 60,
        });
        let key = EncodingKey::from_ed_pem(ED_PRIVATE.as_bytes()).unwrap();
        let token = jsonwebtoken::encode(&header, &claims, &key).unwrap();
        assert_eq!(verifier.verify(&token).await.unwrap().role, Role::User);
        // an HS256 token finds no key; a symmetric key in a JWKS is refused
        assert!(verifier.verify(&sign(claims)).await.is_err());
        let oct: JwkSet = serde_json::from_value(serde_json::json!({ "keys": [
            { "kty": "oct", "k": "c2VjcmV0", "alg": "HS256" },
        ]}))
        .unwrap();
        assert!(Verifier::new(None, None, Some(JwksKeys::File(oct)), 0).is_err());
    }

    #[tokio::test]
    async fn supabase_roles_map_through_the_configured_claim() {
        let exp = chrono::Utc::now().timestamp() + 60;
        let authenticated = sign(serde_json::json!({
            "sub": "u1", "role": "authenticated", "exp": exp,
            "app_metadata": { "desk": "support" }, "user_metadata": { "full_name": "Ann" },
        }));
        let who = verifier().verify(&authenticated).await.unwrap();
        assert_eq!((who.role, who.name.as_deref()), (Role::User, Some("Ann")));

        let map = RoleClaim::parse_map(&["support=agent".into()]).unwrap();
        let desk = verifier().with_roles(RoleClaim::new("app_metadata.desk", &map).unwrap());
        assert_eq!(desk.verify(&authenticated).await.unwrap().role, Role::Agent);

        let anon = sign(serde_json::json!({ "sub": "u1", "role": "anon", "exp": exp }));
        assert!(matches!(
            verifier().verify(&anon).await,
            Err(ApiError::Unauthorized(_))
        ));
        let key = sign(serde_json::json!({ "role": "anon", "exp": exp }));
        assert!(verifier().verify_key(&key).await.is_ok());
        assert!(verifier().verify(&key).await.is_err());
        assert!(RoleClaim::parse_map(&["support=boss".into()]).is_err());
    }

    #[tokio::test]
    async fn a_minted_token_verifies() {
        let token = mint("secret", "alice", Role::Agent, Some("Alice"), None, 60).unwrap();
        let who = verifier().verify(&token).await.unwrap();
        assert_eq!((who.sub.as_str(), who.role), ("alice", Role::Agent));
        assert_eq!(who.name.as_deref(), Some("Alice"));
    }

    #[tokio::test]
    async fn expired_wrong_key_and_garbage_are_rejected() {
        let expired = mint("secret", "alice", Role::User, None, None, -120).unwrap();
        let wrong = mint("other", "alice", Role::User, None, None, 60).unwrap();
        for token in [expired.as_str(), wrong.as_str(), "garbage", ""] {
            assert!(
                matches!(
                    verifier().verify(token).await,
                    Err(ApiError::Unauthorized(_))
                ),
                "{token}"
            );
        }
    }
}
