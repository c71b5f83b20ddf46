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
    assert!(st.peak_in_flight <= 5 && st.peak_in_flight >= 2, "{st:?}");

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
    // The other integration finishes: sustained success grows the pool back to 5
    // (one slot per run of consecutive successes).
    drop(held);
    let key = connector_core::AccountKey::new(connector_core::domain::ErpKind::Netsuite, "1234567");
    for _ in 0..10 {
        if engine.governor().snapshot(&key).map(|s| s.limit) == Some(5) {
            break;
        }
        run(c.clone()).await;
    }
    let snap = engine.governor().snapshot(&key).unwrap();
    assert_eq!(
        snap.limit, 5,
        "recovered to the configured ceiling: {snap:?}"
    );
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

fn statuses(
    doc: &connector_netsuite::client::xml::Element,
    list: &str,
    item: &str,
) -> Vec<Result<String, String>> {
    doc.find(list)
        .unwrap_or_else(|| panic!("no {list}"))
        .children_named(item)
        .map(|w| match connector_netsuite::client::soap_status(w) {
            Ok(()) => Ok(w
                .child("baseRef")
                .or_else(|| w.child("record"))
                .and_then(|r| r.attr("internalId"))
                .unwrap_or("")
                .to_string()),
            Err((code, _)) => Err(code),
        })
        .collect()
}

