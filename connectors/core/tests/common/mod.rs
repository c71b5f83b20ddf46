//! A tiny fake ERP (simulator + connector) used to test the engine and the conformance
//! suite itself. Its protocol is deliberately simple JSON: token login to a session,
//! records read by (modified, id) keyset pages, idempotent creates by key.

#![allow(dead_code)]

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response as AxResponse};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use connector_core::conformance::{Creds, Expect, FaultCase, Harness, Op, SimUnderTest};
use connector_core::domain::{
    ConnectionId, Environment, ErpKind, ErrorClass, ErrorCode, FieldSchema, FieldType,
    NormalizedRecord, ObjectSchema, Origin, Schema, TenantId,
};
use connector_core::engine::Rejection;
use connector_core::sim::{serve, RunningSim};
use connector_core::*;
use futures::FutureExt;
use http::Method;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

// ----------------------------------------------------------------------------- simulator

#[derive(Clone, Debug)]
pub struct Rec {
    pub id: u64,
    pub name: String,
    pub modified: i64,
    pub key: Option<String>,
}

#[derive(Default)]
pub struct FakeState {
    pub records: BTreeMap<u64, Rec>,
    pub next_id: u64,
    pub revoked: bool,
    pub error_5xx: bool,
    pub rate_limited_secs: Option<u64>,
    pub concurrency_limit: Option<usize>,
    pub idle_timeout_secs: Option<i64>,
    pub sessions: HashMap<String, i64>,
    pub logins: u32,
}

#[derive(Clone)]
pub struct FakeSim {
    pub state: Arc<Mutex<FakeState>>,
    pub clock: TestClock,
    pub in_flight: Arc<AtomicUsize>,
    pub max_in_flight: Arc<AtomicUsize>,
    pub hits: Arc<AtomicU32>,
    pub latency: Duration,
}

impl FakeSim {
    pub fn new(records: usize) -> Self {
        let clock = TestClock::new();
        let mut st = FakeState::default();
        let t0 = clock.now().timestamp();
        for i in 0..records {
            st.next_id += 1;
            // Pairs of records share a timestamp so keyset tie-breaks matter.
            st.records.insert(
                st.next_id,
                Rec {
                    id: st.next_id,
                    name: format!("seed {i}"),
                    modified: t0 - 1000 + (i as i64 / 2),
                    key: None,
                },
            );
        }
        Self {
            state: Arc::new(Mutex::new(st)),
            clock,
            in_flight: Default::default(),
            max_in_flight: Default::default(),
            hits: Default::default(),
            latency: Duration::from_millis(2),
        }
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/api/login", post(login))
            .route("/api/whoami", get(whoami))
            .route("/api/records", get(list).post(create))
            .route("/api/records/{id}", put(update))
            .route("/api/schema", get(schema))
            .with_state(self.clone())
    }

