//! An in-process NetSuite simulator speaking the real wire protocol: REST record service,
//! metadata catalog, SuiteQL, SOAP SuiteTalk, TBA and OAuth 2.0 verification, and one
//! concurrency limit per account shared by every channel.
//!
//! Requests are routed to an account by Host header (`1234567-sb1.suitetalk.api.netsuite.com`),
//! by a path prefix (`/a/1234567_SB1/services/...`, for connectors whose base URL is pointed
//! here) or by the `X-NetSuite-Sim-Account` header.

pub mod data;
pub mod harness;
mod rest;
mod soap;
pub mod suiteql;

use crate::auth::{self, canonical_account, AuthError};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use connector_core::SharedClock;
use data::{CustomFieldSpec, CustomRecordSpec, FieldKind, Record, RecordTypeDef, SavedSearchDef};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

pub fn fmt_iso(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}
pub(crate) fn fmt_date(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string()
}
/// SOAP dateTimes carry the account's offset; the simulator's accounts sit at UTC-8.
pub(crate) fn fmt_soap_time(t: i64) -> String {
    chrono::DateTime::from_timestamp(t - 8 * 3600, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S.000-08:00")
        .to_string()
}

/// A TBA token issued to an integration in an account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenSpec {
    pub consumer_key: String,
    pub consumer_secret: String,
    pub token_id: String,
    pub token_secret: String,
}

/// An OAuth 2.0 client-credentials mapping: the integration's client id and the uploaded
/// certificate's id and public key (raw P-256 point, Base64).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OAuth2ClientSpec {
    pub client_id: String,
    pub certificate_id: String,
    pub public_key: String,
}

/// How a sandbox differs from the production account it was copied from.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DriftSpec {
    /// `(record type, field)` pairs missing in this account.
    #[serde(default)]
    pub remove_fields: Vec<(String, String)>,
    /// Fields whose type differs here.
    #[serde(default)]
    pub change_field_types: Vec<FieldTypeChange>,
    #[serde(default)]
    pub remove_record_types: Vec<String>,
    /// Saved searches (script ids) missing here.
    #[serde(default)]
    pub remove_saved_searches: Vec<String>,
    /// Custom fields that exist only here.
    #[serde(default)]
    pub add_fields: Vec<CustomFieldSpec>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FieldTypeChange {
    pub record_type: String,
    pub field: String,
    #[serde(flatten)]
    pub kind: FieldKind,
}

/// One simulated account, as a scenario declares it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccountSpec {
    pub id: String,
    /// Account-wide concurrency limit; defaults to 5, the minimum any account has and the
    /// fixed value of test-drive accounts.
    #[serde(default)]
    pub concurrency_limit: Option<usize>,
    #[serde(default)]
    pub latency_ms: u64,
    /// Built-in customization sets (`manufacturer`, `saas`).
    #[serde(default)]
    pub presets: Vec<String>,
    #[serde(default)]
    pub custom_record_types: Vec<CustomRecordSpec>,
    #[serde(default)]
    pub custom_fields: Vec<CustomFieldSpec>,
    #[serde(default)]
    pub saved_searches: Vec<SavedSearchDef>,
    /// Record counts to seed, by record type.
    #[serde(default)]
    pub seed: BTreeMap<String, u64>,
    #[serde(default)]
    pub drift: DriftSpec,
    #[serde(default)]
    pub tokens: Vec<TokenSpec>,
    #[serde(default)]
    pub oauth2_clients: Vec<OAuth2ClientSpec>,
    /// The most rows a query or list may page through (NetSuite: 100,000).
    #[serde(default)]
    pub query_ceiling: Option<u64>,
    /// Accepted clock skew of TBA timestamps, seconds.
    #[serde(default)]
    pub timestamp_skew_secs: Option<i64>,
}

impl AccountSpec {
    pub fn new(id: &str) -> Self {
        AccountSpec {
            id: id.into(),
            concurrency_limit: None,
            latency_ms: 0,
            presets: vec![],
            custom_record_types: vec![],
            custom_fields: vec![],
            saved_searches: vec![],
            seed: BTreeMap::new(),
            drift: DriftSpec::default(),
            tokens: vec![],
            oauth2_clients: vec![],
            query_ceiling: None,
            timestamp_skew_secs: None,
        }
    }
}

