//! Bulk writes in `$batch` change sets of up to 100 requests, with per-item results.
//!
//! Every create carries its idempotency key in a reference field (NumAtCard by default,
//! or a U_ field), so the writer can always ask the ERP what already exists: before a
//! batch is re-sent after an ambiguous failure (a 5xx after the server may have done the
//! work) and when a job resumes after a crash. A failed change set rolls back as a unit;
//! the one item it names (by Content-ID) is reported with the ERP's message and only the
//! others are sent again. Creates that land as approval drafts are reported as
//! `pending_approval` with the draft's key and tracked with [`approval_status`].

use crate::client::{self, parse_collection, quote, BatchPart, SubRequest};
use crate::connection::SlConn;
use crate::read::plan;
use connector_core::domain::ErrorCode;
use connector_core::{ApprovalStatus, ConnectorError, ItemOutcome, Request, WriteItem, WriteOp};
use futures::StreamExt;
use http::Method;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The `BoObjectTypes` name a draft of this set carries in DocObjectCode.
fn bo_name(set: &str) -> Option<&'static str> {
    match set {
        "Orders" => Some("oOrders"),
        "Invoices" => Some("oInvoices"),
        "PurchaseOrders" => Some("oPurchaseOrders"),
        "Quotations" => Some("oQuotations"),
        _ => None,
    }
}

fn is_document(set: &str) -> bool {
    bo_name(set).is_some()
}

#[derive(Debug, Clone, Copy)]
pub struct WriteOptions {
    /// Requests per change set (and per `$batch`); Service Layer documents no limit, the
    /// simulator's default is 100.
    pub chunk: usize,
    /// Batches in flight at once, each on its own session.
    pub parallel: usize,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            chunk: 100,
            parallel: 1,
        }
    }
}

enum Sent {
    Done(ItemOutcome),
    /// Not executed (rolled back with a failing neighbour): send again.
    Again,
    /// The server may or may not have done it: look it up before sending again.
    Unknown,
}

fn build_payload(conn: &SlConn, object: &str, item: &WriteItem) -> Value {
    let mut m: Map<String, Value> = item.fields.clone().into_iter().collect();
    if is_document(object) && matches!(item.op, WriteOp::Create | WriteOp::Upsert) {
        m.entry(conn.reference_field.clone())
            .or_insert(Value::String(item.idempotency_key.clone()));
    }
    Value::Object(m)
}

/// The natural key of a master-data create (CardCode, ItemCode), used as its reference.
fn master_key(object: &str, item: &WriteItem) -> Option<String> {
    let p = plan(object);
    item.fields
        .get(&p.key)
        .and_then(|v| v.as_str())
        .map(|s| s.to_string())
}

/// What already exists in the ERP for these idempotency keys.
pub async fn reconcile(
    conn: &Arc<SlConn>,
    object: &str,
    items: &[&WriteItem],
) -> Result<BTreeMap<String, ItemOutcome>, ConnectorError> {
    let mut found = BTreeMap::new();
    if is_document(object) {
        let rf = conn.reference_field.clone();
        let keys: Vec<&str> = items.iter().map(|i| i.idempotency_key.as_str()).collect();
        for chunk in keys.chunks(20) {
            let any = chunk
                .iter()
                .map(|k| format!("{rf} eq {}", quote(k)))
                .collect::<Vec<_>>()
                .join(" or ");
            for (set, extra) in [
                (object.to_string(), String::new()),
                (
                    "Drafts".to_string(),
                    format!("DocObjectCode eq '{}' and ", bo_name(object).unwrap_or("")),
                ),
            ] {
                let filter = format!("{extra}({any})");
                for row in query_all(
                    conn,
                    &set,
                    &filter,
                    &format!("DocEntry,{rf},AuthorizationStatus"),
                )
                .await?
                {
                    record_found(&mut found, &set, &rf, &row);
                }
            }
        }
    } else {
        let p = plan(object);
        for item in items {
            let Some(k) = master_key(object, item) else {
                continue;
            };
            let filter = format!(
                "{} eq {}",
                p.key,
                if p.key_numeric { k.clone() } else { quote(&k) }
            );
            if !query_all(conn, object, &filter, &p.key).await?.is_empty() {
                found.insert(
                    item.idempotency_key.clone(),
                    ItemOutcome::Written { external_id: k },
                );
            }
        }
    }
    Ok(found)
}

