//! Wire-level NetSuite client code: building REST, SuiteQL and SOAP requests and parsing
//! their answers into typed values, with every ERP error mapped to a `domain::ErrorCode`.

/// Escapes text for XML element content and attribute values.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// A small XML tree with namespace prefixes stripped, enough for SOAP envelopes in both
/// directions. Parsing never panics: malformed input is an error naming the position.
pub mod xml {
    use quick_xml::events::Event;
    use quick_xml::Reader;

    #[derive(Debug, Clone, Default, PartialEq)]
    pub struct Element {
        /// Local name, without prefix.
        pub name: String,
        /// Attributes by local name (so `xsi:type` is `type`).
        pub attrs: Vec<(String, String)>,
        pub children: Vec<Element>,
        pub text: String,
    }

    impl Element {
        pub fn attr(&self, name: &str) -> Option<&str> {
            self.attrs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        }
        pub fn child(&self, name: &str) -> Option<&Element> {
            self.children.iter().find(|c| c.name == name)
        }
        pub fn children_named<'a>(
            &'a self,
            name: &'a str,
        ) -> impl Iterator<Item = &'a Element> + 'a {
            self.children.iter().filter(move |c| c.name == name)
        }
        /// Follows a path of child names.
        pub fn path(&self, names: &[&str]) -> Option<&Element> {
            let mut cur = self;
            for n in names {
                cur = cur.child(n)?;
            }
            Some(cur)
        }
        /// Depth-first search for the first descendant with this name.
        pub fn find(&self, name: &str) -> Option<&Element> {
            for c in &self.children {
                if c.name == name {
                    return Some(c);
                }
                if let Some(f) = c.find(name) {
                    return Some(f);
                }
            }
            None
        }
        pub fn child_text(&self, name: &str) -> Option<&str> {
            self.child(name).map(|c| c.text.as_str())
        }
    }

    fn local(name: &[u8]) -> String {
        let s = String::from_utf8_lossy(name);
        match s.rsplit_once(':') {
            Some((_, l)) => l.to_string(),
            None => s.into_owned(),
        }
    }

    /// Parses a document into its root element.
    pub fn parse(input: &str) -> Result<Element, String> {
        let mut reader = Reader::from_str(input);
        let mut stack: Vec<Element> = Vec::new();
        let mut root: Option<Element> = None;
        loop {
            let pos = reader.buffer_position();
            let ev = reader
                .read_event()
                .map_err(|e| format!("XML error at byte {pos}: {e}"))?;
            match ev {
                Event::Start(e) | Event::Empty(e) if root.is_some() => {
                    let _ = e;
                    return Err(format!("content after the root element at byte {pos}"));
                }
                Event::Start(ref e) | Event::Empty(ref e) => {
                    let mut el = Element {
                        name: local(e.name().as_ref()),
                        ..Default::default()
                    };
                    for a in e.attributes() {
                        let a = a.map_err(|err| format!("bad attribute at byte {pos}: {err}"))?;
                        let v = a
                            .unescape_value()
                            .map_err(|err| format!("bad attribute value at byte {pos}: {err}"))?;
                        let key = String::from_utf8_lossy(a.key.as_ref()).to_string();
                        if key.starts_with("xmlns") {
                            continue;
                        }
                        el.attrs.push((local(a.key.as_ref()), v.into_owned()));
                    }
                    if matches!(ev, Event::Empty(_)) {
                        match stack.last_mut() {
                            Some(p) => p.children.push(el),
                            None => root = Some(el),
                        }
                    } else {
                        stack.push(el);
                    }
                }
                Event::End(e) => {
                    let name = local(e.name().as_ref());
                    let el = stack
                        .pop()
                        .ok_or_else(|| format!("unexpected end tag {name} at byte {pos}"))?;
                    if el.name != name {
                        return Err(format!(
                            "end tag {name} does not close {} at byte {pos}",
                            el.name
                        ));
                    }
                    match stack.last_mut() {
                        Some(p) => p.children.push(el),
                        None => root = Some(el),
                    }
                }
                Event::Text(t) => {
                    let s = t
                        .unescape()
                        .map_err(|err| format!("bad text at byte {pos}: {err}"))?;
                    if let Some(top) = stack.last_mut() {
                        top.text.push_str(s.trim());
                    } else if !s.trim().is_empty() {
                        return Err(format!("text outside the root element at byte {pos}"));
                    }
                }
                Event::CData(t) => {
                    if let Some(top) = stack.last_mut() {
                        top.text.push_str(&String::from_utf8_lossy(&t));
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
        if !stack.is_empty() {
            return Err(format!(
                "document ends inside <{}>",
                stack.last().unwrap().name
            ));
        }
        root.ok_or_else(|| "empty XML document".to_string())
    }
}

use crate::auth::{self, OAuth2Credentials, TbaCredentials, TokenPassport};
use connector_core::domain::ErrorCode;
use connector_core::{
    Classifier, ConnectorError, Engine, Rejection, Request, RequestContext, Response, Signer,
};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use url::Url;

/// The SOAP endpoint version the connector speaks; the last planned SOAP endpoint is 2025.2,
/// and 2024.2 is a stable common choice.
pub const SOAP_VERSION: &str = "2024_2";

/// Signs every attempt with a fresh TBA nonce and timestamp.
pub struct TbaSigner(pub TbaCredentials);

impl Signer for TbaSigner {
    fn sign(
        &self,
        method: &Method,
        url: &Url,
        headers: &mut HeaderMap,
        _body: &[u8],
    ) -> Result<(), ConnectorError> {
        let value = auth::rest_authorization_header(
            &self.0,
            method.as_str(),
            url,
            &auth::generate_nonce(),
            chrono::Utc::now().timestamp(),
        );
        headers.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_str(&value).map_err(|_| {
                ConnectorError::new(ErrorCode::Internal, "authorization header is not ASCII")
            })?,
        );
        Ok(())
    }
}

/// Puts a fresh tokenPassport into a SOAP envelope on every attempt: the envelope is built
/// with a `<!--PASSPORT-->` marker in its header.
pub struct SoapPassportSigner(pub TbaCredentials);

pub const PASSPORT_MARKER: &str = "<!--PASSPORT-->";

impl SoapPassportSigner {
    pub fn fill(&self, envelope: &str) -> String {
        let p = TokenPassport::sign(
            &self.0,
            &auth::generate_nonce(),
            chrono::Utc::now().timestamp(),
        );
        envelope.replacen(PASSPORT_MARKER, &p.to_xml(), 1)
    }
}

/// Adds a Bearer token (OAuth 2.0) to every attempt.
struct BearerSigner(String);

impl Signer for BearerSigner {
    fn sign(
        &self,
        _: &Method,
        _: &Url,
        headers: &mut HeaderMap,
        _: &[u8],
    ) -> Result<(), ConnectorError> {
        headers.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {}", self.0)).map_err(|_| {
                ConnectorError::new(ErrorCode::InvalidResponse, "access token is not ASCII")
            })?,
        );
        Ok(())
    }
}