/// A scenario error: names what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("account id {0:?} is not a NetSuite account id (1234567, 1234567_SB1, TSTDRV1234567)")]
    BadAccountId(String),
    #[error("account {0} is declared twice")]
    Duplicate(String),
    #[error("account {account}: unknown preset {preset:?}")]
    UnknownPreset { account: String, preset: String },
    #[error("account {account}: {what}")]
    Invalid { account: String, what: String },
    #[error("scenario is not valid YAML: {0}")]
    Yaml(String),
}

/// Which kind of account an id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountKind {
    Production,
    Sandbox,
    ReleasePreview,
    TestDrive,
}

pub fn account_kind(id: &str) -> Option<AccountKind> {
    let id = id.trim();
    if id.is_empty() || id != canonical_account(id) {
        return None;
    }
    let alnum = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric());
    if let Some(rest) = id.strip_prefix("TSTDRV") {
        return rest
            .chars()
            .all(|c| c.is_ascii_digit())
            .then_some(AccountKind::TestDrive)
            .filter(|_| !rest.is_empty());
    }
    match id.split_once('_') {
        None => alnum(id).then_some(AccountKind::Production),
        Some((base, "RP")) if alnum(base) => Some(AccountKind::ReleasePreview),
        Some((base, sb)) if alnum(base) => {
            let n = sb.strip_prefix("SB")?;
            (!n.is_empty() && n.chars().all(|c| c.is_ascii_digit())).then_some(AccountKind::Sandbox)
        }
        _ => None,
    }
}

#[derive(Debug, Clone)]
pub(crate) struct TokenState {
    pub consumer_key: String,
    pub secret: String,
    pub revoked: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct AccessToken {
    pub expires: i64,
    pub revoked: bool,
}

#[derive(Default)]
pub(crate) struct AuthState {
    pub integrations: HashMap<String, String>,
    pub tokens: HashMap<String, TokenState>,
    pub nonces: HashSet<(String, String, String)>,
    pub oauth2_clients: HashMap<(String, String), String>,
    pub access_tokens: HashMap<String, AccessToken>,
    /// Why logins failed, newest last, like NetSuite's Login Audit Trail.
    pub audit: Vec<String>,
}

/// A SOAP search kept for `searchMoreWithId`.
#[derive(Debug, Clone)]
pub(crate) struct SearchSession {
    pub record_type: String,
    pub ids: Vec<u64>,
    pub page_size: usize,
    pub last_used: i64,
    pub saved: Option<SavedSearchDef>,
}

#[derive(Default)]
pub(crate) struct Faults {
    /// The next N requests answer 5xx.
    pub fail_5xx: u32,
    /// The next N REST/SuiteQL requests answer a truncated, unparseable JSON body.
    pub malformed: u32,
    /// Every Nth request answers 5xx (0 = off).
    pub every_5xx: u32,
    pub counter: u64,
}

/// Counters a test or benchmark can read.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AccountStats {
    pub requests: u64,
    pub rejected_concurrency: u64,
    pub peak_in_flight: usize,
    pub auth_failures: u64,
}

pub(crate) struct Account {
    pub id: String,
    #[allow(dead_code)]
    pub kind: AccountKind,
    pub types: BTreeMap<String, RecordTypeDef>,
    pub saved_searches: Vec<SavedSearchDef>,
    pub data: RwLock<BTreeMap<String, BTreeMap<u64, Record>>>,
    pub next_id: AtomicU64,
    pub limit: AtomicUsize,
    pub in_flight: AtomicUsize,
    pub peak: AtomicUsize,
    pub latency_ms: AtomicU64,
    pub auth: Mutex<AuthState>,
    pub faults: Mutex<Faults>,
    pub searches: Mutex<HashMap<String, SearchSession>>,
    pub search_seq: AtomicU64,
    pub requests: AtomicU64,
    pub rejected: AtomicU64,
    pub auth_failures: AtomicU64,
    pub query_ceiling: u64,
    pub skew: i64,
}

impl Account {
    /// The record type by REST name (case-insensitive, as NetSuite is).
    pub fn record_type(&self, name: &str) -> Option<&RecordTypeDef> {
        self.types.get(name).or_else(|| {
            self.types
                .values()
                .find(|t| t.name.eq_ignore_ascii_case(name))
        })
    }

