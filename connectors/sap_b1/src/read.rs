//! Incremental reads by UpdateDate plus UpdateTime with a persisted cursor.
//!
//! Service Layer compares times at minute resolution and pages by `$skip`, which loses
//! rows when data moves during a scan. So the reader never trusts offsets: it reads
//! "everything after minute M" ordered by (UpdateDate, UpdateTime, key), then drains the
//! last minute it reached by key (keyset paging), remembering the update stamp of every
//! record it delivered in that minute. A record is delivered again only when its stamp
//! changed, so records sharing one second at a page boundary are neither lost nor
//! repeated. Objects without an update stamp (JournalEntries, UDTs) use a key watermark.

use crate::client::{parse_collection, quote};
use crate::connection::SlConn;
use connector_core::domain::NormalizedRecord;
use connector_core::{ConnectorError, Cursor, Page, ReadRequest};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// How an object is read.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadPlan {
    pub set: String,
    pub key: String,
    pub key_numeric: bool,
    /// True when the object has UpdateDate and UpdateTime.
    pub stamped: bool,
}

/// The plan for the objects the connector knows; UDTs and UDOs fall back to their key.
pub fn plan(object: &str) -> ReadPlan {
    let (key, numeric, stamped) = match object {
        "Orders" | "Invoices" | "PurchaseOrders" | "Quotations" | "Drafts" => {
            ("DocEntry", true, true)
        }
        "BusinessPartners" => ("CardCode", false, true),
        "Items" => ("ItemCode", false, true),
        "JournalEntries" => ("JdtNum", true, false),
        "ApprovalRequests" => ("Code", true, false),
        o if o.starts_with("U_") => ("Code", false, false),
        _ => ("DocEntry", true, true),
    };
    ReadPlan {
        set: object.to_string(),
        key: key.to_string(),
        key_numeric: numeric,
        stamped,
    }
}

/// The persisted position of a read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SapCursor {
    /// The minute (date, `HH:MM`) the reader has reached.
    #[serde(default)]
    pub minute: Option<(String, String)>,
    /// Key -> `HH:MM:SS` of records delivered in that minute.
    #[serde(default)]
    pub seen: BTreeMap<String, String>,
    /// Draining the minute by key; the last key drained.
    #[serde(default)]
    pub draining: bool,
    #[serde(default)]
    pub last_key: Option<String>,
}

fn key_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn key_literal(plan: &ReadPlan, k: &str) -> String {
    if plan.key_numeric {
        k.to_string()
    } else {
        quote(k)
    }
}

fn stamp(row: &Map<String, Value>) -> Result<(String, String), ConnectorError> {
    let d = row.get("UpdateDate").and_then(|v| v.as_str());
    let t = row.get("UpdateTime").and_then(|v| v.as_str());
    match (d, t) {
        (Some(d), Some(t)) if d.len() >= 10 && t.len() >= 5 && d.is_char_boundary(10) => {
            let t = if t.len() == 5 {
                format!("{t}:00")
            } else {
                t.chars().take(8).collect()
            };
            Ok((d[..10].to_string(), t))
        }
        _ => Err(ConnectorError::invalid_response(
            "record lacks a usable UpdateDate/UpdateTime",
        )),
    }
}

fn next_minute(hhmm: &str) -> Option<String> {
    let (h, m) = hhmm.split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    let total = h * 60 + m + 1;
    if total >= 24 * 60 {
        None
    } else {
        Some(format!("{:02}:{:02}", total / 60, total % 60))
    }
}

fn record(plan: &ReadPlan, row: Map<String, Value>) -> Result<NormalizedRecord, ConnectorError> {
    let id = key_text(row.get(&plan.key)).ok_or_else(|| {
        ConnectorError::invalid_response(format!("record of {} has no {}", plan.set, plan.key))
    })?;
    let modified_at = if plan.stamped {
        let (d, t) = stamp(&row)?;
        Some(format!("{d}T{t}Z"))
    } else {
        None
    };
    Ok(NormalizedRecord {
        object: plan.set.clone(),
        external_id: id,
        modified_at,
        fields: row
            .into_iter()
            .filter(|(k, _)| !k.starts_with("odata.") && !k.starts_with('@'))
            .collect(),
        deleted: false,
    })
}

async fn query(
    conn: &Arc<SlConn>,
    set: &str,
    filter: Option<String>,
    orderby: &str,
    top: u32,
) -> Result<Vec<Map<String, Value>>, ConnectorError> {
    let mut pairs: Vec<(&str, String)> = Vec::new();
    if let Some(f) = &filter {
        pairs.push(("$filter", f.clone()));
    }
    pairs.push(("$orderby", orderby.to_string()));
    pairs.push(("$top", top.to_string()));
    let url = conn.url(&format!("{set}?{}", query_string(&pairs)))?;
    let resp = conn.get(0, "read_page", url, Some(top)).await?;
    Ok(parse_collection(&resp.body)?.value)
}