/// One detail of a NetSuite REST error body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RestErrorDetail {
    pub code: String,
    pub detail: String,
    pub path: Option<String>,
}

/// Parses NetSuite's REST error body (`o:errorDetails`); tolerant of missing parts.
pub fn parse_rest_error(body: &[u8]) -> Option<RestErrorDetail> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let d = v
        .get("o:errorDetails")
        .and_then(|d| d.as_array())
        .and_then(|a| a.first());
    let code = d
        .and_then(|d| d.get("o:errorCode"))
        .or_else(|| v.get("o:errorCode"))
        .and_then(|c| c.as_str())?
        .to_string();
    Some(RestErrorDetail {
        code,
        detail: d
            .and_then(|d| d.get("detail"))
            .and_then(|x| x.as_str())
            .unwrap_or("")
            .chars()
            .take(500)
            .collect(),
        path: d
            .and_then(|d| d.get("o:errorPath"))
            .and_then(|x| x.as_str())
            .map(str::to_string),
    })
}

/// A SOAP fault: `faultstring` and the detail's `code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoapFault {
    pub faultstring: String,
    pub code: Option<String>,
    pub fault_type: Option<String>,
}

pub fn parse_soap_fault(body: &[u8]) -> Option<SoapFault> {
    let doc = xml::parse(std::str::from_utf8(body).ok()?).ok()?;
    let f = doc.find("Fault")?;
    let detail = f
        .child("detail")
        .and_then(|d| d.children.iter().find(|c| c.child("code").is_some()));
    Some(SoapFault {
        faultstring: f.child_text("faultstring").unwrap_or("").to_string(),
        code: detail
            .and_then(|d| d.child_text("code"))
            .map(str::to_string),
        fault_type: detail.map(|d| d.name.clone()),
    })
}