    fn try_acquire(self: &Arc<Self>) -> Option<SlotGuard> {
        let limit = self.limit.load(Ordering::SeqCst);
        let mut cur = self.in_flight.load(Ordering::SeqCst);
        loop {
            if cur >= limit {
                self.rejected.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            match self
                .in_flight
                .compare_exchange(cur, cur + 1, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => {
                    self.peak.fetch_max(cur + 1, Ordering::SeqCst);
                    return Some(SlotGuard {
                        account: self.clone(),
                        n: 1,
                    });
                }
                Err(now) => cur = now,
            }
        }
    }

    pub(crate) fn log_auth_failure(&self, why: &str) {
        self.auth_failures.fetch_add(1, Ordering::Relaxed);
        self.auth.lock().unwrap().audit.push(why.to_string());
    }
}

/// Holds concurrency slots of an account until dropped.
pub struct SlotGuard {
    account: Arc<Account>,
    n: usize,
}

impl SlotGuard {
    pub fn count(&self) -> usize {
        self.n
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.account.in_flight.fetch_sub(self.n, Ordering::SeqCst);
    }
}

pub(crate) struct SimState {
    pub accounts: RwLock<HashMap<String, Arc<Account>>>,
    pub clock: SharedClock,
}

/// The simulator: cheap to clone, one per test.
#[derive(Clone)]
pub struct Simulator {
    pub(crate) state: Arc<SimState>,
}

/// A YAML scenario: the NetSuite section lists accounts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Scenario {
    #[serde(default)]
    pub accounts: Vec<AccountSpec>,
}

impl Simulator {
    pub fn new(clock: SharedClock) -> Self {
        Simulator {
            state: Arc::new(SimState {
                accounts: RwLock::new(HashMap::new()),
                clock,
            }),
        }
    }

    /// Builds a simulator from a YAML scenario section.
    pub fn from_yaml(yaml: &str, clock: SharedClock) -> Result<Self, SpecError> {
        let scenario: Scenario =
            serde_yaml::from_str(yaml).map_err(|e| SpecError::Yaml(e.to_string()))?;
        let sim = Simulator::new(clock);
        for a in scenario.accounts {
            sim.add_account(a)?;
        }
        Ok(sim)
    }

    /// Data time: modification stamps and search expiry follow the (test) clock.
    pub fn now(&self) -> i64 {
        self.state.clock.now().timestamp()
    }

    /// Wall time: TBA timestamps and OAuth 2.0 token lifetimes are checked against the
    /// machine clock, as NetSuite checks them against its NTP-synced clock.
    pub fn wall_now(&self) -> i64 {
        chrono::Utc::now().timestamp()
    }

