//! Bearer tokens (JWT): HS256 with a configured secret (development, tests, `passerelle token`),
//! RS256/ES256 from an identity provider's JWKS, fetched and cached here.
//!
//! What is refused, and how: a token whose header names `none` or an algorithm we do not take
//! does not parse; a JWKS key is used only with the algorithm of its own kind (RSA: RS*, EC:
//! ES*), never as an HMAC secret, and HS256 is verified with the configured secret only, so no
//! algorithm confusion is possible; `iss`, `aud`, `exp` and `nbf` are checked with a bounded
//! leeway.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// The most leeway allowed on `exp` and `nbf`.
pub const MAX_LEEWAY_SECS: u64 = 300;
/// The issuer and audience of tokens when none is configured (HS256 development tokens).
pub const DEFAULT_ISSUER: &str = "passerelle";
pub const DEFAULT_AUDIENCE: &str = "passerelle";

/// How tokens are checked.
#[derive(Debug, Clone)]
pub struct JwtSettings {
    /// The HS256 secret (development and tests; at least 32 bytes).
    pub secret: Option<SecretString>,
    /// The identity provider's JWKS, for RS256 and ES256 tokens.
    pub jwks_url: Option<String>,
    pub issuer: String,
    pub audience: String,
    pub leeway: Duration,
    /// The shortest time between two JWKS fetches caused by unknown `kid`s.
    pub jwks_min_refresh: Duration,
    /// How long fetched keys are used before they are fetched again.
    pub jwks_max_age: Duration,
}

/// What a token says of who the person is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub email_verified: Option<bool>,
    pub iss: String,
    pub aud: Audience,
    pub exp: i64,
    #[serde(default)]
    pub nbf: Option<i64>,
    #[serde(default)]
    pub iat: Option<i64>,
}

/// `aud` is a string or a list of strings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

/// Why a token was refused. Each has a stable reason the response carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// Not a JWT, or a header we do not take (`alg: none` among them).
    Malformed,
    UnsupportedAlgorithm,
    Expired,
    NotYetValid,
    WrongIssuer,
    WrongAudience,
    BadSignature,
    /// A claim we need is missing or of the wrong type.
    BadClaims,
    /// No key of the issuer has this `kid`, even after fetching them again.
    UnknownKey,
    /// The issuer's keys cannot be fetched: the token can be neither accepted nor refused.
    IssuerUnreachable,
}

impl TokenError {
    /// The stable reason, in `extensions.reason`.
    pub fn reason(&self) -> &'static str {
        match self {
            TokenError::Malformed => "TOKEN_MALFORMED",
            TokenError::UnsupportedAlgorithm => "TOKEN_ALGORITHM",
            TokenError::Expired => "TOKEN_EXPIRED",
            TokenError::NotYetValid => "TOKEN_NOT_YET_VALID",
            TokenError::WrongIssuer => "TOKEN_ISSUER",
            TokenError::WrongAudience => "TOKEN_AUDIENCE",
            TokenError::BadSignature => "TOKEN_SIGNATURE",
            TokenError::BadClaims => "TOKEN_CLAIMS",
            TokenError::UnknownKey => "TOKEN_UNKNOWN_KEY",
            TokenError::IssuerUnreachable => "ISSUER_UNREACHABLE",
        }
    }

    /// A message for the client.
    pub fn message(&self) -> &'static str {
        match self {
            TokenError::Malformed => "the bearer token is not a well-formed JWT",
            TokenError::UnsupportedAlgorithm => "the token's algorithm is not accepted",
            TokenError::Expired => "the token has expired",
            TokenError::NotYetValid => "the token is not valid yet",
            TokenError::WrongIssuer => {
                "the token was issued by an issuer this gateway does not trust"
            }
            TokenError::WrongAudience => "the token was issued for another audience",
            TokenError::BadSignature => "the token's signature is invalid",
            TokenError::BadClaims => {
                "the token lacks a claim this gateway needs (sub, iss, aud, exp)"
            }
            TokenError::UnknownKey => "the token was signed with a key the issuer does not publish",
            TokenError::IssuerUnreachable => {
                "the identity provider's keys cannot be fetched right now; try again shortly"
            }
        }
    }
}

