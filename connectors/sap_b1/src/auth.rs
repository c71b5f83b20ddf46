//! Service Layer authentication: the credential kind, the Login body, and reading the
//! B1SESSION and ROUTEID cookies out of the Login answer ourselves (some cookie jars drop
//! SAP's `B1SESSION=<id>;HttpOnly;` cookie because it has no Path).

use connector_core::{ConnectorError, CredentialKind, ExposeSecret, FieldSpec, SecretString};
use serde::Deserialize;
use serde_json::json;
use std::fmt;

pub const CREDENTIAL_KIND: &str = "service_layer_user";

pub static CREDENTIAL_KINDS: &[CredentialKind] = &[CredentialKind {
    key: CREDENTIAL_KIND,
    label: "Service Layer user",
    help: "A B1 user code and password; use a dedicated integration user per company database.",
    fields: &[
        FieldSpec {
            key: "username",
            label: "User name",
            secret: false,
            required: true,
            help: "The B1 user code (e.g. manager), or DOMAIN\\user on SLD setups.",
        },
        FieldSpec {
            key: "password",
            label: "Password",
            secret: true,
            required: true,
            help: "The B1 user's password.",
        },
    ],
}];

/// A live Service Layer session: the cookie header value to send on every request.
#[derive(Clone)]
pub struct SlSession {
    cookie: SecretString,
    /// The idle timeout the server announced, in minutes.
    pub timeout_minutes: u32,
}

impl SlSession {
    pub fn new(session_id: &str, route_id: Option<&str>, timeout_minutes: u32) -> SlSession {
        let cookie = match route_id {
            Some(r) => format!("B1SESSION={session_id}; ROUTEID={r}"),
            None => format!("B1SESSION={session_id}"),
        };
        SlSession {
            cookie: SecretString::from(cookie),
            timeout_minutes,
        }
    }

    /// The `Cookie` header value; exposed only where it goes on the wire.
    pub fn cookie_header(&self) -> &str {
        self.cookie.expose_secret()
    }
}

impl fmt::Debug for SlSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlSession")
            .field("cookie", &"[redacted]")
            .field("timeout_minutes", &self.timeout_minutes)
            .finish()
    }
}

/// The JSON body of `POST /Login`.
pub fn login_body(company_db: &str, user: &str, password: &str) -> serde_json::Value {
    json!({"CompanyDB": company_db, "UserName": user, "Password": password})
}

#[derive(Deserialize)]
struct LoginAnswer {
    #[serde(rename = "SessionId")]
    session_id: Option<String>,
    #[serde(rename = "SessionTimeout")]
    session_timeout: Option<serde_json::Value>,
}

/// Reads a successful Login answer: the session id (cookie first, body as fallback),
/// ROUTEID when present and the idle timeout in minutes (30 when absent or odd).
pub fn parse_login(set_cookies: &[&str], body: &[u8]) -> Result<SlSession, ConnectorError> {
    let answer: LoginAnswer = serde_json::from_slice(body).map_err(|e| {
        ConnectorError::invalid_response(format!("Login answer is not the B1Session JSON: {e}"))
    })?;
    let mut sid = None;
    let mut route = None;
    for c in set_cookies {
        let first = c.split(';').next().unwrap_or("");
        if let Some((k, v)) = first.split_once('=') {
            match k.trim() {
                "B1SESSION" if !v.trim().is_empty() => sid = Some(v.trim().to_string()),
                "ROUTEID" if !v.trim().is_empty() => route = Some(v.trim().to_string()),
                _ => {}
            }
        }
    }
    let sid = sid.or(answer.session_id).ok_or_else(|| {
        ConnectorError::invalid_response(
            "Login answered 200 without a B1SESSION cookie or SessionId",
        )
    })?;
    if sid.len() > 512 || sid.chars().any(|c| c.is_control() || c == ';' || c == ',') {
        return Err(ConnectorError::invalid_response(
            "Login returned a session id that cannot be sent back as a cookie",
        ));
    }
    let timeout = match answer.session_timeout {
        Some(serde_json::Value::Number(n)) => n.as_u64().unwrap_or(30),
        Some(serde_json::Value::String(s)) => s.trim().parse().unwrap_or(30),
        _ => 30,
    };
    let timeout = timeout.clamp(1, 7 * 24 * 60) as u32;
    Ok(SlSession::new(&sid, route.as_deref(), timeout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_cookies_and_timeout() {
        let s = parse_login(
            &["B1SESSION=abc-123;HttpOnly;", "ROUTEID=.node2; path=/b1s"],
            br#"{"SessionId":"abc-123","Version":"1000190","SessionTimeout":1500}"#,
        )
        .unwrap();
        assert_eq!(s.cookie_header(), "B1SESSION=abc-123; ROUTEID=.node2");
        assert_eq!(s.timeout_minutes, 1500);
        assert!(!format!("{s:?}").contains("abc"));
    }

    #[test]
    fn hostile_login_answers_are_errors() {
        assert!(parse_login(&[], b"<html>").is_err());
        assert!(parse_login(&[], b"{}").is_err());
        assert!(parse_login(&["B1SESSION=a;b"], br#"{"SessionId":"x\ny"}"#).is_ok());
        assert!(parse_login(&[], br#"{"SessionId":"x\ny"}"#).is_err());
    }
}