    /// Adds an account with its customizations and seeded data.
    pub fn add_account(&self, spec: AccountSpec) -> Result<(), SpecError> {
        let kind =
            account_kind(&spec.id).ok_or_else(|| SpecError::BadAccountId(spec.id.clone()))?;
        let bad = |what: String| SpecError::Invalid {
            account: spec.id.clone(),
            what,
        };
        let mut types: BTreeMap<String, RecordTypeDef> = data::standard_types()
            .into_iter()
            .map(|t| (t.name.clone(), t))
            .collect();
        let mut customs: Vec<CustomRecordSpec> = Vec::new();
        let mut fields: Vec<CustomFieldSpec> = Vec::new();
        let mut searches: Vec<SavedSearchDef> = Vec::new();
        for p in &spec.presets {
            let (c, f, s) = data::preset(p).ok_or_else(|| SpecError::UnknownPreset {
                account: spec.id.clone(),
                preset: p.clone(),
            })?;
            customs.extend(c);
            fields.extend(f);
            searches.extend(s);
        }
        customs.extend(spec.custom_record_types.iter().cloned());
        fields.extend(spec.custom_fields.iter().cloned());
        fields.extend(spec.drift.add_fields.iter().cloned());
        searches.extend(spec.saved_searches.iter().cloned());
        for (i, c) in customs.into_iter().enumerate() {
            if !c.script_id.starts_with("customrecord") {
                return Err(bad(format!(
                    "custom record type {:?} must start with customrecord",
                    c.script_id
                )));
            }
            let def = c.into_def(100 + i as u64);
            types.insert(def.name.clone(), def);
        }
        for mut f in fields {
            let prefix = data::expected_prefix(f.scope);
            if !f.field.name.starts_with(prefix) {
                return Err(bad(format!(
                    "custom field {:?} must start with {prefix}",
                    f.field.name
                )));
            }
            f.field.custom = Some(f.scope);
            f.field.line = f.scope == data::CustomFieldScope::Column;
            let rt = types.get_mut(&f.record_type).ok_or_else(|| {
                bad(format!(
                    "custom field on unknown record type {}",
                    f.record_type
                ))
            })?;
            rt.fields.push(f.field);
        }
        for rt in &spec.drift.remove_record_types {
            types.remove(rt);
        }
        for (rt, field) in &spec.drift.remove_fields {
            if let Some(t) = types.get_mut(rt) {
                t.fields.retain(|f| &f.name != field);
            }
        }
        for ch in &spec.drift.change_field_types {
            if let Some(f) = types
                .get_mut(&ch.record_type)
                .and_then(|t| t.fields.iter_mut().find(|f| f.name == ch.field))
            {
                f.kind = ch.kind.clone();
            }
        }
        searches.retain(|s| !spec.drift.remove_saved_searches.contains(&s.script_id));
        searches.retain(|s| types.contains_key(&s.record_type));

        let mut store: BTreeMap<String, BTreeMap<u64, Record>> = BTreeMap::new();
        let mut max_id = 0;
        for name in types.keys() {
            store.insert(name.clone(), BTreeMap::new());
        }
        // Seeded history ends an hour before the simulator's clock, so changes made "now"
        // are always newer than every seeded record.
        let max_seed = spec.seed.values().copied().max().unwrap_or(0) as i64;
        let seed_base = self.now() - (max_seed / 3 + 2) * 60 - 3600;
        for (rt, count) in &spec.seed {
            let def = types
                .get(rt)
                .ok_or_else(|| bad(format!("seed for unknown record type {rt}")))?;
            let table = store.get_mut(rt).expect("every type has a table");
            for id in 1..=*count {
                table.insert(id, seed_record(&spec.id, def, id, seed_base));
            }
            max_id = max_id.max(*count);
        }
        let mut auth_state = AuthState::default();
        for t in &spec.tokens {
            auth_state
                .integrations
                .insert(t.consumer_key.clone(), t.consumer_secret.clone());
            auth_state.tokens.insert(
                t.token_id.clone(),
                TokenState {
                    consumer_key: t.consumer_key.clone(),
                    secret: t.token_secret.clone(),
                    revoked: false,
                },
            );
        }
        for c in &spec.oauth2_clients {
            auth_state.oauth2_clients.insert(
                (c.client_id.clone(), c.certificate_id.clone()),
                c.public_key.clone(),
            );
        }
        let limit = match kind {
            AccountKind::TestDrive => 5,
            _ => spec.concurrency_limit.unwrap_or(5),
        };
        if limit == 0 {
            return Err(bad("concurrency_limit must be at least 1".into()));
        }
        let account = Account {
            id: spec.id.clone(),
            kind,
            types,
            saved_searches: searches,
            data: RwLock::new(store),
            next_id: AtomicU64::new(max_id + 1),
            limit: AtomicUsize::new(limit),
            in_flight: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            latency_ms: AtomicU64::new(spec.latency_ms),
            auth: Mutex::new(auth_state),
            faults: Mutex::new(Faults::default()),
            searches: Mutex::new(HashMap::new()),
            search_seq: AtomicU64::new(1),
            requests: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            auth_failures: AtomicU64::new(0),
            query_ceiling: spec.query_ceiling.unwrap_or(100_000),
            skew: spec.timestamp_skew_secs.unwrap_or(300),
        };
        let mut accounts = self.state.accounts.write().unwrap();
        if accounts.contains_key(&spec.id) {
            return Err(SpecError::Duplicate(spec.id));
        }
        accounts.insert(spec.id, Arc::new(account));
        Ok(())
    }

    pub(crate) fn account(&self, id: &str) -> Option<Arc<Account>> {
        self.state.accounts.read().unwrap().get(id).cloned()
    }

    fn must(&self, id: &str) -> Arc<Account> {
        self.account(id)
            .unwrap_or_else(|| panic!("simulator has no account {id}"))
    }