    pub async fn serve(&self) -> RunningSim {
        serve(self.router(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap()
    }
}

fn err(status: StatusCode, code: &str) -> AxResponse {
    (status, Json(json!({ "error": code }))).into_response()
}

/// Common gate: counts concurrency, applies faults, checks the session.
async fn gate(
    sim: &FakeSim,
    headers: &HeaderMap,
    need_session: bool,
) -> Result<InFlight, AxResponse> {
    sim.hits.fetch_add(1, Ordering::SeqCst);
    let now_in = sim.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    sim.max_in_flight.fetch_max(now_in, Ordering::SeqCst);
    let guard = InFlight(sim.in_flight.clone());
    tokio::time::sleep(sim.latency).await;
    let now = sim.clock.now().timestamp();
    let mut st = sim.state.lock().unwrap();
    if st.error_5xx {
        return Err(err(StatusCode::SERVICE_UNAVAILABLE, "maintenance"));
    }
    if let Some(secs) = st.rate_limited_secs {
        let mut r = err(StatusCode::TOO_MANY_REQUESTS, "rate");
        r.headers_mut()
            .insert("retry-after", secs.to_string().parse().unwrap());
        return Err(r);
    }
    if st.concurrency_limit.is_some_and(|l| now_in > l) {
        return Err(err(StatusCode::TOO_MANY_REQUESTS, "concurrency"));
    }
    if st.revoked {
        return Err(err(StatusCode::UNAUTHORIZED, "revoked"));
    }
    if need_session {
        let s = headers
            .get("x-session")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let idle = st.idle_timeout_secs;
        match st.sessions.get_mut(s) {
            Some(last) if idle.is_none_or(|i| now - *last <= i) => *last = now,
            _ => return Err(err(StatusCode::UNAUTHORIZED, "session_expired")),
        }
    }
    Ok(guard)
}

pub struct InFlight(Arc<AtomicUsize>);
impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn login(State(sim): State<FakeSim>, headers: HeaderMap) -> AxResponse {
    let _g = match gate(&sim, &headers, false).await {
        Ok(g) => g,
        Err(r) => return r,
    };
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if token != "Bearer good-token" {
        return err(StatusCode::UNAUTHORIZED, "invalid_token");
    }
    let mut st = sim.state.lock().unwrap();
    st.logins += 1;
    let id = format!("sess-{}", st.logins);
    st.sessions.insert(id.clone(), sim.clock.now().timestamp());
    Json(json!({ "session": id })).into_response()
}

async fn whoami(State(sim): State<FakeSim>, headers: HeaderMap) -> AxResponse {
    match gate(&sim, &headers, true).await {
        Ok(_g) => Json(json!({ "company": "Fake Co" })).into_response(),
        Err(r) => r,
    }
}

async fn schema(State(sim): State<FakeSim>, headers: HeaderMap) -> AxResponse {
    match gate(&sim, &headers, true).await {
        Ok(_g) => {
            Json(json!({ "objects": ["record"], "custom_fields": ["x_region"] })).into_response()
        }
        Err(r) => r,
    }
}

#[derive(Deserialize)]
struct ListQ {
    after_mod: Option<i64>,
    after_id: Option<u64>,
    limit: usize,
}

async fn list(
    State(sim): State<FakeSim>,
    headers: HeaderMap,
    Query(q): Query<ListQ>,
) -> AxResponse {
    let _g = match gate(&sim, &headers, true).await {
        Ok(g) => g,
        Err(r) => return r,
    };
    let st = sim.state.lock().unwrap();
    let mut recs: Vec<&Rec> = st.records.values().collect();
    recs.sort_by_key(|r| (r.modified, r.id));
    let after = (q.after_mod.unwrap_or(i64::MIN), q.after_id.unwrap_or(0));
    let matching: Vec<&Rec> = recs
        .into_iter()
        .filter(|r| (r.modified, r.id) > after)
        .collect();
    let has_more = matching.len() > q.limit;
    let page: Vec<Value> = matching
        .iter()
        .take(q.limit)
        .map(|r| json!({"id": r.id, "name": r.name, "modified": r.modified}))
        .collect();
    Json(json!({ "records": page, "has_more": has_more })).into_response()
}

#[derive(Deserialize)]
struct CreateB {
    key: String,
    name: Option<String>,
}

async fn create(
    State(sim): State<FakeSim>,
    headers: HeaderMap,
    Json(b): Json<CreateB>,
) -> AxResponse {
    let _g = match gate(&sim, &headers, true).await {
        Ok(g) => g,
        Err(r) => return r,
    };
    let now = sim.clock.now().timestamp();
    let mut st = sim.state.lock().unwrap();
    if let Some(r) = st
        .records
        .values()
        .find(|r| r.key.as_deref() == Some(&b.key))
    {
        return Json(json!({ "id": r.id })).into_response();
    }
    let Some(name) = b.name else {
        return err(StatusCode::BAD_REQUEST, "name_required");
    };
    st.next_id += 1;
    let id = st.next_id;
    st.records.insert(
        id,
        Rec {
            id,
            name,
            modified: now,
            key: Some(b.key),
        },
    );
    Json(json!({ "id": id })).into_response()
}

async fn update(
    State(sim): State<FakeSim>,
    headers: HeaderMap,
    Path(id): Path<u64>,
    Json(b): Json<Value>,
) -> AxResponse {
    let _g = match gate(&sim, &headers, true).await {
        Ok(g) => g,
        Err(r) => return r,
    };
    let now = sim.clock.now().timestamp();
    let mut st = sim.state.lock().unwrap();
    match st.records.get_mut(&id) {
        None => err(StatusCode::NOT_FOUND, "no_such_record"),
        Some(r) => {
            if let Some(n) = b.get("name").and_then(|v| v.as_str()) {
                r.name = n.to_string();
            }
            r.modified = now;
            Json(json!({ "id": id })).into_response()
        }
    }
}

// ----------------------------------------------------------------------------- connector

/// Deliberate bugs, to prove the conformance suite catches them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bug {
    None,
    /// Claims to be caught up after the first page.
    StopsAfterFirstPage,
    /// Compares the cursor with >= so the boundary record is delivered twice.
    InclusiveCursor,
    /// Ignores idempotency keys (appends a random suffix).
    DuplicatesOnRetry,
}

pub struct FakeConnector(pub Bug);

pub static FAKE_DECL: ErpDeclaration = ErpDeclaration {
    kind: ErpKind::Netsuite,
    display_name: "Fake ERP",
    credential_kinds: &[CredentialKind {
        key: "token",
        label: "API token",
        help: "",
        fields: &[FieldSpec {
            key: "token",
            label: "Token",
            secret: true,
            required: true,
            help: "",
        }],
    }],
    settings: &[],
    environments: &[Environment::Production, Environment::Sandbox],
    capabilities: Capabilities {
        check: true,
        discover: true,
        read: true,
        write: true,
        change_feed: false,
    },
    allowed_host_suffixes: &[".fake.example"],
};

pub static GOOD: FakeConnector = FakeConnector(Bug::None);
pub static STOPS: FakeConnector = FakeConnector(Bug::StopsAfterFirstPage);
pub static INCLUSIVE: FakeConnector = FakeConnector(Bug::InclusiveCursor);
pub static DUPLICATES: FakeConnector = FakeConnector(Bug::DuplicatesOnRetry);

impl ErpConnector for FakeConnector {
    fn declaration(&self) -> &'static ErpDeclaration {
        &FAKE_DECL
    }
    fn connect(
        &self,
        config: ConnectionConfig,
        engine: Engine,
    ) -> Result<Arc<dyn Connection>, ConnectorError> {
        FAKE_DECL.validate(&config)?;
        let raw = config
            .base_url
            .clone()
            .ok_or_else(|| ConnectorError::invalid_input("base_url required"))?;
        let allow_loopback = config.settings.get("allow_loopback") == Some(&Value::Bool(true));
        let base = validate_base_url(
            &raw,
            UrlPolicy {
                allowed_host_suffixes: FAKE_DECL.allowed_host_suffixes,
                allow_loopback,
            },
        )?;
        let ctx = RequestContext {
            tenant: config.tenant.clone(),
            erp: ErpKind::Netsuite,
            account: AccountKey::new(ErpKind::Netsuite, config.connection.as_str()),
            limits: AccountLimits {
                max_concurrency: 5,
                grow_after: 5,
                rate: RateMode::Unlimited,
            },
        };
        Ok(Arc::new(FakeConnection {
            bug: self.0,
            base,
            token: config.credentials.require("token")?.to_string(),
            key: SessionKey::new(config.tenant.clone(), "default"),
            pool: Arc::new(SessionPool::new(Arc::new(SystemClock))),
            engine,
            ctx,
        }))
    }
}

