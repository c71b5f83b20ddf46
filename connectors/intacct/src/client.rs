//! Building Intacct requests and reading their answers: the envelope around functions, the
//! classifier that turns gateway, control and authentication failures into error codes, the
//! mapping of function errors, and entity-aware sessions through the core session pool.
//! XML never leaves this crate: callers get typed results and `ConnectorError`s.

use crate::auth::{IntacctSession, SenderCredentials, UserCredentials};
use crate::protocol::{self, Auth, Control, ErrorDetail, FnResult, Function, Status};
use crate::xml::{self, Element};
use connector_core::domain::ErrorCode;
use connector_core::{
    validate_base_url, ConnectorError, Engine, ExposeSecret, Rejection, Request, RequestContext,
    Response, Session, SessionKey, SessionPool, UrlPolicy,
};
use futures::FutureExt;
use http::Method;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Hosts a session endpoint may point at, as the official SDKs require.
pub const ALLOWED_HOSTS: &[&str] = &[".intacct.com"];

/// Parses an answer body; anything that is not a well-formed, bounded Intacct envelope is
/// `invalid_response` naming why (without echoing the body).
pub fn parse_response(body: &[u8]) -> Result<protocol::Response, ConnectorError> {
    let root = xml::parse(body).map_err(|e| {
        ConnectorError::invalid_response(format!("Intacct answer is not acceptable XML: {e}"))
    })?;
    protocol::Response::from_element(&root).map_err(|e| {
        ConnectorError::invalid_response(format!("Intacct answer breaks the envelope: {e}"))
    })
}