    /// Revokes a TBA token: every later request signed with it fails.
    pub fn revoke_token(&self, account: &str, token_id: &str) {
        if let Some(t) = self
            .must(account)
            .auth
            .lock()
            .unwrap()
            .tokens
            .get_mut(token_id)
        {
            t.revoked = true;
        }
    }

    /// Revokes every OAuth 2.0 access token issued in an account.
    pub fn revoke_access_tokens(&self, account: &str) {
        for t in self
            .must(account)
            .auth
            .lock()
            .unwrap()
            .access_tokens
            .values_mut()
        {
            t.revoked = true;
        }
    }

    /// Takes up to `n` concurrency slots as another integration in the account would.
    pub fn occupy_slots(&self, account: &str, n: usize) -> SlotGuard {
        let acct = self.must(account);
        acct.in_flight.fetch_add(n, Ordering::SeqCst);
        SlotGuard { account: acct, n }
    }

    pub fn set_concurrency_limit(&self, account: &str, limit: usize) {
        self.must(account)
            .limit
            .store(limit.max(1), Ordering::SeqCst);
    }

    pub fn set_latency_ms(&self, account: &str, ms: u64) {
        self.must(account).latency_ms.store(ms, Ordering::SeqCst);
    }

    /// The next `n` requests to the account fail with 500 (REST) or a SOAP server fault.
    pub fn inject_5xx(&self, account: &str, n: u32) {
        self.must(account).faults.lock().unwrap().fail_5xx = n;
    }

    /// Every `n`th request to the account fails with a 5xx (0 switches it off).
    pub fn set_5xx_every(&self, account: &str, n: u32) {
        let a = self.must(account);
        let mut f = a.faults.lock().unwrap();
        f.every_5xx = n;
        f.counter = 0;
    }

    /// Modifies `count` records of a type (the lowest ids), stamping them with the
    /// simulator clock, or creates records when there are fewer; returns their ids.
    pub fn touch_records(
        &self,
        account: &str,
        record_type: &str,
        count: usize,
    ) -> Result<Vec<String>, String> {
        let acct = self
            .account(account)
            .ok_or_else(|| format!("no account {account}"))?;
        let def = acct
            .record_type(record_type)
            .ok_or_else(|| format!("no record type {record_type}"))?
            .clone();
        let now = self.now();
        let mut data = acct.data.write().unwrap();
        let table = data.get_mut(&def.name).expect("every type has a table");
        let mut ids: Vec<u64> = table.keys().take(count).copied().collect();
        while ids.len() < count {
            let id = acct.next_id.fetch_add(1, Ordering::SeqCst);
            table.insert(id, seed_record(&acct.id, &def, id, now - 1));
            ids.push(id);
        }
        let text_field = def
            .body_fields()
            .find(|f| {
                matches!(f.kind, data::FieldKind::Text) && !f.read_only && f.name != "entityId"
            })
            .map(|f| f.name.clone());
        for id in &ids {
            let r = table.get_mut(id).expect("just listed");
            if let Some(f) = &text_field {
                r.values.insert(
                    f.clone(),
                    serde_json::json!(format!("changed at {now} #{id}")),
                );
            }
            rest::stamp(&def, r, now, false);
        }
        Ok(ids.iter().map(|i| i.to_string()).collect())
    }

    /// The next `n` REST/SuiteQL answers are cut short mid-JSON.
    pub fn inject_malformed(&self, account: &str, n: u32) {
        self.must(account).faults.lock().unwrap().malformed = n;
    }

    pub fn stats(&self, account: &str) -> AccountStats {
        let a = self.must(account);
        AccountStats {
            requests: a.requests.load(Ordering::SeqCst),
            rejected_concurrency: a.rejected.load(Ordering::SeqCst),
            peak_in_flight: a.peak.load(Ordering::SeqCst),
            auth_failures: a.auth_failures.load(Ordering::SeqCst),
        }
    }

    /// The login audit trail of an account (why authentications failed).
    pub fn login_audit(&self, account: &str) -> Vec<String> {
        self.must(account).auth.lock().unwrap().audit.clone()
    }

    /// Number of records of a type, for assertions.
    pub fn count(&self, account: &str, record_type: &str) -> usize {
        self.must(account)
            .data
            .read()
            .unwrap()
            .get(record_type)
            .map(|t| t.len())
            .unwrap_or(0)
    }

