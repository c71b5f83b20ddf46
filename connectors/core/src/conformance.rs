//! The conformance suite every connector runs against its own simulator.
//!
//! An ERP crate implements [`Harness`] (start its simulator with a given number of records,
//! hand out good and bad credentials, revoke, inject changes, toggle faults) and calls
//! [`run_all`] from one of its tests. Each case runs against a fresh simulator and a fresh
//! engine, so one case's state never leaks into another; the report lists every case with
//! what went wrong, and [`Report::assert_all_passed`] fails the test with that list.

use crate::contract::{
    ConnectionConfig, Cursor, ErpConnector, ItemOutcome, ReadRequest, WriteBatch, WriteItem,
    WriteOp,
};
use crate::engine::{Engine, EngineConfig, RetryPolicy};
use crate::error::ConnectorError;
use crate::governor::InProcessGovernor;
use crate::Connection;
use async_trait::async_trait;
use domain::ErrorClass;
use futures::FutureExt;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

/// Which credentials a config should carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Creds {
    /// Credentials the simulator accepts.
    Good,
    /// Well-formed credentials the simulator rejects (wrong secret).
    Bad,
}

/// The operation a fault case exercises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Check,
    Discover,
    Read,
}

/// What a fault case expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// The operation fails with an error of this class (at least one of the parallel
    /// runs; the others either succeed or fail with the same class).
    Class(ErrorClass),
    /// The connector hides the fault (for example it logs in again after an idle
    /// timeout): every run succeeds.
    Recovers,
}

/// One fault mode of the simulator and the behaviour it must cause.
#[derive(Debug, Clone)]
pub struct FaultCase {
    pub name: &'static str,
    /// The `SimControl::set_fault` name and the value that switches it on.
    pub fault: &'static str,
    pub on: serde_json::Value,
    pub op: Op,
    /// How many copies of the operation run at once (2+ for concurrency limits).
    pub parallel: usize,
    /// Moves the simulator clock after switching the fault on (idle timeouts).
    pub advance_clock: Option<Duration>,
    /// Runs the operation once before switching the fault on (so a session exists).
    pub warm_up: bool,
    pub expect: Expect,
}

/// A running simulator prepared for one case.
#[async_trait]
pub trait SimUnderTest: Send + Sync {
    /// A connection config for the simulator's tenant (base URL pointing at the simulator
    /// and `allow_loopback: true` in settings).
    fn config(&self, creds: Creds) -> ConnectionConfig;
    async fn revoke(&self) -> Result<(), String>;
    /// Modifies or creates `count` records of the object; returns their ERP ids.
    async fn inject_changes(&self, object: &str, count: usize) -> Result<Vec<String>, String>;
    async fn set_fault(&self, fault: &str, value: serde_json::Value) -> Result<(), String>;
    /// Moves the simulator's clock (a `TestClock`).
    fn advance_clock(&self, by: Duration);
}

/// Implemented once per ERP crate.
#[async_trait]
pub trait Harness: Send + Sync {
    fn connector(&self) -> &'static dyn ErpConnector;
    /// An object with an incremental (modified-time) cursor, readable and seeded.
    fn read_object(&self) -> String;
    /// An object the connector can create records of.
    fn write_object(&self) -> String;
    /// Fields of a valid new record; `n` makes each one distinct.
    fn new_record(&self, n: usize) -> BTreeMap<String, serde_json::Value>;
    /// Fields the ERP rejects for an item (a missing required field), if it has such a rule.
    fn invalid_record(&self) -> Option<BTreeMap<String, serde_json::Value>>;
    fn fault_cases(&self) -> Vec<FaultCase>;
    /// Starts a fresh simulator whose `read_object` holds exactly `records` records.
    async fn start(&self, records: usize) -> Result<Box<dyn SimUnderTest>, String>;
}

/// One case's result.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

/// The suite's report.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub erp: String,
    pub cases: Vec<CaseResult>,
}

impl Report {
    pub fn failures(&self) -> Vec<&CaseResult> {
        self.cases.iter().filter(|c| !c.passed).collect()
    }

    pub fn case(&self, name: &str) -> Option<&CaseResult> {
        self.cases.iter().find(|c| c.name == name)
    }

    /// Panics with every failed case when any failed.
    pub fn assert_all_passed(&self) {
        let failed = self.failures();
        assert!(
            failed.is_empty(),
            "conformance failures for {}:\n{self}",
            self.erp
        );
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.cases {
            writeln!(
                f,
                "{} {:<34} {}",
                if c.passed { "PASS" } else { "FAIL" },
                c.name,
                c.detail
            )?;
        }
        Ok(())
    }
}

