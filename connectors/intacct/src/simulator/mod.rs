//! An in-process Sage Intacct XML gateway: one endpoint speaking the real request and
//! response envelopes, sender and company-user credentials, Web Services authorization,
//! entity-scoped sessions on a controllable clock, readByQuery/readMore/query/read and
//! create/update/delete with transactions, schema and dimensions, per-tier rate limits with
//! the documented 429, a latency model and switchable faults.

pub mod config;
pub mod functions;
pub mod objects;
pub mod query;
pub mod state;

use crate::protocol::{
    Auth, AuthStatus, ControlStatus, ErrorDetail, FnResult, Operation, Request, Response, Status,
};
use crate::xml::{self, Element};
use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use chrono::{DateTime, Duration, Utc};
pub use config::SimConfig;
use connector_core::{SharedClock, SystemClock};
use functions::Ctx;
use state::State;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The gateway path the SDKs post to.
pub const GATEWAY_PATH: &str = "/ia/xml/xmlgw.phtml";

/// A fault the next request of a company receives instead of a normal answer.
#[derive(Debug, Clone)]
pub enum Fault {
    /// An HTTP status with a non-XML (HTML) body, as a CDN or proxy sends.
    Http(u16),
    /// These exact bytes as a 200 text/xml answer (hostile or broken XML).
    Body(Vec<u8>),
}

#[derive(Debug, Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub rate_limited: AtomicU64,
    pub functions: AtomicU64,
}

struct Inner {
    state: Mutex<State>,
    clock: SharedClock,
    faults: Mutex<HashMap<String, VecDeque<Fault>>>,
    stats: Stats,
    /// Company -> (every, counter): every Nth request answers 503 with an HTML page.
    five_xx: Mutex<HashMap<String, (u32, u32)>>,
    company_stats: Mutex<HashMap<String, (u64, u64)>>,
}

/// The simulator: cheap to clone, shared by the router and the test that drives it.
#[derive(Clone)]
pub struct Simulator {
    inner: Arc<Inner>,
}

impl Simulator {
    pub fn new(cfg: SimConfig) -> Result<Simulator, String> {
        Simulator::with_clock(cfg, Arc::new(SystemClock))
    }