/// Reads one page of `object` from the cursor.
pub async fn read_page(conn: &Arc<SlConn>, req: ReadRequest) -> Result<Page, ConnectorError> {
    let plan = plan(&req.object);
    let n = req.page_size.clamp(1, 1000);
    let mut cur: SapCursor = match &req.cursor {
        Some(c) => c.parse()?,
        None => SapCursor::default(),
    };
    if !plan.stamped {
        return read_by_key(conn, &plan, cur, n).await;
    }
    // Each round is one request; rounds that find only already-delivered rows go on.
    for _ in 0..10_000 {
        if cur.draining {
            let Some((date, minute)) = cur.minute.clone() else {
                cur.draining = false;
                continue;
            };
            let mut f = format!(
                "UpdateDate eq {} and UpdateTime ge {}",
                quote(&date),
                quote(&minute)
            );
            if let Some(nm) = next_minute(&minute) {
                f.push_str(&format!(" and UpdateTime lt {}", quote(&nm)));
            }
            if let Some(k) = &cur.last_key {
                f.push_str(&format!(" and {} gt {}", plan.key, key_literal(&plan, k)));
            }
            let rows = query(conn, &plan.set, Some(f), &plan.key, n).await?;
            let full = rows.len() as u32 == n;
            let mut out = Vec::new();
            for row in rows {
                let key = key_text(row.get(&plan.key)).ok_or_else(|| {
                    ConnectorError::invalid_response(format!(
                        "record of {} has no {}",
                        plan.set, plan.key
                    ))
                })?;
                let (d, t) = stamp(&row)?;
                cur.last_key = Some(key.clone());
                if d != date || !t.starts_with(&minute) {
                    // The server answered outside the minute asked for; it is read later.
                    continue;
                }
                if cur.seen.get(&key) == Some(&t) {
                    continue;
                }
                cur.seen.insert(key, t);
                out.push(record(&plan, row)?);
            }
            if !full {
                cur.draining = false;
                cur.last_key = None;
            }
            if !out.is_empty() {
                return Ok(Page {
                    records: out,
                    next: Some(Cursor::new(&cur)?),
                    watermark: Some(Cursor::new(&watermark_of(&cur))?),
                });
            }
            continue;
        }
        let filter = cur.minute.as_ref().map(|(d, m)| match next_minute(m) {
            Some(nm) => format!(
                "UpdateDate gt {} or (UpdateDate eq {} and UpdateTime ge {})",
                quote(d),
                quote(d),
                quote(&nm)
            ),
            None => format!("UpdateDate gt {}", quote(d)),
        });
        let rows = query(
            conn,
            &plan.set,
            filter,
            &format!("UpdateDate,UpdateTime,{}", plan.key),
            n,
        )
        .await?;
        if rows.is_empty() {
            let wm = watermark_of(&cur);
            return Ok(Page {
                records: vec![],
                next: None,
                watermark: Some(Cursor::new(&wm)?),
            });
        }
        let (ld, lt) = stamp(rows.last().expect("non-empty"))?;
        let minute = lt[..5].to_string();
        let mut seen = BTreeMap::new();
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let (d, t) = stamp(&row)?;
            if d == ld && t.starts_with(&minute) {
                if let Some(k) = key_text(row.get(&plan.key)) {
                    seen.insert(k, t.clone());
                }
            }
            out.push(record(&plan, row)?);
        }
        cur = SapCursor {
            minute: Some((ld, minute)),
            seen,
            draining: true,
            last_key: None,
        };
        return Ok(Page {
            records: out,
            next: Some(Cursor::new(&cur)?),
            watermark: Some(Cursor::new(&watermark_of(&cur))?),
        });
    }
    Err(ConnectorError::invalid_response(
        "the read did not advance after many requests",
    ))
}

/// Where the next incremental read starts: re-drain the current minute from its start,
/// skipping records already delivered with the same stamp.
fn watermark_of(cur: &SapCursor) -> SapCursor {
    SapCursor {
        minute: cur.minute.clone(),
        seen: cur.seen.clone(),
        draining: cur.minute.is_some(),
        last_key: None,
    }
}

async fn read_by_key(
    conn: &Arc<SlConn>,
    plan: &ReadPlan,
    cur: SapCursor,
    n: u32,
) -> Result<Page, ConnectorError> {
    let filter = cur
        .last_key
        .as_ref()
        .map(|k| format!("{} gt {}", plan.key, key_literal(plan, k)));
    let rows = query(conn, &plan.set, filter, &plan.key, n).await?;
    let full = rows.len() as u32 == n;
    let mut next = cur.clone();
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        next.last_key = key_text(row.get(&plan.key));
        out.push(record(plan, row)?);
    }
    let c = Cursor::new(&next)?;
    Ok(Page {
        records: out,
        next: if full { Some(c.clone()) } else { None },
        watermark: Some(c),
    })
}

/// Encodes query options with `%20` for spaces, as Service Layer clients do.
pub fn query_string(pairs: &[(&str, String)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        q.append_pair(k, v);
    }
    q.finish().replace('+', "%20")
}