pub struct FakeConnection {
    bug: Bug,
    base: url::Url,
    token: String,
    key: SessionKey,
    pool: Arc<SessionPool<String>>,
    engine: Engine,
    ctx: RequestContext,
}

/// The fake ERP's error bodies, classified.
pub fn classify(_req: &Request, resp: &connector_core::Response) -> Result<(), Rejection> {
    if (200..300).contains(&resp.status) {
        return Ok(());
    }
    let code = resp
        .json::<Value>()
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
        .unwrap_or_default();
    let (ec, no_work) = match (resp.status, code.as_str()) {
        (401, "session_expired") => (ErrorCode::SessionExpired, false),
        (401, _) => (ErrorCode::AuthRevoked, false),
        (429, "concurrency") => (ErrorCode::ConcurrencyLimited, true),
        (429, _) => (ErrorCode::RateLimited, true),
        (400, "name_required") => (ErrorCode::RequiredFieldMissing, false),
        (404, _) => (ErrorCode::NotFound, false),
        (500..=599, _) => (ErrorCode::ErpUnavailable, false),
        _ => (ErrorCode::InvalidResponse, false),
    };
    let e = ConnectorError::new(ec, format!("fake erp said {code}")).with_erp_code(code);
    Err(if no_work {
        Rejection::no_work(e)
    } else {
        Rejection::new(e)
    })
}