type CaseOutcome = Result<String, String>;

const PAGE: u32 = 10;
const CASE_TIMEOUT: Duration = Duration::from_secs(60);

/// An engine that retries quickly, so fault cases finish fast while retries still happen.
fn test_engine() -> Engine {
    let config = EngineConfig {
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(20),
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(40),
            max_retry_after: Duration::from_millis(200),
        },
        user_agent: "switchyard-conformance".into(),
        // The simulators listen on 127.0.0.1.
        allow_private_networks: true,
    };
    Engine::new(config, Arc::new(InProcessGovernor::new())).expect("http client builds")
}

fn connect(
    h: &dyn Harness,
    sim: &dyn SimUnderTest,
    creds: Creds,
) -> Result<Arc<dyn Connection>, String> {
    h.connector()
        .connect(sim.config(creds), test_engine())
        .map_err(|e| format!("connect failed: {e}"))
}

fn show(e: &ConnectorError) -> String {
    format!("{e} [class {:?}]", e.class())
}

/// Reads from `cursor` until caught up; returns pages, records and the final watermark.
struct ReadAll {
    pages: Vec<usize>,
    ids: Vec<String>,
    watermark: Option<Cursor>,
}

async fn read_all(
    conn: &dyn Connection,
    object: &str,
    mut cursor: Option<Cursor>,
    max_pages: usize,
) -> Result<ReadAll, String> {
    let mut out = ReadAll {
        pages: Vec::new(),
        ids: Vec::new(),
        watermark: None,
    };
    loop {
        if out.pages.len() >= max_pages {
            return Err(format!(
                "did not finish within {max_pages} pages (pages so far {:?})",
                out.pages
            ));
        }
        let page = conn
            .read_page(ReadRequest {
                object: object.to_string(),
                cursor: cursor.take(),
                page_size: PAGE,
            })
            .await
            .map_err(|e| {
                format!(
                    "read_page failed on page {}: {}",
                    out.pages.len() + 1,
                    show(&e)
                )
            })?;
        if page.records.len() > PAGE as usize {
            return Err(format!(
                "page of {} records exceeds page_size {PAGE}",
                page.records.len()
            ));
        }
        for r in &page.records {
            if r.object != object {
                return Err(format!(
                    "record {} says object '{}', expected '{object}'",
                    r.external_id, r.object
                ));
            }
        }
        out.pages.push(page.records.len());
        out.ids
            .extend(page.records.into_iter().map(|r| r.external_id));
        if page.watermark.is_some() {
            out.watermark = page.watermark;
        }
        match page.next {
            Some(n) => cursor = Some(persist(&n)?),
            None => return Ok(out),
        }
    }
}