    /// Changes one field of a stored record, moving its last-modified time to now (or, for
    /// `touch = false`, leaving it alone, as happens with types whose timestamp is unreliable).
    pub fn edit_record(
        &self,
        account: &str,
        record_type: &str,
        id: u64,
        field: &str,
        value: serde_json::Value,
        touch: bool,
    ) {
        let now = self.now();
        let acct = self.must(account);
        let mut data = acct.data.write().unwrap();
        if let Some(r) = data.get_mut(record_type).and_then(|t| t.get_mut(&id)) {
            r.values.insert(field.to_string(), value);
            if touch {
                r.modified = now;
                let mf = acct.types[record_type].modified_field.clone();
                r.values.insert(mf, serde_json::json!(fmt_iso(now)));
            }
        }
    }

    /// Deletes a stored record directly (as a user in the UI would).
    pub fn delete_record(&self, account: &str, record_type: &str, id: u64) {
        let acct = self.must(account);
        let mut data = acct.data.write().unwrap();
        if let Some(t) = data.get_mut(record_type) {
            t.remove(&id);
        }
    }

    /// Reads a stored record's values, for assertions.
    pub fn record(&self, account: &str, record_type: &str, id: u64) -> Option<Record> {
        self.must(account)
            .data
            .read()
            .unwrap()
            .get(record_type)
            .and_then(|t| t.get(&id))
            .cloned()
    }

    /// Finds a record by external id.
    pub fn record_by_external_id(
        &self,
        account: &str,
        record_type: &str,
        eid: &str,
    ) -> Option<Record> {
        self.must(account)
            .data
            .read()
            .unwrap()
            .get(record_type)
            .and_then(|t| t.values().find(|r| r.external_id.as_deref() == Some(eid)))
            .cloned()
    }

    /// Every simulated account id.
    pub fn account_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .state
            .accounts
            .read()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        ids.sort();
        ids
    }

    /// The axum router serving every account.
    pub fn router(&self) -> axum::Router {
        axum::Router::new()
            .fallback(dispatch)
            .with_state(self.clone())
    }

    /// Serves on 127.0.0.1 with an ephemeral port until the returned server is dropped.
    pub async fn serve(&self) -> std::io::Result<SimServer> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let router = self.router();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(SimServer { addr, task })
    }
}

