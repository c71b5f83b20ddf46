//! Service Layer wire code: the error classifier (v1 and v2 error bodies to ErrorCodes),
//! collection and entity parsing, next-link resolution, OData literal quoting, and the
//! `$batch` request builder and response parser. Everything here treats the server's
//! answer as untrusted: bad input is `invalid_response`, never a panic.

use crate::multipart::{self, HttpMessage};
use connector_core::domain::ErrorCode;
use connector_core::{Classifier, ConnectorError, Rejection, Request, Response};
use serde_json::{Map, Value};
use url::Url;

/// A parsed Service Layer error body.
#[derive(Debug, Clone, PartialEq)]
pub struct SlError {
    pub code: String,
    pub message: String,
}

/// Reads `{"error":{"code":-10,"message":{"value":"..."}}}` (v1) or
/// `{"error":{"code":"-10","message":"..."}}` (v2).
pub fn parse_error(body: &[u8]) -> Option<SlError> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let e = v.get("error")?;
    let code = match e.get("code") {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    };
    let message = match e.get("message") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(o)) => o
            .get("value")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string(),
        _ => String::new(),
    };
    Some(SlError { code, message })
}

/// Maps a Service Layer status and error to a connector error.
pub fn error_for(status: u16, err: Option<&SlError>, login: bool) -> ConnectorError {
    let code = err.map(|e| e.code.as_str()).unwrap_or("");
    let msg = err
        .map(|e| e.message.clone())
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| format!("HTTP {status} without a Service Layer error body"));
    let lower = msg.to_ascii_lowercase();
    let ec = match (status, code) {
        (401, _) if login => ErrorCode::AuthRevoked,
        (401, "301") => ErrorCode::SessionExpired,
        (401, "100000027") | (401, "100000055") => ErrorCode::AuthRevoked,
        (401, _) | (403, _) => ErrorCode::PermissionDenied,
        (_, "-8037") => ErrorCode::ConcurrencyLimited,
        (404, _) | (_, "-2028") => ErrorCode::NotFound,
        (412, _) => ErrorCode::Conflict,
        (s, _) if s >= 500 => ErrorCode::ErpUnavailable,
        (400, "-1000") if lower.contains("batch") => ErrorCode::InvalidInput,
        (400, _) if lower.contains("cannot be empty") || lower.contains("enter a ") => {
            ErrorCode::RequiredFieldMissing
        }
        (400, "-10") if lower.contains("already") => ErrorCode::Conflict,
        (400, _) | (409, _) | (422, _) => ErrorCode::ValidationFailed,
        _ => ErrorCode::InvalidResponse,
    };
    let mut e = ConnectorError::new(ec, msg).with_http_status(status);
    if !code.is_empty() {
        e = e.with_erp_code(code.to_string());
    }
    e
}

/// The engine's classifier for Service Layer answers.
pub struct SlClassifier {
    /// Login answers 401 for bad credentials, not for expired sessions.
    pub login: bool,
}

impl Classifier for SlClassifier {
    fn classify(&self, _req: &Request, resp: &Response) -> Result<(), Rejection> {
        if resp.status < 400 {
            return Ok(());
        }
        let err = parse_error(&resp.body);
        // An approval-bound POST answers -2028 with Location: .../Drafts(n); that is a
        // result for the caller, not a failure.
        if err.as_ref().is_some_and(|e| e.code == "-2028")
            && resp
                .header("location")
                .is_some_and(|l| l.contains("/Drafts("))
        {
            return Ok(());
        }
        let e = error_for(resp.status, err.as_ref(), self.login);
        // A refused Login or a session limit did nothing on the server.
        if e.code == ErrorCode::ConcurrencyLimited {
            return Err(Rejection::no_work(e));
        }
        Err(Rejection::new(e))
    }
}

/// One page of an entity collection.
#[derive(Debug, Clone, PartialEq)]
pub struct Collection {
    pub value: Vec<Map<String, Value>>,
    pub next_link: Option<String>,
    pub count: Option<u64>,
}

