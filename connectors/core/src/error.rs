//! The one error type connectors return: a code from the closed list plus context.
//!
//! The code (and therefore its class) decides what the caller does; the message and the
//! context are for people. Connectors must never put secrets in either.

use domain::{ErrorClass, ErrorCode};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// Where an error happened, so support staff can find it without reading logs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorContext {
    /// The engine operation name, for example `suiteql.query` or `Login`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// The ERP object concerned, for example `customer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// The HTTP status the ERP answered with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// The ERP's own error code (`CONCURRENCY_LIMIT_EXCEEDED`, `XL03000006`, `-304`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erp_code: Option<String>,
}

/// A connector failure with a stable code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorError {
    pub code: ErrorCode,
    pub message: String,
    /// Boxed: errors travel in every `Result` of the hot path, and most never carry context.
    #[serde(default)]
    pub context: Box<ErrorContext>,
    /// How long the ERP asked us to wait (Retry-After), when it said.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "duration_ms_opt"
    )]
    pub retry_after: Option<Duration>,
}

impl ConnectorError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            context: Box::default(),
            retry_after: None,
        }
    }

    /// The class decides behaviour: retry, refresh the session, reconnect, fail the item...
    pub fn class(&self) -> ErrorClass {
        self.code.class()
    }

    pub fn with_operation(mut self, operation: impl Into<String>) -> Self {
        self.context.operation = Some(operation.into());
        self
    }

    pub fn with_object(mut self, object: impl Into<String>) -> Self {
        self.context.object = Some(object.into());
        self
    }

    pub fn with_http_status(mut self, status: u16) -> Self {
        self.context.http_status = Some(status);
        self
    }

    pub fn with_erp_code(mut self, erp_code: impl Into<String>) -> Self {
        self.context.erp_code = Some(erp_code.into());
        self
    }

    pub fn with_retry_after(mut self, retry_after: Option<Duration>) -> Self {
        self.retry_after = retry_after;
        self
    }

    /// Shorthand for the common "the ERP answered something we cannot parse" case.
    pub fn invalid_response(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidResponse, message)
    }

    /// Shorthand for "the caller asked for something wrong".
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidInput, message)
    }

    /// Shorthand for "the ERP is down or unreachable".
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ErpUnavailable, message)
    }
}

impl fmt::Display for ConnectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        let c = &self.context;
        let mut parts = Vec::new();
        if let Some(op) = &c.operation {
            parts.push(format!("operation {op}"));
        }
        if let Some(obj) = &c.object {
            parts.push(format!("object {obj}"));
        }
        if let Some(s) = c.http_status {
            parts.push(format!("http {s}"));
        }
        if let Some(e) = &c.erp_code {
            parts.push(format!("erp code {e}"));
        }
        if !parts.is_empty() {
            write!(f, " ({})", parts.join(", "))?;
        }
        Ok(())
    }
}

impl std::error::Error for ConnectorError {}

/// Serializes an optional duration as whole milliseconds, which JSON clients read easily.
mod duration_ms_opt {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_u64(d.as_millis() as u64),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_millis))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_follows_the_code() {
        let e = ConnectorError::new(ErrorCode::SessionExpired, "idle");
        assert_eq!(e.class(), ErrorClass::RefreshSession);
        let e = ConnectorError::new(ErrorCode::ConcurrencyLimited, "busy");
        assert_eq!(e.class(), ErrorClass::Retry);
    }

    #[test]
    fn display_names_code_and_context() {
        let e = ConnectorError::new(ErrorCode::RateLimited, "slow down")
            .with_operation("readByQuery")
            .with_http_status(429)
            .with_erp_code("GW-0010");
        assert_eq!(
            e.to_string(),
            "rate_limited: slow down (operation readByQuery, http 429, erp code GW-0010)"
        );
    }

    #[test]
    fn serde_round_trip_keeps_retry_after() {
        let e = ConnectorError::new(ErrorCode::RateLimited, "x")
            .with_retry_after(Some(Duration::from_millis(1500)));
        let json = serde_json::to_string(&e).unwrap();
        assert!(json.contains("\"retry_after\":1500"), "{json}");
        let back: ConnectorError = serde_json::from_str(&json).unwrap();
        assert_eq!(back, e);
    }
}
