//! Typed Intacct XML API 3.0 envelopes: the request (control, operation, authentication,
//! content/function) and the response (control, authentication and per-function result
//! levels, errormessage blocks), each with a writer and a strict reader.
//!
//! The client writes requests and reads responses; the simulator does the opposite. Third-party
//! SDKs check that both sides agree with the real protocol rather than only with each other.

use crate::xml::Element;

/// The `control` block of a request.
#[derive(Clone, PartialEq, Eq)]
pub struct Control {
    pub sender_id: String,
    pub sender_password: String,
    pub control_id: String,
    pub unique_id: bool,
    pub dtd_version: String,
    pub include_whitespace: bool,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("sender_id", &self.sender_id)
            .field("sender_password", &"[redacted]")
            .field("control_id", &self.control_id)
            .field("unique_id", &self.unique_id)
            .finish()
    }
}

/// How the operation authenticates.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    Login {
        user_id: String,
        company_id: String,
        password: String,
        location_id: Option<String>,
    },
    Session(String),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Login {
                user_id,
                company_id,
                location_id,
                ..
            } => f
                .debug_struct("Login")
                .field("user_id", user_id)
                .field("company_id", company_id)
                .field("location_id", location_id)
                .field("password", &"[redacted]")
                .finish(),
            Auth::Session(_) => f.write_str("Session([redacted])"),
        }
    }
}

/// One `<function controlid="…">` with its single operation element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    pub control_id: String,
    pub body: Element,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub control: Control,
    pub transaction: bool,
    pub auth: Auth,
    pub functions: Vec<Function>,
}

fn bool_text(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Some(true),
        "false" | "0" | "" => Some(false),
        _ => None,
    }
}

impl Request {
    pub fn to_element(&self) -> Element {
        let c = &self.control;
        let control = Element::new("control")
            .with_child(Element::leaf("senderid", &c.sender_id))
            .with_child(Element::leaf("password", &c.sender_password))
            .with_child(Element::leaf("controlid", &c.control_id))
            .with_child(Element::leaf("uniqueid", bool_text(c.unique_id)))
            .with_child(Element::leaf("dtdversion", &c.dtd_version))
            .with_child(Element::leaf(
                "includewhitespace",
                bool_text(c.include_whitespace),
            ));
        let auth = match &self.auth {
            Auth::Login {
                user_id,
                company_id,
                password,
                location_id,
            } => {
                let mut login = Element::new("login")
                    .with_child(Element::leaf("userid", user_id))
                    .with_child(Element::leaf("companyid", company_id))
                    .with_child(Element::leaf("password", password));
                if let Some(l) = location_id {
                    login.push(Element::leaf("locationid", l));
                }
                Element::new("authentication").with_child(login)
            }
            Auth::Session(s) => {
                Element::new("authentication").with_child(Element::leaf("sessionid", s))
            }
        };
        let mut content = Element::new("content");
        for f in &self.functions {
            content.push(
                Element::new("function")
                    .with_attr("controlid", &f.control_id)
                    .with_child(f.body.clone()),
            );
        }
        let operation = Element::new("operation")
            .with_attr("transaction", bool_text(self.transaction))
            .with_child(auth)
            .with_child(content);
        Element::new("request")
            .with_child(control)
            .with_child(operation)
    }

    pub fn to_document(&self) -> String {
        self.to_element().to_document()
    }

    /// Reads a request; the error says which part of the envelope is wrong.
    pub fn from_element(root: &Element) -> Result<Request, String> {
        if root.name != "request" {
            return Err(format!(
                "root element is <{}>, expected <request>",
                root.name
            ));
        }
        let control = root.child("control").ok_or("missing <control>")?;
        let req_text = |name: &str| -> Result<String, String> {
            control
                .child_text(name)
                .map(str::to_string)
                .ok_or_else(|| format!("missing <control><{name}>"))
        };
        let unique_id = match control.child_text("uniqueid") {
            None => true,
            Some(s) => parse_bool(s).ok_or_else(|| format!("bad <uniqueid> value '{s}'"))?,
        };
        let control = Control {
            sender_id: req_text("senderid")?,
            sender_password: req_text("password")?,
            control_id: req_text("controlid")?,
            unique_id,
            dtd_version: req_text("dtdversion")?,
            include_whitespace: control
                .child_text("includewhitespace")
                .and_then(parse_bool)
                .unwrap_or(true),
        };
        let op = root.child("operation").ok_or("missing <operation>")?;
        let transaction = match op.attr("transaction") {
            None => false,
            Some(s) => parse_bool(s).ok_or_else(|| format!("bad transaction attribute '{s}'"))?,
        };
        let auth_el = op
            .child("authentication")
            .ok_or("missing <operation><authentication>")?;
        let auth = if let Some(login) = auth_el.child("login") {
            let t = |name: &str| -> Result<String, String> {
                login
                    .child_text(name)
                    .map(str::to_string)
                    .ok_or_else(|| format!("missing <login><{name}>"))
            };
            Auth::Login {
                user_id: t("userid")?,
                company_id: t("companyid")?,
                password: t("password")?,
                location_id: login
                    .child_text("locationid")
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
            }
        } else if let Some(s) = auth_el.child_text("sessionid") {
            Auth::Session(s.to_string())
        } else {
            return Err("<authentication> has neither <login> nor <sessionid>".into());
        };
        let content = op.child("content").ok_or("missing <operation><content>")?;
        let mut functions = Vec::new();
        for f in &content.children {
            if f.name != "function" {
                return Err(format!("unexpected <{}> in <content>", f.name));
            }
            let control_id = f
                .attr("controlid")
                .ok_or("a <function> lacks its controlid attribute")?
                .to_string();
            if f.children.len() != 1 {
                return Err(format!(
                    "function '{control_id}' must wrap exactly one operation element, found {}",
                    f.children.len()
                ));
            }
            functions.push(Function {
                control_id,
                body: f.children[0].clone(),
            });
        }
        if functions.is_empty() {
            return Err("<content> holds no <function>".into());
        }
        Ok(Request {
            control,
            transaction,
            auth,
            functions,
        })
    }
}

