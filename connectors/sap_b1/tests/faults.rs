//! Fault tests: session expiry during a 10,000-invoice read and during a 10,000-document
//! bulk write whose process is killed and resumed, one invalid item in a batch of 100,
//! approval-bound creates tracked to their outcome, session refresh before the idle
//! timeout, hostile answers, per-company isolation of faults and latency, the per-user
//! session limit, `slow_ms` and the 500/503 fault kinds.

mod common;

use common::{company, config, start};
use connector_core::{
    ApprovalStatus, Connection, Engine, ItemOutcome, ReadRequest, WriteBatch, WriteItem, WriteOp,
};
use connector_sap_b1::job::BulkJob;
use connector_sap_b1::simulator::config::{ApprovalConfig, CompanyConfig, SeedConfig, UserConfig};
use connector_sap_b1::simulator::{ErrorKind, Faults, Latency, SimConfig};
use connector_sap_b1::SapB1Connection;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

fn small_seed() -> SeedConfig {
    SeedConfig {
        business_partners: 10,
        items: 10,
        orders: 0,
        invoices: 0,
        purchase_orders: 0,
        journal_entries: 0,
        ..SeedConfig::default()
    }
}

fn connect(
    base: &str,
    clock: connector_core::SharedClock,
    extra: &[(&str, serde_json::Value)],
) -> SapB1Connection {
    SapB1Connection::with_clock(
        config(base, "SBODEMOUS", "manager", "1234", extra),
        Engine::in_process(),
        clock,
    )
    .expect("connect")
}

