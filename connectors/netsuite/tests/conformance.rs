//! The conformance suite against the simulator, the independent third-party clients
//! (the `netsuite` PyPI package, oauthlib) against the simulator and the connector's
//! signatures, and protocol-level checks of the simulator itself.

mod common;

use common::*;
use connector_core::conformance::{self, Creds, Expect, FaultCase, Harness, Op, SimUnderTest};
use connector_core::domain::{ErrorClass, ErrorCode, Origin};
use connector_core::{Connection, ConnectionConfig, ErpConnector, ReadRequest};
use connector_netsuite::simulator::AccountSpec;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

const ACCT: &str = "1234567";

struct NsHarness;

struct NsUnderTest {
    env: Env,
}

#[connector_core::async_trait]
impl SimUnderTest for NsUnderTest {
    fn config(&self, creds: Creds) -> ConnectionConfig {
        let mut t = token("conf");
        if creds == Creds::Bad {
            t.token_secret = "not-the-secret".into();
        }
        tba_config(&self.env, ACCT, "conformance", &t)
    }
    async fn revoke(&self) -> Result<(), String> {
        self.env.sim.revoke_token(ACCT, &token("conf").token_id);
        Ok(())
    }
    async fn inject_changes(&self, object: &str, count: usize) -> Result<Vec<String>, String> {
        self.env.sim.touch_records(ACCT, object, count)
    }
    async fn set_fault(&self, fault: &str, value: Value) -> Result<(), String> {
        match fault {
            "error_5xx_every" => self
                .env
                .sim
                .set_5xx_every(ACCT, value.as_u64().unwrap_or(0) as u32),
            "concurrency_limit" => self
                .env
                .sim
                .set_concurrency_limit(ACCT, value.as_u64().unwrap_or(5) as usize),
            "revoked" => self.env.sim.revoke_token(ACCT, &token("conf").token_id),
            "latency_ms" => self
                .env
                .sim
                .set_latency_ms(ACCT, value.as_u64().unwrap_or(0)),
            other => return Err(format!("unknown fault {other}")),
        }
        Ok(())
    }
    fn advance_clock(&self, by: Duration) {
        self.env.clock.advance(by);
    }
}