/// Maps a REST error code (and status) to Switchyard's closed list.
pub fn rest_error_code(status: u16, ns_code: &str, detail: &str) -> ErrorCode {
    match (status, ns_code) {
        (429, _) | (_, "CONCURRENCY_LIMIT_EXCEEDED") => ErrorCode::ConcurrencyLimited,
        (401, _) | (_, "INVALID_LOGIN") | (_, "INVALID_LOGIN_ATTEMPT") => ErrorCode::AuthRevoked,
        (403, _) | (_, "INSUFFICIENT_PERMISSION") => ErrorCode::PermissionDenied,
        (404, _) | (_, "NONEXISTENT_ID") | (_, "RCRD_DSNT_EXIST") => ErrorCode::NotFound,
        (_, "USER_ERROR") if detail.contains("Please enter value(s) for") => {
            ErrorCode::RequiredFieldMissing
        }
        (s, _) if s >= 500 => ErrorCode::ErpUnavailable,
        (400, "INVALID_REQUEST") | (400, "INVALID_PARAMETER") => ErrorCode::InvalidInput,
        (400, _) => ErrorCode::ValidationFailed,
        _ => ErrorCode::InvalidResponse,
    }
}

/// Maps a SOAP fault code to Switchyard's closed list.
pub fn soap_fault_code(f: &SoapFault) -> ErrorCode {
    match f.code.as_deref() {
        Some("WS_REQUEST_BLOCKED") | Some("WS_CONCUR_SESSION_DISALLWD") => {
            ErrorCode::ConcurrencyLimited
        }
        Some("INVALID_LOGIN_ATTEMPT")
        | Some("INVALID_LOGIN_CREDENTIALS")
        | Some("INVALID_LOGIN") => ErrorCode::AuthRevoked,
        Some("UNEXPECTED_ERROR") => ErrorCode::ErpUnavailable,
        Some("INSUFFICIENT_PERMISSION") => ErrorCode::PermissionDenied,
        Some("EXCEEDED_MAX_RECORDS") => ErrorCode::InvalidInput,
        _ if f.faultstring.starts_with("Invalid login attempt") => ErrorCode::AuthRevoked,
        _ => ErrorCode::InvalidResponse,
    }
}

/// Classifies NetSuite answers for the engine: REST error bodies and SOAP faults.
pub struct NsClassifier;

impl Classifier for NsClassifier {
    fn classify(&self, _req: &Request, resp: &Response) -> Result<(), Rejection> {
        if (200..300).contains(&resp.status) {
            return Ok(());
        }
        let ct = resp.header("content-type").unwrap_or("");
        if ct.contains("xml") {
            if let Some(f) = parse_soap_fault(&resp.body) {
                let code = soap_fault_code(&f);
                let mut e = ConnectorError::new(
                    code,
                    format!(
                        "NetSuite SOAP fault: {}",
                        f.faultstring.chars().take(300).collect::<String>()
                    ),
                )
                .with_http_status(resp.status);
                if let Some(c) = &f.code {
                    e = e.with_erp_code(c.clone());
                }
                // A blocked request did nothing, so even a write may be repeated.
                return Err(if code == ErrorCode::ConcurrencyLimited {
                    Rejection::no_work(e)
                } else {
                    Rejection::new(e)
                });
            }
        }
        let (code, msg, ns_code) = match parse_rest_error(&resp.body) {
            Some(d) => (
                rest_error_code(resp.status, &d.code, &d.detail),
                d.detail.clone(),
                Some(d.code),
            ),
            None => (
                rest_error_code(resp.status, "", ""),
                format!("HTTP {} with an unrecognised body", resp.status),
                None,
            ),
        };
        let mut e =
            ConnectorError::new(code, format!("NetSuite: {msg}")).with_http_status(resp.status);
        if let Some(c) = ns_code {
            e = e.with_erp_code(c);
        }
        Err(if code == ErrorCode::ConcurrencyLimited {
            Rejection::no_work(e)
        } else {
            Rejection::new(e)
        })
    }
}