fn doc(key: &str, card: &str, qty: f64, price: f64) -> WriteItem {
    WriteItem {
        idempotency_key: key.into(),
        op: WriteOp::Create,
        external_id: None,
        fields: BTreeMap::from([
            ("CardCode".to_string(), serde_json::json!(card)),
            (
                "DocumentLines".to_string(),
                serde_json::json!([{"ItemCode": "A00002", "Quantity": qty, "UnitPrice": price}]),
            ),
        ]),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_invoices_arrive_exactly_once_while_sessions_keep_expiring() {
    let seed = SeedConfig {
        invoices: 10_000,
        orders: 0,
        purchase_orders: 0,
        journal_entries: 0,
        per_second: 7,
        ..small_seed()
    };
    let t = start(SimConfig {
        companies: vec![company(seed)],
        ..SimConfig::default()
    })
    .await;
    t.sim.set_faults(Faults {
        expire_every: Some(3),
        ..Faults::default()
    });
    let c = connect(&t.base_url, t.clock.shared(), &[]);
    let mut seen = BTreeSet::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        pages += 1;
        assert!(pages < 500, "read did not finish");
        let page = c
            .read_page(ReadRequest {
                object: "Invoices".into(),
                cursor: cursor.take(),
                page_size: 500,
            })
            .await
            .expect("page");
        for r in page.records {
            assert!(
                seen.insert(r.external_id.clone()),
                "invoice {} delivered twice",
                r.external_id
            );
        }
        match page.next {
            // The cursor is persisted as text between pages, as the server does.
            Some(n) => {
                cursor = Some(serde_json::from_str(&serde_json::to_string(&n).unwrap()).unwrap())
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), 10_000);
    let stats = t.sim.stats();
    assert!(
        stats.expired_by_fault >= 10,
        "sessions should have expired repeatedly: {stats:?}"
    );
    assert!(stats.logins > stats.expired_by_fault, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_write_killed_mid_way_resumes_and_writes_every_document_exactly_once() {
    let t = start(SimConfig {
        companies: vec![company(small_seed())],
        ..SimConfig::default()
    })
    .await;
    // Slow enough that the kill lands mid-way; sessions expire every 7 requests.
    t.sim.set_latency(connector_sap_b1::simulator::Latency {
        request_ms: 40,
        batch_item_ms: 0,
        login_ms: 5,
    });
    t.sim.set_faults(Faults {
        expire_every: Some(7),
        ..Faults::default()
    });
    let dir = std::env::temp_dir().join(format!("sap-b1-job-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("job.json");
    let n = 10_000;
    let job = BulkJob {
        job_id: "JOB7".into(),
        object: "Invoices".into(),
        items: (0..n)
            .map(|i| {
                doc(
                    &format!("JOB7-{i:05}"),
                    &format!("C{:05}", i % 10 + 1),
                    1.0,
                    5.0,
                )
            })
            .collect(),
        outcomes: BTreeMap::new(),
        started: false,
    };
    job.save(&path).unwrap();
    let bin = env!("CARGO_BIN_EXE_sap-b1-bulk");
    let base = t.base_url.clone();
    let path_s = path.to_str().unwrap().to_string();
    let spawn = move || {
        std::process::Command::new(bin)
            .args([base.as_str(), "SBODEMOUS", "manager", path_s.as_str(), "2"])
            .env("SAP_B1_PASSWORD", "1234")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn writer")
    };
    let mut child = spawn();
    // Wait until a good part is written, then kill the writer (SIGKILL) mid-batch.
    for _ in 0..600 {
        if t.sim.rows("SBODEMOUS", "Invoices").len() >= 3_000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().expect("kill");
    let _ = child.wait();
    let before = t.sim.rows("SBODEMOUS", "Invoices").len();
    assert!(
        before > 0 && before < n,
        "kill should land mid-way, found {before}"
    );
    t.sim
        .set_latency(connector_sap_b1::simulator::Latency::default());
    let out = tokio::task::spawn_blocking(move || spawn().wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        out.status.success(),
        "resume failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = t.sim.rows("SBODEMOUS", "Invoices");
    let mut per_key: BTreeMap<String, usize> = BTreeMap::new();
    for r in &rows {
        *per_key
            .entry(r["NumAtCard"].as_str().unwrap_or("").to_string())
            .or_default() += 1;
    }
    assert_eq!(rows.len(), n, "documents in the ERP");
    assert_eq!(per_key.len(), n);
    assert!(
        per_key.values().all(|c| *c == 1),
        "a document was written twice"
    );
    let job = BulkJob::load(&path).unwrap();
    assert_eq!(job.outcomes.len(), n);
    assert!(job
        .outcomes
        .values()
        .all(|o| matches!(o, ItemOutcome::Written { .. })));
    assert!(t.sim.stats().expired_by_fault > 0);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_invalid_item_in_a_batch_of_100_leaves_99_written() {
    let t = start(SimConfig {
        companies: vec![company(small_seed())],
        ..SimConfig::default()
    })
    .await;
    let c = connect(&t.base_url, t.clock.shared(), &[]);
    let items: Vec<WriteItem> = (0..100)
        .map(|i| {
            doc(
                &format!("B-{i}"),
                if i == 37 { "NO-SUCH-BP" } else { "C00003" },
                2.0,
                3.0,
            )
        })
        .collect();
    let results = c
        .write_batch(WriteBatch {
            object: "Orders".into(),
            items,
        })
        .await
        .expect("batch");
    assert_eq!(results.len(), 100);
    let written = results
        .iter()
        .filter(|r| matches!(r.outcome, ItemOutcome::Written { .. }))
        .count();
    assert_eq!(written, 99);
    match &results[37].outcome {
        ItemOutcome::Failed { error } => {
            assert!(
                error.message.contains("Invalid BP code 'NO-SUCH-BP'"),
                "{error}"
            );
            assert_eq!(error.context.erp_code.as_deref(), Some("-5002"));
        }
        other => panic!("item 37: {other:?}"),
    }
    assert_eq!(t.sim.rows("SBODEMOUS", "Orders").len(), 99);
    // Sending the same batch again writes nothing new: the 99 are found by reference.
    let items: Vec<WriteItem> = (0..100)
        .map(|i| {
            doc(
                &format!("B-{i}"),
                if i == 37 { "NO-SUCH-BP" } else { "C00003" },
                2.0,
                3.0,
            )
        })
        .collect();
    let again = c
        .write_batch(WriteBatch {
            object: "Orders".into(),
            items,
        })
        .await
        .unwrap();
    assert_eq!(t.sim.rows("SBODEMOUS", "Orders").len(), 99);
    for (a, b) in results.iter().zip(&again) {
        if let (ItemOutcome::Written { external_id: x }, ItemOutcome::Written { external_id: y }) =
            (&a.outcome, &b.outcome)
        {
            assert_eq!(x, y);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_bound_creates_are_tracked_to_their_outcome() {
    let mut co = company(small_seed());
    co.users.push(UserConfig {
        name: "approver".into(),
        password: "ok".into(),
        id: 2,
    });
    co.approvals = vec![ApprovalConfig {
        name: "Large".into(),
        documents: vec!["Orders".into()],
        min_total: Some(1000.0),
        approver: "approver".into(),
    }];
    let t = start(SimConfig {
        companies: vec![co],
        ..SimConfig::default()
    })
    .await;
    let c = connect(&t.base_url, t.clock.shared(), &[]);
    let items = vec![
        doc("AP-small", "C00001", 1.0, 10.0),
        doc("AP-big-1", "C00001", 10.0, 500.0),
        doc("AP-big-2", "C00002", 20.0, 500.0),
    ];
    let r = c
        .write_batch(WriteBatch {
            object: "Orders".into(),
            items,
        })
        .await
        .unwrap();
    assert!(
        matches!(r[0].outcome, ItemOutcome::Written { .. }),
        "{:?}",
        r[0]
    );
    let drafts: Vec<String> = r[1..]
        .iter()
        .map(|x| match &x.outcome {
            ItemOutcome::PendingApproval { draft_key } => draft_key.clone(),
            other => panic!("expected pending_approval, got {other:?}"),
        })
        .collect();
    assert_eq!(
        t.sim.rows("SBODEMOUS", "Orders").len(),
        1,
        "approval-bound documents must not exist yet"
    );
    for d in &drafts {
        assert_eq!(
            c.approval_status("Orders", d).await.unwrap(),
            ApprovalStatus::Pending
        );
    }
    // The approver decides over the real protocol: approve the first, reject the second.
    let http = reqwest::Client::new();
    let login = http
        .post(format!("{}/b1s/v2/Login", t.base_url))
        .json(&serde_json::json!({"CompanyDB": "SBODEMOUS", "UserName": "approver", "Password": "ok"}))
        .send()
        .await
        .unwrap();
    let sid = login.json::<serde_json::Value>().await.unwrap()["SessionId"]
        .as_str()
        .unwrap()
        .to_string();
    for (d, status) in drafts.iter().zip(["ardApproved", "ardNotApproved"]) {
        let req: serde_json::Value = http
            .get(format!(
                "{}/b1s/v2/ApprovalRequests?$filter=DraftEntry%20eq%20{d}",
                t.base_url
            ))
            .header("Cookie", format!("B1SESSION={sid}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let code = req["value"][0]["Code"].as_i64().unwrap();
        let resp = http
            .patch(format!("{}/b1s/v2/ApprovalRequests({code})", t.base_url))
            .header("Cookie", format!("B1SESSION={sid}"))
            .json(&serde_json::json!({"ApprovalRequestDecisions": [{"Status": status, "Remarks": "decided in test"}]}))
            .send().await.unwrap();
        assert_eq!(resp.status(), 204);
    }
    let approved = c.approval_status("Orders", &drafts[0]).await.unwrap();
    let ApprovalStatus::Approved { external_id } = approved else {
        panic!("{approved:?}")
    };
    let rejected = c.approval_status("Orders", &drafts[1]).await.unwrap();
    assert_eq!(
        rejected,
        ApprovalStatus::Rejected {
            reason: "decided in test".into()
        }
    );
    let orders = t.sim.rows("SBODEMOUS", "Orders");
    assert_eq!(orders.len(), 2);
    assert!(orders
        .iter()
        .any(|o| o["DocEntry"].to_string() == external_id && o["NumAtCard"] == "AP-big-1"));
    assert!(!orders.iter().any(|o| o["NumAtCard"] == "AP-big-2"));
    // Asking again does not convert the draft twice.
    assert_eq!(
        c.approval_status("Orders", &drafts[0]).await.unwrap(),
        ApprovalStatus::Approved { external_id }
    );
    assert_eq!(t.sim.rows("SBODEMOUS", "Orders").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_pool_refreshes_before_the_idle_timeout_and_logs_in_once_for_many() {
    let t = start(SimConfig {
        companies: vec![company(small_seed())],
        ..SimConfig::default()
    })
    .await;
    let c = Arc::new(connect(
        &t.base_url,
        t.clock.shared(),
        &[("sessions", serde_json::json!(1))],
    ));
    let runs = futures::future::join_all((0..8).map(|_| {
        let c = c.clone();
        async move {
            c.read_page(ReadRequest {
                object: "BusinessPartners".into(),
                cursor: None,
                page_size: 5,
            })
            .await
        }
    }))
    .await;
    assert!(runs.iter().all(|r| r.is_ok()));
    assert_eq!(t.sim.stats().logins, 1, "single-flight login");
    // 29.5 minutes idle: inside the 60 s margin, so the pool logs in again before use
    // and the server never answers 301.
    t.clock.advance(Duration::from_secs(29 * 60 + 30));
    c.check().await.unwrap();
    let s = t.sim.stats();
    assert_eq!(s.logins, 2, "{s:?}");
    assert_eq!(s.expired_by_idle, 0, "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udfs_are_per_company_database_and_discovery_reports_changes() {
    let t = start(SimConfig::demo()).await;
    let us = SapB1Connection::with_clock(
        config(&t.base_url, "SBODEMOUS", "manager", "1234", &[]),
        Engine::in_process(),
        t.clock.shared(),
    )
    .unwrap();
    let de = SapB1Connection::with_clock(
        config(&t.base_url, "SBODEMODE", "manager", "geheim", &[]),
        Engine::in_process(),
        t.clock.shared(),
    )
    .unwrap();
    let s_us = us.discover().await.unwrap();
    let s_de = de.discover().await.unwrap();
    let orders_us = s_us.object("Orders").unwrap();
    let orders_de = s_de.object("Orders").unwrap();
    assert!(orders_us.field("U_ProjectCode").is_some() && orders_us.field("U_ProjCode").is_none());
    assert!(orders_de.field("U_ProjCode").is_some() && orders_de.field("U_ProjectCode").is_none());
    let region = s_us
        .object("BusinessPartners")
        .unwrap()
        .field("U_Region")
        .unwrap();
    assert!(
        matches!(&region.field_type, connector_core::domain::FieldType::Enum { values } if values.len() == 3)
    );
    assert!(
        !region.required,
        "mandatory with a default is filled by the server"
    );
    assert!(s_us.object("Shipment").is_some() && s_us.object("U_PROJECTS").is_some());
    // $metadata of each company declares its own UDFs.
    let http = reqwest::Client::new();
    for (db, pw, has, lacks) in [
        ("SBODEMOUS", "1234", "U_ProjectCode", "U_ProjCode"),
        ("SBODEMODE", "geheim", "U_ProjCode", "U_ProjectCode"),
    ] {
        let sid = http
            .post(format!("{}/b1s/v1/Login", t.base_url))
            .json(&serde_json::json!({"CompanyDB": db, "UserName": "manager", "Password": pw}))
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()["SessionId"]
            .as_str()
            .unwrap()
            .to_string();
        let md = http
            .get(format!("{}/b1s/v1/$metadata", t.base_url))
            .header("Cookie", format!("B1SESSION={sid}"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            md.contains(&format!("Property Name=\"{has}\""))
                && !md.contains(&format!("\"{lacks}\"")),
            "{db}"
        );
    }
    // A new UDF is a change between two discoveries.
    let http_sid = http.post(format!("{}/b1s/v2/Login", t.base_url)).json(&serde_json::json!({"CompanyDB": "SBODEMODE", "UserName": "manager", "Password": "geheim"})).send().await.unwrap().json::<serde_json::Value>().await.unwrap()["SessionId"].as_str().unwrap().to_string();
    let created = http.post(format!("{}/b1s/v2/UserFieldsMD", t.base_url)).header("Cookie", format!("B1SESSION={http_sid}"))
        .json(&serde_json::json!({"Name": "Kostenstelle", "Type": "db_Alpha", "Size": 8, "Description": "Cost centre", "TableName": "OINV", "Mandatory": "tYES"}))
        .send().await.unwrap();
    assert_eq!(created.status(), 201);
    let s_de2 = de.discover().await.unwrap();
    let diff = s_de.diff(&s_de2);
    assert!(
        diff.fields_only_right
            .contains(&("Invoices".to_string(), "U_Kostenstelle".to_string())),
        "{diff:?}"
    );
    assert!(
        s_de2
            .object("Invoices")
            .unwrap()
            .field("U_Kostenstelle")
            .unwrap()
            .required
    );
}

/// A company database `name` (manager / 1234) with `orders` orders and nothing else big.
fn orders_company(name: &str, orders: usize) -> CompanyConfig {
    CompanyConfig {
        name: name.into(),
        seed: SeedConfig {
            orders,
            ..small_seed()
        },
        ..company(small_seed())
    }
}

/// A connection to one company database for tenant `tenant`, on a shared engine.
fn tenant_connection(
    t: &common::TestSim,
    tenant: &str,
    company_db: &str,
    engine: &Engine,
) -> SapB1Connection {
    let mut cfg = config(&t.base_url, company_db, "manager", "1234", &[]);
    cfg.tenant = connector_core::domain::TenantId(tenant.into());
    cfg.connection = connector_core::domain::ConnectionId(format!("{tenant}-sap"));
    SapB1Connection::with_clock(cfg, engine.clone(), t.clock.shared()).expect("connect")
}

/// Reads every order page by page; each id must arrive once.
async fn read_all_orders(c: &SapB1Connection, page_size: u32) -> Result<Vec<String>, String> {
    let mut seen = BTreeSet::new();
    let mut ids = Vec::new();
    let mut cursor = None;
    for _ in 0..100 {
        let page = c
            .read_page(ReadRequest {
                object: "Orders".into(),
                cursor: cursor.take(),
                page_size,
            })
            .await
            .map_err(|e| format!("page failed: {e}"))?;
        for r in page.records {
            if !seen.insert(r.external_id.clone()) {
                return Err(format!("order {} delivered twice", r.external_id));
            }
            ids.push(r.external_id);
        }
        match page.next {
            Some(n) => cursor = Some(n),
            None => return Ok(ids),
        }
    }
    Err("read did not finish in 100 pages".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_faulty_company_does_not_slow_or_fail_a_clean_one_on_the_same_server() {
    const CLEAN_MS: u64 = 10;
    let mut faulty = orders_company("FAULTY", 10);
    // Sessions expire on every 2nd request, every 4th request starts a burst of two 503s,
    // and every answer takes 500 ms.
    faulty.faults = Some(Faults {
        expire_every: Some(2),
        error_every: Some(4),
        error_burst: 2,
        error_kind: ErrorKind::Unavailable503,
        slow_ms: 0,
    });
    faulty.latency = Some(Latency {
        request_ms: 500,
        batch_item_ms: 0,
        login_ms: 0,
    });
    let mut clean = orders_company("CLEAN", 200);
    clean.latency = Some(Latency {
        request_ms: CLEAN_MS,
        batch_item_ms: 0,
        login_ms: 0,
    });
    let t = start(SimConfig {
        companies: vec![faulty, clean],
        ..SimConfig::default()
    })
    .await;
    // One engine for both tenants, as the server runs it.
    let engine = Engine::in_process();
    let bad = tenant_connection(&t, "umbrella", "FAULTY", &engine);
    let good = tenant_connection(&t, "globex", "CLEAN", &engine);

    let faulty_read = tokio::spawn(async move { read_all_orders(&bad, 5).await });
    // Start the clean read only once the faulty tenant is talking to the server.
    for _ in 0..200 {
        if t.sim.company_stats("FAULTY").unwrap().requests > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let started = std::time::Instant::now();
    let clean_ids = read_all_orders(&good, 20).await.expect("clean read");
    let clean_took = started.elapsed();
    let still_running = !faulty_read.is_finished();

    assert_eq!(clean_ids.len(), 200);
    let cs = t.sim.company_stats("CLEAN").unwrap();
    assert_eq!(cs.injected_errors, 0, "{cs:?}");
    assert_eq!(cs.expired_by_fault, 0, "{cs:?}");
    assert_eq!(cs.failed_logins, 0, "{cs:?}");
    assert_eq!(cs.logins, 1, "one session for the whole clean read: {cs:?}");
    // The clean tenant's own cost is its requests times its latency; allow a generous
    // margin for a loaded debug build, but far less than even a few of the faulty
    // tenant's 500 ms answers (leaking them would cost 11 x 500 ms and more).
    let own = Duration::from_millis(cs.requests * CLEAN_MS);
    let bound = own + Duration::from_millis(1500);
    assert!(
        clean_took < bound,
        "clean read took {clean_took:?}, bound {bound:?} ({} requests)",
        cs.requests
    );
    assert!(
        still_running,
        "the faulty read should still have been running, so the two overlapped"
    );

    let faulty_ids = faulty_read.await.unwrap().expect("faulty read completes");
    assert_eq!(faulty_ids.len(), 10, "every faulty order exactly once");
    let fs = t.sim.company_stats("FAULTY").unwrap();
    assert!(fs.expired_by_fault >= 1, "{fs:?}");
    assert!(fs.injected_errors >= 2, "{fs:?}");
    assert!(
        fs.logins > fs.expired_by_fault,
        "re-logged in each time: {fs:?}"
    );
    // The server-wide totals are the sum of the two companies.
    let all = t.sim.stats();
    assert_eq!(all.requests, cs.requests + fs.requests, "{all:?}");
}

/// Logs in over the wire; returns the status and the JSON body.
async fn raw_login(
    http: &reqwest::Client,
    base: &str,
    version: &str,
    db: &str,
) -> (u16, serde_json::Value) {
    let r = http
        .post(format!("{base}/b1s/{version}/Login"))
        .json(&serde_json::json!({"CompanyDB": db, "UserName": "manager", "Password": "1234"}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(serde_json::Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_user_session_limit_answers_8037_per_company_and_frees_slots() {
    let mut limited = orders_company("LIMITED", 0);
    limited.max_sessions_per_user = Some(2);
    let t = start(SimConfig {
        companies: vec![limited, orders_company("OPEN", 0)],
        ..SimConfig::default()
    })
    .await;
    let http = reqwest::Client::new();
    let base = &t.base_url;
    let (s1, first) = raw_login(&http, base, "v1", "LIMITED").await;
    let (s2, _) = raw_login(&http, base, "v2", "LIMITED").await;
    assert_eq!((s1, s2), (200, 200));
    let (s3, v1_err) = raw_login(&http, base, "v1", "LIMITED").await;
    assert_eq!(s3, 400);
    assert_eq!(v1_err["error"]["code"], -8037, "{v1_err}");
    assert_eq!(
        v1_err["error"]["message"]["value"],
        "Maximum number of concurrent sessions (2) reached for user 'manager'"
    );
    let (s4, v2_err) = raw_login(&http, base, "v2", "LIMITED").await;
    assert_eq!(s4, 400);
    assert_eq!(v2_err["error"]["code"], "-8037", "{v2_err}");
    // The connector reads that answer as a concurrency limit, not as bad credentials.
    let err = connector_sap_b1::client::parse_error(v2_err.to_string().as_bytes());
    let mapped = connector_sap_b1::client::error_for(400, err.as_ref(), true);
    assert_eq!(
        mapped.code,
        connector_core::domain::ErrorCode::ConcurrencyLimited
    );
    // The same user in another company database is not limited.
    for _ in 0..4 {
        assert_eq!(raw_login(&http, base, "v1", "OPEN").await.0, 200);
    }
    let ls = t.sim.company_stats("LIMITED").unwrap();
    assert_eq!((ls.logins, ls.failed_logins), (2, 2), "{ls:?}");
    assert_eq!(t.sim.company_stats("OPEN").unwrap().failed_logins, 0);
    // Logging out frees a slot.
    let sid = first["SessionId"].as_str().unwrap();
    let out = http
        .post(format!("{base}/b1s/v1/Logout"))
        .header("Cookie", format!("B1SESSION={sid}"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    assert_eq!(raw_login(&http, base, "v1", "LIMITED").await.0, 200);
    assert_eq!(raw_login(&http, base, "v1", "LIMITED").await.0, 400);
    // Sessions idle past the timeout no longer count.
    t.clock.advance(Duration::from_secs(31 * 60));
    assert_eq!(raw_login(&http, base, "v1", "LIMITED").await.0, 200);
    assert_eq!(raw_login(&http, base, "v1", "LIMITED").await.0, 200);
    assert_eq!(raw_login(&http, base, "v1", "LIMITED").await.0, 400);
}

/// Sends one request straight into the router (no socket), so paused tokio time measures
/// exactly the delay the simulator adds.
async fn oneshot(
    app: &axum::Router,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    body: &str,
) -> (u16, http::HeaderMap, String) {
    use tower::ServiceExt;
    let mut b = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "sim.test")
        .header("content-type", "application/json");
    if let Some(c) = cookie {
        b = b.header("cookie", format!("B1SESSION={c}"));
    }
    let resp = app
        .clone()
        .oneshot(b.body(axum::body::Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

async fn oneshot_login(app: &axum::Router, db: &str) -> String {
    let (status, _, body) = oneshot(
        app,
        "POST",
        "/b1s/v2/Login",
        None,
        &format!(r#"{{"CompanyDB":"{db}","UserName":"manager","Password":"1234"}}"#),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["SessionId"].as_str().unwrap().to_string()
}

fn sim_with(companies: Vec<CompanyConfig>) -> connector_sap_b1::simulator::SimHandle {
    connector_sap_b1::simulator::Simulator::new(
        SimConfig {
            companies,
            ..SimConfig::default()
        },
        connector_sap_b1::simulator::ManualClock::at("2024-06-01T12:00:00"),
    )
}

#[tokio::test(start_paused = true)]
async fn slow_ms_delays_only_its_company_and_parallel_answers_overlap() {
    let mut slow = orders_company("SLOW", 3);
    slow.faults = Some(Faults {
        slow_ms: 700,
        ..Faults::default()
    });
    let sim = sim_with(vec![slow, orders_company("FAST", 3)]);
    let app = sim.router();
    let t0 = tokio::time::Instant::now();
    let slow_sid = oneshot_login(&app, "SLOW").await;
    assert_eq!(
        t0.elapsed(),
        Duration::from_millis(700),
        "login is slowed too"
    );
    let fast_sid = oneshot_login(&app, "FAST").await;
    let t1 = tokio::time::Instant::now();
    let (status, _, _) = oneshot(&app, "GET", "/b1s/v2/Orders", Some(&fast_sid), "").await;
    assert_eq!(status, 200);
    assert_eq!(
        t1.elapsed(),
        Duration::ZERO,
        "the other company is not slowed"
    );
    // Three slow requests at once take one delay, not three: the delay runs outside the
    // simulator's lock.
    let t2 = tokio::time::Instant::now();
    let runs = futures::future::join_all(
        (0..3).map(|_| oneshot(&app, "GET", "/b1s/v2/Orders", Some(&slow_sid), "")),
    )
    .await;
    assert!(runs.iter().all(|r| r.0 == 200));
    assert_eq!(t2.elapsed(), Duration::from_millis(700));
    assert_eq!(sim.company_stats("SLOW").unwrap().max_in_flight, 3);
    assert_eq!(sim.company_stats("FAST").unwrap().max_in_flight, 1);
    // The server-wide knob still reaches companies without their own faults.
    sim.set_faults(Faults {
        slow_ms: 50,
        ..Faults::default()
    });
    let t3 = tokio::time::Instant::now();
    oneshot(&app, "GET", "/b1s/v2/Orders", Some(&fast_sid), "").await;
    assert_eq!(t3.elapsed(), Duration::from_millis(50));
}

#[tokio::test(start_paused = true)]
async fn injected_500_and_503_look_like_apache_and_hit_only_their_company() {
    let sim = sim_with(vec![orders_company("BROKEN", 3), orders_company("FINE", 3)]);
    let app = sim.router();
    let broken = oneshot_login(&app, "BROKEN").await;
    let fine = oneshot_login(&app, "FINE").await;
    sim.update_company("BROKEN", |k| {
        k.faults = Some(Faults {
            error_every: Some(1),
            error_kind: ErrorKind::Empty500,
            ..Faults::default()
        })
    });
    let (status, headers, body) = oneshot(&app, "GET", "/b1s/v1/Orders", Some(&broken), "").await;
    assert_eq!(status, 500);
    assert_eq!(body, "");
    assert_eq!(headers["connection"], "close");
    let (status, _, _) = oneshot(&app, "GET", "/b1s/v1/Orders", Some(&fine), "").await;
    assert_eq!(status, 200, "the other company is unaffected");
    // Login is never failed by error injection, so a client can always start over.
    oneshot_login(&app, "BROKEN").await;

    sim.update_company("BROKEN", |k| {
        k.faults = Some(Faults {
            error_every: Some(2),
            error_burst: 3,
            error_kind: ErrorKind::Unavailable503,
            ..Faults::default()
        })
    });
    // Every 2nd request starts a burst of three 503s: ok, 503, 503, 503, ok, 503 ...
    let mut seen = Vec::new();
    for _ in 0..6 {
        let (status, headers, body) =
            oneshot(&app, "GET", "/b1s/v1/Orders", Some(&broken), "").await;
        if status == 503 {
            assert_eq!(headers["content-type"], "text/html");
            assert!(body.contains("Service Unavailable"), "{body}");
        }
        seen.push(status);
    }
    assert_eq!(seen, [200, 503, 503, 503, 200, 503]);
    let b = sim.company_stats("BROKEN").unwrap();
    assert_eq!(b.injected_errors, 5, "{b:?}");
    assert_eq!(sim.company_stats("FINE").unwrap().injected_errors, 0);
    assert_eq!(sim.stats().injected_errors, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connector_reads_through_empty_500s_that_close_the_connection() {
    let t = start(SimConfig {
        companies: vec![orders_company("SBODEMOUS", 45)],
        ..SimConfig::default()
    })
    .await;
    t.sim.set_faults(Faults {
        error_every: Some(2),
        error_kind: ErrorKind::Empty500,
        ..Faults::default()
    });
    let c = connect(&t.base_url, t.clock.shared(), &[]);
    let ids = read_all_orders(&c, 10)
        .await
        .expect("read through the 500s");
    assert_eq!(ids.len(), 45);
    assert!(t.sim.stats().injected_errors >= 3, "{:?}", t.sim.stats());
}
