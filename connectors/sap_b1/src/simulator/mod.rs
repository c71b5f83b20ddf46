//! An in-process SAP Business One Service Layer: an axum Router speaking `/b1s/v1` (OData
//! V3) and `/b1s/v2` (OData V4) over several company databases, with real Login cookies,
//! an idle timeout on a controllable clock, UDFs per database, approval drafts, `$batch`,
//! per-user session limits, a latency model and switchable faults. Session limits, idle
//! timeout, latency and faults can be set per company database, so one tenant's slow or
//! failing Service Layer does not change what the other tenants see.

pub mod config;
pub mod metadata;
pub mod model;
pub mod query;
pub mod seed;
pub mod store;

pub use config::{CompanyConfig, CompanyKnobs, ErrorKind, Faults, Latency, SimConfig};
use store::{error, Company, Ctx, Resp};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::Router;
use chrono::{Duration, NaiveDateTime};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

/// The time source of the simulator, so idle timeouts and update stamps are testable.
pub trait SimClock: Send + Sync {
    fn now(&self) -> NaiveDateTime;
}

/// Wall-clock time (UTC).
pub struct SystemClock;

impl SimClock for SystemClock {
    fn now(&self) -> NaiveDateTime {
        chrono::Utc::now().naive_utc()
    }
}

/// A clock that only moves when told to.
pub struct ManualClock(Mutex<NaiveDateTime>);

impl ManualClock {
    pub fn new(start: NaiveDateTime) -> Arc<ManualClock> {
        Arc::new(ManualClock(Mutex::new(start)))
    }

    pub fn at(text: &str) -> Arc<ManualClock> {
        let t = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S")
            .unwrap_or_else(|_| chrono::Utc::now().naive_utc());
        ManualClock::new(t)
    }

    pub fn advance(&self, d: Duration) {
        let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *g += d;
    }
}

impl SimClock for ManualClock {
    fn now(&self) -> NaiveDateTime {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct Session {
    company: String,
    user: String,
    last_seen: NaiveDateTime,
}

/// Counters a test can read to prove what happened on the wire. The simulator keeps one
/// set for the whole server and one per company database.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    pub logins: u64,
    pub failed_logins: u64,
    pub requests: u64,
    pub batches: u64,
    pub batch_requests: u64,
    pub expired_by_fault: u64,
    pub expired_by_idle: u64,
    pub injected_errors: u64,
    /// Highest number of requests in flight at once.
    pub max_in_flight: u64,
}

/// Where the `expire_every` and `error_every` faults are in their cycle.
#[derive(Debug, Default)]
struct FaultCounters {
    auth: u64,
    error: u64,
    /// Injected errors still owed by the burst in progress.
    burst_left: u64,
}

/// One company database's running conditions: its own overrides, fault cycle and stats.
/// Keeping these apart per company is what lets one tenant be slow or failing while the
/// others on the same simulator are not.
#[derive(Debug, Default)]
struct Tenancy {
    knobs: CompanyKnobs,
    counters: FaultCounters,
    stats: Stats,
    in_flight: u64,
}

/// The settings that apply to one request, after company overrides.
struct Conditions {
    latency: Latency,
    faults: Faults,
    timeout: Duration,
    max_sessions: Option<usize>,
}

struct Inner {
    config: SimConfig,
    companies: BTreeMap<String, Company>,
    sessions: HashMap<String, Session>,
    stats: Stats,
    in_flight: u64,
    /// The fault cycle of requests that belong to no known company (no or a dead session).
    server_counters: FaultCounters,
    /// Per company database (upper-case name).
    tenancy: HashMap<String, Tenancy>,
}

/// The idle timeout of one company's sessions.
fn timeout_for(config: &SimConfig, tenancy: &HashMap<String, Tenancy>, company: &str) -> Duration {
    let minutes = tenancy
        .get(company)
        .and_then(|t| t.knobs.session_timeout_minutes)
        .unwrap_or(config.session_timeout_minutes);
    Duration::minutes(minutes as i64)
}

impl Inner {
    fn conditions(&self, company: Option<&str>) -> Conditions {
        let knobs = company.and_then(|c| self.tenancy.get(c)).map(|t| &t.knobs);
        Conditions {
            latency: knobs
                .and_then(|k| k.latency.clone())
                .unwrap_or_else(|| self.config.latency.clone()),
            faults: knobs
                .and_then(|k| k.faults.clone())
                .unwrap_or_else(|| self.config.faults.clone()),
            timeout: match company {
                Some(c) => timeout_for(&self.config, &self.tenancy, c),
                None => Duration::minutes(self.config.session_timeout_minutes as i64),
            },
            max_sessions: knobs
                .and_then(|k| k.max_sessions_per_user)
                .or(self.config.max_sessions_per_user),
        }
    }