fn from_jwt_error(e: &jsonwebtoken::errors::Error) -> TokenError {
    match e.kind() {
        ErrorKind::ExpiredSignature => TokenError::Expired,
        ErrorKind::ImmatureSignature => TokenError::NotYetValid,
        ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
        ErrorKind::InvalidAudience => TokenError::WrongAudience,
        ErrorKind::InvalidSignature => TokenError::BadSignature,
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            TokenError::UnsupportedAlgorithm
        }
        ErrorKind::MissingRequiredClaim(_) => TokenError::BadClaims,
        ErrorKind::Json(_) => TokenError::BadClaims,
        _ => TokenError::Malformed,
    }
}

/// Checks bearer tokens.
pub struct JwtVerifier {
    secret: Option<Arc<DecodingKey>>,
    jwks: Option<Jwks>,
    issuer: String,
    audience: String,
    leeway_secs: u64,
}

impl JwtVerifier {
    /// A verifier from settings; `None` when neither a secret nor a JWKS is configured (tokens
    /// are then refused).
    ///
    /// # Errors
    /// The JWKS client cannot be built.
    pub fn new(settings: &JwtSettings) -> anyhow::Result<Option<JwtVerifier>> {
        if settings.secret.is_none() && settings.jwks_url.is_none() {
            return Ok(None);
        }
        let jwks = settings
            .jwks_url
            .as_ref()
            .map(|url| Jwks::new(url, settings.jwks_min_refresh, settings.jwks_max_age))
            .transpose()?;
        Ok(Some(JwtVerifier {
            secret: settings
                .secret
                .as_ref()
                .map(|s| Arc::new(DecodingKey::from_secret(s.expose_secret().as_bytes()))),
            jwks,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            leeway_secs: settings.leeway.as_secs().min(MAX_LEEWAY_SECS),
        }))
    }

    /// Fetches the issuer's keys ahead of the first token (a failure is only logged).
    pub async fn warm_up(&self) {
        if let Some(jwks) = &self.jwks
            && let Err(e) = jwks.refresh(true).await
        {
            tracing::warn!(error = %e, "cannot fetch the identity provider's JWKS yet");
        }
    }

    /// Checks a token and returns its claims.
    ///
    /// # Errors
    /// See [`TokenError`].
    pub async fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        let (key, algorithm) = match header.alg {
            Algorithm::HS256 => match &self.secret {
                Some(secret) => (secret.clone(), Algorithm::HS256),
                None => return Err(TokenError::UnsupportedAlgorithm),
            },
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512
            | Algorithm::ES256
            | Algorithm::ES384 => {
                let Some(jwks) = &self.jwks else {
                    return Err(TokenError::UnsupportedAlgorithm);
                };
                let kid = header.kid.as_deref().ok_or(TokenError::UnknownKey)?;
                let (key, algorithm) = jwks.key(kid).await?;
                if algorithm != header.alg {
                    return Err(TokenError::UnsupportedAlgorithm);
                }
                (key, algorithm)
            }
            _ => return Err(TokenError::UnsupportedAlgorithm),
        };
        let mut validation = Validation::new(algorithm);
        validation.leeway = self.leeway_secs;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map(|data| data.claims)
            .map_err(|e| from_jwt_error(&e))
    }
}

/// Mints an HS256 token (development; `passerelle token`).
///
/// # Errors
/// The claims cannot be encoded.
pub fn mint(secret: &SecretString, claims: &Claims) -> anyhow::Result<String> {
    Ok(jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.expose_secret().as_bytes()),
    )?)
}

/// The algorithm a JWKS key may verify, from its kind (and its `alg` when it names one of the
/// same kind); `None` for keys we never use (symmetric ones, unsupported curves).
fn algorithm_of(jwk: &Jwk) -> Option<Algorithm> {
    let named = jwk.common.key_algorithm;
    match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => match named {
            None | Some(KeyAlgorithm::RS256) => Some(Algorithm::RS256),
            Some(KeyAlgorithm::RS384) => Some(Algorithm::RS384),
            Some(KeyAlgorithm::RS512) => Some(Algorithm::RS512),
            Some(KeyAlgorithm::PS256) => Some(Algorithm::PS256),
            Some(KeyAlgorithm::PS384) => Some(Algorithm::PS384),
            Some(KeyAlgorithm::PS512) => Some(Algorithm::PS512),
            Some(_) => None,
        },
        AlgorithmParameters::EllipticCurve(ec) => match (&ec.curve, named) {
            (EllipticCurve::P256, None | Some(KeyAlgorithm::ES256)) => Some(Algorithm::ES256),
            (EllipticCurve::P384, None | Some(KeyAlgorithm::ES384)) => Some(Algorithm::ES384),
            _ => None,
        },
        AlgorithmParameters::OctetKey(_) | AlgorithmParameters::OctetKeyPair(_) => None,
    }
}