/// One `<error>` of an `<errormessage>` block.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ErrorDetail {
    pub errorno: String,
    pub description: String,
    pub description2: String,
    pub correction: String,
}

impl ErrorDetail {
    pub fn new(errorno: &str, description: &str, description2: &str, correction: &str) -> Self {
        ErrorDetail {
            errorno: errorno.into(),
            description: description.into(),
            description2: description2.into(),
            correction: correction.into(),
        }
    }

    /// All text parts joined, as the SDKs do for messages.
    pub fn message(&self) -> String {
        [
            self.description.as_str(),
            self.description2.as_str(),
            self.correction.as_str(),
        ]
        .iter()
        .filter(|s| !s.is_empty())
        .cloned()
        .collect::<Vec<_>>()
        .join(" ")
    }
}

fn errormessage_element(errors: &[ErrorDetail]) -> Element {
    let mut em = Element::new("errormessage");
    for e in errors {
        em.push(
            Element::new("error")
                .with_child(Element::leaf("errorno", &e.errorno))
                .with_child(Element::leaf("description", &e.description))
                .with_child(Element::leaf("description2", &e.description2))
                .with_child(Element::leaf("correction", &e.correction)),
        );
    }
    em
}

fn parse_errormessage(el: &Element) -> Vec<ErrorDetail> {
    el.children_named("error")
        .map(|e| ErrorDetail {
            errorno: e.child_text("errorno").unwrap_or("").to_string(),
            description: e.child_text("description").unwrap_or("").to_string(),
            description2: e.child_text("description2").unwrap_or("").to_string(),
            correction: e.child_text("correction").unwrap_or("").to_string(),
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Success,
    Failure,
    Aborted,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Success => "success",
            Status::Failure => "failure",
            Status::Aborted => "aborted",
        }
    }

    fn parse(s: &str) -> Option<Status> {
        match s.trim() {
            "success" => Some(Status::Success),
            "failure" => Some(Status::Failure),
            "aborted" => Some(Status::Aborted),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlStatus {
    pub status: Status,
    pub sender_id: String,
    pub control_id: String,
    pub unique_id: String,
    pub dtd_version: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthStatus {
    pub status: Status,
    pub user_id: String,
    pub company_id: String,
    pub location_id: Option<String>,
    pub session_timestamp: Option<String>,
    pub session_timeout: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FnResult {
    pub status: Status,
    pub function: String,
    pub control_id: String,
    pub data: Option<Element>,
    pub errors: Vec<ErrorDetail>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub auth: AuthStatus,
    pub auth_errors: Vec<ErrorDetail>,
    pub results: Vec<FnResult>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub control: ControlStatus,
    pub control_errors: Vec<ErrorDetail>,
    pub operation: Option<Operation>,
}

impl Response {
    pub fn to_element(&self) -> Element {
        let c = &self.control;
        let mut root = Element::new("response");
        let mut control =
            Element::new("control").with_child(Element::leaf("status", c.status.as_str()));
        // A gateway failure (rate limit) carries only the status, as the documentation shows.
        if !(c.sender_id.is_empty() && c.control_id.is_empty()) {
            control.push(Element::leaf("senderid", &c.sender_id));
            control.push(Element::leaf("controlid", &c.control_id));
            control.push(Element::leaf("uniqueid", &c.unique_id));
            control.push(Element::leaf("dtdversion", &c.dtd_version));
        }
        root.push(control);
        if !self.control_errors.is_empty() {
            root.push(errormessage_element(&self.control_errors));
        }
        if let Some(op) = &self.operation {
            let a = &op.auth;
            let mut auth = Element::new("authentication")
                .with_child(Element::leaf("status", a.status.as_str()))
                .with_child(Element::leaf("userid", &a.user_id))
                .with_child(Element::leaf("companyid", &a.company_id));
            if let Some(l) = &a.location_id {
                auth.push(Element::leaf("locationid", l));
            }
            if let Some(t) = &a.session_timestamp {
                auth.push(Element::leaf("sessiontimestamp", t));
            }
            if let Some(t) = &a.session_timeout {
                auth.push(Element::leaf("sessiontimeout", t));
            }
            let mut operation = Element::new("operation").with_child(auth);
            if !op.auth_errors.is_empty() {
                operation.push(errormessage_element(&op.auth_errors));
            }
            for r in &op.results {
                let mut res = Element::new("result")
                    .with_child(Element::leaf("status", r.status.as_str()))
                    .with_child(Element::leaf("function", &r.function))
                    .with_child(Element::leaf("controlid", &r.control_id));
                if let Some(d) = &r.data {
                    res.push(d.clone());
                }
                if !r.errors.is_empty() {
                    res.push(errormessage_element(&r.errors));
                }
                operation.push(res);
            }
            root.push(operation);
        }
        root
    }

    pub fn to_document(&self) -> String {
        self.to_element().to_document()
    }

    /// Reads a response strictly: missing envelope parts make it malformed, as in the SDKs.
    pub fn from_element(root: &Element) -> Result<Response, String> {
        if root.name != "response" {
            return Err(format!(
                "root element is <{}>, expected <response>",
                root.name
            ));
        }
        let control = root.child("control").ok_or("missing <control>")?;
        let status = control
            .child_text("status")
            .and_then(Status::parse)
            .ok_or("missing or unknown <control><status>")?;
        let text = |e: &Element, n: &str| e.child_text(n).unwrap_or("").to_string();
        let control_status = ControlStatus {
            status,
            sender_id: text(control, "senderid"),
            control_id: text(control, "controlid"),
            unique_id: text(control, "uniqueid"),
            dtd_version: text(control, "dtdversion"),
        };
        let control_errors = root
            .child("errormessage")
            .map(parse_errormessage)
            .unwrap_or_default();
        if status != Status::Success {
            return Ok(Response {
                control: control_status,
                control_errors,
                operation: None,
            });
        }
        let op = root
            .child("operation")
            .ok_or("control succeeded but <operation> is missing")?;
        let a = op
            .child("authentication")
            .ok_or("missing <operation><authentication>")?;
        let auth = AuthStatus {
            status: a
                .child_text("status")
                .and_then(Status::parse)
                .ok_or("missing or unknown <authentication><status>")?,
            user_id: text(a, "userid"),
            company_id: text(a, "companyid"),
            location_id: a.child_text("locationid").map(str::to_string),
            session_timestamp: a.child_text("sessiontimestamp").map(str::to_string),
            session_timeout: a.child_text("sessiontimeout").map(str::to_string),
        };
        let auth_errors = op
            .child("errormessage")
            .map(parse_errormessage)
            .unwrap_or_default();
        let mut results = Vec::new();
        for r in op.children_named("result") {
            let status = r
                .child_text("status")
                .and_then(Status::parse)
                .ok_or("a <result> lacks a known <status>")?;
            let function = r
                .child_text("function")
                .ok_or("a <result> lacks <function>")?
                .to_string();
            let control_id = r
                .child_text("controlid")
                .ok_or("a <result> lacks <controlid>")?
                .to_string();
            results.push(FnResult {
                status,
                function,
                control_id,
                data: r.child("data").cloned(),
                errors: r
                    .child("errormessage")
                    .map(parse_errormessage)
                    .unwrap_or_default(),
            });
        }
        if auth.status == Status::Success && results.is_empty() {
            return Err("authentication succeeded but no <result> came back".into());
        }
        Ok(Response {
            control: control_status,
            control_errors,
            operation: Some(Operation {
                auth,
                auth_errors,
                results,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml;

    #[test]
    fn request_round_trips() {
        let r = Request {
            control: Control {
                sender_id: "s".into(),
                sender_password: "p".into(),
                control_id: "c1".into(),
                unique_id: false,
                dtd_version: "3.0".into(),
                include_whitespace: false,
            },
            transaction: true,
            auth: Auth::Login {
                user_id: "u".into(),
                company_id: "C".into(),
                password: "pw".into(),
                location_id: Some("WEST".into()),
            },
            functions: vec![Function {
                control_id: "f1".into(),
                body: Element::new("getAPISession"),
            }],
        };
        let doc = r.to_document();
        let back = Request::from_element(&xml::parse(doc.as_bytes()).unwrap()).unwrap();
        assert_eq!(back, r);
        assert!(!format!("{r:?}").contains("pw"));
    }

    #[test]
    fn response_without_operation_on_control_failure() {
        let doc = "<response><control><status>failure</status></control><errormessage><error><errorno>GW-0010</errorno><description>Rate limit</description></error></errormessage></response>";
        let r = Response::from_element(&xml::parse(doc.as_bytes()).unwrap()).unwrap();
        assert_eq!(r.control.status, Status::Failure);
        assert_eq!(r.control_errors[0].errorno, "GW-0010");
        assert!(r.operation.is_none());
    }

    #[test]
    fn malformed_envelopes_are_named() {
        let e = Response::from_element(
            &xml::parse(b"<response><control><status>success</status></control></response>")
                .unwrap(),
        )
        .unwrap_err();
        assert!(e.contains("operation"), "{e}");
    }
}