    fn counters(&mut self, company: Option<&str>) -> &mut FaultCounters {
        match company.and_then(|c| self.tenancy.get_mut(c)) {
            Some(t) => &mut t.counters,
            None => &mut self.server_counters,
        }
    }

    /// Updates the server-wide counters and, when the request belongs to one, the
    /// company's.
    fn count(&mut self, company: Option<&str>, f: impl Fn(&mut Stats)) {
        f(&mut self.stats);
        if let Some(t) = company.and_then(|c| self.tenancy.get_mut(c)) {
            f(&mut t.stats);
        }
    }

    /// Whether `error_every` (with its burst length) fails this request.
    fn inject_error(&mut self, company: Option<&str>, faults: &Faults) -> bool {
        let Some(n) = faults.error_every.filter(|n| *n > 0) else {
            return false;
        };
        let c = self.counters(company);
        let hit = if c.burst_left > 0 {
            c.burst_left -= 1;
            true
        } else {
            c.error += 1;
            if c.error.is_multiple_of(n) {
                c.burst_left = faults.error_burst.max(1) - 1;
                true
            } else {
                false
            }
        };
        if hit {
            self.count(company, |s| s.injected_errors += 1);
        }
        hit
    }

    fn reset_counters(&mut self) {
        self.server_counters = FaultCounters::default();
        for t in self.tenancy.values_mut() {
            t.counters = FaultCounters::default();
        }
    }
}

/// A running simulator's state, shared by the Router and the test that drives it.
pub struct Simulator {
    inner: Mutex<Inner>,
    clock: Arc<dyn SimClock>,
}

/// Cheap handle to a simulator.
pub type SimHandle = Arc<Simulator>;

impl Simulator {
    pub fn new(config: SimConfig, clock: Arc<dyn SimClock>) -> SimHandle {
        let companies = config
            .companies
            .iter()
            .map(|c| (c.name.to_uppercase(), Company::new(c)))
            .collect();
        let tenancy = config
            .companies
            .iter()
            .map(|c| {
                let t = Tenancy {
                    knobs: c.knobs(),
                    ..Tenancy::default()
                };
                (c.name.to_uppercase(), t)
            })
            .collect();
        Arc::new(Simulator {
            inner: Mutex::new(Inner {
                config,
                companies,
                sessions: HashMap::new(),
                stats: Stats::default(),
                in_flight: 0,
                server_counters: FaultCounters::default(),
                tenancy,
            }),
            clock,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic in one request must not wedge every later one.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn router(self: &Arc<Self>) -> Router {
        Router::new().fallback(handle).with_state(self.clone())
    }

    /// Serves on 127.0.0.1 with an OS-chosen port; returns the base URL (`http://ip:port`).
    pub async fn serve(self: &Arc<Self>) -> std::io::Result<(String, tokio::task::JoinHandle<()>)> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr: SocketAddr = listener.local_addr()?;
        let app = self.router();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok((format!("http://{addr}"), task))
    }

    pub fn now(&self) -> NaiveDateTime {
        self.clock.now()
    }

    /// Server-wide counters (all companies together).
    pub fn stats(&self) -> Stats {
        self.lock().stats.clone()
    }

    /// The counters of one company database; `None` when there is no such company.
    pub fn company_stats(&self, company: &str) -> Option<Stats> {
        self.lock()
            .tenancy
            .get(&company.to_uppercase())
            .map(|t| t.stats.clone())
    }

    /// Sets the server-wide faults, which apply to every company without its own.
    pub fn set_faults(&self, f: Faults) {
        let mut g = self.lock();
        g.config.faults = f;
        g.reset_counters();
    }

    /// The server-wide faults.
    pub fn faults(&self) -> Faults {
        self.lock().config.faults.clone()
    }

    /// The server-wide latency.
    pub fn latency(&self) -> Latency {
        self.lock().config.latency.clone()
    }

    /// Sets the server-wide latency, which applies to every company without its own.
    pub fn set_latency(&self, l: Latency) {
        self.lock().config.latency = l;
    }

    pub fn update_config(&self, f: impl FnOnce(&mut SimConfig)) {
        f(&mut self.lock().config);
    }

    /// The current overrides of one company database.
    pub fn company_knobs(&self, company: &str) -> Option<CompanyKnobs> {
        self.lock()
            .tenancy
            .get(&company.to_uppercase())
            .map(|t| t.knobs.clone())
    }

    /// Changes one company's overrides (faults, latency, idle timeout, session limit)
    /// while the simulator runs; the others are untouched. A change of its faults
    /// restarts that company's fault cycle. Returns false when there is no such company.
    pub fn update_company(&self, company: &str, f: impl FnOnce(&mut CompanyKnobs)) -> bool {
        let mut g = self.lock();
        let Some(t) = g.tenancy.get_mut(&company.to_uppercase()) else {
            return false;
        };
        let before = t.knobs.faults.clone();
        f(&mut t.knobs);
        if t.knobs.faults != before {
            t.counters = FaultCounters::default();
        }
        true
    }

    /// Ends every session at once, as an SL restart would.
    pub fn expire_all_sessions(&self) {
        self.lock().sessions.clear();
    }

    /// Ends the sessions of one company database only.
    pub fn expire_company_sessions(&self, company: &str) {
        let key = company.to_uppercase();
        self.lock().sessions.retain(|_, s| s.company != key);
    }

    pub fn session_count(&self) -> usize {
        self.lock().sessions.len()
    }

    /// Runs `f` on one company database (by name, case-insensitive).
    pub fn with_company<R>(&self, name: &str, f: impl FnOnce(&mut Company) -> R) -> Option<R> {
        let mut g = self.lock();
        g.companies.get_mut(&name.to_uppercase()).map(f)
    }

    /// Rows of one entity set, for assertions.
    pub fn rows(&self, company: &str, set: &str) -> Vec<store::Row> {
        self.with_company(company, |c| {
            c.tables
                .get(set)
                .map(|t| t.values().cloned().collect())
                .unwrap_or_default()
        })
        .unwrap_or_default()
    }

    /// Makes UDFs created since the last restart visible, and drops all sessions.
    pub fn restart(&self) {
        let mut g = self.lock();
        for c in g.companies.values_mut() {
            c.restart();
        }
        g.sessions.clear();
    }
}

fn to_response(r: Resp) -> Response {
    let mut b = Response::builder().status(r.status);
    for (k, v) in &r.headers {
        b = b.header(k.as_str(), v.as_str());
    }
    b.body(Body::from(r.body))
        .unwrap_or_else(|_| Response::new(Body::from("invalid response")))
}

fn injected(kind: ErrorKind) -> Response {
    let r = match kind {
        ErrorKind::ProxyError502 => Resp {
            status: 502,
            headers: vec![("Content-Type".into(), "text/html; charset=iso-8859-1".into())],
            body: "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\n<html><head><title>502 Proxy Error</title></head><body><h1>Proxy Error</h1><p>The proxy server received an invalid response from an upstream server.</p><p>Reason: <strong>Error reading from remote server</strong></p></body></html>\n".into(),
        },
        ErrorKind::Empty500 => Resp {
            status: 500,
            headers: vec![("Connection".into(), "close".into())],
            body: String::new(),
        },
        ErrorKind::Unavailable503 => Resp {
            status: 503,
            headers: vec![("Content-Type".into(), "text/html".into())],
            body: "<html><body><h1>Service Unavailable</h1></body></html>".into(),
        },
    };
    to_response(r)
}

fn cookies(req: &Request) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for v in req.headers().get_all("cookie") {
        if let Ok(s) = v.to_str() {
            for pair in s.split(';') {
                if let Some((k, v)) = pair.trim().split_once('=') {
                    out.insert(k.trim().to_string(), v.trim().to_string());
                }
            }
        }
    }
    out
}

struct InFlight(Arc<Simulator>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut g = self.0.lock();
        g.in_flight = g.in_flight.saturating_sub(1);
    }
}

/// Marks a request as in flight for its company until the answer (after its delay) leaves.
struct CompanyInFlight(Arc<Simulator>, String);

impl Drop for CompanyInFlight {
    fn drop(&mut self) {
        let mut g = self.0.lock();
        if let Some(t) = g.tenancy.get_mut(&self.1) {
            t.in_flight = t.in_flight.saturating_sub(1);
        }
    }
}

/// What the request handler decided: the answer, how long to hold it back, and the company
/// it belongs to (already counted as in flight for that company).
struct Answer {
    delay_ms: u64,
    response: Response,
    company: Option<String>,
}

impl Answer {
    fn immediate(response: Response) -> Answer {
        Answer {
            delay_ms: 0,
            response,
            company: None,
        }
    }
}

async fn handle(State(sim): State<SimHandle>, req: Request) -> Response {
    {
        let mut g = sim.lock();
        g.in_flight += 1;
        g.stats.max_in_flight = g.stats.max_in_flight.max(g.in_flight);
    }
    let _guard = InFlight(sim.clone());
    let answer = handle_inner(&sim, req).await;
    // The company's in-flight mark was set under the lock in handle_inner, with no await
    // in between, so the guard below always pairs with it.
    let _company_guard = answer
        .company
        .clone()
        .map(|c| CompanyInFlight(sim.clone(), c));
    // The delay runs outside the state lock, so a slow company holds back only its own
    // answers.
    if answer.delay_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(answer.delay_ms)).await;
    }
    answer.response
}