#[connector_core::async_trait]
impl Harness for NsHarness {
    fn connector(&self) -> &'static dyn ErpConnector {
        connector_netsuite::connector()
    }
    fn read_object(&self) -> String {
        "customer".into()
    }
    fn write_object(&self) -> String {
        "customer".into()
    }
    fn new_record(&self, n: usize) -> BTreeMap<String, Value> {
        [
            ("entityId".to_string(), json!(format!("CONF-{n}"))),
            ("companyName".to_string(), json!(format!("Conformance {n}"))),
        ]
        .into_iter()
        .collect()
    }
    fn invalid_record(&self) -> Option<BTreeMap<String, Value>> {
        // companyName is required on customers.
        Some(
            [("entityId".to_string(), json!("NO-NAME"))]
                .into_iter()
                .collect(),
        )
    }
    fn fault_cases(&self) -> Vec<FaultCase> {
        let case = |name, fault, on: Value, op, parallel, expect| FaultCase {
            name,
            fault,
            on,
            op,
            parallel,
            advance_clock: None,
            warm_up: false,
            expect,
        };
        vec![
            case(
                "every_request_5xx",
                "error_5xx_every",
                json!(1),
                Op::Read,
                1,
                Expect::Class(ErrorClass::Retry),
            ),
            case(
                "token_revoked",
                "revoked",
                json!(true),
                Op::Check,
                1,
                Expect::Class(ErrorClass::Reauthenticate),
            ),
            case(
                "concurrency_limit_1",
                "concurrency_limit",
                json!(1),
                Op::Read,
                6,
                Expect::Recovers,
            ),
            case(
                "second_request_5xx",
                "error_5xx_every",
                json!(2),
                Op::Check,
                1,
                Expect::Recovers,
            ),
        ]
    }
    async fn start(&self, records: usize) -> Result<Box<dyn SimUnderTest>, String> {
        let mut spec = AccountSpec::new(ACCT);
        spec.tokens.push(token("conf"));
        spec.seed.insert("customer".into(), records as u64);
        spec.concurrency_limit = Some(5);
        Ok(Box::new(NsUnderTest {
            env: spawn(vec![spec]).await,
        }))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite_passes_against_the_simulator() {
    let report = conformance::run_all(&NsHarness).await;
    println!("{report}");
    report.assert_all_passed();
}

fn manufacturer(id: &str, customers: u64) -> AccountSpec {
    let mut s = AccountSpec::new(id);
    s.presets.push("manufacturer".into());
    s.seed.insert("customer".into(), customers);
    s.seed.insert("inventoryItem".into(), 60);
    s.seed.insert("salesOrder".into(), 40);
    s.seed.insert("customrecord_production_order".into(), 30);
    s.seed.insert("customrecord_machine_rate".into(), 12);
    s.tokens.push(token("a"));
    s
}

#[tokio::test]
async fn the_netsuite_pypi_client_runs_unchanged_against_the_simulator() {
    for account in ["1234567", "1234567_SB1", "TSTDRV1234567"] {
        let env = spawn(vec![manufacturer(account, 40)]).await;
        let t = token("a");
        let out = run_python(
            "netsuite_client_check.py",
            &[
                env.server.addr.port().to_string(),
                account.into(),
                t.consumer_key.clone(),
                t.consumer_secret.clone(),
                t.token_id.clone(),
                t.token_secret.clone(),
            ],
            &[],
        )
        .await;
        let v: Value =
            serde_json::from_str(out.lines().last().unwrap()).expect("script prints JSON");
        let slug = account.to_ascii_lowercase().replace('_', "-");
        assert_eq!(
            v["hostname"],
            json!(format!("{slug}.suitetalk.api.netsuite.com"))
        );
        assert_eq!(v["list_total"], json!(40));
        assert_eq!(v["custom_fields"], json!(["custentity_region"]));
        let created = v["created_id"].as_str().unwrap().parse::<u64>().unwrap();
        let rec = env
            .sim
            .record(account, "customer", created)
            .expect("created through the library");
        assert_eq!(rec.external_id.as_deref(), Some("py-ext-1"));
        assert_eq!(
            rec.values["companyName"],
            json!("Made by the netsuite package")
        );
        // Only the deliberate wrong-secret call failed, and it failed on the signature.
        assert_eq!(
            env.sim.login_audit(account),
            vec!["InvalidSignature".to_string()],
            "{account}"
        );
    }
}

#[tokio::test]
async fn oauthlib_signed_requests_are_accepted_and_replays_refused() {
    let env = spawn(vec![manufacturer(ACCT, 30)]).await;
    let t = token("a");
    let out = run_python(
        "oauthlib_check.py",
        &[
            "sign".into(),
            env.server.addr.port().to_string(),
            ACCT.into(),
            t.consumer_key.clone(),
            t.consumer_secret.clone(),
            t.token_id.clone(),
            t.token_secret.clone(),
        ],
        &[],
    )
    .await;
    let v: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(v["get"], json!(200));
    assert_eq!(v["replay"], json!(401));
    assert_eq!(v["suiteql_total"], json!(12));
    let audit = env.sim.login_audit(ACCT);
    assert_eq!(
        audit,
        vec![
            "InvalidNonce: already used".to_string(),
            "InvalidSignature".to_string()
        ]
    );
}

#[tokio::test]
async fn oauthlib_verifies_signatures_made_by_the_connector() {
    use connector_netsuite::auth::{rest_authorization_header, TbaCredentials};
    let creds = TbaCredentials {
        account: "1234567_SB1".into(),
        consumer_key: "ck-x".into(),
        consumer_secret: "c s/ecret+&".into(),
        token_id: "tk-x".into(),
        token_secret: "t~secret%".into(),
    };
    let urls = [
        ("GET", "https://1234567-sb1.suitetalk.api.netsuite.com/services/rest/record/v1/customer/7"),
        ("POST", "https://1234567-sb1.suitetalk.api.netsuite.com/services/rest/query/v1/suiteql?limit=1000&offset=2000"),
        ("GET", "https://1234567-sb1.suitetalk.api.netsuite.com/services/rest/record/v1/customer?limit=2&q=lastModifiedDate%20ON_OR_AFTER%20%221%2F1%2F2024%22"),
        ("GET", "http://127.0.0.1:8080/a/1234567_SB1/services/rest/record/v1/customer?fields=email,companyName&x=%E2%82%AC"),
    ];
    let mut cases = vec![];
    for (i, (m, u)) in urls.iter().enumerate() {
        let url = url::Url::parse(u).unwrap();
        let h = rest_authorization_header(
            &creds,
            m,
            &url,
            &format!("nonce{i}abcdef"),
            1_700_000_000 + i as i64,
        );
        cases.push(json!({"name": u, "method": m, "url": u, "authorization": h, "consumer_secret": "c s/ecret+&", "token_secret": "t~secret%", "expect_valid": true}));
        // The same header on another method must not verify.
        cases.push(json!({"name": format!("{u} wrong method"), "method": if *m == "GET" { "DELETE" } else { "GET" }, "url": u, "authorization": h, "consumer_secret": "c s/ecret+&", "token_secret": "t~secret%", "expect_valid": false}));
    }
    let path = std::env::temp_dir().join(format!("ns-sigs-{}.json", std::process::id()));
    std::fs::write(&path, serde_json::to_vec(&cases).unwrap()).unwrap();
    let out = run_python(
        "oauthlib_check.py",
        &["verify".into(), path.display().to_string()],
        &[],
    )
    .await;
    let v: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(v["verified"], json!(8));
    assert_eq!(v["oracle_a2"], json!(true));
}

/// Sends a request with a TBA header the connector signs (for protocol checks).
async fn signed(
    env: &Env,
    method: &str,
    account: &str,
    path: &str,
    body: Option<Value>,
    t: &connector_netsuite::simulator::TokenSpec,
    prefer: bool,
) -> (u16, Value) {
    use connector_netsuite::auth::{generate_nonce, rest_authorization_header, TbaCredentials};
    let url = url::Url::parse(&format!("{}{path}", env.server.base_url(account))).unwrap();
    let creds = TbaCredentials {
        account: account.into(),
        consumer_key: t.consumer_key.clone(),
        consumer_secret: t.consumer_secret.clone().into(),
        token_id: t.token_id.clone(),
        token_secret: t.token_secret.clone().into(),
    };
    let h = rest_authorization_header(
        &creds,
        method,
        &url,
        &generate_nonce(),
        chrono::Utc::now().timestamp(),
    );
    let c = reqwest::Client::new();
    let mut rb = c
        .request(method.parse().unwrap(), url)
        .header("authorization", h);
    if prefer {
        rb = rb.header("prefer", "transient");
    }
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn simulator_enforces_tba_rules_and_answers_netsuites_bodies() {
    use connector_netsuite::auth::{rest_authorization_header, TbaCredentials};
    let env = spawn(vec![manufacturer("1234567_SB1", 20)]).await;
    let t = token("a");
    let creds = TbaCredentials {
        account: "1234567_SB1".into(),
        consumer_key: t.consumer_key.clone(),
        consumer_secret: t.consumer_secret.clone().into(),
        token_id: t.token_id.clone(),
        token_secret: t.token_secret.clone().into(),
    };
    let url = url::Url::parse(&format!(
        "{}/services/rest/record/v1/customer/1",
        env.server.base_url("1234567_SB1")
    ))
    .unwrap();
    let c = reqwest::Client::new();
    let send = |h: String| {
        let c = c.clone();
        let url = url.clone();
        async move {
            c.get(url)
                .header("authorization", h)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let now = chrono::Utc::now().timestamp();
    // Lower-case realm: NetSuite wants the canonical upper-case id.
    let h = rest_authorization_header(&creds, "GET", &url, "nonceAAAAAA1", now)
        .replace("realm=\"1234567_SB1\"", "realm=\"1234567_sb1\"");
    assert_eq!(send(h).await, 401);
    // Timestamp ten minutes off.
    assert_eq!(
        send(rest_authorization_header(
            &creds,
            "GET",
            &url,
            "nonceAAAAAA2",
            now - 600
        ))
        .await,
        401
    );
    // HMAC-SHA1 is no longer accepted.
    let h = rest_authorization_header(&creds, "GET", &url, "nonceAAAAAA3", now)
        .replace("HMAC-SHA256", "HMAC-SHA1");
    assert_eq!(send(h).await, 401);
    // A good one, then its replay.
    let h = rest_authorization_header(&creds, "GET", &url, "nonceAAAAAA4", now);
    assert_eq!(send(h.clone()).await, 200);
    assert_eq!(send(h).await, 401);
    let audit = env.sim.login_audit("1234567_SB1");
    assert!(audit[0].starts_with("WrongAccount"), "{audit:?}");
    assert!(audit[1].starts_with("InvalidTimestamp"), "{audit:?}");
    assert!(
        audit[2].starts_with("UnsupportedSignatureMethod"),
        "{audit:?}"
    );
    assert_eq!(audit[3], "InvalidNonce: already used");

    // Revocation answers NetSuite's 401 body.
    env.sim.revoke_token("1234567_SB1", &t.token_id);
    let (s, body) = signed(
        &env,
        "GET",
        "1234567_SB1",
        "/services/rest/record/v1/customer/1",
        None,
        &t,
        false,
    )
    .await;
    assert_eq!(s, 401);
    assert_eq!(body["title"], json!("Unauthorized"));
    assert_eq!(
        body["o:errorDetails"][0]["o:errorCode"],
        json!("INVALID_LOGIN")
    );
    assert!(body["o:errorDetails"][0]["detail"]
        .as_str()
        .unwrap()
        .contains("Login Audit Trail"));
}

#[tokio::test]
async fn simulator_rest_paging_suiteql_rules_and_concurrency_body() {
    let env = spawn(vec![manufacturer(ACCT, 25)]).await;
    let t = token("a");
    let (s, b) = signed(
        &env,
        "GET",
        ACCT,
        "/services/rest/record/v1/customer?limit=10&offset=20",
        None,
        &t,
        false,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        (
            b["count"].clone(),
            b["hasMore"].clone(),
            b["totalResults"].clone()
        ),
        (json!(5), json!(false), json!(25))
    );
    let rels: Vec<&str> = b["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["rel"].as_str().unwrap())
        .collect();
    assert_eq!(rels, vec!["first", "prev", "self"]);
    let (s, b) = signed(
        &env,
        "GET",
        ACCT,
        "/services/rest/record/v1/customer?limit=10&offset=5",
        None,
        &t,
        false,
    )
    .await;
    assert_eq!(s, 400, "offset must be a multiple of limit: {b}");
    let q = json!({"q": "SELECT id FROM customer ORDER BY id"});
    let (s, _) = signed(
        &env,
        "POST",
        ACCT,
        "/services/rest/query/v1/suiteql?limit=5&offset=0",
        Some(q.clone()),
        &t,
        false,
    )
    .await;
    assert_eq!(s, 400, "SuiteQL without Prefer: transient");
    let (s, b) = signed(
        &env,
        "POST",
        ACCT,
        "/services/rest/query/v1/suiteql?limit=5&offset=0",
        Some(json!({"q": "SELECT id, email FROM customer WHERE email IS NULL"})),
        &t,
        true,
    )
    .await;
    assert_eq!(s, 200);
    // NULL columns are omitted from SuiteQL rows.
    let items = b["items"].as_array().unwrap();
    assert!(
        !items.is_empty()
            && items
                .iter()
                .all(|i| i.get("email").is_none() && i["id"].is_string()),
        "{b}"
    );
    let (s, b) = signed(
        &env,
        "POST",
        ACCT,
        "/services/rest/query/v1/suiteql?limit=5&offset=0",
        Some(json!({"q": "SELEKT nonsense"})),
        &t,
        true,
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(
        b["o:errorDetails"][0]["o:errorCode"],
        json!("INVALID_PARAMETER")
    );
    let (s, b) = signed(
        &env,
        "GET",
        ACCT,
        "/services/rest/record/v1/metadata-catalog/customrecord_production_order",
        None,
        &t,
        false,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        b["properties"]["custrecord_po_quantity"]["x-ns-custom-field"],
        json!(true)
    );

    // Another integration takes every slot: REST answers NetSuite's 429 body.
    let held = env.sim.occupy_slots(ACCT, 5);
    let (s, b) = signed(
        &env,
        "GET",
        ACCT,
        "/services/rest/record/v1/customer/1",
        None,
        &t,
        false,
    )
    .await;
    assert_eq!(s, 429);
    assert_eq!(b["title"], json!("Bad Request"));
    assert_eq!(b["o:errorCode"], json!("USER_ERROR"));
    assert_eq!(
        b["o:errorDetails"][0]["o:errorCode"],
        json!("CONCURRENCY_LIMIT_EXCEEDED")
    );
    drop(held);
    let (s, _) = signed(
        &env,
        "GET",
        ACCT,
        "/services/rest/record/v1/customer/1",
        None,
        &t,
        false,
    )
    .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn simulator_routes_by_host_header_for_every_account_kind() {
    let env = spawn(vec![
        manufacturer("1234567", 3),
        manufacturer("1234567_SB1", 4),
        manufacturer("TSTDRV1234567", 5),
    ])
    .await;
    let c = reqwest::Client::new();
    for (host, expect) in [
        ("1234567.suitetalk.api.netsuite.com", "1234567"),
        ("1234567-sb1.suitetalk.api.netsuite.com", "1234567_SB1"),
        ("tstdrv1234567.suitetalk.api.netsuite.com", "TSTDRV1234567"),
    ] {
        let r = c
            .get(format!(
                "http://{}/services/rest/record/v1/customer",
                env.server.addr
            ))
            .header("host", host)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status().as_u16(),
            401,
            "{host}: unsigned requests are refused"
        );
        assert_eq!(
            env.sim.stats(expect).auth_failures,
            1,
            "{host} routed to {expect}"
        );
    }
}

fn connect(
    env: &Env,
    account: &str,
    tenant: &str,
    t: &connector_netsuite::simulator::TokenSpec,
) -> std::sync::Arc<dyn Connection> {
    connector_netsuite::connector()
        .connect(tba_config(env, account, tenant, t), fast_engine(4))
        .expect("connects")
}

#[tokio::test]
async fn discovery_finds_custom_records_fields_lists_saved_searches_and_unfilterable_types() {
    let env = spawn(vec![manufacturer(ACCT, 10)]).await;
    let conn = connect(&env, ACCT, "t1", &token("a"));
    let schema = conn.discover().await.expect("discover");
    let po = schema
        .object("customrecord_production_order")
        .expect("custom record type");
    assert_eq!(po.origin, Origin::CustomRecord);
    assert_eq!(po.modified_field.as_deref(), Some("lastModified"));
    let qty = po.field("custrecord_po_quantity").unwrap();
    assert!(qty.required && qty.origin == Origin::CustomField);
    match &po.field("custrecord_po_status").unwrap().field_type {
        connector_core::domain::FieldType::Enum { values } => assert_eq!(
            values.iter().map(|v| v.label.as_str()).collect::<Vec<_>>(),
            vec!["Planned", "Released", "In Progress", "Built"]
        ),
        other => panic!("status should be an enum, got {other:?}"),
    }
    let rates = schema.object("customrecord_machine_rate").unwrap();
    assert_eq!(
        rates.modified_field, None,
        "its last-modified cannot be filtered: read by content hash"
    );
    let cust = schema.object("customer").unwrap();
    assert!(cust.field("custentity_region").is_some());
    assert!(cust.field("companyName").unwrap().required);
    let so = schema.object("salesOrder").unwrap();
    assert!(so.field("custbody_plant").is_some());
    assert!(
        so.field("item.custcol_lot_number").is_some(),
        "column fields appear under the item sublist"
    );
    let ss = schema
        .object("savedsearch:customRecord:customsearch_open_production")
        .expect("saved search");
    assert_eq!(ss.origin, Origin::SavedSearch);
    assert!(
        ss.field("custrecord_po_quantity").is_some(),
        "{:?}",
        ss.fields
    );
    let summary = schema
        .object("savedsearch:transaction:customsearch_sales_summary")
        .unwrap();
    assert!(!summary.can_read, "summary searches cannot return columns");
}

#[tokio::test]
async fn reads_use_suiteql_keysets_hashes_and_saved_searches_and_survive_restart() {
    let env = spawn(vec![manufacturer(ACCT, 10)]).await;
    let t = token("a");
    // Full read of production orders, one page at a time, with a "restart" (a new
    // connection) between pages: the persisted cursor is all that carries over.
    let mut cursor = None;
    let mut seen = vec![];
    let watermark;
    loop {
        let conn = connect(&env, ACCT, "t1", &t);
        let persisted = cursor.as_ref().map(|c: &connector_core::Cursor| {
            serde_json::from_str(&serde_json::to_string(c).unwrap()).unwrap()
        });
        let page = conn
            .read_page(ReadRequest {
                object: "customrecord_production_order".into(),
                cursor: persisted,
                page_size: 7,
            })
            .await
            .unwrap();
        seen.extend(page.records.iter().map(|r| r.external_id.clone()));
        match page.next {
            Some(n) => cursor = Some(n),
            None => {
                watermark = page.watermark;
                break;
            }
        }
    }
    assert_eq!(seen.len(), 30);
    let conn = connect(&env, ACCT, "t1", &t);
    env.clock.advance(Duration::from_secs(60));
    env.sim
        .touch_records(ACCT, "customrecord_production_order", 2)
        .unwrap();
    let page = conn
        .read_page(ReadRequest {
            object: "customrecord_production_order".into(),
            cursor: watermark,
            page_size: 100,
        })
        .await
        .unwrap();
    assert_eq!(
        page.records
            .iter()
            .map(|r| r.external_id.as_str())
            .collect::<Vec<_>>(),
        vec!["1", "2"]
    );
    assert!(
        page.records[0].fields["custrecord_po_quantity"]
            .as_i64()
            .is_some(),
        "integers come back typed"
    );

    // Hash mode: an edit that does not move the timestamp is still found, and so is a delete.
    let mut all = vec![];
    let mut c = None;
    let w = loop {
        let p = conn
            .read_page(ReadRequest {
                object: "customrecord_machine_rate".into(),
                cursor: c,
                page_size: 5,
            })
            .await
            .unwrap();
        all.extend(p.records);
        match p.next {
            Some(n) => c = Some(n),
            None => break p.watermark,
        }
    };
    assert_eq!(all.len(), 12);
    env.sim.edit_record(
        ACCT,
        "customrecord_machine_rate",
        4,
        "custrecord_mr_rate",
        json!(99.5),
        false,
    );
    env.sim.delete_record(ACCT, "customrecord_machine_rate", 9);
    let mut changes = vec![];
    let mut c = w;
    loop {
        let p = conn
            .read_page(ReadRequest {
                object: "customrecord_machine_rate".into(),
                cursor: c,
                page_size: 5,
            })
            .await
            .unwrap();
        changes.extend(p.records);
        match p.next {
            Some(n) => c = Some(n),
            None => break,
        }
    }
    assert_eq!(
        changes
            .iter()
            .map(|r| (r.external_id.as_str(), r.deleted))
            .collect::<Vec<_>>(),
        vec![("4", false), ("9", true)]
    );

    // Saved search over SOAP, paged with searchMoreWithId.
    let mut rows = vec![];
    let mut c = None;
    loop {
        let p = conn
            .read_page(ReadRequest {
                object: "savedsearch:customRecord:customsearch_open_production".into(),
                cursor: c,
                page_size: 8,
            })
            .await
            .unwrap();
        rows.extend(p.records);
        match p.next {
            Some(n) => c = Some(n),
            None => break,
        }
    }
    assert_eq!(rows.len(), 30);
    assert!(rows[0].fields.contains_key("custrecord_po_quantity"));
}

#[tokio::test]
async fn oauth2_client_credentials_work_for_rest_and_are_revocable() {
    use connector_core::Credentials;
    let (private, public) = connector_netsuite::auth::generate_es256_key();
    let mut spec = manufacturer(ACCT, 5);
    spec.oauth2_clients
        .push(connector_netsuite::simulator::OAuth2ClientSpec {
            client_id: "client-abc".into(),
            certificate_id: "cert-1".into(),
            public_key: public,
        });
    let env = spawn(vec![spec]).await;
    let mut cfg = tba_config(&env, ACCT, "t-oauth", &token("a"));
    cfg.credentials = Credentials::new("oauth2_m2m")
        .with("client_id", "client-abc")
        .with("certificate_id", "cert-1")
        .with("private_key", private.clone());
    let conn = connector_netsuite::connector()
        .connect(cfg.clone(), fast_engine(3))
        .unwrap();
    let report = conn.check().await.expect("OAuth 2.0 check");
    assert!(report.warnings.iter().any(|w| w.contains("saved searches")));
    let page = conn
        .read_page(ReadRequest {
            object: "customer".into(),
            cursor: None,
            page_size: 100,
        })
        .await
        .unwrap();
    assert_eq!(page.records.len(), 5);
    env.sim.revoke_access_tokens(ACCT);
    let err = conn
        .read_page(ReadRequest {
            object: "customer".into(),
            cursor: None,
            page_size: 100,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::AuthRevoked);
    // A wrong key is refused at the token endpoint.
    let (other_private, _) = connector_netsuite::auth::generate_es256_key();
    cfg.credentials = Credentials::new("oauth2_m2m")
        .with("client_id", "client-abc")
        .with("certificate_id", "cert-1")
        .with("private_key", other_private);
    let bad = connector_netsuite::connector()
        .connect(cfg, fast_engine(3))
        .unwrap();
    assert_eq!(
        bad.check().await.unwrap_err().class(),
        ErrorClass::Reauthenticate
    );
}
