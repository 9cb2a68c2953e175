//! Who is asking: each request's credentials become one [`Viewer`], once, before the schema runs.
//!
//! - no credentials: anonymous;
//! - `x-api-key` (or `apikey`, the header API Engagement's partners send): a publisher's key,
//!   see [`keys`];
//! - `Authorization: Bearer <JWT>`: a person, see [`jwt`]; their role and scope come from the
//!   `users` table ([`users`]), so that a role removed there is removed at the next request.
//!
//! Credentials that are present but wrong are answered `401` with `WWW-Authenticate` and a
//! GraphQL error coded `UNAUTHENTICATED` (its `extensions.reason` says why), before any work on
//! the schema.
pub mod jwt;
pub mod keys;
pub mod tokens;
pub mod users;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use passerelle_db::Pools;
use passerelle_entities::access::{Access, Diffusion, Principal, Viewer};
use passerelle_entities::user;
use sea_orm::DbErr;
use serde_json::json;

use self::jwt::{JwtVerifier, TokenError};

/// The headers an API key may come in, in order of preference.
pub const KEY_HEADERS: [&str; 2] = ["x-api-key", "apikey"];

/// Why a request's credentials were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// `401`: the credentials are missing a part, malformed, unknown, revoked, or expired.
    Unauthenticated {
        /// `Bearer` or `ApiKey`: what `WWW-Authenticate` asks for.
        scheme: &'static str,
        reason: &'static str,
        message: String,
    },
    /// `403`: a valid token for someone Passerelle does not know (or whose role lacks its scope).
    UnknownUser,
    /// `503`: the identity provider cannot be reached to check the token.
    Unavailable {
        reason: &'static str,
        message: String,
    },
    /// `500`: our side failed; the detail is logged under the reference.
    Internal { reference: String },
}

impl AuthError {
    /// Whether the caller sent wrong credentials (401, 403), rather than our side or the
    /// identity provider failing: what counts as a guess.
    pub fn is_client_fault(&self) -> bool {
        matches!(
            self,
            AuthError::Unauthenticated { .. } | AuthError::UnknownUser
        )
    }

    fn token(e: &TokenError) -> AuthError {
        match e {
            TokenError::IssuerUnreachable => AuthError::Unavailable {
                reason: e.reason(),
                message: e.message().to_owned(),
            },
            _ => AuthError::Unauthenticated {
                scheme: "Bearer",
                reason: e.reason(),
                message: e.message().to_owned(),
            },
        }
    }

    fn internal(e: &DbErr) -> AuthError {
        AuthError::Internal {
            reference: passerelle_resolvers::error::log_internal("cannot check credentials", e),
        }
    }
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let (status, code, reason, message, challenge) = match self {
            AuthError::Unauthenticated {
                scheme,
                reason,
                message,
            } => {
                let challenge = if scheme == "Bearer" {
                    format!(
                        "Bearer realm=\"passerelle\", error=\"invalid_token\", error_description=\"{message}\""
                    )
                } else {
                    "ApiKey realm=\"passerelle\", header=\"x-api-key\"".to_owned()
                };
                (
                    StatusCode::UNAUTHORIZED,
                    "UNAUTHENTICATED",
                    reason,
                    message,
                    Some(challenge),
                )
            }
            AuthError::UnknownUser => (
                StatusCode::FORBIDDEN,
                "FORBIDDEN",
                "UNKNOWN_USER",
                "the token is valid but names no Passerelle user; an admin adds users with `passerelle users add`".to_owned(),
                None,
            ),
            AuthError::Unavailable { reason, message } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                reason,
                message,
                None,
            ),
            AuthError::Internal { reference } => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL_SERVER_ERROR",
                "INTERNAL",
                format!("internal error; quote reference {reference} to the operators"),
                None,
            ),
        };
        let body = json!({
            "errors": [{ "message": message, "extensions": { "code": code, "reason": reason } }]
        });
        let mut res = (status, body.to_string()).into_response();
        let headers = res.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(challenge) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            headers.insert(header::WWW_AUTHENTICATE, challenge);
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
        }
        res
    }
}

/// The credentials of a request, read from its headers.
#[derive(Debug, PartialEq, Eq)]
enum Credentials<'a> {
    None,
    Key(&'a str),
    Bearer(&'a str),
}

fn key_refused(reason: &'static str, message: &str) -> AuthError {
    AuthError::Unauthenticated {
        scheme: "ApiKey",
        reason,
        message: message.to_owned(),
    }
}

fn read_credentials(headers: &HeaderMap) -> Result<Credentials<'_>, AuthError> {
    let mut key: Option<&str> = None;
    for name in KEY_HEADERS {
        for value in headers.get_all(name) {
            let value = value
                .to_str()
                .map_err(|_| key_refused("KEY_MALFORMED", "the API key is not a valid key"))?
                .trim();
            match key {
                Some(k) if k != value => {
                    return Err(key_refused(
                        "KEY_AMBIGUOUS",
                        "send one API key, in x-api-key or apikey",
                    ));
                }
                _ => key = Some(value),
            }
        }
    }
    let bearer = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(value) => {
            let text = value.to_str().unwrap_or("");
            let Some((scheme, token)) = text.split_once(' ') else {
                return Err(AuthError::token(&TokenError::Malformed));
            };
            if !scheme.eq_ignore_ascii_case("bearer") {
                return Err(AuthError::Unauthenticated {
                    scheme: "Bearer",
                    reason: "AUTHORIZATION_SCHEME",
                    message:
                        "the Authorization header takes a Bearer token (API keys go in x-api-key)"
                            .to_owned(),
                });
            }
            Some(token.trim())
        }
    };
    match (key, bearer) {
        (Some(_), Some(_)) => Err(AuthError::Unauthenticated {
            scheme: "Bearer",
            reason: "CREDENTIALS_AMBIGUOUS",
            message: "send either an API key or a bearer token, not both".to_owned(),
        }),
        (Some(k), None) => Ok(Credentials::Key(k)),
        (None, Some(t)) => Ok(Credentials::Bearer(t)),
        (None, None) => Ok(Credentials::None),
    }
}