#[derive(Serialize, Deserialize)]
struct FakeCursor {
    m: i64,
    id: u64,
}

impl FakeConnection {
    fn url(&self, path: &str) -> url::Url {
        let mut u = self.base.clone();
        u.set_path(path);
        u
    }

    async fn call(&self, req: Request) -> Result<connector_core::Response, ConnectorError> {
        let (engine, ctx, base, token) = (
            self.engine.clone(),
            self.ctx.clone(),
            self.base.clone(),
            self.token.clone(),
        );
        let login = move || {
            let (engine, ctx, mut url, token) =
                (engine.clone(), ctx.clone(), base.clone(), token.clone());
            async move {
                url.set_path("/api/login");
                let req = Request::new(&ctx, "login", Method::POST, url)
                    .header(http::header::AUTHORIZATION, &format!("Bearer {token}"))?
                    .idempotent(true);
                let resp = engine.send(req, &classify).await?;
                let v: Value = resp.json()?;
                let s = v["session"]
                    .as_str()
                    .ok_or_else(|| ConnectorError::invalid_response("no session"))?;
                Ok(Session::new(s.to_string()))
            }
            .boxed()
        };
        self.engine
            .send_with_session(req, &classify, &self.pool, &self.key, login, |s, r| {
                r.headers.insert(
                    "x-session",
                    s.parse()
                        .map_err(|_| ConnectorError::invalid_response("bad session"))?,
                );
                Ok(())
            })
            .await
    }
}

#[async_trait]
impl Connection for FakeConnection {
    async fn check(&self) -> Result<CheckReport, ConnectorError> {
        let resp = self
            .call(Request::new(
                &self.ctx,
                "whoami",
                Method::GET,
                self.url("/api/whoami"),
            ))
            .await?;
        let v: Value = resp.json()?;
        Ok(CheckReport {
            account_label: v["company"].as_str().unwrap_or_default().into(),
            warnings: vec![],
        })
    }

    async fn discover(&self) -> Result<Schema, ConnectorError> {
        self.call(Request::new(
            &self.ctx,
            "schema",
            Method::GET,
            self.url("/api/schema"),
        ))
        .await?;
        let f = |name: &str, origin| FieldSchema {
            name: name.into(),
            label: name.into(),
            field_type: FieldType::Text { max_len: None },
            native_type: "text".into(),
            required: name == "name",
            read_only: false,
            filterable: true,
            origin,
        };
        Ok(Schema {
            objects: vec![ObjectSchema {
                name: "record".into(),
                label: "Record".into(),
                origin: Origin::Standard,
                fields: vec![
                    f("name", Origin::Standard),
                    f("x_region", Origin::CustomField),
                ],
                modified_field: Some("modified".into()),
                can_read: true,
                can_write: true,
            }],
        })
    }