#[tokio::test]
async fn soap_operations_answer_per_record_status_and_netsuite_faults() {
    let mut spec = account("1234567", 12, "a");
    spec.presets.push("manufacturer".into());
    let env = spawn(vec![spec]).await;
    let engine = fast_engine(2);
    let c = conn(&env, "1234567", "t1", &token("a"), &engine);
    let customer = |eid: &str, name: Option<&str>| {
        let company = name
            .map(|n| format!("<listRel:companyName>{n}</listRel:companyName>"))
            .unwrap_or_default();
        format!("<platformMsgs:record xsi:type=\"listRel:Customer\" externalId=\"{eid}\"><listRel:entityId>{eid}</listRel:entityId>{company}<listRel:customFieldList><platformCore:customField scriptId=\"custentity_region\" xsi:type=\"platformCore:SelectCustomFieldRef\"><platformCore:value internalId=\"3\"/></platformCore:customField></listRel:customFieldList></platformMsgs:record>")
    };
    let doc = c
        .soap_call(
            "add",
            &format!(
                "<platformMsgs:add>{}</platformMsgs:add>",
                customer("soap-1", Some("Soap One"))
            ),
            "",
        )
        .await
        .unwrap();
    let id1 = statuses(&doc, "addResponse", "writeResponse")[0]
        .clone()
        .expect("added");
    let doc = c
        .soap_call(
            "add",
            &format!(
                "<platformMsgs:add>{}</platformMsgs:add>",
                customer("soap-1", Some("Again"))
            ),
            "",
        )
        .await
        .unwrap();
    assert_eq!(
        statuses(&doc, "addResponse", "writeResponse"),
        vec![Err("DUP_RCRD".to_string())]
    );

    let body = format!(
        "<platformMsgs:upsertList>{}{}{}</platformMsgs:upsertList>",
        customer("soap-1", Some("Soap One Renamed")),
        customer("soap-2", Some("Soap Two")),
        customer("soap-3", None)
    );
    let doc = c.soap_call("upsertList", &body, "").await.unwrap();
    let st = statuses(&doc, "writeResponseList", "writeResponse");
    assert_eq!(
        st[0],
        Ok(id1.clone()),
        "upsert by externalId updates the same record"
    );
    assert!(st[1].is_ok());
    assert_eq!(
        st[2],
        Err("USER_ERROR".to_string()),
        "missing companyName fails only that record"
    );
    let rec = env
        .sim
        .record_by_external_id("1234567", "customer", "soap-1")
        .unwrap();
    assert_eq!(rec.values["companyName"], json!("Soap One Renamed"));
    assert_eq!(rec.values["custentity_region"], json!({"id": "3"}));

    let doc = c.soap_call("getList", &format!("<platformMsgs:getList><platformMsgs:baseRef internalId=\"{id1}\" type=\"customer\" xsi:type=\"platformCore:RecordRef\"/><platformMsgs:baseRef internalId=\"999999\" type=\"customer\" xsi:type=\"platformCore:RecordRef\"/></platformMsgs:getList>"), "").await.unwrap();
    assert_eq!(
        statuses(&doc, "readResponseList", "readResponse"),
        vec![Ok(id1.clone()), Err("RCRD_DSNT_EXIST".to_string())]
    );
    let region = doc.find("customField").expect("custom field in the record");
    assert_eq!(region.attr("scriptId"), Some("custentity_region"));

    let doc = c.soap_call("getCustomizationId", "<platformMsgs:getCustomizationId><platformMsgs:customizationType getCustomizationType=\"customRecordType\"/><platformMsgs:includeInactives>false</platformMsgs:includeInactives></platformMsgs:getCustomizationId>", "").await.unwrap();
    let ids: Vec<&str> = doc
        .find("customizationRefList")
        .unwrap()
        .children_named("customizationRef")
        .filter_map(|r| r.attr("scriptId"))
        .collect();
    assert_eq!(
        ids,
        vec!["customrecord_production_order", "customrecord_machine_rate"]
    );

    // Basic search on lastModifiedDate with a small page, then searchMoreWithId.
    let prefs = "<platformMsgs:searchPreferences><platformMsgs:pageSize>5</platformMsgs:pageSize></platformMsgs:searchPreferences>";
    let doc = c.soap_call("search", "<platformMsgs:search><platformMsgs:searchRecord xsi:type=\"platformCommon:CustomerSearchBasic\"><platformCommon:lastModifiedDate operator=\"onOrAfter\"><platformCore:searchValue>2000-01-01T00:00:00.000Z</platformCore:searchValue></platformCommon:lastModifiedDate></platformMsgs:searchRecord></platformMsgs:search>", prefs).await.unwrap();
    let r = doc.find("searchResult").unwrap();
    assert_eq!(r.child_text("totalRecords"), Some("14"));
    assert_eq!(r.child_text("totalPages"), Some("3"));
    let sid = r.child_text("searchId").unwrap().to_string();
    assert!(sid.starts_with("WEBSERVICES_1234567_"));
    let doc = c.soap_call("searchMoreWithId", &format!("<platformMsgs:searchMoreWithId><platformMsgs:searchId>{sid}</platformMsgs:searchId><platformMsgs:pageIndex>3</platformMsgs:pageIndex></platformMsgs:searchMoreWithId>"), "").await.unwrap();
    assert_eq!(
        doc.find("recordList")
            .unwrap()
            .children_named("record")
            .count(),
        4
    );
    let doc = c.soap_call("search", "<platformMsgs:search><platformMsgs:searchRecord xsi:type=\"platformCommon:CustomerSearchBasic\"/></platformMsgs:search>", "<platformMsgs:searchPreferences><platformMsgs:pageSize>2</platformMsgs:pageSize></platformMsgs:searchPreferences>").await.unwrap();
    assert_eq!(
        connector_netsuite::client::soap_status(doc.find("searchResult").unwrap())
            .unwrap_err()
            .0,
        "WS_INVALID_SEARCH_PAGE_SIZE"
    );

    // Every response carries documentInfo/nsId.
    assert!(doc
        .find("nsId")
        .unwrap()
        .text
        .starts_with("WEBSERVICES_1234567_"));

    // Another integration holds every slot: the SOAP fault is WS_REQUEST_BLOCKED.
    let held = env.sim.occupy_slots("1234567", 5);
    let err = c
        .soap_call("getServerTime", "<platformMsgs:getServerTime/>", "")
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::ConcurrencyLimited);
    assert_eq!(err.context.erp_code.as_deref(), Some("WS_REQUEST_BLOCKED"));
    drop(held);

    // A revoked token: "Invalid login attempt." with INVALID_LOGIN_ATTEMPT.
    env.sim.revoke_token("1234567", &token("a").token_id);
    let err = c
        .soap_call("getServerTime", "<platformMsgs:getServerTime/>", "")
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::AuthRevoked);
    assert_eq!(
        err.context.erp_code.as_deref(),
        Some("INVALID_LOGIN_ATTEMPT")
    );
    assert!(c.needs_reauth());
}