/// Turns request headers into a [`Viewer`].
pub struct Authenticator {
    /// Keys, users and rules are read through `read`; a key's last use is written through
    /// `write`.
    pools: Pools,
    jwt: Option<JwtVerifier>,
    last_uses: keys::LastUses,
}

impl Authenticator {
    pub fn new(pools: Pools, jwt: Option<JwtVerifier>) -> Self {
        Authenticator {
            pools,
            jwt,
            last_uses: keys::LastUses::default(),
        }
    }

    /// Fetches what checking tokens needs ahead of the first request (the JWKS).
    pub async fn warm_up(&self) {
        if let Some(jwt) = &self.jwt {
            jwt.warm_up().await;
        }
    }

    /// The viewer of a request: one indexed read for a key or a user (two for a partner, whose
    /// diffusion rules are read too), none for an anonymous request.
    ///
    /// # Errors
    /// See [`AuthError`].
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Viewer, AuthError> {
        match read_credentials(headers)? {
            Credentials::None => Ok(Viewer::anonymous()),
            Credentials::Key(presented) => {
                let row = match keys::check(&self.pools, presented, &self.last_uses)
                    .await
                    .map_err(|e| AuthError::internal(&e))?
                {
                    Ok(row) => row,
                    Err(e) => {
                        tracing::info!(reason = e.reason(), "API key refused");
                        return Err(key_refused(
                            e.reason(),
                            "the API key is not valid (unknown, revoked or malformed)",
                        ));
                    }
                };
                let diffusion = self.diffusion(row.publisher_id).await?;
                Ok(Viewer {
                    principal: Principal::ApiKey {
                        key_id: row.id,
                        prefix: row.prefix,
                    },
                    access: Access::Partner {
                        publisher_id: row.publisher_id,
                        diffusion,
                    },
                })
            }
            Credentials::Bearer(token) => {
                let Some(jwt) = &self.jwt else {
                    return Err(AuthError::Unauthenticated {
                        scheme: "Bearer",
                        reason: "TOKENS_NOT_CONFIGURED",
                        message: "this gateway takes no bearer tokens (no jwt_secret or jwks_url is configured)".to_owned(),
                    });
                };
                let claims = jwt.verify(token).await.map_err(|e| {
                    tracing::info!(reason = e.reason(), "bearer token refused");
                    AuthError::token(&e)
                })?;
                let email = claims
                    .email
                    .as_deref()
                    .filter(|_| claims.email_verified != Some(false));
                let Some(user) = users::for_identity(&self.pools.read, &claims.sub, email)
                    .await
                    .map_err(|e| AuthError::internal(&e))?
                else {
                    return Err(AuthError::UnknownUser);
                };
                self.user_viewer(user).await
            }
        }
    }

    async fn user_viewer(&self, user: user::Model) -> Result<Viewer, AuthError> {
        let diffusion = match user.publisher_id {
            Some(p) if user.role == passerelle_entities::Role::PartnerStaff => {
                self.diffusion(p).await?
            }
            _ => Diffusion::default(),
        };
        let access = Access::of_user(&user, diffusion).map_err(|e| {
            tracing::error!(user.id = user.id, error = %e, "a user's role lacks its scope");
            AuthError::UnknownUser
        })?;
        Ok(Viewer {
            principal: Principal::User {
                user_id: user.id,
                email: user.email,
                role: user.role,
            },
            access,
        })
    }

    async fn diffusion(&self, publisher_id: i64) -> Result<Diffusion, AuthError> {
        let rules = passerelle_resolvers::diffusion::rules_of(&self.pools.read, publisher_id)
            .await
            .map_err(|e| AuthError::internal(&e))?;
        Ok(Diffusion::new(rules))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        h
    }

    #[test]
    fn credentials_come_from_either_key_header_or_a_bearer_token() {
        assert_eq!(read_credentials(&headers(&[])), Ok(Credentials::None));
        assert_eq!(
            read_credentials(&headers(&[("apikey", "k")])),
            Ok(Credentials::Key("k"))
        );
        assert_eq!(
            read_credentials(&headers(&[("x-api-key", "k"), ("apikey", "k")])),
            Ok(Credentials::Key("k"))
        );
        assert_eq!(
            read_credentials(&headers(&[("authorization", "bearer abc")])),
            Ok(Credentials::Bearer("abc"))
        );
    }

    #[test]
    fn mixed_or_foreign_credentials_are_refused() {
        let reason = |h: HeaderMap| match read_credentials(&h) {
            Err(AuthError::Unauthenticated { reason, .. }) => reason,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            reason(headers(&[("x-api-key", "a"), ("apikey", "b")])),
            "KEY_AMBIGUOUS"
        );
        assert_eq!(
            reason(headers(&[
                ("x-api-key", "a"),
                ("authorization", "Bearer t")
            ])),
            "CREDENTIALS_AMBIGUOUS"
        );
        assert_eq!(
            reason(headers(&[("authorization", "Basic dTpw")])),
            "AUTHORIZATION_SCHEME"
        );
        assert_eq!(
            reason(headers(&[("authorization", "Bearer")])),
            "TOKEN_MALFORMED"
        );
    }
}