    async fn read_page(&self, req: ReadRequest) -> Result<Page, ConnectorError> {
        let cur: Option<FakeCursor> = req.cursor.as_ref().map(|c| c.parse()).transpose()?;
        let mut url = self.url("/api/records");
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("limit", &req.page_size.to_string());
            if let Some(c) = &cur {
                let (m, id) = if self.bug == Bug::InclusiveCursor {
                    (c.m, c.id.saturating_sub(1))
                } else {
                    (c.m, c.id)
                };
                q.append_pair("after_mod", &m.to_string());
                q.append_pair("after_id", &id.to_string());
            }
        }
        let resp = self
            .call(Request::new(&self.ctx, "list", Method::GET, url))
            .await?;
        #[derive(Deserialize)]
        struct Body {
            records: Vec<Row>,
            has_more: bool,
        }
        #[derive(Deserialize)]
        struct Row {
            id: u64,
            name: String,
            modified: i64,
        }
        let body: Body = resp.json()?;
        let last = body
            .records
            .last()
            .map(|r| FakeCursor {
                m: r.modified,
                id: r.id,
            })
            .or(cur);
        let records = body
            .records
            .iter()
            .map(|r| NormalizedRecord {
                object: req.object.clone(),
                external_id: r.id.to_string(),
                modified_at: None,
                fields: [("name".to_string(), json!(r.name))].into_iter().collect(),
                deleted: false,
            })
            .collect();
        let pos = last.as_ref().map(Cursor::new).transpose()?;
        let more = body.has_more && self.bug != Bug::StopsAfterFirstPage;
        Ok(Page {
            records,
            next: if more { pos.clone() } else { None },
            watermark: pos,
        })
    }

    async fn write_batch(&self, batch: WriteBatch) -> Result<Vec<ItemResult>, ConnectorError> {
        let mut out = Vec::new();
        for item in batch.items {
            let res = match item.op {
                WriteOp::Create | WriteOp::Upsert => {
                    let key = if self.bug == Bug::DuplicatesOnRetry {
                        format!("{}-{}", item.idempotency_key, rand_suffix())
                    } else {
                        item.idempotency_key.clone()
                    };
                    let mut body = item.fields.clone();
                    body.insert("key".into(), json!(key));
                    let req =
                        Request::new(&self.ctx, "create", Method::POST, self.url("/api/records"))
                            .json(&body)?
                            .idempotent(true);
                    self.call(req).await
                }
                WriteOp::Update => {
                    let id = item.external_id.clone().unwrap_or_default();
                    let req = Request::new(
                        &self.ctx,
                        "update",
                        Method::PUT,
                        self.url(&format!("/api/records/{id}")),
                    )
                    .json(&item.fields)?;
                    self.call(req).await
                }
                WriteOp::Delete => Err(ConnectorError::invalid_input("delete unsupported")),
            };
            let outcome = match res {
                Ok(r) => {
                    let v: Value = r.json()?;
                    ItemOutcome::Written {
                        external_id: v["id"].to_string(),
                    }
                }
                Err(e) if e.class() == ErrorClass::FailItem => ItemOutcome::Failed { error: e },
                Err(e) => return Err(e),
            };
            out.push(ItemResult {
                idempotency_key: item.idempotency_key,
                outcome,
            });
        }
        Ok(out)
    }
}

fn rand_suffix() -> u64 {
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::SeqCst) as u64
}

// ----------------------------------------------------------------------------- harness