/// A running simulator; aborts its server task when dropped.
pub struct SimServer {
    pub addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl SimServer {
    /// The base URL a connector uses to reach one account through the path prefix.
    pub fn base_url(&self, account: &str) -> String {
        format!("http://{}/a/{}", self.addr, account)
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn seed_record(account: &str, def: &RecordTypeDef, id: u64, base: i64) -> Record {
    // Every third record shares a modification time, so readers must order and resume
    // on (time, id) rather than on time alone.
    let modified = if base == 0 { data::SEED_EPOCH } else { base } + (id as i64 / 3) * 60;
    let created = modified - 86_400;
    let mut values = BTreeMap::new();
    for f in def.body_fields() {
        let v = match f.name.as_str() {
            "dateCreated" | "created" => Some(serde_json::json!(fmt_iso(created))),
            n if n == def.modified_field => Some(serde_json::json!(fmt_iso(modified))),
            "name" if def.custom => Some(serde_json::json!(format!("{} {id}", def.label))),
            _ => data::seeded_value(account, &def.name, f, id),
        };
        if let Some(v) = v {
            values.insert(f.name.clone(), v);
        }
    }
    let mut lines = Vec::new();
    if def.fields.iter().any(|f| f.line) {
        for line in 0..(1 + id % 3) {
            let mut l = BTreeMap::new();
            for f in def.fields.iter().filter(|f| f.line) {
                if let Some(v) = data::seeded_value(account, &def.name, f, id * 10 + line) {
                    l.insert(f.name.clone(), v);
                }
            }
            lines.push(l);
        }
    }
    Record {
        id,
        external_id: None,
        created,
        modified,
        values,
        lines,
    }
}

/// A request after routing: which account, and the path below the account prefix.
pub(crate) struct Routed {
    pub account: Arc<Account>,
    pub path: String,
    /// The URL the client must have signed, as candidates: what it sent literally, and the
    /// https form of the same host (the client may sit behind a TLS-terminating hop).
    pub signed_urls: Vec<url::Url>,
    /// Base for `links` hrefs in answers.
    pub link_base: String,
}

fn route(sim: &Simulator, uri: &Uri, headers: &HeaderMap) -> Result<Routed, String> {
    let host = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_ascii_lowercase();
    let path = uri.path();
    let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    let (account_id, rest, prefix) = if let Some(after) = path.strip_prefix("/a/") {
        let (acct, rest) = after.split_once('/').unwrap_or((after, ""));
        (acct.to_string(), format!("/{rest}"), format!("/a/{acct}"))
    } else if let Some(slug) = host
        .split(':')
        .next()
        .and_then(|h| h.strip_suffix(".suitetalk.api.netsuite.com"))
    {
        (canonical_account(slug), path.to_string(), String::new())
    } else if let Some(a) = headers
        .get("x-netsuite-sim-account")
        .and_then(|h| h.to_str().ok())
    {
        (a.to_string(), path.to_string(), String::new())
    } else {
        return Err(format!("no account in host {host:?} or path"));
    };
    let account = sim
        .account(&account_id)
        .ok_or_else(|| format!("unknown account {account_id}"))?;
    let mut signed_urls = Vec::new();
    for scheme in ["http", "https"] {
        if let Ok(u) = url::Url::parse(&format!("{scheme}://{host}{path}{query}")) {
            signed_urls.push(u);
        }
    }
    let scheme = if prefix.is_empty() && host.ends_with("netsuite.com") {
        "https"
    } else {
        "http"
    };
    Ok(Routed {
        account,
        path: rest,
        signed_urls,
        link_base: format!("{scheme}://{host}{prefix}"),
    })
}

/// Which protocol family a request belongs to, for choosing the error format.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Channel {
    Rest,
    Soap,
}

async fn dispatch(
    State(sim): State<Simulator>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let routed = match route(&sim, &uri, &headers) {
        Ok(r) => r,
        Err(_) => {
            return rest::error(
                StatusCode::UNAUTHORIZED,
                "INVALID_LOGIN",
                rest::INVALID_LOGIN,
            )
        }
    };
    let channel = if routed.path.starts_with("/services/NetSuitePort_") {
        Channel::Soap
    } else {
        Channel::Rest
    };
    // The OAuth 2.0 token endpoint and data-center discovery are not governed web-service
    // calls; everything else takes one of the account's concurrency slots.
    if routed.path == "/services/rest/auth/oauth2/v1/token" && method == Method::POST {
        return rest::oauth2_token(&sim, &routed, &body);
    }
    let acct = routed.account.clone();
    acct.requests.fetch_add(1, Ordering::Relaxed);
    let _slot = match acct.try_acquire() {
        Some(s) => s,
        None => {
            return match channel {
                Channel::Rest => rest::concurrency_error(),
                Channel::Soap => soap::concurrency_fault(&acct),
            }
        }
    };
    let latency = acct.latency_ms.load(Ordering::Relaxed);
    if latency > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
    }
    {
        let mut f = acct.faults.lock().unwrap();
        f.counter += 1;
        let periodic = f.every_5xx > 0 && f.counter % f.every_5xx as u64 == 0;
        if f.fail_5xx > 0 || periodic {
            f.fail_5xx = f.fail_5xx.saturating_sub(1);
            drop(f);
            return match channel {
                Channel::Rest => rest::unexpected_error(),
                Channel::Soap => soap::unexpected_fault(&acct),
            };
        }
    }
    match channel {
        Channel::Soap => soap::handle(&sim, &routed, &headers, &body).into_response(),
        Channel::Rest => {
            if let Err(why) = verify_rest_auth(&sim, &routed, &method, &headers) {
                acct.log_auth_failure(&why);
                return rest::error(
                    StatusCode::UNAUTHORIZED,
                    "INVALID_LOGIN",
                    rest::INVALID_LOGIN,
                );
            }
            let malformed = {
                let mut f = acct.faults.lock().unwrap();
                let m = f.malformed > 0;
                if m {
                    f.malformed -= 1;
                }
                m
            };
            let resp = rest::handle(&sim, &routed, &method, &uri, &headers, &body);
            if malformed {
                return rest::truncate(resp).await;
            }
            resp
        }
    }
}

/// Checks TBA fields common to REST and SOAP: realm/account, consumer key, token state,
/// timestamp window and nonce reuse. Returns the secrets for signature checking.
pub(crate) fn check_tba(
    sim: &Simulator,
    acct: &Account,
    realm: &str,
    consumer_key: &str,
    token: &str,
    nonce: &str,
    timestamp: &str,
) -> Result<(String, String), String> {
    if realm != acct.id {
        return Err(format!("WrongAccount: {realm:?} is not {:?}", acct.id));
    }
    let ts: i64 = timestamp
        .parse()
        .map_err(|_| "InvalidTimestamp: not a number".to_string())?;
    if (sim.wall_now() - ts).abs() > acct.skew {
        return Err("InvalidTimestamp: outside the accepted window".into());
    }
    if nonce.len() < 6 || nonce.len() > 64 || !nonce.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err("InvalidNonce: must be 6-64 alphanumerics".into());
    }
    let auth = acct.auth.lock().unwrap();
    let cs = auth
        .integrations
        .get(consumer_key)
        .ok_or_else(|| "InvalidConsumerKey".to_string())?
        .clone();
    let t = auth
        .tokens
        .get(token)
        .ok_or_else(|| "InvalidToken".to_string())?;
    if t.consumer_key != consumer_key {
        return Err("InvalidToken: issued to another integration".into());
    }
    if t.revoked {
        return Err("InvalidToken: revoked".into());
    }
    Ok((cs, t.secret.clone()))
}

