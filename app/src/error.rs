//! The one error type of server functions: a closed code and a message fit for the user.
//! Internal causes are logged on the server, never put into the message.

use domain::ErrorCode;
use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct AppError {
    pub code: ErrorCode,
    pub message: String,
}

impl AppError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidInput, message)
    }

    pub fn unauthenticated() -> Self {
        Self::new(ErrorCode::Unauthenticated, "Please sign in.")
    }

    pub fn forbidden() -> Self {
        Self::new(ErrorCode::Forbidden, "You do not have access to this page.")
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} was not found."))
    }

    /// An internal failure: the cause goes to the log under a reference the user can quote.
    #[cfg(feature = "ssr")]
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        let reference = format!("{:08x}", rand_u32());
        tracing::error!(reference = %reference, cause = %cause, "internal error");
        Self::new(
            ErrorCode::Internal,
            format!("Something went wrong on our side (reference {reference})."),
        )
    }
}

#[cfg(feature = "ssr")]
fn rand_u32() -> u32 {
    use std::time::{SystemTime, UNIX_EPOCH};
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    n ^ (std::process::id() << 16)
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(m)
            | ServerFnErrorErr::Deserialization(m)
            | ServerFnErrorErr::MissingArg(m) => {
                AppError::invalid(format!("The request was malformed: {m}"))
            }
            ServerFnErrorErr::UnsupportedRequestMethod(m) => {
                AppError::invalid(format!("Unsupported method: {m}"))
            }
            ServerFnErrorErr::Request(_) | ServerFnErrorErr::Response(_) => AppError::new(
                ErrorCode::ErpUnavailable,
                "Could not reach the server. Check your connection and try again.",
            ),
            other => AppError::new(ErrorCode::Internal, format!("Request failed: {other}")),
        }
    }
}

#[cfg(feature = "ssr")]
impl From<store::StoreError> for AppError {
    fn from(e: store::StoreError) -> Self {
        match e {
            store::StoreError::NotFound(what) => AppError::not_found(&what),
            store::StoreError::Conflict(m) => AppError::new(ErrorCode::Conflict, m),
            store::StoreError::Invalid(m) => AppError::invalid(m),
            other => AppError::internal(other),
        }
    }
}