pub struct FakeHarness(pub &'static FakeConnector);

pub struct FakeUnderTest {
    pub sim: FakeSim,
    pub running: RunningSim,
}

#[async_trait]
impl SimUnderTest for FakeUnderTest {
    fn config(&self, creds: Creds) -> ConnectionConfig {
        let token = match creds {
            Creds::Good => "good-token",
            Creds::Bad => "wrong-token",
        };
        ConnectionConfig {
            tenant: TenantId("t1".into()),
            connection: ConnectionId("c1".into()),
            environment: Environment::Production,
            base_url: Some(self.running.base_url.clone()),
            settings: [("allow_loopback".to_string(), json!(true))]
                .into_iter()
                .collect(),
            credentials: Credentials::new("token").with("token", token),
        }
    }
    async fn revoke(&self) -> Result<(), String> {
        self.sim.state.lock().unwrap().revoked = true;
        Ok(())
    }
    async fn inject_changes(&self, _object: &str, count: usize) -> Result<Vec<String>, String> {
        let now = self.sim.clock.now().timestamp();
        let mut st = self.sim.state.lock().unwrap();
        let ids: Vec<u64> = st.records.keys().take(count).copied().collect();
        for id in &ids {
            st.records.get_mut(id).unwrap().modified = now;
        }
        Ok(ids.iter().map(|i| i.to_string()).collect())
    }
    async fn set_fault(&self, fault: &str, value: Value) -> Result<(), String> {
        let mut st = self.sim.state.lock().unwrap();
        match fault {
            "error_5xx" => st.error_5xx = value.as_bool().unwrap_or(false),
            "rate_limited_secs" => st.rate_limited_secs = value.as_u64(),
            "concurrency_limit" => st.concurrency_limit = value.as_u64().map(|v| v as usize),
            "idle_timeout_secs" => st.idle_timeout_secs = value.as_i64(),
            other => return Err(format!("unknown fault {other}")),
        }
        Ok(())
    }
    fn advance_clock(&self, by: Duration) {
        self.sim.clock.advance(by);
    }
}

#[async_trait]
impl Harness for FakeHarness {
    fn connector(&self) -> &'static dyn ErpConnector {
        self.0
    }
    fn read_object(&self) -> String {
        "record".into()
    }
    fn write_object(&self) -> String {
        "record".into()
    }
    fn new_record(&self, n: usize) -> BTreeMap<String, Value> {
        [("name".to_string(), json!(format!("new {n}")))]
            .into_iter()
            .collect()
    }
    fn invalid_record(&self) -> Option<BTreeMap<String, Value>> {
        Some(BTreeMap::new())
    }
    fn fault_cases(&self) -> Vec<FaultCase> {
        vec![
            FaultCase {
                name: "erp_down",
                fault: "error_5xx",
                on: json!(true),
                op: Op::Check,
                parallel: 1,
                advance_clock: None,
                warm_up: false,
                expect: Expect::Class(ErrorClass::Retry),
            },
            FaultCase {
                name: "rate_limited_long_retry_after",
                fault: "rate_limited_secs",
                on: json!(30),
                op: Op::Read,
                parallel: 1,
                advance_clock: None,
                warm_up: true,
                expect: Expect::Class(ErrorClass::Retry),
            },
            FaultCase {
                name: "concurrency_limit_absorbed",
                fault: "concurrency_limit",
                on: json!(1),
                op: Op::Read,
                parallel: 6,
                advance_clock: None,
                warm_up: true,
                expect: Expect::Recovers,
            },
            FaultCase {
                name: "idle_session_relogin",
                fault: "idle_timeout_secs",
                on: json!(60),
                op: Op::Check,
                parallel: 3,
                advance_clock: Some(Duration::from_secs(3600)),
                warm_up: true,
                expect: Expect::Recovers,
            },
        ]
    }
    async fn start(&self, records: usize) -> Result<Box<dyn SimUnderTest>, String> {
        let sim = FakeSim::new(records);
        let running = sim.serve().await;
        Ok(Box::new(FakeUnderTest { sim, running }))
    }
}