/// How a connection authenticates.
pub enum AuthMode {
    Tba(TbaCredentials),
    OAuth2 {
        creds: OAuth2Credentials,
        token: tokio::sync::Mutex<Option<(String, i64)>>,
    },
}

/// A NetSuite account's wire client: every request goes through the engine.
pub struct NsClient {
    pub engine: Engine,
    pub ctx: RequestContext,
    /// `https://1234567.suitetalk.api.netsuite.com` or an override (no trailing slash).
    pub base: String,
    pub auth: AuthMode,
    /// Set once NetSuite refused the credentials: later calls fail fast, so a revoked
    /// token is not hammered and only this connection stops.
    pub needs_reauth: AtomicBool,
}

/// A parsed SuiteQL or REST collection page.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectionPage {
    pub items: Vec<serde_json::Map<String, Value>>,
    pub has_more: bool,
    pub total_results: Option<u64>,
    pub offset: u64,
}

/// Parses a collection body (SuiteQL or record list) with context on failure.
pub fn parse_collection(body: &[u8], operation: &str) -> Result<CollectionPage, ConnectorError> {
    let bad = |why: String| {
        ConnectorError::new(ErrorCode::InvalidResponse, format!("{operation}: {why}"))
            .with_operation(operation.to_string())
    };
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        bad(format!(
            "body is not JSON ({e}); starts {:?}",
            String::from_utf8_lossy(&body[..body.len().min(80)])
        ))
    })?;
    let Value::Object(mut o) = v else {
        return Err(bad("body is not a JSON object".into()));
    };
    // The rows are moved out, not cloned: a page holds up to 1000 of them.
    let items = match o.remove("items") {
        Some(Value::Array(a)) => a,
        Some(_) => return Err(bad("items is not an array".into())),
        None => return Err(bad("no items array".into())),
    }
    .into_iter()
    .enumerate()
    .map(|(i, it)| match it {
        Value::Object(m) => Ok(m),
        _ => Err(bad(format!("items[{i}] is not an object"))),
    })
    .collect::<Result<Vec<_>, _>>()?;
    let has_more = o
        .get("hasMore")
        .ok_or_else(|| bad("no hasMore".into()))?
        .as_bool()
        .ok_or_else(|| bad("hasMore is not a boolean".into()))?;
    Ok(CollectionPage {
        items,
        has_more,
        total_results: o.get("totalResults").and_then(|t| t.as_u64()),
        offset: o.get("offset").and_then(|t| t.as_u64()).unwrap_or(0),
    })
}

impl NsClient {
    fn url(&self, path_and_query: &str) -> Result<Url, ConnectorError> {
        Url::parse(&format!("{}{path_and_query}", self.base))
            .map_err(|e| ConnectorError::invalid_input(format!("bad request URL: {e}")))
    }

    fn guard(&self) -> Result<(), ConnectorError> {
        if self.needs_reauth.load(Ordering::SeqCst) {
            return Err(ConnectorError::new(
                ErrorCode::AuthRevoked,
                "NetSuite refused this connection's credentials earlier; reconnect it",
            ));
        }
        Ok(())
    }

    fn note(&self, r: Result<Response, ConnectorError>) -> Result<Response, ConnectorError> {
        if let Err(e) = &r {
            if e.code == ErrorCode::AuthRevoked {
                self.needs_reauth.store(true, Ordering::SeqCst);
            }
        }
        r
    }

    async fn signer(&self) -> Result<Arc<dyn Signer>, ConnectorError> {
        match &self.auth {
            AuthMode::Tba(c) => Ok(Arc::new(TbaSigner(c.clone()))),
            AuthMode::OAuth2 { creds, token } => {
                let mut t = token.lock().await;
                let now = chrono::Utc::now().timestamp();
                if let Some((tok, exp)) = t.as_ref() {
                    if *exp > now + 60 {
                        return Ok(Arc::new(BearerSigner(tok.clone())));
                    }
                }
                let (tok, exp) = self.fetch_access_token(creds).await?;
                *t = Some((tok.clone(), exp));
                Ok(Arc::new(BearerSigner(tok)))
            }
        }
    }