/// Parses a collection answer of either protocol version.
pub fn parse_collection(body: &[u8]) -> Result<Collection, ConnectorError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ConnectorError::invalid_response(format!("collection is not JSON: {e}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| ConnectorError::invalid_response("collection answer is not an object"))?;
    let value = obj.get("value").and_then(|v| v.as_array()).ok_or_else(|| {
        ConnectorError::invalid_response("collection answer has no 'value' array")
    })?;
    let mut rows = Vec::with_capacity(value.len());
    for (i, r) in value.iter().enumerate() {
        match r {
            Value::Object(o) => rows.push(o.clone()),
            _ => {
                return Err(ConnectorError::invalid_response(format!(
                    "collection entry {i} is not an object"
                )))
            }
        }
    }
    let next_link = match obj
        .get("@odata.nextLink")
        .or_else(|| obj.get("odata.nextLink"))
    {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(_) => {
            return Err(ConnectorError::invalid_response(
                "nextLink is not a non-empty string",
            ))
        }
    };
    let count = match obj.get("@odata.count").or_else(|| obj.get("odata.count")) {
        None => None,
        Some(Value::Number(n)) => n.as_u64(),
        // v1 sends the count as a string.
        Some(Value::String(s)) => Some(s.trim().parse().map_err(|_| {
            ConnectorError::invalid_response(format!("odata.count '{s}' is not a number"))
        })?),
        Some(_) => {
            return Err(ConnectorError::invalid_response(
                "odata.count has a bad type",
            ))
        }
    };
    Ok(Collection {
        value: rows,
        next_link,
        count,
    })
}

/// Resolves a next link: `/b1s/...` is host-relative, `http(s)://...` must stay on the
/// same origin, anything else is relative to the service root.
pub fn resolve_next_link(root: &Url, link: &str) -> Result<Url, ConnectorError> {
    let bad =
        |why: &str| ConnectorError::invalid_response(format!("nextLink '{}' {why}", clip(link)));
    let url = if link.starts_with("http://") || link.starts_with("https://") {
        let u = Url::parse(link).map_err(|_| bad("is not a URL"))?;
        if u.origin() != root.origin() {
            return Err(bad("points at another host"));
        }
        u
    } else if link.starts_with('/') {
        root.join(link).map_err(|_| bad("is not a path"))?
    } else {
        root.join(link)
            .map_err(|_| bad("is not a relative reference"))?
    };
    if !url.path().starts_with("/b1s/") {
        return Err(bad("leaves the service root"));
    }
    Ok(url)
}

fn clip(s: &str) -> String {
    s.chars().take(120).collect()
}

/// Quotes a string for an OData literal: `O'Brien` becomes `'O''Brien'`.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The key of an entity as it appears in a URL.
pub fn key_segment(key: &str, numeric: bool) -> String {
    if numeric {
        key.to_string()
    } else {
        let q = quote(key);
        url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
    }
}

/// Pulls the key out of a `Location` like `.../Orders(12)` or `.../Items('A1')`:
/// returns (entity set, key).
pub fn parse_location(loc: &str) -> Option<(String, String)> {
    let open = loc.rfind('(')?;
    let close = loc.rfind(')')?;
    if close < open {
        return None;
    }
    let set_start = loc[..open].rfind('/').map(|i| i + 1).unwrap_or(0);
    let set = loc[set_start..open].to_string();
    let mut key = loc[open + 1..close].to_string();
    if let Some((_, v)) = key.split_once('=') {
        key = v.to_string();
    }
    if let Some(inner) = key.strip_prefix('\'').and_then(|k| k.strip_suffix('\'')) {
        key = inner.replace("''", "'");
    }
    if set.is_empty() || key.is_empty() {
        return None;
    }
    Some((set, key))
}

/// One request inside a change set.
#[derive(Debug, Clone)]
pub struct SubRequest {
    pub content_id: u32,
    pub method: &'static str,
    /// Relative to the service root, e.g. `Orders` or `Orders(12)`.
    pub path: String,
    pub body: Option<Value>,
    pub prefer_no_content: bool,
}

/// Builds a `$batch` body of change sets; returns (content type, body).
pub fn build_batch(root_path: &str, change_sets: &[Vec<SubRequest>]) -> (String, String) {
    let b = format!("batch_{}", uuid::Uuid::new_v4());
    let mut out = String::new();
    for cs in change_sets {
        let c = format!("changeset_{}", uuid::Uuid::new_v4());
        out.push_str(&format!(
            "--{b}\r\nContent-Type: multipart/mixed;boundary={c}\r\n\r\n"
        ));
        for r in cs {
            let mut headers = vec![("Content-Type".to_string(), "application/json".to_string())];
            if r.prefer_no_content {
                headers.push(("Prefer".into(), "return-no-content".into()));
            }
            let msg = HttpMessage {
                start_line: format!(
                    "{} {}/{} HTTP/1.1",
                    r.method,
                    root_path.trim_end_matches('/'),
                    r.path
                ),
                headers,
                body: r.body.as_ref().map(|b| b.to_string()).unwrap_or_default(),
            };
            multipart::write_http_part(
                &mut out,
                &c,
                &[("Content-ID".into(), r.content_id.to_string())],
                &msg,
            );
        }
        out.push_str(&format!("--{c}--\r\n"));
    }
    out.push_str(&format!("--{b}--\r\n"));
    (format!("multipart/mixed;boundary={b}"), out)
}

/// One answer inside a batch reply.
#[derive(Debug, Clone, PartialEq)]
pub struct SubResponse {
    pub content_id: Option<u32>,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl SubResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        multipart::header(&self.headers, name)
    }

    pub fn error(&self) -> Option<SlError> {
        parse_error(self.body.as_bytes())
    }
}