    /// A simulator whose timestamps and session expiry follow `clock` (a `TestClock` in tests).
    pub fn with_clock(cfg: SimConfig, clock: SharedClock) -> Result<Simulator, String> {
        let state = State::new(cfg, clock.now())?;
        Ok(Simulator {
            inner: Arc::new(Inner {
                state: Mutex::new(state),
                clock,
                faults: Mutex::new(HashMap::new()),
                stats: Stats::default(),
                five_xx: Mutex::new(HashMap::new()),
                company_stats: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The built-in construction and healthcare scenario.
    pub fn demo() -> Simulator {
        Simulator::new(SimConfig::demo()).expect("demo scenario builds")
    }

    pub fn clock(&self) -> &SharedClock {
        &self.inner.clock
    }

    pub fn stats(&self) -> &Stats {
        &self.inner.stats
    }

    /// (requests, 429 answers) seen for one company.
    pub fn company_stats(&self, company: &str) -> (u64, u64) {
        self.inner
            .company_stats
            .lock()
            .unwrap()
            .get(company)
            .copied()
            .unwrap_or((0, 0))
    }

    fn with_state<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut g = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    }

    /// Makes a field (header, line or dimension) required or optional on an object.
    pub fn set_required(
        &self,
        company: &str,
        object: &str,
        field: &str,
        required: bool,
    ) -> Result<(), String> {
        self.with_state(|st| {
            let c = st.companies.get_mut(company).ok_or("unknown company")?;
            let def = c.objects.get_mut(object).ok_or("unknown object")?;
            state::set_required(def, field, required)
        })
    }

    /// Ends every session of a company at once (a forced logout).
    pub fn expire_sessions(&self, company: &str) {
        self.with_state(|st| st.sessions.retain(|_, s| s.company != company));
    }

    /// Changes a company's tier (None: unlimited).
    pub fn set_tier(&self, company: &str, rps: Option<f64>) {
        self.with_state(|st| {
            if let Some(c) = st.companies.get_mut(company) {
                c.bucket = rps.map(|r| state::Bucket::new(r, r.max(1.0)));
            }
        });
    }

    /// Revokes a sender's Web Services authorization in one company.
    pub fn revoke_sender(&self, company: &str, sender: &str) {
        self.with_state(|st| {
            if let Some(c) = st.companies.get_mut(company) {
                c.cfg.authorized_senders.retain(|s| s != sender);
            }
        });
    }

    /// Switches a named fault (the core harness's names plus `latency_ms`) for a company.
    pub fn set_fault(
        &self,
        company: &str,
        fault: &str,
        value: &serde_json::Value,
    ) -> Result<(), String> {
        let now = self.clock().now();
        let num = || {
            value
                .as_f64()
                .ok_or_else(|| format!("fault {fault} needs a number, got {value}"))
        };
        match fault {
            "error_5xx_every" => {
                let every = num()? as u32;
                self.inner
                    .five_xx
                    .lock()
                    .unwrap()
                    .insert(company.to_string(), (every, 0));
                Ok(())
            }
            "rate_per_second" => {
                let r = num()?;
                self.set_tier(company, (r > 0.0).then_some(r));
                Ok(())
            }
            "revoked" => {
                if value.as_bool().unwrap_or(true) {
                    self.with_state(|st| {
                        if let Some(c) = st.companies.get_mut(company) {
                            c.cfg.authorized_senders.clear();
                        }
                    });
                }
                Ok(())
            }
            _ => self.with_state(|st| {
                let c = st
                    .companies
                    .get_mut(company)
                    .ok_or_else(|| format!("unknown company {company}"))?;
                match fault {
                    "concurrency_limit" => c.cfg.max_in_flight = value.as_u64().map(|v| v as usize),
                    "latency_ms" => c.cfg.latency.base_ms = value.as_u64().unwrap_or(0),
                    "idle_timeout_secs" => {
                        let secs = value.as_i64().ok_or("idle_timeout_secs needs a number")?;
                        for u in &mut c.cfg.users {
                            u.session_minutes = (secs / 60).max(1);
                        }
                        // Live sessions get the shorter window from now on.
                        for s in st.sessions.values_mut().filter(|s| s.company == company) {
                            s.duration = Duration::seconds(secs);
                            s.expires = s.expires.min(now + Duration::seconds(secs));
                        }
                    }
                    "approvals" => {}
                    other => return Err(format!("unknown intacct fault '{other}'")),
                }
                Ok(())
            }),
        }
    }

    pub fn inject(&self, company: &str, fault: Fault) {
        self.inner
            .faults
            .lock()
            .unwrap()
            .entry(company.to_string())
            .or_default()
            .push_back(fault);
    }

    /// Records of one object, as (RECORDNO, fields) pairs, for test assertions.
    pub fn records(
        &self,
        company: &str,
        object: &str,
    ) -> Vec<(u64, std::collections::BTreeMap<String, String>)> {
        self.with_state(|st| {
            st.companies
                .get(company)
                .and_then(|c| c.records.get(object))
                .map(|m| m.values().map(|r| (r.recordno, r.fields.clone())).collect())
                .unwrap_or_default()
        })
    }

    /// Modifies one record's field and bumps WHENMODIFIED, as a user editing in the UI would.
    pub fn touch(
        &self,
        company: &str,
        object: &str,
        recordno: u64,
        field: &str,
        value: &str,
    ) -> bool {
        let now = self.clock().now();
        self.with_state(|st| {
            let Some(r) = st
                .companies
                .get_mut(company)
                .and_then(|c| c.records.get_mut(object))
                .and_then(|m| m.get_mut(&recordno))
            else {
                return false;
            };
            r.fields.insert(field.into(), value.into());
            r.fields.insert("WHENMODIFIED".into(), state::fmt_ts(now));
            true
        })
    }

    pub fn router(&self) -> axum::Router {
        axum::Router::new()
            .route(GATEWAY_PATH, axum::routing::post(handle))
            .layer(axum::extract::DefaultBodyLimit::max(16 * 1024 * 1024))
            .with_state(self.clone())
    }

    /// Serves on 127.0.0.1 at an ephemeral port; returns the gateway URL.
    pub async fn serve(&self) -> std::io::Result<(String, tokio::task::JoinHandle<()>)> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr: SocketAddr = listener.local_addr()?;
        let router = self.router();
        let h = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok((format!("http://{addr}{GATEWAY_PATH}"), h))
    }

    /// Processes one request body; returns status, body, the modelled latency and the
    /// company whose in-flight count was raised (to be lowered after the latency).
    fn process(
        &self,
        body: &[u8],
        host: &str,
    ) -> (StatusCode, Vec<u8>, std::time::Duration, Option<String>) {
        self.inner.stats.requests.fetch_add(1, Ordering::Relaxed);
        let now = self.clock().now();
        let root = match xml::parse(body) {
            Ok(r) => r,
            Err(e) => {
                return (
                    StatusCode::OK,
                    control_failure(None, parse_error(&e.to_string())),
                    Default::default(),
                    None,
                )
            }
        };
        let req = match Request::from_element(&root) {
            Ok(r) => r,
            Err(m) => {
                return (
                    StatusCode::OK,
                    control_failure(None, parse_error(&m)),
                    Default::default(),
                    None,
                )
            }
        };
        let mut st = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        let company_id = match &req.auth {
            Auth::Login { company_id, .. } => {
                Some(company_id.split('|').next().unwrap_or("").to_string())
            }
            Auth::Session(s) => st.sessions.get(s).map(|s| s.company.clone()),
        };
        if let Some(cid) = &company_id {
            let mut cs = self.inner.company_stats.lock().unwrap();
            cs.entry(cid.clone()).or_default().0 += 1;
        }
        if let Some(cid) = &company_id {
            let mut fx = self.inner.five_xx.lock().unwrap();
            if let Some((every, n)) = fx.get_mut(cid) {
                *n += 1;
                if *every > 0 && (*n).is_multiple_of(*every) {
                    return (
                        StatusCode::SERVICE_UNAVAILABLE,
                        b"<html><body>The Service is Temporarily Off-line</body></html>".to_vec(),
                        Default::default(),
                        None,
                    );
                }
            }
        }
        if let Some(cid) = &company_id {
            if let Some(f) = self
                .inner
                .faults
                .lock()
                .unwrap()
                .get_mut(cid)
                .and_then(|q| q.pop_front())
            {
                return match f {
                    Fault::Http(code) => (
                        StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY),
                        format!("<html><body><div class=\"cf-error-details\">Error {code}</div></body></html>").into_bytes(),
                        Default::default(),
                        None,
                    ),
                    Fault::Body(b) => (StatusCode::OK, b, Default::default(), None),
                };
            }
        }
        // The gateway throttles before anything else runs.
        let mut latency = std::time::Duration::ZERO;
        let mut raised = None;
        if let Some(c) = company_id.as_ref().and_then(|id| st.companies.get_mut(id)) {
            let over_concurrency = c.cfg.max_in_flight.is_some_and(|m| c.in_flight >= m);
            let over_rate = c.bucket.as_mut().is_some_and(|b| !b.try_take());
            if over_rate || over_concurrency {
                self.inner
                    .stats
                    .rate_limited
                    .fetch_add(1, Ordering::Relaxed);
                let mut cs = self.inner.company_stats.lock().unwrap();
                cs.entry(c.cfg.id.clone()).or_default().1 += 1;
                let id = st.new_id("req");
                let resp = Response {
                    control: ControlStatus {
                        status: Status::Failure,
                        sender_id: String::new(),
                        control_id: String::new(),
                        unique_id: String::new(),
                        dtd_version: String::new(),
                    },
                    control_errors: vec![ErrorDetail::new(
                        "GW-0010",
                        &format!("Rate limit exceeded [Request ID: {id}]"),
                        "",
                        "Back off and retry the request.",
                    )],
                    operation: None,
                };
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    resp.to_document().into_bytes(),
                    Default::default(),
                    None,
                );
            }
            c.in_flight += 1;
            raised = Some(c.cfg.id.clone());
            let l = &c.cfg.latency;
            latency = std::time::Duration::from_millis(
                l.base_ms + l.per_function_ms * req.functions.len() as u64,
            );
        }
        let control = ControlStatus {
            status: Status::Success,
            sender_id: req.control.sender_id.clone(),
            control_id: req.control.control_id.clone(),
            unique_id: req.control.unique_id.to_string(),
            dtd_version: req.control.dtd_version.clone(),
        };
        let sender_ok =
            st.cfg.senders.iter().any(|s| {
                s.id == req.control.sender_id && s.password == req.control.sender_password
            });
        if !sender_ok {
            let mut c = control.clone();
            c.status = Status::Failure;
            let r = Response {
                control: c,
                control_errors: vec![ErrorDetail::new(
                    "XL03000006",
                    "",
                    "Incorrect Intacct XML Partner ID or password.",
                    "",
                )],
                operation: None,
            };
            return (
                StatusCode::OK,
                r.to_document().into_bytes(),
                latency,
                raised,
            );
        }
        if req.control.dtd_version != "3.0" {
            let mut c = control.clone();
            c.status = Status::Failure;
            let r = Response {
                control: c,
                control_errors: parse_error(&format!(
                    "dtdversion '{}' is not supported; use 3.0",
                    req.control.dtd_version
                )),
                operation: None,
            };
            return (
                StatusCode::OK,
                r.to_document().into_bytes(),
                latency,
                raised,
            );
        }
        let auth_fail = |user: &str, company: &str, errs: Vec<ErrorDetail>| Response {
            control: control.clone(),
            control_errors: vec![],
            operation: Some(Operation {
                auth: AuthStatus {
                    status: Status::Failure,
                    user_id: user.into(),
                    company_id: company.into(),
                    location_id: None,
                    session_timestamp: None,
                    session_timeout: None,
                },
                auth_errors: errs,
                results: vec![],
            }),
        };
        let unauthorized = |sender: &str, company: &str| {
            vec![ErrorDetail::new(
                "XL03000006",
                "Invalid Web Services Authorization",
                &format!("The sender ID '{sender}' is not authorized to make Web Services requests to company ID '{company}'."),
                "Contact the company administrator to grant Web Services authorization to this sender ID.",
            )]
        };
        let sender = req.control.sender_id.clone();
        // Resolve who is calling, in which entity, and until when the session lives.
        let (ctx, expires) = match &req.auth {
            Auth::Login {
                user_id,
                company_id,
                password,
                location_id,
            } => {
                let mut parts = company_id.split('|');
                let cid = parts.next().unwrap_or("").to_string();
                let entity = location_id
                    .clone()
                    .or_else(|| parts.next().map(str::to_string))
                    .filter(|s| !s.is_empty());
                let Some(c) = st.companies.get(&cid) else {
                    let r = auth_fail(
                        user_id,
                        company_id,
                        vec![ErrorDetail::new(
                            "XL03000006",
                            "",
                            "Sign-in information is incorrect",
                            "",
                        )],
                    );
                    return (
                        StatusCode::OK,
                        r.to_document().into_bytes(),
                        latency,
                        raised,
                    );
                };
                let Some(user) = c
                    .cfg
                    .users
                    .iter()
                    .find(|u| &u.id == user_id && &u.password == password)
                    .cloned()
                else {
                    let r = auth_fail(
                        user_id,
                        company_id,
                        vec![ErrorDetail::new(
                            "XL03000006",
                            "",
                            "Sign-in information is incorrect",
                            "",
                        )],
                    );
                    return (
                        StatusCode::OK,
                        r.to_document().into_bytes(),
                        latency,
                        raised,
                    );
                };
                if !c.cfg.authorized_senders.contains(&sender) {
                    let r = auth_fail(user_id, &cid, unauthorized(&sender, &cid));
                    return (
                        StatusCode::OK,
                        r.to_document().into_bytes(),
                        latency,
                        raised,
                    );
                }
                if let Some(e) = &entity {
                    if !c.cfg.entities.iter().any(|x| &x.id == e) {
                        let r = auth_fail(
                            user_id,
                            &cid,
                            vec![ErrorDetail::new(
                                "XL03000006",
                                "",
                                &format!("Invalid location ID '{e}' for company {cid}."),
                                "",
                            )],
                        );
                        return (
                            StatusCode::OK,
                            r.to_document().into_bytes(),
                            latency,
                            raised,
                        );
                    }
                }
                if let Err(m) = functions::entity_allowed(&user, entity.as_deref()) {
                    let r = auth_fail(
                        user_id,
                        &cid,
                        vec![ErrorDetail::new(
                            "XL03000006",
                            "Sign-in to the entity is not permitted",
                            &m,
                            "Ask the company administrator for entity access.",
                        )],
                    );
                    return (
                        StatusCode::OK,
                        r.to_document().into_bytes(),
                        latency,
                        raised,
                    );
                }
                let owner = format!(
                    "login:{cid}:{user_id}:{}",
                    entity.clone().unwrap_or_default()
                );
                let expires = now + Duration::minutes(user.session_minutes);
                (
                    Ctx {
                        company: cid,
                        user: user_id.clone(),
                        entity,
                        sender: sender.clone(),
                        owner,
                        endpoint: String::new(),
                        now,
                    },
                    expires,
                )
            }
            Auth::Session(sid) => {
                let valid = st.sessions.get(sid).filter(|s| s.expires > now).map(|s| {
                    (
                        s.company.clone(),
                        s.user.clone(),
                        s.entity.clone(),
                        s.duration,
                    )
                });
                let Some((cid, user, entity, duration)) = valid else {
                    st.sessions.remove(sid);
                    let r = auth_fail("", "", vec![ErrorDetail::new("XL03000006", "", "Invalid session. The session has expired or is not valid; sign in again.", "")]);
                    return (
                        StatusCode::OK,
                        r.to_document().into_bytes(),
                        latency,
                        raised,
                    );
                };
                let authorized = st
                    .companies
                    .get(&cid)
                    .is_some_and(|c| c.cfg.authorized_senders.contains(&sender));
                if !authorized {
                    let r = auth_fail(&user, &cid, unauthorized(&sender, &cid));
                    return (
                        StatusCode::OK,
                        r.to_document().into_bytes(),
                        latency,
                        raised,
                    );
                }
                // Each call pushes the timeout out (a sliding window).
                let expires = now + duration;
                if let Some(s) = st.sessions.get_mut(sid) {
                    s.expires = expires;
                }
                (
                    Ctx {
                        company: cid,
                        user,
                        entity,
                        sender: sender.clone(),
                        owner: sid.clone(),
                        endpoint: String::new(),
                        now,
                    },
                    expires,
                )
            }
        };
        let ctx = Ctx {
            endpoint: format!("http://{host}{GATEWAY_PATH}"),
            ..ctx
        };
        self.inner
            .stats
            .functions
            .fetch_add(req.functions.len() as u64, Ordering::Relaxed);
        let results = run_functions(&mut st, &ctx, &req);
        let records: usize = results
            .iter()
            .filter_map(|r| r.data.as_ref())
            .map(|d| d.children.len())
            .sum();
        if let Some(c) = st.companies.get(&ctx.company) {
            latency +=
                std::time::Duration::from_micros(c.cfg.latency.per_record_us * records as u64);
        }
        let resp = Response {
            control,
            control_errors: vec![],
            operation: Some(Operation {
                auth: AuthStatus {
                    status: Status::Success,
                    user_id: ctx.user.clone(),
                    company_id: ctx.company.clone(),
                    location_id: Some(ctx.entity.clone().unwrap_or_default()),
                    session_timestamp: Some(iso(now)),
                    session_timeout: Some(iso(expires)),
                },
                auth_errors: vec![],
                results,
            }),
        };
        (
            StatusCode::OK,
            resp.to_document().into_bytes(),
            latency,
            raised,
        )
    }

    fn lower(&self, company: &str) {
        self.with_state(|st| {
            if let Some(c) = st.companies.get_mut(company) {
                c.in_flight = c.in_flight.saturating_sub(1);
            }
        });
    }
}

fn iso(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
}

fn parse_error(m: &str) -> Vec<ErrorDetail> {
    vec![ErrorDetail::new(
        "XL03000003",
        "XML Parse schema error",
        &format!("XML Parse schema error: {m}"),
        "",
    )]
}

fn control_failure(control: Option<ControlStatus>, errors: Vec<ErrorDetail>) -> Vec<u8> {
    let control = control.unwrap_or(ControlStatus {
        status: Status::Failure,
        sender_id: String::new(),
        control_id: String::new(),
        unique_id: String::new(),
        dtd_version: String::new(),
    });
    Response {
        control,
        control_errors: errors,
        operation: None,
    }
    .to_document()
    .into_bytes()
}

/// Runs the functions of one request with Intacct's transaction and uniqueid semantics.
fn run_functions(st: &mut State, ctx: &Ctx, req: &Request) -> Vec<FnResult> {
    let rollback = ErrorDetail::new(
        "XL03000009",
        "",
        "The entire transaction in this operation has been rolled back due to an error.",
        "",
    );
    let snapshot = if req.transaction {
        let c = &st.companies[&ctx.company];
        Some((c.records.clone(), c.next_recordno))
    } else {
        None
    };
    let mut results: Vec<FnResult> = Vec::new();
    let mut failed_at = None;
    for (i, f) in req.functions.iter().enumerate() {
        // With uniqueid=true a function whose controlid already completed is not run again;
        // the simulator replays its first result (the real answer is UNCONFIRMED).
        if req.control.unique_id {
            if let Some(prev) = st.companies[&ctx.company].completed.get(&f.control_id) {
                if prev.function == f.body.name {
                    results.push(prev.clone());
                    continue;
                }
            }
        }
        let r = functions::run(st, ctx, f);
        let failed = r.status != Status::Success;
        results.push(r);
        if failed && req.transaction {
            failed_at = Some(i);
            break;
        }
    }
    if let (Some(i), Some((records, next))) = (failed_at, snapshot) {
        let c = st.companies.get_mut(&ctx.company).unwrap();
        c.records = records;
        c.next_recordno = next;
        let mut out = Vec::new();
        for (j, f) in req.functions.iter().enumerate() {
            if j == i {
                let mut r = results[i].clone();
                r.errors.push(rollback.clone());
                r.data = None;
                out.push(r);
            } else {
                out.push(FnResult {
                    status: Status::Aborted,
                    function: f.body.name.clone(),
                    control_id: f.control_id.clone(),
                    data: None,
                    errors: vec![rollback.clone()],
                });
            }
        }
        return out;
    }
    if req.control.unique_id {
        let c = st.companies.get_mut(&ctx.company).unwrap();
        for r in &results {
            let is_write = matches!(r.function.as_str(), "create" | "update" | "delete");
            if r.status == Status::Success && is_write {
                c.completed.insert(r.control_id.clone(), r.clone());
            }
        }
    }
    results
}

async fn handle(
    AxState(sim): AxState<Simulator>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string();
    let (status, body, latency, raised) = sim.process(&body, &host);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if let Some(c) = raised {
        sim.lower(&c);
    }
    let ct = if body.starts_with(b"<html") {
        "text/html"
    } else {
        "text/xml; encoding=\"UTF-8\""
    };
    (status, [(header::CONTENT_TYPE, ct)], body)
}

/// Used by tests: an element for the data of a result, or an empty one.
pub fn data_of(r: &FnResult) -> Element {
    r.data.clone().unwrap_or_else(|| Element::new("data"))
}