    /// The client-credentials grant: a signed JWT assertion for an access token.
    async fn fetch_access_token(
        &self,
        creds: &OAuth2Credentials,
    ) -> Result<(String, i64), ConnectorError> {
        let url = self.url("/services/rest/auth/oauth2/v1/token")?;
        let now = chrono::Utc::now().timestamp();
        let jwt = auth::client_assertion(creds, &auth::base_string_uri(&url), now)
            .map_err(|e| ConnectorError::invalid_input(format!("OAuth 2.0 key: {e}")))?;
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair(
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            )
            .append_pair("client_assertion", &jwt)
            .finish();
        let req = Request::new(&self.ctx, "oauth2_token", Method::POST, url)
            .body("application/x-www-form-urlencoded", form)
            .idempotent(true);
        let classify = |_: &Request, r: &Response| -> Result<(), Rejection> {
            match r.status {
                200..=299 => Ok(()),
                400 | 401 => Err(Rejection::new(ConnectorError::new(
                    ErrorCode::AuthRevoked,
                    format!(
                        "NetSuite refused the OAuth 2.0 client assertion: {}",
                        String::from_utf8_lossy(&r.body[..r.body.len().min(100)])
                    ),
                ))),
                _ => connector_core::classify_by_status(
                    &Request::new(
                        &self.ctx,
                        "oauth2_token",
                        Method::POST,
                        Url::parse("http://x").unwrap(),
                    ),
                    r,
                ),
            }
        };
        let resp = self.note(self.engine.send(req, &classify).await)?;
        let v: Value = resp.json()?;
        let tok = v
            .get("access_token")
            .and_then(|t| t.as_str())
            .ok_or_else(|| {
                ConnectorError::new(
                    ErrorCode::InvalidResponse,
                    "token response has no access_token",
                )
            })?;
        let exp = v
            .get("expires_in")
            .and_then(|e| {
                e.as_i64()
                    .or_else(|| e.as_str().and_then(|s| s.parse().ok()))
            })
            .unwrap_or(3600);
        Ok((tok.to_string(), now + exp))
    }

