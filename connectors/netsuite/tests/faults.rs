//! Fault tests: a foreign integration holding concurrency slots, a token revoked mid-sync,
//! bursts of 5xx, a SOAP search id expiring mid-paging, the offset ceiling, malformed ERP
//! answers, and the sandbox/production drift report.

mod common;

use common::*;
use connector_core::domain::{ErrorClass, ErrorCode, NormalizedRecord};
use connector_core::{Connection, Cursor, Engine, ReadRequest, WriteBatch, WriteItem, WriteOp};
use connector_netsuite::schema::DriftReport;
use connector_netsuite::simulator::data::FieldKind;
use connector_netsuite::simulator::{AccountSpec, DriftSpec, FieldTypeChange, TokenSpec};
use connector_netsuite::NetsuiteConnection;
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

fn account(id: &str, customers: u64, tag: &str) -> AccountSpec {
    let mut s = AccountSpec::new(id);
    s.seed.insert("customer".into(), customers);
    s.seed.insert("salesOrder".into(), customers / 2);
    s.seed.insert("inventoryItem".into(), customers / 4);
    s.tokens.push(token(tag));
    s
}

fn conn(
    env: &Env,
    acct: &str,
    tenant: &str,
    t: &TokenSpec,
    engine: &Engine,
) -> Arc<NetsuiteConnection> {
    Arc::new(
        NetsuiteConnection::new(tba_config(env, acct, tenant, t), engine.clone())
            .expect("config is valid"),
    )
}

/// Reads an object to the end; returns the records or the first error.
async fn read_all(
    c: &NetsuiteConnection,
    object: &str,
    page: u32,
) -> Result<Vec<NormalizedRecord>, connector_core::ConnectorError> {
    let mut out = vec![];
    let mut cursor: Option<Cursor> = None;
    loop {
        let p = c
            .read_page(ReadRequest {
                object: object.into(),
                cursor,
                page_size: page,
            })
            .await?;
        out.extend(p.records);
        match p.next {
            Some(n) => cursor = Some(n),
            None => return Ok(out),
        }
    }
}