/// Claims a nonce+timestamp after the signature checked out (so a forged request cannot
/// burn or probe nonces); a second use of the same pair is refused.
pub(crate) fn remember_nonce(
    acct: &Account,
    token: &str,
    nonce: &str,
    timestamp: &str,
) -> Result<(), String> {
    let fresh =
        acct.auth
            .lock()
            .unwrap()
            .nonces
            .insert((token.into(), nonce.into(), timestamp.into()));
    if fresh {
        Ok(())
    } else {
        Err("InvalidNonce: already used".into())
    }
}

fn verify_rest_auth(
    sim: &Simulator,
    routed: &Routed,
    method: &Method,
    headers: &HeaderMap,
) -> Result<(), String> {
    let acct = &routed.account;
    let value = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .ok_or("MissingAuthorization")?;
    if let Some(token) = value.strip_prefix("Bearer ") {
        let auth = acct.auth.lock().unwrap();
        let t = auth
            .access_tokens
            .get(token.trim())
            .ok_or("InvalidAccessToken")?;
        if t.revoked {
            return Err("InvalidAccessToken: revoked".into());
        }
        if t.expires <= sim.wall_now() {
            return Err("InvalidAccessToken: expired".into());
        }
        return Ok(());
    }
    let h = auth::parse_oauth_header(value).map_err(|e| format!("MalformedHeader: {e}"))?;
    let mut names: Vec<&str> = h.params.iter().map(|(k, _)| k.as_str()).collect();
    names.sort();
    if names.windows(2).any(|w| w[0] == w[1]) {
        return Err("MalformedHeader: duplicate parameter".into());
    }
    match h.get("oauth_signature_method") {
        Some("HMAC-SHA256") => {}
        other => return Err(format!("UnsupportedSignatureMethod: {other:?}")),
    }
    if let Some(v) = h.get("oauth_version") {
        if v != "1.0" {
            return Err("InvalidVersion".into());
        }
    }
    let get = |k: &str| h.get(k).ok_or_else(|| format!("MissingParameter: {k}"));
    let realm = h.realm.clone().ok_or("MissingRealm")?;
    let (ck, token, nonce, ts, sig) = (
        get("oauth_consumer_key")?,
        get("oauth_token")?,
        get("oauth_nonce")?,
        get("oauth_timestamp")?,
        get("oauth_signature")?,
    );
    let (cs, tsec) = check_tba(sim, acct, &realm, ck, token, nonce, ts)?;
    let params = h.signed_params();
    let ok = routed.signed_urls.iter().any(|u| {
        let base = auth::rest_base_string(method.as_str(), u, &params);
        auth::signatures_equal(&auth::hmac_sha256_signature(&base, &cs, &tsec), sig)
    });
    if !ok {
        return Err("InvalidSignature".into());
    }
    remember_nonce(acct, token, nonce, ts)
}

pub(crate) fn auth_error_kind(e: &AuthError) -> String {
    e.to_string()
}