    /// A REST call: method, path under the base (with query), optional JSON body.
    pub async fn rest(
        &self,
        operation: &'static str,
        method: Method,
        path_and_query: &str,
        body: Option<&Value>,
        extra: &[(&'static str, &str)],
        idempotent: bool,
    ) -> Result<Response, ConnectorError> {
        self.guard()?;
        let mut req = Request::new(&self.ctx, operation, method, self.url(path_and_query)?);
        if let Some(b) = body {
            req = req.json(b)?;
        }
        for (k, v) in extra {
            req = req.header(HeaderName::from_static(k), v)?;
        }
        req = req.idempotent(idempotent).signer(self.signer().await?);
        self.note(self.engine.send(req, &NsClassifier).await)
    }

    /// One SuiteQL page (`Prefer: transient`; limit and offset are signed query params).
    pub async fn suiteql(
        &self,
        q: &str,
        limit: u32,
        offset: u64,
    ) -> Result<CollectionPage, ConnectorError> {
        let body = serde_json::json!({ "q": q });
        let resp = self
            .rest(
                "suiteql",
                Method::POST,
                &format!("/services/rest/query/v1/suiteql?limit={limit}&offset={offset}"),
                Some(&body),
                &[("prefer", "transient")],
                true,
            )
            .await?;
        parse_collection(&resp.body, "suiteql")
    }

    /// A SOAP call. `body` is the operation element; `prefs` extra header elements.
    pub async fn soap(
        &self,
        operation: &'static str,
        body: &str,
        prefs: &str,
        idempotent: bool,
    ) -> Result<xml::Element, ConnectorError> {
        self.guard()?;
        let creds = match &self.auth {
            AuthMode::Tba(c) => c.clone(),
            AuthMode::OAuth2 { .. } => return Err(ConnectorError::invalid_input(
                "SOAP web services need token-based authentication; this connection uses OAuth 2.0",
            )),
        };
        let v = SOAP_VERSION;
        let envelope = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
xmlns:platformMsgs=\"urn:messages_{v}.platform.webservices.netsuite.com\" xmlns:platformCore=\"urn:core_{v}.platform.webservices.netsuite.com\" \
xmlns:platformCommon=\"urn:common_{v}.platform.webservices.netsuite.com\" xmlns:listRel=\"urn:relationships_{v}.lists.webservices.netsuite.com\" \
xmlns:listAcct=\"urn:accounting_{v}.lists.webservices.netsuite.com\" xmlns:tranSales=\"urn:sales_{v}.transactions.webservices.netsuite.com\" \
xmlns:setupCustom=\"urn:customization_{v}.setup.webservices.netsuite.com\"><soapenv:Header>{PASSPORT_MARKER}{prefs}</soapenv:Header><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"
        );
        let url = self.url(&format!("/services/NetSuitePort_{v}"))?;
        let signer = SoapPassportSigner(creds);
        let mut last_err = None;
        // The engine signs headers only; a SOAP passport lives in the body, so each engine
        // call carries a freshly signed envelope and the engine's own retries are limited
        // to requests that never reached NetSuite (their passport was never seen).
        for attempt in 1..=self.engine.config().retry.max_attempts.max(1) {
            let req = Request::new(&self.ctx, operation, Method::POST, url.clone())
                .body("text/xml; charset=utf-8", signer.fill(&envelope))
                .header(HeaderName::from_static("soapaction"), operation)?
                .idempotent(false);
            match self.note(self.engine.send(req, &NoEngineRetry).await) {
                Ok(resp) => {
                    let text = std::str::from_utf8(&resp.body).map_err(|_| {
                        ConnectorError::new(
                            ErrorCode::InvalidResponse,
                            format!("{operation}: SOAP answer is not UTF-8"),
                        )
                    })?;
                    return xml::parse(text).map_err(|e| {
                        ConnectorError::new(
                            ErrorCode::InvalidResponse,
                            format!("{operation}: SOAP answer is not XML: {e}"),
                        )
                        .with_operation(operation)
                    });
                }
                Err(e)
                    if e.class() == connector_core::domain::ErrorClass::Retry
                        && (idempotent || e.code == ErrorCode::ConcurrencyLimited) =>
                {
                    if let Some(d) = self.engine.config().retry.delay(attempt, e.retry_after) {
                        tokio::time::sleep(d).await;
                    }
                    last_err = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_err
            .unwrap_or_else(|| ConnectorError::new(ErrorCode::ErpUnavailable, "SOAP call failed")))
    }
}

/// The `platformCore:status` of a SOAP result: Ok, or the first error detail.
pub fn soap_status(el: &xml::Element) -> Result<(), (String, String)> {
    let Some(s) = el.child("status") else {
        return Err(("NO_STATUS".into(), format!("{} has no status", el.name)));
    };
    if s.attr("isSuccess") == Some("true") {
        return Ok(());
    }
    let d = s.child("statusDetail");
    Err((
        d.and_then(|d| d.child_text("code"))
            .unwrap_or("UNKNOWN")
            .to_string(),
        d.and_then(|d| d.child_text("message"))
            .unwrap_or("")
            .to_string(),
    ))
}

/// Maps a SOAP per-record status code to Switchyard's list.
pub fn soap_status_code(code: &str, message: &str) -> ErrorCode {
    match code {
        "RCRD_DSNT_EXIST" => ErrorCode::NotFound,
        "INSUFFICIENT_PERMISSION" => ErrorCode::PermissionDenied,
        "USER_ERROR" if message.contains("Please enter value") => ErrorCode::RequiredFieldMissing,
        "INVALID_JOB_ID" => ErrorCode::SessionExpired,
        _ => ErrorCode::ValidationFailed,
    }
}

/// SOAP passports are single-use, so the engine must never resend a SOAP body that reached
/// NetSuite; this classifier keeps NetSuite's error codes but drops the "did no work" mark,
/// and `NsClient::soap` retries with a freshly signed envelope instead.
struct NoEngineRetry;

impl Classifier for NoEngineRetry {
    fn classify(&self, req: &Request, resp: &Response) -> Result<(), Rejection> {
        NsClassifier
            .classify(req, resp)
            .map_err(|r| Rejection::new(r.error))
    }
}