fn record_found(
    found: &mut BTreeMap<String, ItemOutcome>,
    set: &str,
    rf: &str,
    row: &Map<String, Value>,
) {
    let (Some(r), Some(entry)) = (
        row.get(rf).and_then(|v| v.as_str()),
        row.get("DocEntry").and_then(|v| v.as_i64()),
    ) else {
        return;
    };
    if set == "Drafts" {
        // A generated draft was converted; the real document (found in the target set) wins.
        if row.get("AuthorizationStatus").and_then(|v| v.as_str()) == Some("dasGenerated") {
            return;
        }
        found
            .entry(r.to_string())
            .or_insert(ItemOutcome::PendingApproval {
                draft_key: entry.to_string(),
            });
    } else {
        found.insert(
            r.to_string(),
            ItemOutcome::Written {
                external_id: entry.to_string(),
            },
        );
    }
}

/// Everything a job wrote so far, found by the prefix shared by its idempotency keys.
pub async fn reconcile_prefix(
    conn: &Arc<SlConn>,
    object: &str,
    prefix: &str,
) -> Result<BTreeMap<String, ItemOutcome>, ConnectorError> {
    let rf = conn.reference_field.clone();
    let mut found = BTreeMap::new();
    for (set, extra) in [
        (object.to_string(), String::new()),
        (
            "Drafts".to_string(),
            format!("DocObjectCode eq '{}' and ", bo_name(object).unwrap_or("")),
        ),
    ] {
        let filter = format!("{extra}startswith({rf},{})", quote(prefix));
        for row in query_all(
            conn,
            &set,
            &filter,
            &format!("DocEntry,{rf},AuthorizationStatus"),
        )
        .await?
        {
            record_found(&mut found, &set, &rf, &row);
        }
    }
    Ok(found)
}

/// All rows matching a filter, by keyset paging on the key (never by offsets).
async fn query_all(
    conn: &Arc<SlConn>,
    set: &str,
    filter: &str,
    select: &str,
) -> Result<Vec<Map<String, Value>>, ConnectorError> {
    let p = plan(set);
    let mut out = Vec::new();
    let mut last: Option<String> = None;
    loop {
        let f = match &last {
            Some(k) => format!(
                "({filter}) and {} gt {}",
                p.key,
                if p.key_numeric { k.clone() } else { quote(k) }
            ),
            None => filter.to_string(),
        };
        let qs = crate::read::query_string(&[
            ("$filter", f),
            ("$select", select.to_string()),
            ("$orderby", p.key.clone()),
            ("$top", "500".into()),
        ]);
        let url = conn.url(&format!("{set}?{qs}"))?;
        let rows = parse_collection(&conn.get(0, "reconcile", url, Some(500)).await?.body)?.value;
        let n = rows.len();
        last = rows.last().and_then(|r| match r.get(&p.key) {
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        });
        out.extend(rows);
        if n < 500 || last.is_none() {
            return Ok(out);
        }
    }
}

fn outcome_of(object: &str, item: &WriteItem, sub: &client::SubResponse) -> Sent {
    if sub.status < 300 {
        if let Some((set, key)) = sub.header("Location").and_then(client::parse_location) {
            return Sent::Done(if set == "Drafts" && object != "Drafts" {
                ItemOutcome::PendingApproval { draft_key: key }
            } else {
                ItemOutcome::Written { external_id: key }
            });
        }
        if let Some(id) = item.external_id.clone() {
            return Sent::Done(ItemOutcome::Written { external_id: id });
        }
        let p = plan(object);
        if let Ok(Value::Object(o)) = serde_json::from_str::<Value>(&sub.body) {
            if let Some(k) = o.get(&p.key).and_then(|v| match v {
                Value::Number(n) => Some(n.to_string()),
                Value::String(s) => Some(s.clone()),
                _ => None,
            }) {
                return Sent::Done(ItemOutcome::Written { external_id: k });
            }
        }
        // Done, but the answer does not say where (an approval 204 without Location).
        return Sent::Unknown;
    }
    let err = sub.error();
    let e = client::error_for(sub.status, err.as_ref(), false);
    if err.as_ref().is_some_and(|e| e.code == "-2028")
        && sub
            .header("Location")
            .is_some_and(|l| l.contains("/Drafts("))
    {
        return Sent::Unknown;
    }
    Sent::Done(ItemOutcome::Failed {
        error: e.with_object(object.to_string()),
    })
}