type Keys = HashMap<String, (Arc<DecodingKey>, Algorithm)>;

#[derive(Default)]
struct JwksState {
    keys: Keys,
    /// When the keys were last fetched.
    fetched_at: Option<Instant>,
    /// When a fetch was last tried, and whether it worked.
    last_attempt: Option<(Instant, bool)>,
}

/// The identity provider's keys: fetched on first need, again when they are older than
/// `max_age`, and on an unknown `kid` at most once per `min_refresh` (so that a flood of
/// made-up `kid`s costs the issuer one request per period). Keys already known keep working
/// while the issuer is down.
struct Jwks {
    url: String,
    client: reqwest::Client,
    min_refresh: Duration,
    max_age: Duration,
    state: tokio::sync::RwLock<JwksState>,
    /// One fetch at a time.
    fetching: tokio::sync::Mutex<()>,
}

impl Jwks {
    fn new(url: &str, min_refresh: Duration, max_age: Duration) -> anyhow::Result<Jwks> {
        passerelle_ingest::install_tls_provider();
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(Jwks {
            url: url.to_owned(),
            client,
            min_refresh,
            max_age,
            state: tokio::sync::RwLock::default(),
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    async fn key(&self, kid: &str) -> Result<(Arc<DecodingKey>, Algorithm), TokenError> {
        let (known, fresh) = {
            let state = self.state.read().await;
            (
                state.keys.get(kid).cloned(),
                state.fetched_at.is_some_and(|t| t.elapsed() < self.max_age),
            )
        };
        match known {
            Some(key) if fresh => Ok(key),
            Some(key) => {
                // Old keys: fetch them again, and keep this one if the issuer is down.
                if let Err(e) = self.refresh(false).await {
                    tracing::warn!(error = %e, "cannot refresh the JWKS; using the keys known");
                }
                Ok(self
                    .state
                    .read()
                    .await
                    .keys
                    .get(kid)
                    .cloned()
                    .unwrap_or(key))
            }
            None => {
                let fetched = self.refresh(false).await;
                let state = self.state.read().await;
                if let Some(key) = state.keys.get(kid) {
                    return Ok(key.clone());
                }
                match (fetched, state.last_attempt) {
                    (Err(e), _) => {
                        tracing::error!(error = %e, jwks.url = %self.url, "cannot fetch the JWKS");
                        Err(TokenError::IssuerUnreachable)
                    }
                    (Ok(()), Some((_, false))) => Err(TokenError::IssuerUnreachable),
                    (Ok(()), _) => Err(TokenError::UnknownKey),
                }
            }
        }
    }

    /// Fetches the keys, unless a fetch was tried less than `min_refresh` ago (and `force` is
    /// off). Concurrent callers wait for the one fetch in flight.
    async fn refresh(&self, force: bool) -> anyhow::Result<()> {
        let _one = self.fetching.lock().await;
        if !force
            && let Some((at, _)) = self.state.read().await.last_attempt
            && at.elapsed() < self.min_refresh
        {
            return Ok(());
        }
        let result = self.fetch().await;
        let mut state = self.state.write().await;
        state.last_attempt = Some((Instant::now(), result.is_ok()));
        let keys = result?;
        tracing::info!(keys = keys.len(), "fetched the identity provider's JWKS");
        state.keys = keys;
        state.fetched_at = Some(Instant::now());
        Ok(())
    }

    async fn fetch(&self) -> anyhow::Result<Keys> {
        let response = self.client.get(&self.url).send().await?;
        if !response.status().is_success() {
            anyhow::bail!("the JWKS URL answered HTTP {}", response.status().as_u16());
        }
        let body: serde_json::Value = response.json().await?;
        let Some(list) = body.get("keys").and_then(|k| k.as_array()) else {
            anyhow::bail!("the JWKS has no `keys` list");
        };
        let mut keys = Keys::new();
        for value in list {
            // A key of a kind we do not read is skipped, not a reason to refuse the others.
            let Ok(jwk) = serde_json::from_value::<Jwk>(value.clone()) else {
                continue;
            };
            let (Some(kid), Some(algorithm)) = (jwk.common.key_id.clone(), algorithm_of(&jwk))
            else {
                continue;
            };
            if let Ok(key) = DecodingKey::from_jwk(&jwk) {
                keys.insert(kid, (Arc::new(key), algorithm));
            }
        }
        Ok(keys)
    }
}