fn ids(r: &[NormalizedRecord]) -> BTreeSet<String> {
    r.iter().map(|r| r.external_id.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn normal_operation_never_hits_the_limit_and_a_foreign_integration_is_absorbed() {
    let env = spawn(vec![account("1234567", 1200, "a")]).await;
    env.sim.set_latency_ms("1234567", 5);
    let engine = fast_engine(8);
    let c = conn(&env, "1234567", "t1", &token("a"), &engine);
    // Six parallel readers against a limit of 5: the governor queues, NetSuite never refuses.
    let run = |c: Arc<NetsuiteConnection>| async move {
        let mut all = vec![];
        for o in ["customer", "salesOrder", "inventoryItem"] {
            all.push(read_all(&c, o, 100).await.expect("read").len());
        }
        all
    };
    let tasks: Vec<_> = (0..6).map(|_| tokio::spawn(run(c.clone()))).collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), vec![1200, 600, 300]);
    }
    let st = env.sim.stats("1234567");
    assert_eq!(
        st.rejected_concurrency, 0,
        "no CONCURRENCY_LIMIT_EXCEEDED in normal operation: {st:?}"
    );
    assert!(st.peak_in_flight <= 5 && st.peak_in_flight >= 4, "{st:?}");

    // Another integration holds 3 of the 5 slots: our jobs back off and still finish.
    let held = env.sim.occupy_slots("1234567", 3);
    let before = env.sim.stats("1234567").rejected_concurrency;
    let tasks: Vec<_> = (0..4).map(|_| tokio::spawn(run(c.clone()))).collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), vec![1200, 600, 300], "no job failed");
    }
    let rejected = env.sim.stats("1234567").rejected_concurrency - before;
    assert!(rejected > 0, "the foreign integration really took slots");
    let snap = engine.governor().snapshot(&connector_core::AccountKey::new(
        connector_core::domain::ErpKind::Netsuite,
        "1234567",
    ));
    assert!(
        snap.as_ref().map(|s| s.limit <= 3).unwrap_or(false),
        "the pool shrank to what was left: {snap:?}"
    );
    // Later reads with the slots still held see few further rejections: the pool adapted.
    let before = env.sim.stats("1234567").rejected_concurrency;
    run(c.clone()).await;
    let again = env.sim.stats("1234567").rejected_concurrency - before;
    assert!(again <= 2, "after adapting, rejections are rare ({again})");
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_revoked_mid_sync_stops_only_that_tenant() {
    let env = spawn(vec![
        account("1234567", 900, "a"),
        account("7654321", 900, "b"),
        account("1234567_SB1", 900, "c"),
    ])
    .await;
    let engine = fast_engine(4);
    let a = conn(&env, "1234567", "tenant-a", &token("a"), &engine);
    let b = conn(&env, "7654321", "tenant-b", &token("b"), &engine);
    let c = conn(&env, "1234567_SB1", "tenant-c", &token("c"), &engine);
    let sim = env.sim.clone();
    let job_a = {
        let a = a.clone();
        tokio::spawn(async move {
            let mut cursor = None;
            let mut n = 0;
            loop {
                if n == 2 {
                    sim.revoke_token("1234567", &token("a").token_id);
                }
                let p = a
                    .read_page(ReadRequest {
                        object: "customer".into(),
                        cursor,
                        page_size: 100,
                    })
                    .await?;
                n += 1;
                match p.next {
                    Some(x) => cursor = Some(x),
                    None => return Ok::<usize, connector_core::ConnectorError>(n),
                }
            }
        })
    };
    let job_b = tokio::spawn({
        let b = b.clone();
        async move { read_all(&b, "customer", 100).await.map(|r| r.len()) }
    });
    let job_c = tokio::spawn({
        let c = c.clone();
        async move { read_all(&c, "customer", 100).await.map(|r| r.len()) }
    });
    let err = job_a
        .await
        .unwrap()
        .expect_err("tenant a's token was revoked");
    assert_eq!(err.code, ErrorCode::AuthRevoked);
    assert_eq!(err.class(), ErrorClass::Reauthenticate);
    assert!(a.needs_reauth(), "tenant a's connection shows needs-reauth");
    assert_eq!(job_b.await.unwrap().unwrap(), 900);
    assert_eq!(job_c.await.unwrap().unwrap(), 900);
    assert!(!b.needs_reauth() && !c.needs_reauth());
    // A connection needing re-authentication does not keep hammering NetSuite.
    let before = env.sim.stats("1234567").requests;
    let again = a
        .read_page(ReadRequest {
            object: "customer".into(),
            cursor: None,
            page_size: 10,
        })
        .await
        .unwrap_err();
    assert_eq!(again.code, ErrorCode::AuthRevoked);
    assert_eq!(env.sim.stats("1234567").requests, before);
}