/// Sends one change set; returns per-item results for the given indices.
async fn send_changeset(
    conn: &Arc<SlConn>,
    slot: usize,
    object: &str,
    items: &[(usize, &WriteItem)],
) -> Result<Vec<(usize, Sent)>, ConnectorError> {
    let p = plan(object);
    let subs: Vec<SubRequest> = items
        .iter()
        .enumerate()
        .map(|(i, (_, item))| {
            let key_path =
                |id: &str| format!("{}({})", object, client::key_segment(id, p.key_numeric));
            let (method, path, body) = match (item.op, &item.external_id) {
                (WriteOp::Update | WriteOp::Upsert, Some(id)) => (
                    "PATCH",
                    key_path(id),
                    Some(build_payload(conn, object, item)),
                ),
                (WriteOp::Delete, Some(id)) => ("DELETE", key_path(id), None),
                _ => (
                    "POST",
                    object.to_string(),
                    Some(build_payload(conn, object, item)),
                ),
            };
            SubRequest {
                content_id: i as u32 + 1,
                method,
                path,
                body,
                prefer_no_content: true,
            }
        })
        .collect();
    let (ct, body) = client::build_batch(conn.root.path(), &[subs]);
    let req = Request::new(&conn.ctx, "batch_write", Method::POST, conn.url("$batch")?)
        .header(http::header::CONTENT_TYPE, &ct)?;
    let req = Request {
        body: body.into_bytes().into(),
        ..req
    };
    let resp = match conn.send(slot, req).await {
        Ok(r) => r,
        // The batch may have run before the failure: the caller looks the items up.
        Err(e)
            if matches!(
                e.code,
                ErrorCode::ErpUnavailable | ErrorCode::InvalidResponse
            ) =>
        {
            return Ok(items.iter().map(|(i, _)| (*i, Sent::Unknown)).collect())
        }
        Err(e) => return Err(e),
    };
    let rct = resp.header("content-type").unwrap_or("").to_string();
    let parts = match client::parse_batch_response(&rct, &resp.text()) {
        Ok(p) => p,
        Err(_) => return Ok(items.iter().map(|(i, _)| (*i, Sent::Unknown)).collect()),
    };
    let mut out = Vec::with_capacity(items.len());
    match parts.first() {
        Some(BatchPart::ChangeSet(rs)) => {
            for (pos, (i, item)) in items.iter().enumerate() {
                let sub = rs
                    .iter()
                    .find(|r| r.content_id == Some(pos as u32 + 1))
                    .or_else(|| rs.get(pos));
                out.push((
                    *i,
                    match sub {
                        Some(s) => outcome_of(object, item, s),
                        None => Sent::Unknown,
                    },
                ));
            }
        }
        Some(BatchPart::Single(err)) => {
            // The change set failed as a unit: nothing in it was written.
            let culprit = err
                .content_id
                .map(|c| c as usize - 1)
                .filter(|c| *c < items.len());
            match culprit {
                Some(c) => {
                    for (pos, (i, item)) in items.iter().enumerate() {
                        out.push((
                            *i,
                            if pos == c {
                                outcome_of(object, item, err)
                            } else {
                                Sent::Again
                            },
                        ));
                    }
                }
                None if items.len() == 1 => {
                    out.push((items[0].0, outcome_of(object, items[0].1, err)))
                }
                None => {
                    // No Content-ID to blame: split the change set and try the halves.
                    let (a, b) = items.split_at(items.len() / 2);
                    out.extend(Box::pin(send_changeset(conn, slot, object, a)).await?);
                    out.extend(Box::pin(send_changeset(conn, slot, object, b)).await?);
                }
            }
        }
        None => out.extend(items.iter().map(|(i, _)| (*i, Sent::Unknown))),
    }
    Ok(out)
}