fn first(errors: &[ErrorDetail]) -> String {
    errors
        .iter()
        .map(|e| format!("{} {}", e.errorno, e.message()))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Maps control- and authentication-level failures; returns None when both succeeded.
pub fn envelope_error(r: &protocol::Response) -> Option<ConnectorError> {
    if r.control.status != Status::Success {
        let e = r.control_errors.first().cloned().unwrap_or_default();
        let text = e.message();
        let code = match e.errorno.as_str() {
            "GW-0010" => ErrorCode::RateLimited,
            "XL03000006" | "XMLGW_JPP0002" => ErrorCode::AuthRevoked,
            "PL04000055" => ErrorCode::AuthRevoked,
            "XL03000003" | "GW-0011" => ErrorCode::InvalidInput,
            _ if text.contains("Temporarily Off-line") => ErrorCode::ErpUnavailable,
            _ => ErrorCode::InvalidResponse,
        };
        return Some(
            ConnectorError::new(
                code,
                format!("Intacct refused the request: {}", first(&r.control_errors)),
            )
            .with_erp_code(e.errorno),
        );
    }
    let op = r.operation.as_ref()?;
    if op.auth.status != Status::Success {
        let e = op.auth_errors.first().cloned().unwrap_or_default();
        let text = e.message();
        let code = if text.contains("Invalid session") {
            ErrorCode::SessionExpired
        } else if text.contains("permission to access entity")
            || text.contains("restricted to entity-level access")
            || text.contains("not permitted")
        {
            ErrorCode::PermissionDenied
        } else if text.contains("Invalid location ID") {
            ErrorCode::InvalidInput
        } else {
            // Bad user/password, and a sender the company no longer authorizes.
            ErrorCode::AuthRevoked
        };
        return Some(
            ConnectorError::new(
                code,
                format!("Intacct sign-in failed: {}", first(&op.auth_errors)),
            )
            .with_erp_code(e.errorno),
        );
    }
    None
}

/// The classifier the engine calls on every attempt.
pub fn classify(_req: &Request, resp: &Response) -> Result<(), Rejection> {
    let ct = resp
        .header("content-type")
        .unwrap_or("")
        .to_ascii_lowercase();
    let looks_xml = ct.contains("xml")
        || resp.body.trim_ascii_start().starts_with(b"<?xml")
        || resp.body.trim_ascii_start().starts_with(b"<response");
    if !looks_xml || resp.status >= 500 && !ct.contains("xml") {
        // CDN and proxy pages (Cloudflare, 502/503/524) carry no Intacct envelope.
        if resp.status >= 500 {
            return Err(Rejection::new(ConnectorError::unavailable(format!(
                "Intacct gateway answered HTTP {} without an XML body",
                resp.status
            ))));
        }
        if resp.status == 429 {
            return Err(Rejection::no_work(ConnectorError::new(
                ErrorCode::RateLimited,
                "Intacct answered 429",
            )));
        }
        return Err(Rejection::new(ConnectorError::invalid_response(format!(
            "Intacct answered HTTP {} with a non-XML body",
            resp.status
        ))));
    }
    let parsed = parse_response(&resp.body).map_err(Rejection::new)?;
    if let Some(e) = envelope_error(&parsed) {
        // A throttled or refused request did nothing, so even a write may be sent again.
        return Err(
            if e.code == ErrorCode::RateLimited || e.code == ErrorCode::SessionExpired {
                Rejection::no_work(e)
            } else {
                Rejection::new(e)
            },
        );
    }
    if resp.status >= 500 {
        return Err(Rejection::new(ConnectorError::unavailable(format!(
            "Intacct answered HTTP {}",
            resp.status
        ))));
    }
    Ok(())
}

/// A function's failure as a typed error. `labels` resolves field names to their labels
/// (from discovery) so a required-field error names both.
pub fn function_error(r: &FnResult, labels: &dyn Fn(&str) -> Option<String>) -> ConnectorError {
    let specific = r
        .errors
        .iter()
        .find(|e| e.errorno != "BL01001973" && e.errorno != "XL03000009")
        .or_else(|| r.errors.first())
        .cloned()
        .unwrap_or_default();
    let text = specific.message();
    let all = first(&r.errors);
    if r.status == Status::Aborted {
        return ConnectorError::new(
            ErrorCode::ErpUnavailable,
            format!("aborted with its transaction: {all}"),
        )
        .with_erp_code("XL03000009");
    }
    if let Some(field) = required_field_name(&text) {
        let label = labels(&field).or_else(|| label_in_text(&text, &field));
        let named = match &label {
            Some(l) => format!("{field} ({l})"),
            None => field.clone(),
        };
        return ConnectorError::new(
            ErrorCode::RequiredFieldMissing,
            format!("Intacct requires {named}: {all}"),
        )
        .with_erp_code(specific.errorno);
    }
    let code = match specific.errorno.as_str() {
        "PL04000005" => ErrorCode::PermissionDenied,
        "BL34000061" => ErrorCode::Conflict,
        "Query Failed" if text.contains("not found") => ErrorCode::NotFound,
        "readMore failed" => ErrorCode::SessionExpired,
        _ if text.contains("You do not have permission") => ErrorCode::PermissionDenied,
        _ if text.contains("Cannot find") || text.contains("non-existing") => ErrorCode::NotFound,
        _ if specific.errorno.starts_with("XL") => ErrorCode::InvalidInput,
        _ => ErrorCode::ValidationFailed,
    };
    ConnectorError::new(code, format!("Intacct {} failed: {all}", r.function))
        .with_erp_code(specific.errorno)
}

/// Finds the field in "Required field X is missing" / "Required dimension X (Label) …".
fn required_field_name(text: &str) -> Option<String> {
    for marker in ["Required dimension ", "Required field "] {
        if let Some(i) = text.find(marker) {
            let rest = &text[i + marker.len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
                .collect();
            if !name.is_empty() && name.chars().any(|c| c.is_ascii_uppercase()) {
                return Some(name);
            }
        }
    }
    None
}

fn label_in_text(text: &str, field: &str) -> Option<String> {
    let i = text.find(&format!("{field} ("))? + field.len() + 2;
    let end = text[i..].find(')')?;
    Some(text[i..i + end].to_string())
}

/// One tenant's client: credentials, the gateway URL, the engine and the session pool.
pub struct Client {
    pub engine: Engine,
    pub ctx: RequestContext,
    pub gateway: url::Url,
    pub sender: SenderCredentials,
    pub user: UserCredentials,
    pub default_entity: Option<String>,
    pub allow_loopback: bool,
    pub sessions: Arc<SessionPool<IntacctSession>>,
    /// Per entity: the last permission failure, so `check` can report it.
    pub denied_entities: Mutex<BTreeMap<String, String>>,
    counter: std::sync::atomic::AtomicU64,
}

impl Client {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        engine: Engine,
        ctx: RequestContext,
        gateway: url::Url,
        sender: SenderCredentials,
        user: UserCredentials,
        default_entity: Option<String>,
        allow_loopback: bool,
        sessions: Arc<SessionPool<IntacctSession>>,
    ) -> Client {
        Client {
            engine,
            ctx,
            gateway,
            sender,
            user,
            default_entity,
            allow_loopback,
            sessions,
            denied_entities: Mutex::new(BTreeMap::new()),
            counter: Default::default(),
        }
    }

    fn control(&self, unique_id: bool) -> Control {
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Control {
            sender_id: self.sender.sender_id.clone(),
            sender_password: self.sender.password.expose_secret().to_string(),
            control_id: format!("sy-{}-{n}", chrono::Utc::now().timestamp_millis()),
            unique_id,
            dtd_version: "3.0".into(),
            include_whitespace: false,
        }
    }

    fn session_key(&self, entity: Option<&str>) -> SessionKey {
        SessionKey::new(
            self.ctx.tenant.clone(),
            format!(
                "intacct:{}:{}:{}",
                self.user.company_id,
                self.user.user_id,
                entity.unwrap_or("")
            ),
        )
    }

    /// Logs in with sender + user credentials and opens a session in `entity`.
    async fn login(
        engine: Engine,
        ctx: RequestContext,
        gateway: url::Url,
        control: Control,
        user: UserCredentials,
        entity: Option<String>,
        allow_loopback: bool,
    ) -> Result<Session<IntacctSession>, ConnectorError> {
        let req = protocol::Request {
            control,
            transaction: false,
            auth: Auth::Login {
                user_id: user.user_id.clone(),
                company_id: user.company_id.clone(),
                password: user.password.expose_secret().to_string(),
                location_id: entity.clone(),
            },
            functions: vec![Function {
                control_id: "login".into(),
                body: Element::new("getAPISession"),
            }],
        };
        let http = Request::new(&ctx, "getAPISession", Method::POST, gateway)
            .body("application/xml", req.to_document().into_bytes())
            .idempotent(true);
        let resp = engine.send(http, &classify).await?;
        let parsed = parse_response(&resp.body)?;
        let op = parsed.operation.as_ref().ok_or_else(|| {
            ConnectorError::invalid_response("getAPISession answer has no operation")
        })?;
        let r = op.results.first().ok_or_else(|| {
            ConnectorError::invalid_response("getAPISession answer has no result")
        })?;
        if r.status != Status::Success {
            let mut e = function_error(r, &|_| None);
            if r.errors.iter().any(|x| {
                x.message().contains("permission to access entity")
                    || x.message().contains("entity-level")
            }) {
                e.code = ErrorCode::PermissionDenied;
            }
            return Err(e);
        }
        let api = r
            .data
            .as_ref()
            .and_then(|d| d.child("api"))
            .ok_or_else(|| ConnectorError::invalid_response("getAPISession answer has no <api>"))?;
        let sid = api
            .child_text("sessionid")
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                ConnectorError::invalid_response("getAPISession answer has no sessionid")
            })?;
        let endpoint = api.child_text("endpoint").unwrap_or("");
        let endpoint = validate_base_url(
            endpoint,
            UrlPolicy {
                allowed_host_suffixes: ALLOWED_HOSTS,
                allow_loopback,
            },
        )
        .map_err(|e| {
            ConnectorError::invalid_response(format!("session endpoint refused: {}", e.message))
        })?;
        // Intacct slides the timeout on every call; the pool refreshes a margin before it.
        let window = match (&op.auth.session_timestamp, &op.auth.session_timeout) {
            (Some(a), Some(b)) => match (
                chrono::DateTime::parse_from_rfc3339(a),
                chrono::DateTime::parse_from_rfc3339(b),
            ) {
                (Ok(a), Ok(b)) => (b - a).to_std().ok(),
                _ => None,
            },
            _ => None,
        };
        let mut s = Session::new(IntacctSession {
            id: sid.to_string().into(),
            endpoint,
            entity: api
                .child_text("locationid")
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        });
        if let Some(w) = window.filter(|w| *w > Duration::from_secs(1)) {
            s = s.idle_timeout(w);
        }
        Ok(s)
    }

    /// Sends functions in one request within `entity`'s session and returns their results in
    /// order. `unique_id` makes Intacct skip functions whose controlid already ran.
    pub async fn call(
        &self,
        entity: Option<&str>,
        operation: &'static str,
        functions: Vec<Function>,
        transaction: bool,
        unique_id: bool,
        idempotent: bool,
    ) -> Result<Vec<FnResult>, ConnectorError> {
        let entity_owned = entity.map(str::to_string);
        let key = self.session_key(entity);
        let (engine, ctx, gateway, user, loopback) = (
            self.engine.clone(),
            self.ctx.clone(),
            self.gateway.clone(),
            self.user.clone(),
            self.allow_loopback,
        );
        let login_control = self.control(false);
        let login = move || {
            Client::login(
                engine.clone(),
                ctx.clone(),
                gateway.clone(),
                login_control.clone(),
                user.clone(),
                entity_owned.clone(),
                loopback,
            )
            .boxed()
        };
        let control = self.control(unique_id);
        let n = functions.len();
        let apply = move |s: &IntacctSession, r: &mut Request| {
            let req = protocol::Request {
                control: control.clone(),
                transaction,
                auth: Auth::Session(s.id().to_string()),
                functions: functions.clone(),
            };
            r.body = req.to_document().into_bytes().into();
            r.url = s.endpoint.clone();
            Ok(())
        };
        let http = Request::new(&self.ctx, operation, Method::POST, self.gateway.clone())
            .body("application/xml", Vec::new())
            .idempotent(idempotent);
        let result = self
            .engine
            .send_with_session(http, &classify, &self.sessions, &key, login, apply)
            .await;
        let resp = match result {
            Ok(r) => r,
            Err(e) => {
                if e.code == ErrorCode::PermissionDenied {
                    self.denied_entities.lock().unwrap().insert(
                        entity.unwrap_or("(top level)").to_string(),
                        e.message.clone(),
                    );
                }
                return Err(e);
            }
        };
        if let Some(e) = entity {
            self.denied_entities.lock().unwrap().remove(e);
        }
        let parsed = parse_response(&resp.body)?;
        let results = parsed.operation.map(|o| o.results).unwrap_or_default();
        if results.len() != n {
            return Err(ConnectorError::invalid_response(format!(
                "sent {n} functions, Intacct answered {} results",
                results.len()
            )));
        }
        Ok(results)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_field_errors_name_field_and_label() {
        let r = FnResult {
            status: Status::Failure,
            function: "create".into(),
            control_id: "f".into(),
            data: None,
            errors: vec![
                ErrorDetail::new(
                    "BL03000018",
                    "Required field missing",
                    "Required dimension GLDIMJOBSITE (Job Site) is missing on line 1.",
                    "",
                ),
                ErrorDetail::new("BL01001973", "", "Could not create AP Bill record!", ""),
            ],
        };
        let e = function_error(&r, &|_| None);
        assert_eq!(e.code, ErrorCode::RequiredFieldMissing);
        assert!(
            e.message.contains("GLDIMJOBSITE (Job Site)"),
            "{}",
            e.message
        );
        let e = function_error(&r, &|f| {
            (f == "GLDIMJOBSITE").then(|| "Jobsite label".to_string())
        });
        assert!(e.message.contains("GLDIMJOBSITE (Jobsite label)"));
    }

    #[test]
    fn permission_and_duplicates_map_to_codes() {
        let mk = |no: &str, d2: &str| FnResult {
            status: Status::Failure,
            function: "readByQuery".into(),
            control_id: "f".into(),
            data: None,
            errors: vec![ErrorDetail::new(no, "", d2, "")],
        };
        assert_eq!(function_error(&mk("PL04000005", "You do not have permission for API operation READ_BY_QUERY on objects of type arinvoice"), &|_| None).code, ErrorCode::PermissionDenied);
        assert_eq!(
            function_error(
                &mk(
                    "BL34000061",
                    "Another Vendor with the given value(s) V1 already exists"
                ),
                &|_| None
            )
            .code,
            ErrorCode::Conflict
        );
        assert_eq!(
            function_error(
                &mk("Query Failed", "Object definition VENDOR9 not found"),
                &|_| None
            )
            .code,
            ErrorCode::NotFound
        );
    }

    #[test]
    fn hostile_bodies_are_invalid_response() {
        for body in [
            &b"<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY a \"x\">]><response>&a;</response>"[..],
            b"<response><control><status>success</status></control>",
            b"not xml at all",
            b"<response><control><status>success</status></control></response>",
        ] {
            assert_eq!(
                parse_response(body).unwrap_err().code,
                ErrorCode::InvalidResponse
            );
        }
        let deep = "<response>".repeat(10_000);
        assert_eq!(
            parse_response(deep.as_bytes()).unwrap_err().code,
            ErrorCode::InvalidResponse
        );
    }
}