#[tokio::test]
async fn bursts_of_5xx_are_retried_without_losing_or_duplicating() {
    let env = spawn(vec![account("1234567", 250, "a")]).await;
    let engine = fast_engine(5);
    let c = conn(&env, "1234567", "t1", &token("a"), &engine);
    let mut cursor = None;
    let mut got = vec![];
    let mut page = 0;
    loop {
        if page == 1 {
            env.sim.inject_5xx("1234567", 3);
        }
        let p = c
            .read_page(ReadRequest {
                object: "customer".into(),
                cursor,
                page_size: 50,
            })
            .await
            .expect("a burst of 3 is absorbed");
        got.extend(p.records);
        page += 1;
        match p.next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    assert_eq!(ids(&got).len(), 250);
    assert_eq!(got.len(), 250, "nothing repeated");

    // Writes during a burst: upserts by external id are retried and land once each.
    env.sim.inject_5xx("1234567", 4);
    let items: Vec<WriteItem> = (0..20)
        .map(|i| WriteItem {
            idempotency_key: format!("burst-{i}"),
            op: WriteOp::Create,
            external_id: None,
            fields: [
                ("entityId".to_string(), json!(format!("B{i}"))),
                ("companyName".to_string(), json!(format!("Burst {i}"))),
            ]
            .into_iter()
            .collect(),
        })
        .collect();
    let res = c
        .write_batch(WriteBatch {
            object: "customer".into(),
            items: items.clone(),
        })
        .await
        .unwrap();
    assert!(
        res.iter()
            .all(|r| matches!(r.outcome, connector_core::ItemOutcome::Written { .. })),
        "{res:?}"
    );
    let again = c
        .write_batch(WriteBatch {
            object: "customer".into(),
            items,
        })
        .await
        .unwrap();
    assert_eq!(res, again, "re-sent batch returns the same ids");
    assert_eq!(env.sim.count("1234567", "customer"), 270);

    // A burst longer than the retry budget surfaces as erp_unavailable (class Retry).
    env.sim.inject_5xx("1234567", 10);
    let err = c
        .read_page(ReadRequest {
            object: "customer".into(),
            cursor: None,
            page_size: 50,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::ErpUnavailable);
    assert_eq!(err.class(), ErrorClass::Retry);
}

#[tokio::test]
async fn a_soap_search_id_expiring_mid_paging_restarts_the_search() {
    let mut spec = account("1234567", 0, "a");
    spec.presets.push("saas".into());
    spec.seed.insert("customer".into(), 20);
    spec.seed.insert("customrecord_subscription".into(), 47);
    let env = spawn(vec![spec]).await;
    let engine = fast_engine(3);
    let c = conn(&env, "1234567", "t1", &token("a"), &engine);
    let object = "savedsearch:customRecord:customsearch_active_subscriptions";
    let p1 = c
        .read_page(ReadRequest {
            object: object.into(),
            cursor: None,
            page_size: 10,
        })
        .await
        .unwrap();
    let p2 = c
        .read_page(ReadRequest {
            object: object.into(),
            cursor: p1.next.clone(),
            page_size: 10,
        })
        .await
        .unwrap();
    // Sixteen idle minutes: NetSuite drops the search id.
    env.clock.advance(Duration::from_secs(16 * 60));
    let mut seen: Vec<NormalizedRecord> = p1.records.into_iter().chain(p2.records).collect();
    let mut cursor = p2.next;
    while let Some(cur) = cursor {
        let p = c
            .read_page(ReadRequest {
                object: object.into(),
                cursor: Some(cur),
                page_size: 10,
            })
            .await
            .expect("expiry is handled");
        seen.extend(p.records);
        cursor = p.next;
    }
    assert_eq!(ids(&seen).len(), 47, "every row delivered at least once");
    assert!(
        seen.len() > 47,
        "rows of the expired run came again (at-least-once), {}",
        seen.len()
    );
}

#[tokio::test]
async fn reads_past_the_offset_ceiling_continue_by_keyset_windows() {
    let mut spec = account("1234567", 2600, "a");
    spec.query_ceiling = Some(1000);
    let env = spawn(vec![spec]).await;
    let engine = fast_engine(3);
    let c = conn(&env, "1234567", "t1", &token("a"), &engine);
    // Offset paging alone would fail at the ceiling:
    let err = c
        .suiteql_page("SELECT id FROM customer ORDER BY id", 500, 1000)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidInput);
    let all = read_all(&c, "customer", 500)
        .await
        .expect("keyset windows never reach the ceiling");
    assert_eq!(all.len(), 2600);
    assert_eq!(ids(&all).len(), 2600);
    // Records modified while the read is under way are neither skipped nor repeated more
    // than once (they move to the end of the keyset order).
    let mut cursor = None;
    let mut got = vec![];
    let mut n = 0;
    loop {
        let p = c
            .read_page(ReadRequest {
                object: "customer".into(),
                cursor,
                page_size: 400,
            })
            .await
            .unwrap();
        got.extend(p.records);
        if n == 1 {
            env.clock.advance(Duration::from_secs(5));
            env.sim.touch_records("1234567", "customer", 10).unwrap();
        }
        n += 1;
        match p.next {
            Some(x) => cursor = Some(x),
            None => break,
        }
    }
    assert_eq!(ids(&got).len(), 2600);
    assert_eq!(
        got.len(),
        2610,
        "the 10 touched records come once more, at the end"
    );
}

#[tokio::test]
async fn malformed_answers_are_invalid_response_with_context() {
    let env = spawn(vec![account("1234567", 30, "a")]).await;
    let engine = fast_engine(2);
    let c = conn(&env, "1234567", "t1", &token("a"), &engine);
    // Warm the metadata cache, then break the next answer mid-JSON.
    c.read_page(ReadRequest {
        object: "customer".into(),
        cursor: None,
        page_size: 5,
    })
    .await
    .unwrap();
    env.sim.inject_malformed("1234567", 1);
    let err = c
        .read_page(ReadRequest {
            object: "customer".into(),
            cursor: None,
            page_size: 5,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidResponse);
    assert!(
        err.message.contains("suiteql") && err.message.contains("not JSON"),
        "{}",
        err.message
    );
    assert_eq!(err.context.object.as_deref(), Some("customer"));
    // Bad cursors are the caller's error, not a panic.
    let bad = c
        .read_page(ReadRequest {
            object: "customer".into(),
            cursor: Some(Cursor(json!({"mode": "keyset", "after": "yesterday"}))),
            page_size: 5,
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code, ErrorCode::InvalidInput);
}

#[tokio::test]
async fn drift_report_lists_what_differs_between_sandbox_and_production() {
    let mut prod = account("1234567", 5, "p");
    prod.presets.push("manufacturer".into());
    let mut sb = account("1234567_SB1", 5, "s");
    sb.presets.push("manufacturer".into());
    sb.drift = DriftSpec {
        remove_fields: vec![("customer".into(), "custentity_region".into())],
        change_field_types: vec![FieldTypeChange { record_type: "customrecord_production_order".into(), field: "custrecord_po_quantity".into(), kind: FieldKind::Float }],
        remove_record_types: vec!["customrecord_machine_rate".into()],
        remove_saved_searches: vec!["customsearch_customers_by_region".into()],
        add_fields: vec![serde_yaml::from_str("{record_type: salesOrder, scope: body, name: custbody_sandbox_only, label: Sandbox Only, type: text}").unwrap()],
    };
    let env = spawn(vec![prod, sb]).await;
    let engine = fast_engine(3);
    let p = conn(&env, "1234567", "tenant", &token("p"), &engine);
    let s = conn(&env, "1234567_SB1", "tenant", &token("s"), &engine);
    let report = DriftReport::new(
        "1234567_SB1",
        &s.discover().await.unwrap(),
        "1234567",
        &p.discover().await.unwrap(),
    );
    println!("{report}");
    assert_eq!(
        report.diff.only_right,
        vec![
            "customrecord_machine_rate".to_string(),
            "savedsearch:customer:customsearch_customers_by_region".to_string()
        ]
    );
    assert!(report.diff.only_left.is_empty());
    assert_eq!(
        report.diff.fields_only_left,
        vec![(
            "salesOrder".to_string(),
            "custbody_sandbox_only".to_string()
        )]
    );
    assert!(report
        .diff
        .fields_only_right
        .contains(&("customer".to_string(), "custentity_region".to_string())));
    assert_eq!(report.diff.fields_changed.len(), 1);
    assert_eq!(
        report.diff.fields_changed[0].field,
        "custrecord_po_quantity"
    );
    assert_eq!(
        report.saved_searches().1,
        vec!["savedsearch:customer:customsearch_customers_by_region"]
    );
    assert!(report
        .to_string()
        .contains("field differs: customrecord_production_order.custrecord_po_quantity"));
}

#[tokio::test]
async fn soap_and_rest_share_one_account_limit() {
    let mut spec = account("1234567", 300, "a");
    spec.presets.push("manufacturer".into());
    spec.seed
        .insert("customrecord_production_order".into(), 300);
    spec.concurrency_limit = Some(2);
    let env = spawn(vec![spec]).await;
    env.sim.set_latency_ms("1234567", 3);
    let mut cfg = tba_config(&env, "1234567", "t1", &token("a"));
    cfg.settings.insert("concurrency_limit".into(), json!(2));
    let engine = fast_engine(3);
    let c = Arc::new(NetsuiteConnection::new(cfg, engine).unwrap());
    let soap = tokio::spawn({
        let c = c.clone();
        async move {
            read_all(
                &c,
                "savedsearch:customRecord:customsearch_open_production",
                20,
            )
            .await
            .map(|r| r.len())
        }
    });
    let rest1 = tokio::spawn({
        let c = c.clone();
        async move { read_all(&c, "customer", 20).await.map(|r| r.len()) }
    });
    let rest2 = tokio::spawn({
        let c = c.clone();
        async move {
            read_all(&c, "customrecord_production_order", 20)
                .await
                .map(|r| r.len())
        }
    });
    assert_eq!(soap.await.unwrap().unwrap(), 300);
    assert_eq!(rest1.await.unwrap().unwrap(), 300);
    assert_eq!(rest2.await.unwrap().unwrap(), 300);
    let st = env.sim.stats("1234567");
    assert_eq!(st.rejected_concurrency, 0, "{st:?}");
    assert_eq!(st.peak_in_flight, 2);
}