/// Writes items and returns one outcome per item, in order. `known` holds outcomes
/// already established (a resumed job); `progress` sees every settled chunk, so a caller
/// can persist the job after each batch.
pub async fn write_all(
    conn: &Arc<SlConn>,
    object: &str,
    items: &[WriteItem],
    known: Vec<Option<ItemOutcome>>,
    opts: WriteOptions,
    progress: &mut (dyn FnMut(&[(usize, ItemOutcome)]) + Send),
) -> Result<Vec<ItemOutcome>, ConnectorError> {
    let mut state: Vec<Option<ItemOutcome>> = known;
    state.resize(items.len(), None);
    let chunk = opts.chunk.clamp(1, 1000);
    let parallel = opts.parallel.clamp(1, conn.sessions);
    for _round in 0..50 {
        let pending: Vec<usize> = (0..items.len()).filter(|i| state[*i].is_none()).collect();
        if pending.is_empty() {
            break;
        }
        let chunks: Vec<Vec<usize>> = pending.chunks(chunk).map(|c| c.to_vec()).collect();
        let slots = Arc::new(Mutex::new((0..parallel).collect::<Vec<usize>>()));
        let mut stream = futures::stream::iter(chunks.into_iter().map(|c| {
            let slots = slots.clone();
            let conn = conn.clone();
            async move {
                let slot = slots
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .pop()
                    .unwrap_or(0);
                let refs: Vec<(usize, &WriteItem)> = c.iter().map(|i| (*i, &items[*i])).collect();
                let r = send_changeset(&conn, slot, object, &refs).await;
                slots.lock().unwrap_or_else(|e| e.into_inner()).push(slot);
                r
            }
        }))
        .buffer_unordered(parallel);
        let mut unknown = Vec::new();
        while let Some(r) = stream.next().await {
            let mut settled = Vec::new();
            for (i, s) in r? {
                match s {
                    Sent::Done(o) => {
                        state[i] = Some(o.clone());
                        settled.push((i, o));
                    }
                    Sent::Again => {}
                    Sent::Unknown => unknown.push(i),
                }
            }
            if !settled.is_empty() {
                progress(&settled);
            }
        }
        drop(stream);
        if !unknown.is_empty() {
            let refs: Vec<&WriteItem> = unknown.iter().map(|i| &items[*i]).collect();
            let found = reconcile(conn, object, &refs).await?;
            let mut settled = Vec::new();
            for i in unknown {
                if let Some(o) = found.get(&items[i].idempotency_key) {
                    state[i] = Some(o.clone());
                    settled.push((i, o.clone()));
                }
            }
            if !settled.is_empty() {
                progress(&settled);
            }
        }
    }
    Ok(state
        .into_iter()
        .map(|o| {
            o.unwrap_or_else(|| ItemOutcome::Failed {
                error: ConnectorError::unavailable(
                    "the item could not be written after repeated attempts",
                ),
            })
        })
        .collect())
}

/// Follows an approval draft: pending, rejected, or approved (then the draft is turned
/// into the real document, once, and its DocEntry returned).
pub async fn approval_status(
    conn: &Arc<SlConn>,
    draft_key: &str,
) -> Result<ApprovalStatus, ConnectorError> {
    let entry: i64 = draft_key.parse().map_err(|_| {
        ConnectorError::invalid_input(format!("draft key '{draft_key}' is not a DocEntry"))
    })?;
    let url = conn.url(&format!(
        "ApprovalRequests?$filter=DraftEntry%20eq%20{entry}"
    ))?;
    let rows = parse_collection(
        &conn
            .get(0, "approval_status", url.clone(), None)
            .await?
            .body,
    )?
    .value;
    let Some(req) = rows.first() else {
        return Err(ConnectorError::new(
            ErrorCode::NotFound,
            format!("no approval request for draft {entry}"),
        ));
    };
    let status = req.get("Status").and_then(|v| v.as_str()).unwrap_or("");
    match status {
        "arsPending" => Ok(ApprovalStatus::Pending),
        "arsNotApproved" | "arsCancelled" => {
            let reason = req
                .get("ApprovalRequestDecisions")
                .and_then(|d| d.as_array())
                .and_then(|a| a.last())
                .and_then(|d| d.get("Remarks"))
                .and_then(|r| r.as_str())
                .filter(|r| !r.is_empty())
                .unwrap_or(status)
                .to_string();
            Ok(ApprovalStatus::Rejected { reason })
        }
        "arsApproved" => {
            let body = serde_json::json!({"Document": {"DocEntry": entry}});
            let req = Request::new(
                &conn.ctx,
                "save_draft",
                Method::POST,
                conn.url("DraftsService_SaveDraftToDocument")?,
            )
            .json(&body)?;
            conn.send(0, req).await?;
            converted(conn, url).await
        }
        "arsGenerated" | "arsGeneratedByAuthorizer" => converted(conn, url).await,
        other => Err(ConnectorError::invalid_response(format!(
            "unknown approval status '{other}'"
        ))),
    }
}

async fn converted(conn: &Arc<SlConn>, url: url::Url) -> Result<ApprovalStatus, ConnectorError> {
    let rows = parse_collection(&conn.get(0, "approval_status", url, None).await?.body)?.value;
    match rows
        .first()
        .and_then(|r| r.get("ObjectEntry"))
        .and_then(|v| v.as_i64())
    {
        Some(e) => Ok(ApprovalStatus::Approved {
            external_id: e.to_string(),
        }),
        None => Err(ConnectorError::invalid_response(
            "approved request carries no ObjectEntry",
        )),
    }
}