/// One top-level part of a batch reply.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchPart {
    /// A standalone answer, or the single error answer of a failed change set.
    Single(SubResponse),
    /// The answers of a committed change set, in request order.
    ChangeSet(Vec<SubResponse>),
}

fn sub_response(part: &multipart::Part) -> Result<SubResponse, ConnectorError> {
    let msg = multipart::parse_http(&part.body)
        .map_err(|e| ConnectorError::invalid_response(format!("batch part: {e}")))?;
    let status = msg
        .status()
        .map_err(|e| ConnectorError::invalid_response(format!("batch part: {e}")))?;
    // Content-ID may be a MIME part header or sit among the inner HTTP headers.
    let cid = part
        .header("Content-ID")
        .or_else(|| msg.header("Content-ID"))
        .map(|c| {
            c.trim().parse::<u32>().map_err(|_| {
                ConnectorError::invalid_response(format!(
                    "batch part has a bad Content-ID '{}'",
                    clip(c)
                ))
            })
        })
        .transpose()?;
    Ok(SubResponse {
        content_id: cid,
        status,
        headers: msg.headers,
        body: msg.body,
    })
}

/// Parses a `$batch` reply (multipart/mixed, possibly with nested change set replies).
pub fn parse_batch_response(
    content_type: &str,
    body: &str,
) -> Result<Vec<BatchPart>, ConnectorError> {
    let boundary = multipart::boundary_of(content_type).ok_or_else(|| {
        ConnectorError::invalid_response(format!(
            "batch reply Content-Type '{}' has no boundary",
            clip(content_type)
        ))
    })?;
    let parts = multipart::split(body, &boundary)
        .map_err(|e| ConnectorError::invalid_response(format!("batch reply: {e}")))?;
    let mut out = Vec::with_capacity(parts.len());
    for p in &parts {
        let ct = p.header("Content-Type").unwrap_or("");
        if ct.to_ascii_lowercase().starts_with("multipart/mixed") {
            let cb = multipart::boundary_of(ct).ok_or_else(|| {
                ConnectorError::invalid_response("change set reply without a boundary")
            })?;
            let subs = multipart::split(&p.body, &cb)
                .map_err(|e| ConnectorError::invalid_response(format!("change set reply: {e}")))?;
            let mut rs = Vec::with_capacity(subs.len());
            for s in &subs {
                rs.push(sub_response(s)?);
            }
            out.push(BatchPart::ChangeSet(rs));
        } else {
            out.push(BatchPart::Single(sub_response(p)?));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_shapes_of_both_versions() {
        let v1 = br#"{"error":{"code":301,"message":{"lang":"en-us","value":"Invalid session or session already timeout."}}}"#;
        let e = parse_error(v1).unwrap();
        assert_eq!(e.code, "301");
        assert_eq!(
            error_for(401, Some(&e), false).code,
            ErrorCode::SessionExpired
        );
        let v2 = br#"{"error":{"code":"-2039","message":"Another user modified"}}"#;
        assert_eq!(
            error_for(412, parse_error(v2).as_ref(), false).code,
            ErrorCode::Conflict
        );
        assert_eq!(error_for(401, None, true).code, ErrorCode::AuthRevoked);
        assert_eq!(error_for(502, None, false).code, ErrorCode::ErpUnavailable);
        assert!(parse_error(b"<html>").is_none());
    }

    #[test]
    fn next_links_resolve_against_root_or_host() {
        let root = Url::parse("http://h:1/b1s/v1/").unwrap();
        assert_eq!(
            resolve_next_link(&root, "Orders?$skip=20")
                .unwrap()
                .as_str(),
            "http://h:1/b1s/v1/Orders?$skip=20"
        );
        assert_eq!(
            resolve_next_link(&root, "/b1s/v1/Orders?$skip=20")
                .unwrap()
                .as_str(),
            "http://h:1/b1s/v1/Orders?$skip=20"
        );
        assert!(resolve_next_link(&root, "http://evil/b1s/v1/Orders").is_err());
        assert!(resolve_next_link(&root, "/etc/passwd").is_err());
    }

    #[test]
    fn locations() {
        assert_eq!(
            parse_location("http://h/b1s/v1/Drafts(5)"),
            Some(("Drafts".into(), "5".into()))
        );
        assert_eq!(
            parse_location("/b1s/v1/Items('i''1')"),
            Some(("Items".into(), "i'1".into()))
        );
        assert_eq!(parse_location("garbage"), None);
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    fn batch_like() -> impl Strategy<Value = String> {
        let pieces = prop::sample::select(vec![
            "--batchresponse_1\r\n",
            "--batchresponse_1--\r\n",
            "--cs\r\n",
            "--cs--\r\n",
            "Content-Type: application/http\r\n",
            "Content-Type: multipart/mixed;boundary=cs\r\n",
            "Content-ID: 1\r\n",
            "Content-ID: x\r\n",
            "\r\n",
            "HTTP/1.1 204 No Content\r\n",
            "HTTP/1.1 400 Bad Request\r\n",
            "HTTP/1.1 99999\r\n",
            "Location: /b1s/v1/Orders(5)\r\n",
            "{\"error\":{\"code\":-10,\"message\":{\"value\":\"x\"}}}\r\n",
            "garbage",
            ":",
            "\n",
        ]);
        prop::collection::vec(pieces, 0..40).prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn batch_parser_never_panics(body in batch_like(), junk in ".{0,64}") {
            let _ = parse_batch_response("multipart/mixed;boundary=batchresponse_1", &body);
            let _ = parse_batch_response(&junk, &body);
            let _ = parse_batch_response("multipart/mixed;boundary=batchresponse_1", &junk);
        }

        #[test]
        fn collection_parser_errors_are_invalid_response(body in prop::collection::vec(any::<u8>(), 0..200)) {
            if let Err(e) = parse_collection(&body) {
                prop_assert_eq!(e.code, ErrorCode::InvalidResponse);
            }
            let _ = parse_error(&body);
            let _ = crate::auth::parse_login(&["B1SESSION=x"], &body);
        }

        #[test]
        fn json_shaped_collections_never_panic(v in prop::collection::vec(prop::sample::select(vec![
            "{", "}", "[", "]", ",", ":", "\"value\"", "\"odata.nextLink\"", "\"@odata.count\"", "\"odata.count\"",
            "\"5\"", "5", "null", "{\"a\":1}", "\"Orders?$skip=20\"", "true",
        ]), 0..30)) {
            let body = v.concat();
            if let Err(e) = parse_collection(body.as_bytes()) {
                prop_assert_eq!(e.code, ErrorCode::InvalidResponse);
            }
        }

        #[test]
        fn next_links_never_escape_or_panic(link in ".{0,80}") {
            let root = Url::parse("http://127.0.0.1:5000/b1s/v2/").unwrap();
            if let Ok(u) = resolve_next_link(&root, &link) {
                prop_assert_eq!(u.origin(), root.origin());
                prop_assert!(u.path().starts_with("/b1s/"));
            }
            let _ = parse_location(&link);
        }

        #[test]
        fn simulator_filter_parser_never_panics(f in ".{0,80}", toks in prop::collection::vec(prop::sample::select(vec![
            "UpdateDate", "eq", "ge", "'2024-05-01'", "and", "or", "not", "(", ")", "startswith(", ",", "'x'", "DocEntry", "5", "'", "datetime'2024-01-01'",
        ]), 0..20)) {
            let _ = crate::simulator::query::parse_filter(&f);
            let _ = crate::simulator::query::parse_filter(&toks.join(" "));
            let _ = crate::simulator::query::norm_time_minute(&f);
            let _ = crate::simulator::query::norm_date(&f);
        }
    }

    #[test]
    fn malformed_answers_are_invalid_response() {
        for body in [
            &b"<html>502</html>"[..],
            b"{\"value\":3}",
            b"{\"value\":[1]}",
            b"{\"value\":[],\"odata.count\":\"x\"}",
        ] {
            assert_eq!(
                parse_collection(body).unwrap_err().code,
                ErrorCode::InvalidResponse
            );
        }
        let truncated = "--b\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 201 Created\r\n";
        assert_eq!(
            parse_batch_response("multipart/mixed;boundary=b", truncated)
                .unwrap_err()
                .code,
            ErrorCode::InvalidResponse
        );
        assert_eq!(
            parse_batch_response("text/html", "").unwrap_err().code,
            ErrorCode::InvalidResponse
        );
    }
}