async fn handle_inner(sim: &SimHandle, req: Request) -> Answer {
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(|q| q.to_string());
    let method = req.method().as_str().to_ascii_uppercase();
    if path.starts_with("/ping") {
        let ts = format!(
            "{:.3}",
            chrono::Utc::now().timestamp_millis() as f64 / 1000.0
        );
        let sender = if path.contains("/node") {
            "node1"
        } else {
            "load balancer"
        };
        let r = Resp {
            status: 200,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: json!({"message": "pong", "sender": sender, "timestamp": ts}).to_string(),
        };
        return Answer::immediate(to_response(r));
    }
    let (v2, rest) = if let Some(r) = path.strip_prefix("/b1s/v2") {
        (true, r.to_string())
    } else if let Some(r) = path.strip_prefix("/b1s/v1") {
        (false, r.to_string())
    } else {
        return Answer::immediate(to_response(error(
            404,
            -1000,
            "Unknown service root",
            false,
        )));
    };
    let rest = rest.trim_start_matches('/').to_string();
    let host = req
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_string();
    let root = format!("http://{host}/b1s/{}", if v2 { "v2" } else { "v1" });
    let jar = cookies(&req);
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .filter_map(|(k, v)| {
            v.to_str()
                .ok()
                .map(|v| (k.as_str().to_string(), v.to_string()))
        })
        .collect();
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let method_override = req
        .headers()
        .get("x-http-method-override")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.to_ascii_uppercase());
    let body = match axum::body::to_bytes(req.into_body(), 64 * 1024 * 1024).await {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(_) => {
            return Answer::immediate(to_response(error(400, -1000, "Request body too large", v2)))
        }
    };
    let method = match (method.as_str(), method_override) {
        ("POST", Some(m)) => m,
        _ => method,
    };
    let now = sim.clock.now();
    let mut g = sim.lock();

    if rest.eq_ignore_ascii_case("Login") && method == "POST" {
        let (response, company) = login(&mut g, v2, &root, now, &body);
        let cond = g.conditions(company.as_deref());
        g.count(company.as_deref(), |s| s.requests += 1);
        let delay_ms = cond.latency.request_ms + cond.faults.slow_ms + cond.latency.login_ms;
        return answer(&mut g, delay_ms, response, company);
    }

    // The session names the company, and with it whose latency and faults apply. A
    // request without a live session belongs to no company and gets the server's.
    let sid = jar.get("B1SESSION").cloned();
    let company = sid
        .as_ref()
        .and_then(|s| g.sessions.get(s))
        .map(|s| s.company.clone());
    let co = company.as_deref();
    g.count(co, |s| s.requests += 1);
    let cond = g.conditions(co);
    let base_delay = cond.latency.request_ms + cond.faults.slow_ms;

    if g.inject_error(co, &cond.faults) {
        return answer(
            &mut g,
            base_delay,
            injected(cond.faults.error_kind),
            company,
        );
    }

    // Every other request needs a live session.
    let Some(sid) = sid else {
        return answer(&mut g, base_delay, to_response(invalid_session(v2)), None);
    };
    if g.config.require_route_id && !jar.contains_key("ROUTEID") {
        return answer(
            &mut g,
            base_delay,
            to_response(invalid_session(v2)),
            company,
        );
    }
    let alive = match g.sessions.get(&sid) {
        None => false,
        Some(s) if now - s.last_seen > cond.timeout => {
            g.sessions.remove(&sid);
            g.count(co, |s| s.expired_by_idle += 1);
            false
        }
        Some(_) => true,
    };
    if !alive {
        return answer(
            &mut g,
            base_delay,
            to_response(invalid_session(v2)),
            company,
        );
    }
    if let Some(n) = cond.faults.expire_every.filter(|n| *n > 0) {
        let c = g.counters(co);
        c.auth += 1;
        if c.auth.is_multiple_of(n) {
            g.sessions.remove(&sid);
            g.count(co, |s| s.expired_by_fault += 1);
            return answer(
                &mut g,
                base_delay,
                to_response(invalid_session(v2)),
                company,
            );
        }
    }
    let (company_name, user) = {
        let s = g.sessions.get_mut(&sid).expect("session checked above");
        // Every request slides the idle timer.
        s.last_seen = now;
        (s.company.clone(), s.user.clone())
    };

    if rest.eq_ignore_ascii_case("Logout") && method == "POST" {
        g.sessions.remove(&sid);
        let r = Resp {
            status: 204,
            headers: vec![(
                "Set-Cookie".into(),
                "B1SESSION=; expires=Thu, 01 Jan 1970 00:00:00 GMT;HttpOnly;".into(),
            )],
            body: String::new(),
        };
        return answer(&mut g, base_delay, to_response(r), company);
    }

    let target = match &query {
        Some(q) => format!("{rest}?{q}"),
        None => rest.clone(),
    };
    let inner = &mut *g;
    let cfg = &inner.config;
    let Some(store) = inner.companies.get_mut(&company_name) else {
        return answer(
            &mut g,
            base_delay,
            to_response(invalid_session(v2)),
            company,
        );
    };
    let ctx = Ctx {
        v2,
        root,
        now,
        user,
        cfg,
    };
    if rest == "$batch" && method == "POST" {
        let (resp, n) = store.batch(&ctx, &content_type, &body);
        g.count(co, |s| {
            s.batches += 1;
            s.batch_requests += n as u64;
        });
        let delay = base_delay + cond.latency.batch_item_ms * n as u64;
        return answer(&mut g, delay, to_response(versioned(resp, v2)), company);
    }
    let resp = store.dispatch(&ctx, &method, &target, &headers, &body);
    answer(
        &mut g,
        base_delay,
        to_response(versioned(resp, v2)),
        company,
    )
}