/// Round-trips a cursor through JSON text, as the server's store does.
fn persist(c: &Cursor) -> Result<Cursor, String> {
    let text = serde_json::to_string(c).map_err(|e| format!("cursor does not serialize: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("cursor does not deserialize: {e}"))
}

fn no_duplicates(ids: &[String]) -> Result<BTreeSet<String>, String> {
    let mut set = BTreeSet::new();
    for id in ids {
        if !set.insert(id.clone()) {
            return Err(format!("record {id} delivered twice"));
        }
    }
    Ok(set)
}

/// Runs every case and returns the report.
pub async fn run_all(h: &dyn Harness) -> Report {
    let mut report = Report {
        erp: h.connector().declaration().key().to_string(),
        cases: Vec::new(),
    };
    macro_rules! case {
        ($name:expr, $body:expr) => {{
            let fut = AssertUnwindSafe(async { $body.await }).catch_unwind();
            let outcome = match tokio::time::timeout(CASE_TIMEOUT, fut).await {
                Err(_) => Err(format!("timed out after {CASE_TIMEOUT:?}")),
                Ok(Err(panic)) => Err(format!(
                    "panicked: {}",
                    panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default()
                )),
                Ok(Ok(r)) => r,
            };
            report.cases.push(match outcome {
                Ok(detail) => CaseResult {
                    name: $name.to_string(),
                    passed: true,
                    detail,
                },
                Err(detail) => CaseResult {
                    name: $name.to_string(),
                    passed: false,
                    detail,
                },
            });
        }};
    }
    case!("check_good_credentials", check_good(h));
    case!("check_bad_credentials", check_bad(h));
    case!("check_revoked_credentials", check_revoked(h));
    case!("discover", discover(h));
    case!("full_read", full_read(h));
    case!("incremental_read_from_watermark", incremental(h));
    case!("resume_read_after_restart", resume(h));
    case!("pagination_empty", pagination(h, 0));
    case!("pagination_exactly_one_page", pagination(h, PAGE as usize));
    case!(
        "pagination_last_partial_page",
        pagination(h, 2 * PAGE as usize + 1)
    );
    case!("write_round_trip_idempotent", write_round_trip(h));
    case!("write_item_failure_is_per_item", write_item_failure(h));
    for fc in h.fault_cases() {
        let name = format!("fault_{}", fc.name);
        case!(name, fault(h, &fc));
    }
    report
}

async fn check_good(h: &dyn Harness) -> CaseOutcome {
    let sim = h.start(3).await?;
    let conn = connect(h, &*sim, Creds::Good)?;
    let r = conn.check().await.map_err(|e| show(&e))?;
    Ok(format!("connected as '{}'", r.account_label))
}

async fn check_bad(h: &dyn Harness) -> CaseOutcome {
    let sim = h.start(3).await?;
    let conn = connect(h, &*sim, Creds::Bad)?;
    match conn.check().await {
        Ok(_) => Err("check succeeded with bad credentials".into()),
        Err(e) if e.class() == ErrorClass::Reauthenticate => Ok(show(&e)),
        Err(e) => Err(format!("expected class Reauthenticate, got {}", show(&e))),
    }
}

async fn check_revoked(h: &dyn Harness) -> CaseOutcome {
    let sim = h.start(3).await?;
    let conn = connect(h, &*sim, Creds::Good)?;
    conn.check()
        .await
        .map_err(|e| format!("check before revoking failed: {}", show(&e)))?;
    sim.revoke().await?;
    // The same connection (which may hold a session) must notice the revocation.
    match conn.check().await {
        Ok(_) => Err("check succeeded after revocation".into()),
        Err(e) if e.class() == ErrorClass::Reauthenticate => Ok(show(&e)),
        Err(e) => Err(format!("expected class Reauthenticate, got {}", show(&e))),
    }
}

async fn discover(h: &dyn Harness) -> CaseOutcome {
    let sim = h.start(3).await?;
    let conn = connect(h, &*sim, Creds::Good)?;
    let schema = conn.discover().await.map_err(|e| show(&e))?;
    let (ro, wo) = (h.read_object(), h.write_object());
    let read = schema
        .object(&ro)
        .ok_or(format!("schema lacks read object '{ro}'"))?;
    if !read.can_read {
        return Err(format!("'{ro}' is not readable in the schema"));
    }
    if read.modified_field.is_none() {
        return Err(format!(
            "'{ro}' has no modified_field, so it cannot be read incrementally"
        ));
    }
    let write = schema
        .object(&wo)
        .ok_or(format!("schema lacks write object '{wo}'"))?;
    if !write.can_write {
        return Err(format!("'{wo}' is not writable in the schema"));
    }
    for o in &schema.objects {
        if o.fields.is_empty() {
            return Err(format!("object '{}' has no fields", o.name));
        }
        let mut names = BTreeSet::new();
        for f in &o.fields {
            if !names.insert(&f.name) {
                return Err(format!(
                    "object '{}' lists field '{}' twice",
                    o.name, f.name
                ));
            }
        }
    }
    let custom = schema
        .objects
        .iter()
        .flat_map(|o| o.fields.iter())
        .filter(|f| f.origin != domain::Origin::Standard)
        .count();
    Ok(format!(
        "{} objects, {custom} custom/dimension fields",
        schema.objects.len()
    ))
}

async fn full_read(h: &dyn Harness) -> CaseOutcome {
    let n = 25;
    let sim = h.start(n).await?;
    let conn = connect(h, &*sim, Creds::Good)?;
    let r = read_all(&*conn, &h.read_object(), None, 10).await?;
    let set = no_duplicates(&r.ids)?;
    if set.len() != n {
        return Err(format!(
            "read {} records, expected {n} (pages {:?})",
            set.len(),
            r.pages
        ));
    }
    if r.watermark.is_none() {
        return Err("the last page carries no watermark".into());
    }
    Ok(format!("pages {:?}", r.pages))
}

async fn incremental(h: &dyn Harness) -> CaseOutcome {
    let n = 15;
    let sim = h.start(n).await?;
    let object = h.read_object();
    let conn = connect(h, &*sim, Creds::Good)?;
    let first = read_all(&*conn, &object, None, 10).await?;
    let wm = first
        .watermark
        .ok_or("the last page carries no watermark")?;
    let wm = persist(&wm)?;
    // Time moves on before the changes, as it would between two syncs.
    sim.advance_clock(Duration::from_secs(5));
    let changed = sim.inject_changes(&object, 3).await?;
    sim.advance_clock(Duration::from_secs(5));
    // A new connection stands in for a restarted server that only has the stored cursor.
    let conn = connect(h, &*sim, Creds::Good)?;
    let second = read_all(&*conn, &object, Some(wm), 10).await?;
    let got = no_duplicates(&second.ids)?;
    let want: BTreeSet<String> = changed.into_iter().collect();
    if got != want {
        return Err(format!(
            "incremental read returned {got:?}, expected exactly the changed {want:?}"
        ));
    }
    // Caught up: reading again from the new watermark returns nothing.
    let wm2 = second
        .watermark
        .ok_or("the incremental read's last page carries no watermark")?;
    let third = read_all(&*conn, &object, Some(persist(&wm2)?), 10).await?;
    if !third.ids.is_empty() {
        return Err(format!(
            "a read from the new watermark returned {:?}",
            third.ids
        ));
    }
    Ok(format!("{} changed records found exactly once", want.len()))
}

async fn resume(h: &dyn Harness) -> CaseOutcome {
    let n = 25;
    let sim = h.start(n).await?;
    let object = h.read_object();
    let conn = connect(h, &*sim, Creds::Good)?;
    let page = conn
        .read_page(ReadRequest {
            object: object.clone(),
            cursor: None,
            page_size: PAGE,
        })
        .await
        .map_err(|e| show(&e))?;
    let next = page.next.ok_or("first page of 25 records said caught up")?;
    let mut ids: Vec<String> = page.records.into_iter().map(|r| r.external_id).collect();
    drop(conn);
    let conn = connect(h, &*sim, Creds::Good)?;
    let rest = read_all(&*conn, &object, Some(persist(&next)?), 10).await?;
    ids.extend(rest.ids);
    let set = no_duplicates(&ids)?;
    if set.len() != n {
        return Err(format!(
            "resumed read saw {} records, expected {n}",
            set.len()
        ));
    }
    Ok("no record lost or repeated across the restart".into())
}

async fn pagination(h: &dyn Harness, n: usize) -> CaseOutcome {
    let sim = h.start(n).await?;
    let conn = connect(h, &*sim, Creds::Good)?;
    let max_pages = n / PAGE as usize + 2;
    let r = read_all(&*conn, &h.read_object(), None, max_pages).await?;
    let set = no_duplicates(&r.ids)?;
    if set.len() != n {
        return Err(format!(
            "read {} records, expected {n} (pages {:?})",
            set.len(),
            r.pages
        ));
    }
    // Only the final page may be empty, and then only after full pages.
    if let Some(pos) = r.pages.iter().position(|&p| p == 0) {
        if pos != r.pages.len() - 1 {
            return Err(format!("an empty page before the end: {:?}", r.pages));
        }
    }
    Ok(format!("pages {:?}", r.pages))
}

async fn write_round_trip(h: &dyn Harness) -> CaseOutcome {
    let n = 5;
    let sim = h.start(n).await?;
    let conn = connect(h, &*sim, Creds::Good)?;
    let object = h.write_object();
    let batch = WriteBatch {
        object: object.clone(),
        items: (0..2)
            .map(|i| WriteItem {
                idempotency_key: format!("conformance-{i}"),
                op: WriteOp::Create,
                external_id: None,
                fields: h.new_record(i),
            })
            .collect(),
    };
    let first = conn
        .write_batch(batch.clone())
        .await
        .map_err(|e| show(&e))?;
    let ids = written_ids(&first, &batch)?;
    // A retried batch (same idempotency keys) must find the same records.
    let again = conn
        .write_batch(batch.clone())
        .await
        .map_err(|e| format!("re-sent batch: {}", show(&e)))?;
    let ids2 = written_ids(&again, &batch)?;
    if ids != ids2 {
        return Err(format!(
            "re-sent batch gave ids {ids2:?}, first time {ids:?}"
        ));
    }
    let written: Vec<String> = ids.iter().flatten().cloned().collect();
    if !written.is_empty() {
        let all = read_all(&*conn, &object, None, 50).await?;
        let set = no_duplicates(&all.ids)?;
        for id in &written {
            if !set.contains(id) {
                return Err(format!("written record {id} is not found by a read"));
            }
        }
        if object == h.read_object() && set.len() != n + written.len() {
            return Err(format!(
                "after writing twice there are {} records, expected {}",
                set.len(),
                n + written.len()
            ));
        }
        // Update the first record through its external id.
        let upd = WriteBatch {
            object: object.clone(),
            items: vec![WriteItem {
                idempotency_key: "conformance-update-0".into(),
                op: WriteOp::Update,
                external_id: Some(written[0].clone()),
                fields: h.new_record(100),
            }],
        };
        let r = conn
            .write_batch(upd)
            .await
            .map_err(|e| format!("update: {}", show(&e)))?;
        match r.first().map(|r| &r.outcome) {
            Some(ItemOutcome::Written { external_id }) if external_id == &written[0] => {}
            other => return Err(format!("update of {} answered {other:?}", written[0])),
        }
    }
    Ok(format!("ids {ids:?}"))
}

/// External ids of Written items (None for pending approvals); errors on failures.
fn written_ids(
    results: &[crate::ItemResult],
    batch: &WriteBatch,
) -> Result<Vec<Option<String>>, String> {
    if results.len() != batch.items.len() {
        return Err(format!(
            "{} results for {} items",
            results.len(),
            batch.items.len()
        ));
    }
    results
        .iter()
        .zip(&batch.items)
        .map(|(r, item)| {
            if r.idempotency_key != item.idempotency_key {
                return Err(format!(
                    "result for '{}' in the place of '{}'",
                    r.idempotency_key, item.idempotency_key
                ));
            }
            match &r.outcome {
                ItemOutcome::Written { external_id } => Ok(Some(external_id.clone())),
                ItemOutcome::PendingApproval { .. } => Ok(None),
                ItemOutcome::Failed { error } => Err(format!(
                    "item {} failed: {}",
                    item.idempotency_key,
                    show(error)
                )),
            }
        })
        .collect()
}

async fn write_item_failure(h: &dyn Harness) -> CaseOutcome {
    let Some(bad) = h.invalid_record() else {
        return Ok("skipped: the harness declares no invalid record".into());
    };
    let sim = h.start(2).await?;
    let conn = connect(h, &*sim, Creds::Good)?;
    let batch = WriteBatch {
        object: h.write_object(),
        items: vec![
            WriteItem {
                idempotency_key: "good-1".into(),
                op: WriteOp::Create,
                external_id: None,
                fields: h.new_record(1),
            },
            WriteItem {
                idempotency_key: "bad-1".into(),
                op: WriteOp::Create,
                external_id: None,
                fields: bad,
            },
        ],
    };
    let r = conn
        .write_batch(batch)
        .await
        .map_err(|e| format!("whole batch failed: {}", show(&e)))?;
    if r.len() != 2 {
        return Err(format!("{} results for 2 items", r.len()));
    }
    if let ItemOutcome::Failed { error } = &r[0].outcome {
        return Err(format!("the valid item failed: {}", show(error)));
    }
    match &r[1].outcome {
        ItemOutcome::Failed { error } if error.class() == ErrorClass::FailItem => Ok(show(error)),
        other => Err(format!(
            "the invalid item answered {other:?}, expected a FailItem failure"
        )),
    }
}

async fn run_op(conn: &dyn Connection, op: Op, object: &str) -> Result<(), ConnectorError> {
    match op {
        Op::Check => conn.check().await.map(|_| ()),
        Op::Discover => conn.discover().await.map(|_| ()),
        Op::Read => conn
            .read_page(ReadRequest {
                object: object.to_string(),
                cursor: None,
                page_size: PAGE,
            })
            .await
            .map(|_| ()),
    }
}

async fn fault(h: &dyn Harness, fc: &FaultCase) -> CaseOutcome {
    let sim = h.start(5).await?;
    let conn = connect(h, &*sim, Creds::Good)?;
    let object = h.read_object();
    if fc.warm_up {
        run_op(&*conn, fc.op, &object)
            .await
            .map_err(|e| format!("warm-up failed: {}", show(&e)))?;
    }
    sim.set_fault(fc.fault, fc.on.clone()).await?;
    if let Some(d) = fc.advance_clock {
        sim.advance_clock(d);
    }
    let runs =
        futures::future::join_all((0..fc.parallel.max(1)).map(|_| run_op(&*conn, fc.op, &object)))
            .await;
    let errors: Vec<&ConnectorError> = runs.iter().filter_map(|r| r.as_ref().err()).collect();
    match fc.expect {
        Expect::Recovers => match errors.first() {
            None => Ok(format!("{} runs succeeded", runs.len())),
            Some(e) => Err(format!(
                "expected the connector to recover, got {}",
                show(e)
            )),
        },
        Expect::Class(class) => {
            if errors.is_empty() {
                return Err(format!("no run failed; expected class {class:?}"));
            }
            if let Some(e) = errors.iter().find(|e| e.class() != class) {
                return Err(format!("expected class {class:?}, got {}", show(e)));
            }
            Ok(format!(
                "{} of {} runs failed with {}",
                errors.len(),
                runs.len(),
                errors[0].code
            ))
        }
    }
}
