//! An in-process SAP Business One Service Layer: an axum Router speaking `/b1s/v1` (OData
//! V3) and `/b1s/v2` (OData V4) over several company databases, with real Login cookies,
//! an idle timeout on a controllable clock, UDFs per database, approval drafts, `$batch`,
//! per-user session limits, a latency model and switchable faults.

pub mod config;
pub mod metadata;
pub mod model;
pub mod query;
pub mod seed;
pub mod store;

pub use config::{CompanyConfig, ErrorKind, Faults, Latency, SimConfig};
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

/// Counters a test can read to prove what happened on the wire.
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

struct Inner {
    config: SimConfig,
    companies: BTreeMap<String, Company>,
    sessions: HashMap<String, Session>,
    stats: Stats,
    in_flight: u64,
    auth_counter: u64,
    error_counter: u64,
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
        Arc::new(Simulator {
            inner: Mutex::new(Inner {
                config,
                companies,
                sessions: HashMap::new(),
                stats: Stats::default(),
                in_flight: 0,
                auth_counter: 0,
                error_counter: 0,
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

    pub fn stats(&self) -> Stats {
        self.lock().stats.clone()
    }

    pub fn set_faults(&self, f: Faults) {
        let mut g = self.lock();
        g.config.faults = f;
        g.auth_counter = 0;
        g.error_counter = 0;
    }

    pub fn set_latency(&self, l: Latency) {
        self.lock().config.latency = l;
    }

    pub fn update_config(&self, f: impl FnOnce(&mut SimConfig)) {
        f(&mut self.lock().config);
    }

    /// Ends every session at once, as an SL restart would.
    pub fn expire_all_sessions(&self) {
        self.lock().sessions.clear();
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

async fn handle(State(sim): State<SimHandle>, req: Request) -> Response {
    {
        let mut g = sim.lock();
        g.in_flight += 1;
        g.stats.max_in_flight = g.stats.max_in_flight.max(g.in_flight);
    }
    let _guard = InFlight(sim.clone());
    let (delay, resp) = handle_inner(&sim, req).await;
    if delay > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
    }
    resp
}

async fn handle_inner(sim: &SimHandle, req: Request) -> (u64, Response) {
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
        return (0, to_response(r));
    }
    let (v2, rest) = if let Some(r) = path.strip_prefix("/b1s/v2") {
        (true, r.to_string())
    } else if let Some(r) = path.strip_prefix("/b1s/v1") {
        (false, r.to_string())
    } else {
        return (
            0,
            to_response(error(404, -1000, "Unknown service root", false)),
        );
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
            return (
                0,
                to_response(error(400, -1000, "Request body too large", v2)),
            )
        }
    };
    let method = match (method.as_str(), method_override) {
        ("POST", Some(m)) => m,
        _ => method,
    };
    let now = sim.clock.now();
    let mut g = sim.lock();
    g.stats.requests += 1;
    let lat = g.config.latency.clone();
    let faults = g.config.faults.clone();
    let base_delay = lat.request_ms + faults.slow_ms;

    if rest.eq_ignore_ascii_case("Login") && method == "POST" {
        return (
            base_delay + lat.login_ms,
            login(&mut g, v2, &root, now, &body),
        );
    }

    if let Some(n) = faults.error_every {
        g.error_counter += 1;
        if n > 0 && g.error_counter % n == 0 {
            g.stats.injected_errors += 1;
            return (base_delay, injected(faults.error_kind));
        }
    }

    // Every other request needs a live session.
    let Some(sid) = jar.get("B1SESSION").cloned() else {
        return (base_delay, to_response(invalid_session(v2)));
    };
    if g.config.require_route_id && !jar.contains_key("ROUTEID") {
        return (base_delay, to_response(invalid_session(v2)));
    }
    let timeout = Duration::minutes(g.config.session_timeout_minutes as i64);
    let alive = match g.sessions.get(&sid) {
        None => false,
        Some(s) if now - s.last_seen > timeout => {
            g.sessions.remove(&sid);
            g.stats.expired_by_idle += 1;
            false
        }
        Some(_) => true,
    };
    if !alive {
        return (base_delay, to_response(invalid_session(v2)));
    }
    if let Some(n) = faults.expire_every {
        g.auth_counter += 1;
        if n > 0 && g.auth_counter % n == 0 {
            g.sessions.remove(&sid);
            g.stats.expired_by_fault += 1;
            return (base_delay, to_response(invalid_session(v2)));
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
        return (base_delay, to_response(r));
    }

    let inner = &mut *g;
    let cfg = &inner.config;
    let Some(company) = inner.companies.get_mut(&company_name) else {
        return (base_delay, to_response(invalid_session(v2)));
    };
    let ctx = Ctx {
        v2,
        root,
        now,
        user,
        cfg,
    };
    let target = match &query {
        Some(q) => format!("{rest}?{q}"),
        None => rest.clone(),
    };
    if rest == "$batch" && method == "POST" {
        let (resp, n) = company.batch(&ctx, &content_type, &body);
        inner.stats.batches += 1;
        inner.stats.batch_requests += n as u64;
        let delay = base_delay + lat.batch_item_ms * n as u64;
        return (delay, to_response(versioned(resp, v2)));
    }
    let resp = company.dispatch(&ctx, &method, &target, &headers, &body);
    (base_delay, to_response(versioned(resp, v2)))
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

fn login(g: &mut Inner, v2: bool, root: &str, now: NaiveDateTime, body: &str) -> Response {
    let parsed: serde_json::Value = match serde_json::from_str(body) {
        Ok(v) => v,
        Err(e) => {
            return to_response(error(
                400,
                -1000,
                &format!("Invalid JSON in Login body: {e}"),
                v2,
            ))
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
    let ok = g
        .companies
        .get(&db.to_uppercase())
        .and_then(|c| c.users.get(&user))
        .is_some_and(|(p, _)| *p == password);
    if !ok {
        g.stats.failed_logins += 1;
        let mut r = error(401, 100000027, "Login failed", v2);
        if v2 {
            r = r.header("OData-Version", "4.0");
        }
        return to_response(r);
    }
    let db_key = db.to_uppercase();
    let timeout = Duration::minutes(g.config.session_timeout_minutes as i64);
    // Expired sessions no longer count against the per-user limit.
    g.sessions.retain(|_, s| now - s.last_seen <= timeout);
    if let Some(max) = g.config.max_sessions_per_user {
        let held = g
            .sessions
            .values()
            .filter(|s| s.company == db_key && s.user == user)
            .count();
        if held >= max {
            g.stats.failed_logins += 1;
            return to_response(error(
                400,
                -8037,
                &format!("Maximum number of concurrent sessions ({max}) reached for user '{user}'"),
                v2,
            ));
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
    g.stats.logins += 1;
    let body = if v2 {
        json!({"@odata.context": format!("{root}/$metadata#B1Sessions/$entity"), "SessionId": sid,
            "Version": g.config.version, "SessionTimeout": g.config.session_timeout_minutes})
    } else {
        json!({"odata.metadata": format!("{root}/$metadata#B1Sessions/@Element"), "SessionId": sid,
            "Version": g.config.version, "SessionTimeout": g.config.session_timeout_minutes})
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
    to_response(versioned(r, v2))
}
