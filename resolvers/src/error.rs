//! The API's one error type: every error a client sees carries a stable `extensions.code`.
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_graphql::ErrorExtensions;
use sea_orm::DbErr;

/// What went wrong, named by outcome.
///
/// It deliberately does not implement `Display`: async-graphql converts anything that does into
/// an error carrying its text and no code. Without it, `?` goes through our own conversion, which
/// sets the code and never sends internal text (SQL, driver messages) to the client.
#[derive(Debug, Clone)]
pub enum ApiError {
    /// The caller sent a value the API refuses; `field` is the argument path at fault.
    BadInput { field: String, message: String },
    /// The thing asked for does not exist, or the caller may not know it exists.
    NotFound { what: &'static str, id: String },
    /// The caller is known but may not do this.
    Forbidden { message: String },
    /// The change cannot be made now (another write holds what it needs); retry.
    Conflict { message: String },
    /// Something failed on our side; the detail is logged under `reference`, never sent.
    Internal { reference: String },
}

impl ApiError {
    /// A refused input value at `field`.
    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::BadInput {
            field: field.into(),
            message: message.into(),
        }
    }

    /// An unknown `what` with this id.
    pub fn not_found(what: &'static str, id: impl Into<String>) -> Self {
        ApiError::NotFound {
            what,
            id: id.into(),
        }
    }

    /// Logs an internal failure once, here, and returns the error the client will see.
    pub fn internal(context: &str, detail: &dyn std::fmt::Display) -> Self {
        ApiError::Internal {
            reference: log_internal(context, detail),
        }
    }

    /// The stable code clients match on.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadInput { .. } => "BAD_USER_INPUT",
            ApiError::NotFound { .. } => "NOT_FOUND",
            ApiError::Forbidden { .. } => "FORBIDDEN",
            ApiError::Conflict { .. } => "CONFLICT",
            ApiError::Internal { .. } => "INTERNAL_SERVER_ERROR",
        }
    }

    fn message(&self) -> String {
        match self {
            ApiError::BadInput { field, message } => format!("{field}: {message}"),
            ApiError::NotFound { what, id } => format!("{what} {id} was not found"),
            ApiError::Forbidden { message } | ApiError::Conflict { message } => message.clone(),
            ApiError::Internal { reference } => {
                format!("internal error; quote reference {reference} to the operators")
            }
        }
    }
}

/// Logs an internal failure with a new reference, and returns the reference: what a client is
/// told instead of the detail, wherever the failure is answered (GraphQL errors, refused
/// credentials, a panic).
pub fn log_internal(context: &str, detail: &dyn std::fmt::Display) -> String {
    let reference = next_reference();
    tracing::error!(error.reference = %reference, error.detail = %detail, "{context}");
    reference
}

/// A short, unique-enough reference that ties a client's error to the server's log line.
fn next_reference() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    format!("{t:x}-{n:x}")
}

impl ErrorExtensions for ApiError {
    fn extend(&self) -> async_graphql::Error {
        let code = self.code();
        let field = match self {
            ApiError::BadInput { field, .. } => Some(field.clone()),
            _ => None,
        };
        async_graphql::Error::new(self.message()).extend_with(|_, ext| {
            ext.set("code", code);
            if let Some(field) = field {
                ext.set("field", field);
            }
        })
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(e: ApiError) -> Self {
        e.extend()
    }
}

impl From<DbErr> for ApiError {
    fn from(e: DbErr) -> Self {
        ApiError::internal("database query failed", &e)
    }
}

impl From<Arc<DbErr>> for ApiError {
    fn from(e: Arc<DbErr>) -> Self {
        ApiError::internal("database query failed", &e)
    }
}

/// The result type of resolvers.
pub type ApiResult<T> = Result<T, ApiError>;