#[tokio::test]
async fn scenario_files_build_the_simulator_and_bad_ones_name_the_problem() {
    use connector_core::Scenario;
    let text = r#"
name: t
tenants:
  - id: acme
    erp: netsuite
    volume: 7
    credentials: {account: "1234567", consumer_key: ck, consumer_secret: cs, token_id: tk, token_secret: ts}
erps:
  netsuite:
    accounts:
      - id: "1234567"
        presets: [saas]
        seed: {customer: 9, customrecord_subscription: 4}
"#;
    let scenario = Scenario::parse("t.yaml", text).unwrap();
    let clock = connector_core::TestClock::new();
    let inst = connector_netsuite::simulator()
        .router(
            &scenario.section(connector_core::domain::ErpKind::Netsuite),
            clock.shared(),
        )
        .expect("builds");
    assert_eq!(
        inst.control
            .inject_changes("acme", "customrecord_subscription", 2)
            .unwrap(),
        vec!["1", "2"]
    );
    assert!(inst
        .control
        .set_fault("acme", "rate_per_second", json!(3))
        .unwrap_err()
        .contains("concurrency only"));
    let running = connector_core::sim::serve(inst.router, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let cfg = tba_config_at(
        &format!("{}/a/1234567", running.base_url),
        "1234567",
        "acme",
        &TokenSpec {
            consumer_key: "ck".into(),
            consumer_secret: "cs".into(),
            token_id: "tk".into(),
            token_secret: "ts".into(),
        },
    );
    let c = NetsuiteConnection::new(cfg, fast_engine(2)).unwrap();
    assert_eq!(
        read_all(&c, "customrecord_subscription", 10)
            .await
            .unwrap()
            .len(),
        4
    );
    assert_eq!(read_all(&c, "customer", 10).await.unwrap().len(), 9);

    for (bad, needle) in [
        ("erps:\n  netsuite:\n    accounts:\n      - id: \"12_34\"\n", "12_34"),
        ("erps:\n  netsuite:\n    accounts:\n      - id: \"1234567\"\n        presets: [bakery]\n", "bakery"),
        ("erps:\n  netsuite:\n    acounts: []\n", "acounts"),
        ("erps:\n  netsuite:\n    accounts:\n      - id: \"1234567\"\n        custom_fields:\n          - {record_type: customer, scope: entity, name: region, label: R, type: text}\n", "custentity"),
    ] {
        let s = Scenario::parse("bad.yaml", &format!("tenants: []\n{bad}")).unwrap();
        let err = match connector_netsuite::simulator().router(&s.section(connector_core::domain::ErpKind::Netsuite), clock.shared()) {
            Ok(_) => panic!("{bad} should be refused"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(needle), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioned_full_sync_reads_everything_once_and_hands_over_to_incremental() {
    let env = spawn(vec![account("1234567", 2345, "a")]).await;
    let engine = fast_engine(3);
    let c = conn(&env, "1234567", "t1", &token("a"), &engine);
    let plan = connector_netsuite::read::plan_full_sync(&c, "customer", 5)
        .await
        .unwrap();
    assert_eq!(plan.total, 2345);
    assert_eq!(plan.partitions.len(), 5);
    let tasks: Vec<_> = plan
        .partitions
        .iter()
        .cloned()
        .map(|cur| {
            let c = c.clone();
            tokio::spawn(async move {
                let mut out = vec![];
                let mut cursor = Some(cur);
                while let Some(x) = cursor {
                    let p = c
                        .read_page(ReadRequest {
                            object: "customer".into(),
                            cursor: Some(x),
                            page_size: 200,
                        })
                        .await
                        .unwrap();
                    out.extend(p.records);
                    cursor = p.next;
                }
                out
            })
        })
        .collect();
    let mut all = vec![];
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    assert_eq!(all.len(), 2345);
    assert_eq!(ids(&all).len(), 2345);
    env.clock.advance(Duration::from_secs(30));
    let touched = env.sim.touch_records("1234567", "customer", 3).unwrap();
    let p = c
        .read_page(ReadRequest {
            object: "customer".into(),
            cursor: Some(plan.watermark),
            page_size: 100,
        })
        .await
        .unwrap();
    let got = ids(&p.records);
    assert!(touched.iter().all(|t| got.contains(t)), "{got:?}");
    assert!(
        got.len() <= 6,
        "only the touched records and those of the newest second: {got:?}"
    );
}

#[tokio::test]
async fn rest_reads_list_ids_then_fetch_records_incrementally() {
    let env = spawn(vec![account("1234567", 23, "a")]).await;
    let engine = fast_engine(3);
    let c = conn(&env, "1234567", "t1", &token("a"), &engine);
    let mut cursor = None;
    let mut all = vec![];
    let w = loop {
        let p = c
            .read_page(ReadRequest {
                object: "rest:customer".into(),
                cursor,
                page_size: 10,
            })
            .await
            .unwrap();
        all.extend(p.records);
        match p.next {
            Some(n) => cursor = Some(n),
            None => break p.watermark,
        }
    };
    assert_eq!(ids(&all).len(), 23);
    assert!(all[0].fields.contains_key("companyName"));
    assert!(all.iter().all(|r| r.modified_at.is_some()));
    env.clock.advance(Duration::from_secs(3600));
    let touched = env.sim.touch_records("1234567", "customer", 2).unwrap();
    let p = c
        .read_page(ReadRequest {
            object: "rest:customer".into(),
            cursor: w,
            page_size: 10,
        })
        .await
        .unwrap();
    let got = ids(&p.records);
    assert!(touched.iter().all(|t| got.contains(t)), "{got:?}");
    assert!(
        got.len() <= 5,
        "only the changed records and the boundary minute: {got:?}"
    );
    // The check reads the governance endpoint and warns about an over-configured limit.
    env.sim.set_concurrency_limit("1234567", 3);
    let report = c.check().await.unwrap();
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("concurrency limit is 3")),
        "{:?}",
        report.warnings
    );
}

#[tokio::test]
async fn soap_passports_are_single_use_and_must_not_be_ambiguous() {
    use connector_netsuite::auth::{TbaCredentials, TokenPassport};
    let env = spawn(vec![account("1234567_SB1", 3, "a")]).await;
    let t = token("a");
    let creds = TbaCredentials {
        account: "1234567_SB1".into(),
        consumer_key: t.consumer_key.clone(),
        consumer_secret: t.consumer_secret.clone().into(),
        token_id: t.token_id.clone(),
        token_secret: t.token_secret.clone().into(),
    };
    let envelope = |header: String| {
        format!("<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:platformMsgs=\"urn:messages_2024_2.platform.webservices.netsuite.com\" xmlns:platformCore=\"urn:core_2024_2.platform.webservices.netsuite.com\"><soapenv:Header>{header}</soapenv:Header><soapenv:Body><platformMsgs:getServerTime/></soapenv:Body></soapenv:Envelope>")
    };
    let url = format!(
        "{}/services/NetSuitePort_2024_2",
        env.server.base_url("1234567_SB1")
    );
    let http = reqwest::Client::new();
    let post = |body: String| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let r = http
                .post(url)
                .header("content-type", "text/xml; charset=utf-8")
                .header("soapaction", "getServerTime")
                .body(body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let passport =
        TokenPassport::sign(&creds, "passportNonce1", chrono::Utc::now().timestamp()).to_xml();
    let (s, body) = post(envelope(passport.clone())).await;
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("serverTime"));
    let (s, body) = post(envelope(passport)).await;
    assert_eq!(s, 500);
    let f = connector_netsuite::client::parse_soap_fault(body.as_bytes()).unwrap();
    assert_eq!(
        (f.faultstring.as_str(), f.code.as_deref()),
        ("Invalid login attempt.", Some("INVALID_LOGIN_ATTEMPT"))
    );
    // A passport plus request-level credentials is ambiguous.
    let passport =
        TokenPassport::sign(&creds, "passportNonce2", chrono::Utc::now().timestamp()).to_xml();
    let (_, body) = post(envelope(format!("{passport}<platformMsgs:applicationInfo><platformMsgs:applicationId>x</platformMsgs:applicationId></platformMsgs:applicationInfo>"))).await;
    let f = connector_netsuite::client::parse_soap_fault(body.as_bytes()).unwrap();
    assert_eq!(
        (f.faultstring.as_str(), f.code.as_deref()),
        ("Ambiguous authentication", Some("USER_ERROR"))
    );
    // A sandbox passport must carry the canonical id: lower case is refused.
    let mut p = TokenPassport::sign(&creds, "passportNonce3", chrono::Utc::now().timestamp());
    p.account = "1234567_sb1".into();
    let (s, _) = post(envelope(p.to_xml())).await;
    assert_eq!(s, 500);
    assert_eq!(
        env.sim.login_audit("1234567_SB1"),
        vec![
            "InvalidNonce: already used".to_string(),
            "Ambiguous authentication".to_string(),
            "WrongAccount: \"1234567_sb1\" is not \"1234567_SB1\"".to_string()
        ]
    );
}

#[tokio::test]
async fn updates_and_deletes_go_by_internal_id() {
    let env = spawn(vec![account("1234567", 5, "a")]).await;
    let c = conn(&env, "1234567", "t1", &token("a"), &fast_engine(3));
    let res = c
        .write_batch(WriteBatch {
            object: "customer".into(),
            items: vec![
                WriteItem {
                    idempotency_key: "u-1".into(),
                    op: WriteOp::Update,
                    external_id: Some("2".into()),
                    fields: [("companyName".to_string(), json!("Renamed"))]
                        .into_iter()
                        .collect(),
                },
                WriteItem {
                    idempotency_key: "d-1".into(),
                    op: WriteOp::Delete,
                    external_id: Some("3".into()),
                    fields: Default::default(),
                },
                WriteItem {
                    idempotency_key: "d-2".into(),
                    op: WriteOp::Delete,
                    external_id: Some("3".into()),
                    fields: Default::default(),
                },
                WriteItem {
                    idempotency_key: "u-2".into(),
                    op: WriteOp::Update,
                    external_id: Some("999".into()),
                    fields: [("companyName".to_string(), json!("Nobody"))]
                        .into_iter()
                        .collect(),
                },
                WriteItem {
                    idempotency_key: "bad key with spaces".into(),
                    op: WriteOp::Create,
                    external_id: None,
                    fields: Default::default(),
                },
            ],
        })
        .await
        .unwrap();
    assert!(
        matches!(&res[0].outcome, connector_core::ItemOutcome::Written { external_id } if external_id == "2")
    );
    assert!(matches!(
        &res[1].outcome,
        connector_core::ItemOutcome::Written { .. }
    ));
    assert!(
        matches!(&res[2].outcome, connector_core::ItemOutcome::Written { .. }),
        "deleting twice is still done"
    );
    match &res[3].outcome {
        connector_core::ItemOutcome::Failed { error } => {
            assert_eq!(error.code, ErrorCode::NotFound)
        }
        other => panic!("{other:?}"),
    }
    match &res[4].outcome {
        connector_core::ItemOutcome::Failed { error } => {
            assert_eq!(error.code, ErrorCode::InvalidInput)
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        env.sim.record("1234567", "customer", 2).unwrap().values["companyName"],
        json!("Renamed")
    );
    assert!(env.sim.record("1234567", "customer", 3).is_none());
    assert_eq!(env.sim.count("1234567", "customer"), 4);
}

#[tokio::test]
async fn soap_bulk_writes_upsert_100_per_request_with_per_record_results() {
    let mut spec = account("1234567", 3, "a");
    spec.presets.push("manufacturer".into());
    spec.seed.insert("inventoryItem".into(), 5);
    let env = spawn(vec![spec]).await;
    let mut cfg = tba_config(&env, "1234567", "t1", &token("a"));
    cfg.settings.insert("write_channel".into(), json!("soap"));
    let c = NetsuiteConnection::new(cfg, fast_engine(3)).unwrap();
    let mut items: Vec<WriteItem> = (0..150)
        .map(|i| WriteItem {
            idempotency_key: format!("bulk-{i}"),
            op: WriteOp::Upsert,
            external_id: None,
            fields: [
                ("entityId".to_string(), json!(format!("BULK{i}"))),
                ("companyName".to_string(), json!(format!("Bulk {i}"))),
                ("custentity_region".to_string(), json!({"id": "2"})),
                ("subsidiary".to_string(), json!({"id": "1"})),
            ]
            .into_iter()
            .collect(),
        })
        .collect();
    items[7].fields.remove("companyName");
    let before = env.sim.stats("1234567").requests;
    let res = c
        .write_batch(WriteBatch {
            object: "customer".into(),
            items: items.clone(),
        })
        .await
        .unwrap();
    assert_eq!(res.len(), 150);
    assert_eq!(
        env.sim.stats("1234567").requests - before,
        3,
        "metadata + two upsertList calls"
    );
    match &res[7].outcome {
        connector_core::ItemOutcome::Failed { error } => {
            assert_eq!(error.code, ErrorCode::RequiredFieldMissing)
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        res.iter()
            .filter(|r| matches!(r.outcome, connector_core::ItemOutcome::Written { .. }))
            .count(),
        149
    );
    let rec = env
        .sim
        .record_by_external_id("1234567", "customer", "bulk-42")
        .unwrap();
    assert_eq!(rec.values["custentity_region"], json!({"id": "2"}));
    assert_eq!(rec.values["subsidiary"], json!({"id": "1"}));
    // Sending the same batch again updates in place: same ids, no new records.
    let again = c
        .write_batch(WriteBatch {
            object: "customer".into(),
            items,
        })
        .await
        .unwrap();
    assert_eq!(res, again);
    assert_eq!(env.sim.count("1234567", "customer"), 3 + 149);
    // Custom records go through setupCustom:CustomRecord with their recType.
    let po = vec![WriteItem {
        idempotency_key: "po-1".into(),
        op: WriteOp::Create,
        external_id: None,
        fields: [
            ("name".to_string(), json!("PO 1")),
            ("custrecord_po_item".to_string(), json!({"id": "1"})),
            ("custrecord_po_quantity".to_string(), json!(12)),
        ]
        .into_iter()
        .collect(),
    }];
    env.sim
        .touch_records("1234567", "inventoryItem", 1)
        .unwrap();
    let r = c
        .write_batch(WriteBatch {
            object: "customrecord_production_order".into(),
            items: po,
        })
        .await
        .unwrap();
    assert!(
        matches!(r[0].outcome, connector_core::ItemOutcome::Written { .. }),
        "{r:?}"
    );
    assert_eq!(
        env.sim
            .record_by_external_id("1234567", "customrecord_production_order", "po-1")
            .unwrap()
            .values["custrecord_po_quantity"],
        json!(12)
    );
}