/// Finishes a decision: marks the request in flight for its company (released after the
/// delay by [`CompanyInFlight`]).
fn answer(g: &mut Inner, delay_ms: u64, response: Response, company: Option<String>) -> Answer {
    if let Some(t) = company.as_ref().and_then(|c| g.tenancy.get_mut(c)) {
        t.in_flight += 1;
        t.stats.max_in_flight = t.stats.max_in_flight.max(t.in_flight);
    }
    Answer {
        delay_ms,
        response,
        company,
    }
}

fn versioned(r: Resp, v2: bool) -> Resp {
    if v2 {
        r.header("OData-Version", "4.0")
    } else {
        r.header("DataServiceVersion", "3.0")
    }
}

fn invalid_session(v2: bool) -> Resp {
    error(401, 301, "Invalid session or session already timeout.", v2)
}

/// Handles `POST /Login`. Also returns the company database the attempt was for, when it
/// exists, so its latency and statistics apply.
fn login(
    g: &mut Inner,
    v2: bool,
    root: &str,
    now: NaiveDateTime,
    body: &str,
) -> (Response, Option<String>) {
    let parsed: serde_json::Value = match serde_json::from_str(body) {
        Ok(v) => v,
        Err(e) => {
            let r = error(400, -1000, &format!("Invalid JSON in Login body: {e}"), v2);
            return (to_response(r), None);
        }
    };
    let field = |k: &str| {
        parsed
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string()
    };
    let (db, user, password) = (field("CompanyDB"), field("UserName"), field("Password"));
    let db_key = db.to_uppercase();
    let company = g.companies.contains_key(&db_key).then(|| db_key.clone());
    let co = company.as_deref();
    let ok = g
        .companies
        .get(&db_key)
        .and_then(|c| c.users.get(&user))
        .is_some_and(|(p, _)| *p == password);
    if !ok {
        g.count(co, |s| s.failed_logins += 1);
        let mut r = error(401, 100000027, "Login failed", v2);
        if v2 {
            r = r.header("OData-Version", "4.0");
        }
        return (to_response(r), company);
    }
    let cond = g.conditions(co);
    // Expired sessions no longer count against the per-user limit; each session expires
    // by its own company's idle timeout.
    {
        let Inner {
            sessions,
            config,
            tenancy,
            ..
        } = &mut *g;
        sessions.retain(|_, s| now - s.last_seen <= timeout_for(config, tenancy, &s.company));
    }
    if let Some(max) = cond.max_sessions {
        let held = g
            .sessions
            .values()
            .filter(|s| s.company == db_key && s.user == user)
            .count();
        if held >= max {
            g.count(co, |s| s.failed_logins += 1);
            let r = error(
                400,
                -8037,
                &format!("Maximum number of concurrent sessions ({max}) reached for user '{user}'"),
                v2,
            );
            return (to_response(r), company);
        }
    }
    let sid = uuid::Uuid::new_v4().to_string();
    g.sessions.insert(
        sid.clone(),
        Session {
            company: db_key,
            user,
            last_seen: now,
        },
    );
    g.count(co, |s| s.logins += 1);
    let minutes = cond.timeout.num_minutes();
    let body = if v2 {
        json!({"@odata.context": format!("{root}/$metadata#B1Sessions/$entity"), "SessionId": sid,
            "Version": g.config.version, "SessionTimeout": minutes})
    } else {
        json!({"odata.metadata": format!("{root}/$metadata#B1Sessions/@Element"), "SessionId": sid,
            "Version": g.config.version, "SessionTimeout": minutes})
    };
    let r = Resp {
        status: 200,
        headers: vec![
            ("Content-Type".into(), store::content_type(v2).into()),
            ("Set-Cookie".into(), format!("B1SESSION={sid};HttpOnly;")),
            (
                "Set-Cookie".into(),
                format!("ROUTEID={}; path=/b1s", g.config.route_id),
            ),
        ],
        body: body.to_string(),
    };
    (to_response(versioned(r, v2)), company)
}
