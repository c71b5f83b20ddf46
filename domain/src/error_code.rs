//! The closed list of error codes that cross crate boundaries and reach API clients.
//!
//! Each code has a class that decides what the caller does next. Adding a code means
//! adding it here, to `ALL`, and to ARCHITECTURE.md's table; a test checks the first two.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The ERP rejected the credentials or they were revoked: reconnect.
    AuthRevoked,
    /// An ERP session ended (idle timeout, forced logout): log in again and resume.
    SessionExpired,
    /// The ERP account's concurrency limit was hit: wait for a slot and retry.
    ConcurrencyLimited,
    /// A request-rate limit was hit: back off (honouring Retry-After) and retry.
    RateLimited,
    /// The ERP user may not do this (role, entity, record permissions).
    PermissionDenied,
    /// A field the ERP requires for this object is missing.
    RequiredFieldMissing,
    /// The ERP rejected a value.
    ValidationFailed,
    /// The write landed as a draft awaiting approval in the ERP.
    PendingApproval,
    /// The record or object does not exist.
    NotFound,
    /// The discovered schema no longer matches what a mapping or cursor expects.
    SchemaDrift,
    /// The ERP is down, timed out or answered 5xx.
    ErpUnavailable,
    /// The ERP answered something we could not parse or that breaks its protocol.
    InvalidResponse,
    /// The caller sent something wrong (a form, an API call, a file).
    InvalidInput,
    /// The caller is not signed in or the onboarding link is not valid.
    Unauthenticated,
    /// The caller is signed in but may not touch this resource.
    Forbidden,
    /// The state-changing request lacked a valid CSRF token or came from another origin.
    CsrfRejected,
    /// Too many attempts; wait before trying again.
    Throttled,
    /// A uniqueness or state conflict.
    Conflict,
    /// Something failed inside Switchyard; details are in the server log only.
    Internal,
}

/// What a caller should do with an error of a given code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// Transient: retry the same request after a backoff.
    Retry,
    /// Log in again (new session) and resume from the cursor.
    RefreshSession,
    /// Stop this connection and ask the tenant to reconnect.
    Reauthenticate,
    /// This item is wrong; report it and go on with the others.
    FailItem,
    /// The write is parked in the ERP; track it until it is decided.
    Track,
    /// The caller's request is wrong or not allowed; do not retry.
    Reject,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 19] = [
        ErrorCode::AuthRevoked,
        ErrorCode::SessionExpired,
        ErrorCode::ConcurrencyLimited,
        ErrorCode::RateLimited,
        ErrorCode::PermissionDenied,
        ErrorCode::RequiredFieldMissing,
        ErrorCode::ValidationFailed,
        ErrorCode::PendingApproval,
        ErrorCode::NotFound,
        ErrorCode::SchemaDrift,
        ErrorCode::ErpUnavailable,
        ErrorCode::InvalidResponse,
        ErrorCode::InvalidInput,
        ErrorCode::Unauthenticated,
        ErrorCode::Forbidden,
        ErrorCode::CsrfRejected,
        ErrorCode::Throttled,
        ErrorCode::Conflict,
        ErrorCode::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::AuthRevoked => "auth_revoked",
            ErrorCode::SessionExpired => "session_expired",
            ErrorCode::ConcurrencyLimited => "concurrency_limited",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::PermissionDenied => "permission_denied",
            ErrorCode::RequiredFieldMissing => "required_field_missing",
            ErrorCode::ValidationFailed => "validation_failed",
            ErrorCode::PendingApproval => "pending_approval",
            ErrorCode::NotFound => "not_found",
            ErrorCode::SchemaDrift => "schema_drift",
            ErrorCode::ErpUnavailable => "erp_unavailable",
            ErrorCode::InvalidResponse => "invalid_response",
            ErrorCode::InvalidInput => "invalid_input",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::CsrfRejected => "csrf_rejected",
            ErrorCode::Throttled => "throttled",
            ErrorCode::Conflict => "conflict",
            ErrorCode::Internal => "internal",
        }
    }

    pub fn class(self) -> ErrorClass {
        match self {
            ErrorCode::ConcurrencyLimited | ErrorCode::RateLimited | ErrorCode::ErpUnavailable => {
                ErrorClass::Retry
            }
            ErrorCode::SessionExpired => ErrorClass::RefreshSession,
            ErrorCode::AuthRevoked => ErrorClass::Reauthenticate,
            ErrorCode::PermissionDenied
            | ErrorCode::RequiredFieldMissing
            | ErrorCode::ValidationFailed
            | ErrorCode::NotFound
            | ErrorCode::SchemaDrift
            | ErrorCode::InvalidResponse => ErrorClass::FailItem,
            ErrorCode::PendingApproval => ErrorClass::Track,
            ErrorCode::InvalidInput
            | ErrorCode::Unauthenticated
            | ErrorCode::Forbidden
            | ErrorCode::CsrfRejected
            | ErrorCode::Throttled
            | ErrorCode::Conflict
            | ErrorCode::Internal => ErrorClass::Reject,
        }
    }

    /// The HTTP status Switchyard's own API answers with for this code.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidInput
            | ErrorCode::RequiredFieldMissing
            | ErrorCode::ValidationFailed => 400,
            ErrorCode::Unauthenticated => 401,
            ErrorCode::Forbidden | ErrorCode::CsrfRejected | ErrorCode::PermissionDenied => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::Conflict | ErrorCode::SchemaDrift => 409,
            ErrorCode::Throttled | ErrorCode::RateLimited | ErrorCode::ConcurrencyLimited => 429,
            ErrorCode::PendingApproval => 202,
            ErrorCode::AuthRevoked
            | ErrorCode::SessionExpired
            | ErrorCode::ErpUnavailable
            | ErrorCode::InvalidResponse => 502,
            ErrorCode::Internal => 500,
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_string_and_serde() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
            assert_eq!(
                serde_json::to_string(&code).unwrap(),
                format!("\"{}\"", code.as_str())
            );
        }
    }

    #[test]
    fn codes_are_unique() {
        let mut names: Vec<_> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ErrorCode::ALL.len());
    }

    #[test]
    fn classes_decide_behaviour() {
        assert_eq!(
            ErrorCode::SessionExpired.class(),
            ErrorClass::RefreshSession
        );
        assert_eq!(ErrorCode::AuthRevoked.class(), ErrorClass::Reauthenticate);
        assert_eq!(ErrorCode::ConcurrencyLimited.class(), ErrorClass::Retry);
        assert_eq!(ErrorCode::PendingApproval.class(), ErrorClass::Track);
        assert_eq!(
            ErrorCode::RequiredFieldMissing.class(),
            ErrorClass::FailItem
        );
    }
}
