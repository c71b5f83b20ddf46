//! Reads: SuiteQL keyset pages over (last-modified, id) for incremental sync, full reads
//! with content-hash change detection for record types whose last-modified time cannot be
//! filtered, and saved-search execution over SOAP with searchMoreWithId paging.
//!
//! SuiteQL pages are keyset windows, never deep offsets: each page asks for rows strictly
//! after the last (modified, id) seen, with offset 0. That never reaches SuiteQL's offset
//! ceiling (100,000 rows), and unlike offset paging it neither skips nor repeats a row
//! when records change while a read is in progress.

use crate::client::{soap_status, soap_status_code, xml, CollectionPage};
use crate::schema::{object_meta, NativeKind, ObjectMeta};
use crate::{parse_cursor, NetsuiteConnection};
use connector_core::domain::{ErrorCode, NormalizedRecord};
use connector_core::{ConnectorError, Cursor, Page, ReadRequest};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

const TS_MASK: &str = "YYYY-MM-DD HH24:MI:SS";

/// The connector's cursor. Serialized as JSON by the server, so a restart resumes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum NsCursor {
    /// Rows strictly after `(modified unix seconds, id)`; None = from the start.
    Keyset { after: Option<(i64, u64)> },
    /// A full pass by id with content hashes: `previous` from the last complete pass,
    /// `current` collected so far in this one.
    Hash {
        after_id: u64,
        previous: BTreeMap<String, String>,
        current: BTreeMap<String, String>,
        /// The first pass emits every record.
        first: bool,
    },
    /// One partition of a parallel full read: ids in `(after_id, last_id]`, by id.
    Range { after_id: u64, last_id: u64 },
    /// The REST record service: ids modified on or after `since` (minute resolution, the
    /// `q` date format), by id after `after_id`, each record then fetched by id.
    Rest {
        since: Option<i64>,
        after_id: u64,
        newest: Option<i64>,
    },
    /// A saved search: the SOAP search id and the next page, or a fresh run from `since`.
    Saved {
        since: Option<i64>,
        started_at: Option<i64>,
        search_id: Option<String>,
        next_page: u32,
    },
}

fn invalid(object: &str, what: String) -> ConnectorError {
    ConnectorError::new(ErrorCode::InvalidResponse, what)
        .with_object(object)
        .with_operation("read")
}

/// Formats Unix seconds for TO_TIMESTAMP.
pub fn sql_ts(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// `2024-01-02 03:04:05` to `2024-01-02T03:04:05Z` without a date library on the hot
/// path; anything not in exactly that shape goes through the full parser.
fn iso_of_sql_ts(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if b.len() == 19
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b' '
        && b[13] == b':'
        && b[16] == b':'
        && digits(0..4)
        && digits(5..7)
        && digits(8..10)
        && digits(11..13)
        && digits(14..16)
        && digits(17..19)
    {
        let (mo, d, h, mi, se) = (&s[5..7], &s[8..10], &s[11..13], &s[14..16], &s[17..19]);
        if ("01"..="12").contains(&mo)
            && ("01"..="31").contains(&d)
            && h < "24"
            && mi < "60"
            && se < "60"
        {
            return Some(format!("{}T{}Z", &s[..10], &s[11..]));
        }
    }
    parse_sql_ts(s).map(crate::simulator::fmt_iso)
}

fn parse_sql_ts(s: &str) -> Option<i64> {
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
        .ok()
        .map(|d| d.and_utc().timestamp())
}

/// The SELECT list: every body field, dates through TO_CHAR so they keep their time.
fn select_list(meta: &ObjectMeta) -> String {
    let mut cols = vec!["id".to_string()];
    for (name, kind) in &meta.kinds {
        if name == "id" {
            continue;
        }
        let col = name.to_ascii_lowercase();
        cols.push(match kind {
            NativeKind::DateTime => format!("TO_CHAR({col}, '{TS_MASK}') AS {col}"),
            NativeKind::Date => format!("TO_CHAR({col}, 'YYYY-MM-DD') AS {col}"),
            _ => col,
        });
    }
    cols.join(", ")
}

/// Builds the keyset query for one page.
pub fn keyset_query(meta: &ObjectMeta, mcol: &str, after: Option<(i64, u64)>) -> String {
    let mut conds: Vec<String> = meta.table_filter.iter().cloned().collect();
    if let Some((t, id)) = after {
        let ts = format!("TO_TIMESTAMP('{}', '{TS_MASK}')", sql_ts(t));
        conds.push(format!("({mcol} > {ts} OR ({mcol} = {ts} AND id > {id}))"));
    }
    let wh = if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    };
    format!(
        "SELECT {}, TO_CHAR({mcol}, '{TS_MASK}') AS sy_modified FROM {}{wh} ORDER BY {mcol}, id",
        select_list(meta),
        meta.table
    )
}

/// Converts one SuiteQL row to a record, typing values by the object's metadata.
pub fn row_to_record(
    object: &str,
    meta: &ObjectMeta,
    row: &Map<String, Value>,
    index: usize,
) -> Result<(u64, Option<i64>, NormalizedRecord), ConnectorError> {
    let id_text = row
        .get("id")
        .and_then(|v| v.as_str())
        .ok_or_else(|| invalid(object, format!("SuiteQL row {index} has no id string")))?;
    let id: u64 = id_text.parse().map_err(|_| {
        invalid(
            object,
            format!("SuiteQL row {index} has a non-numeric id {id_text:?}"),
        )
    })?;
    let mut fields = BTreeMap::new();
    for (name, kind) in &meta.kinds {
        let Some(v) = row.get(&name.to_ascii_lowercase()) else {
            continue;
        };
        let s = v.as_str().ok_or_else(|| {
            invalid(
                object,
                format!("SuiteQL row {index} column {name} is not a string: {v}"),
            )
        })?;
        let typed = match kind {
            NativeKind::Integer => json!(s.parse::<i64>().map_err(|_| invalid(
                object,
                format!("row {index} column {name}: {s:?} is not an integer")
            ))?),
            NativeKind::Float => json!(s.parse::<f64>().map_err(|_| invalid(
                object,
                format!("row {index} column {name}: {s:?} is not a number")
            ))?),
            NativeKind::Boolean => json!(s == "T"),
            NativeKind::DateTime => json!(iso_of_sql_ts(s).ok_or_else(|| {
                invalid(
                    object,
                    format!("row {index} column {name}: {s:?} is not a timestamp"),
                )
            })?),
            NativeKind::Reference | NativeKind::Enum => json!({ "id": s }),
            _ => json!(s),
        };
        fields.insert(name.clone(), typed);
    }
    let modified = match row.get("sy_modified") {
        Some(v) => {
            let s = v.as_str().unwrap_or("");
            Some(parse_sql_ts(s).ok_or_else(|| {
                invalid(
                    object,
                    format!("row {index}: modified time {s:?} is not a timestamp"),
                )
            })?)
        }
        None => None,
    };
    Ok((
        id,
        modified,
        NormalizedRecord {
            object: object.to_string(),
            external_id: id.to_string(),
            modified_at: modified.map(crate::simulator::fmt_iso),
            fields,
            deleted: false,
        },
    ))
}

pub async fn read_page(
    conn: &NetsuiteConnection,
    req: ReadRequest,
) -> Result<Page, ConnectorError> {
    let limit = req.page_size.clamp(1, 1000);
    if let Some(record_type) = req.object.strip_prefix("rest:") {
        return read_rest(conn, &req, record_type, limit).await;
    }
    if let Some(rest) = req.object.strip_prefix("savedsearch:") {
        let (family, script_id) = rest.split_once(':').ok_or_else(|| {
            ConnectorError::invalid_input(format!(
                "saved search object '{}' must be savedsearch:<family>:<script id>",
                req.object
            ))
        })?;
        return read_saved(conn, &req, family, script_id, limit).await;
    }
    let meta = object_meta(conn, &req.object).await?;
    let cursor: Option<NsCursor> = req.cursor.as_ref().map(parse_cursor).transpose()?;
    match (&meta.schema.modified_field, cursor) {
        (Some(m), None) => {
            read_keyset(
                conn,
                &req.object,
                &meta,
                &m.to_ascii_lowercase(),
                None,
                limit,
            )
            .await
        }
        (Some(m), Some(NsCursor::Keyset { after })) => {
            read_keyset(
                conn,
                &req.object,
                &meta,
                &m.to_ascii_lowercase(),
                after,
                limit,
            )
            .await
        }
        (None, None) => {
            read_hash(
                conn,
                &req.object,
                &meta,
                0,
                BTreeMap::new(),
                BTreeMap::new(),
                true,
                limit,
            )
            .await
        }
        (
            None,
            Some(NsCursor::Hash {
                after_id,
                previous,
                current,
                first,
            }),
        ) => {
            read_hash(
                conn,
                &req.object,
                &meta,
                after_id,
                previous,
                current,
                first,
                limit,
            )
            .await
        }
        (_, Some(NsCursor::Range { after_id, last_id })) => {
            read_range(conn, &req.object, &meta, after_id, last_id, limit).await
        }
        (_, Some(other)) => Err(ConnectorError::invalid_input(format!(
            "cursor {other:?} does not fit object {}",
            req.object
        ))),
    }
}

async fn read_keyset(
    conn: &NetsuiteConnection,
    object: &str,
    meta: &ObjectMeta,
    mcol: &str,
    after: Option<(i64, u64)>,
    limit: u32,
) -> Result<Page, ConnectorError> {
    let q = keyset_query(meta, mcol, after);
    let page: CollectionPage = conn
        .client
        .suiteql(&q, limit, 0)
        .await
        .map_err(|e| e.with_object(object))?;
    let mut records = Vec::with_capacity(page.items.len());
    let mut last = after;
    for (i, row) in page.items.iter().enumerate() {
        let (id, modified, rec) = row_to_record(object, meta, row, i)?;
        let m = modified.ok_or_else(|| invalid(object, format!("row {i} has no modified time")))?;
        if let Some(prev) = last {
            if (m, id) <= prev {
                // NetSuite must answer in (modified, id) order strictly after the cursor;
                // anything else would make the read loop or lose rows.
                return Err(invalid(
                    object,
                    format!("row {i} ({m}, {id}) is not after the cursor {prev:?}"),
                ));
            }
        }
        last = Some((m, id));
        records.push(rec);
    }
    let cursor = Cursor::new(&NsCursor::Keyset { after: last })?;
    Ok(if page.has_more {
        Page {
            records,
            next: Some(cursor),
            watermark: None,
        }
    } else {
        Page {
            records,
            next: None,
            watermark: Some(cursor),
        }
    })
}

async fn read_range(
    conn: &NetsuiteConnection,
    object: &str,
    meta: &ObjectMeta,
    after_id: u64,
    last_id: u64,
    limit: u32,
) -> Result<Page, ConnectorError> {
    let mut conds: Vec<String> = meta.table_filter.iter().cloned().collect();
    conds.push(format!("id > {after_id} AND id <= {last_id}"));
    let q = format!(
        "SELECT {} FROM {} WHERE {} ORDER BY id",
        select_list(meta),
        meta.table,
        conds.join(" AND ")
    );
    let page = conn
        .client
        .suiteql(&q, limit, 0)
        .await
        .map_err(|e| e.with_object(object))?;
    let mut records = Vec::with_capacity(page.items.len());
    let mut last = after_id;
    for (i, row) in page.items.iter().enumerate() {
        let (id, _, rec) = row_to_record(object, meta, row, i)?;
        if id <= last || id > last_id {
            return Err(invalid(
                object,
                format!("row {i} id {id} is outside ({last}, {last_id}]"),
            ));
        }
        last = id;
        records.push(rec);
    }
    let next = if page.has_more {
        Some(Cursor::new(&NsCursor::Range {
            after_id: last,
            last_id,
        })?)
    } else {
        None
    };
    Ok(Page {
        records,
        next,
        watermark: None,
    })
}

/// A parallel full read: id-range partitions to read concurrently (each through the
/// governor), and the incremental watermark to continue from once all are done.
#[derive(Debug, Clone)]
pub struct FullSyncPlan {
    pub total: u64,
    pub partitions: Vec<Cursor>,
    pub watermark: Cursor,
}

/// Plans a full read of an object in `parts` id ranges of about equal size.
///
/// The watermark is one second before the newest modification at planning time, so a
/// record changed while the partitions are read is read again by the next incremental
/// pass (at least once) and never lost.
pub async fn plan_full_sync(
    conn: &NetsuiteConnection,
    object: &str,
    parts: u32,
) -> Result<FullSyncPlan, ConnectorError> {
    let meta = object_meta(conn, object).await?;
    let mcol = meta
        .schema
        .modified_field
        .as_ref()
        .ok_or_else(|| {
            ConnectorError::invalid_input(format!(
                "{object} has no filterable last-modified field; read it in one pass"
            ))
        })?
        .to_ascii_lowercase();
    let filter = meta
        .table_filter
        .as_ref()
        .map(|f| format!(" WHERE {f}"))
        .unwrap_or_default();
    let q = format!(
        "SELECT MIN(id) AS lo, MAX(id) AS hi, COUNT(*) AS n, MAX({mcol}) AS m FROM {}{filter}",
        meta.table
    );
    let page = conn
        .client
        .suiteql(&q, 1, 0)
        .await
        .map_err(|e| e.with_object(object))?;
    let row = page
        .items
        .first()
        .ok_or_else(|| invalid(object, "aggregate query returned no row".into()))?;
    let num = |k: &str| {
        row.get(k)
            .and_then(|v| v.as_str())
            .and_then(|s| s.parse::<u64>().ok())
    };
    let total = num("n").unwrap_or(0);
    let (lo, hi) = match (num("lo"), num("hi")) {
        (Some(lo), Some(hi)) if total > 0 => (lo, hi),
        _ => {
            return Ok(FullSyncPlan {
                total: 0,
                partitions: vec![],
                watermark: Cursor::new(&NsCursor::Keyset { after: None })?,
            })
        }
    };
    // MAX(datetime) comes back in the account's date format (date only), so the exact
    // newest second is asked for separately through TO_CHAR.
    let mq = format!(
        "SELECT TO_CHAR({mcol}, '{TS_MASK}') AS m FROM {}{filter} ORDER BY {mcol} DESC",
        meta.table
    );
    let newest = conn
        .client
        .suiteql(&mq, 1, 0)
        .await
        .map_err(|e| e.with_object(object))?;
    let m = newest
        .items
        .first()
        .and_then(|r| r.get("m"))
        .and_then(|v| v.as_str())
        .and_then(parse_sql_ts)
        .ok_or_else(|| {
            invalid(
                object,
                "newest modification time is missing or malformed".into(),
            )
        })?;
    let parts = parts.clamp(1, 64) as u64;
    let span = hi - lo + 1;
    let step = span.div_ceil(parts);
    let mut partitions = vec![];
    let mut start = lo - 1;
    while start < hi {
        let end = (start + step).min(hi);
        partitions.push(Cursor::new(&NsCursor::Range {
            after_id: start,
            last_id: end,
        })?);
        start = end;
    }
    Ok(FullSyncPlan {
        total,
        partitions,
        watermark: Cursor::new(&NsCursor::Keyset {
            after: Some((m - 1, u64::MAX)),
        })?,
    })
}

fn content_hash(rec: &NormalizedRecord, skip: Option<&str>) -> String {
    let fields: BTreeMap<&String, &Value> = rec
        .fields
        .iter()
        .filter(|(k, _)| Some(k.as_str()) != skip)
        .collect();
    let bytes = serde_json::to_vec(&fields).unwrap_or_default();
    hex::encode(&Sha256::digest(&bytes)[..12])
}

#[allow(clippy::too_many_arguments)]
async fn read_hash(
    conn: &NetsuiteConnection,
    object: &str,
    meta: &ObjectMeta,
    after_id: u64,
    previous: BTreeMap<String, String>,
    mut current: BTreeMap<String, String>,
    first: bool,
    limit: u32,
) -> Result<Page, ConnectorError> {
    let mut conds: Vec<String> = meta.table_filter.iter().cloned().collect();
    conds.push(format!("id > {after_id}"));
    let q = format!(
        "SELECT {} FROM {} WHERE {} ORDER BY id",
        select_list(meta),
        meta.table,
        conds.join(" AND ")
    );
    let page = conn
        .client
        .suiteql(&q, limit, 0)
        .await
        .map_err(|e| e.with_object(object))?;
    let mut records = vec![];
    let mut last = after_id;
    for (i, row) in page.items.iter().enumerate() {
        let (id, _, mut rec) = row_to_record(object, meta, row, i)?;
        if id <= last {
            return Err(invalid(
                object,
                format!("row {i} id {id} is not after {last}"),
            ));
        }
        last = id;
        // The last-modified field is not trusted for these types, so it is not hashed.
        let h = content_hash(&rec, meta.modified_column.as_deref());
        rec.modified_at = None;
        // Ids are map keys, so they are strings (JSON object keys) in the cursor.
        let key = id.to_string();
        if first || previous.get(&key) != Some(&h) {
            records.push(rec);
        }
        current.insert(key, h);
    }
    if page.has_more {
        let c = NsCursor::Hash {
            after_id: last,
            previous,
            current,
            first,
        };
        return Ok(Page {
            records,
            next: Some(Cursor::new(&c)?),
            watermark: None,
        });
    }
    for id in previous
        .keys()
        .filter(|id| !current.contains_key(id.as_str()))
    {
        records.push(NormalizedRecord {
            object: object.to_string(),
            external_id: id.clone(),
            modified_at: None,
            fields: BTreeMap::new(),
            deleted: true,
        });
    }
    let w = NsCursor::Hash {
        after_id: 0,
        previous: current,
        current: BTreeMap::new(),
        first: false,
    };
    Ok(Page {
        records,
        next: None,
        watermark: Some(Cursor::new(&w)?),
    })
}

/// The `q` date-time format (`1/2/2024 3:04 pm`); minute resolution, so an incremental
/// REST read re-reads the boundary minute (at-least-once).
pub fn q_datetime(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap_or_default()
        .format("%-m/%-d/%Y %-I:%M %P")
        .to_string()
}

async fn read_rest(
    conn: &NetsuiteConnection,
    req: &ReadRequest,
    record_type: &str,
    limit: u32,
) -> Result<Page, ConnectorError> {
    let meta = object_meta(conn, record_type).await?;
    let (since, after_id, mut newest) = match req
        .cursor
        .as_ref()
        .map(parse_cursor::<NsCursor>)
        .transpose()?
    {
        None => (None, 0, None),
        Some(NsCursor::Rest {
            since,
            after_id,
            newest,
        }) => (since, after_id, newest),
        Some(other) => {
            return Err(ConnectorError::invalid_input(format!(
                "cursor {other:?} does not fit a REST read"
            )))
        }
    };
    let mut q = vec![format!("id GREATER {after_id}")];
    if let (Some(t), Some(m)) = (since, &meta.schema.modified_field) {
        q.push(format!("{m} ON_OR_AFTER \"{}\"", q_datetime(t)));
    }
    let mut url = url::Url::parse("http://x/").expect("static URL");
    url.query_pairs_mut()
        .append_pair("q", &q.join(" AND "))
        .append_pair("limit", &limit.min(1000).to_string())
        .append_pair("offset", "0");
    let path = format!(
        "/services/rest/record/v1/{record_type}?{}",
        url.query().unwrap_or("")
    );
    let resp = conn
        .client
        .rest("record_list", http::Method::GET, &path, None, &[], true)
        .await
        .map_err(|e| e.with_object(record_type))?;
    let list = crate::client::parse_collection(&resp.body, "record_list")
        .map_err(|e| e.with_object(record_type))?;
    let mut ids = vec![];
    for (i, it) in list.items.iter().enumerate() {
        let id = it
            .get("id")
            .and_then(|v| v.as_str())
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| invalid(record_type, format!("list item {i} has no numeric id")))?;
        ids.push(id);
    }
    // The list names ids only; each record is one GET, all through the governor.
    let fetches = ids.iter().map(|id| {
        let path = format!("/services/rest/record/v1/{record_type}/{id}");
        async move {
            conn.client
                .rest("record_get", http::Method::GET, &path, None, &[], true)
                .await
        }
    });
    let bodies = futures::future::join_all(fetches).await;
    let mut records = vec![];
    let mut last = after_id;
    for (id, body) in ids.iter().zip(bodies) {
        let resp = match body {
            Ok(r) => r,
            // Deleted between the list and the get.
            Err(e) if e.code == ErrorCode::NotFound => continue,
            Err(e) => return Err(e.with_object(record_type)),
        };
        let v: Value = serde_json::from_slice(&resp.body)
            .map_err(|e| invalid(record_type, format!("record {id} is not JSON: {e}")))?;
        let o = v
            .as_object()
            .ok_or_else(|| invalid(record_type, format!("record {id} is not an object")))?;
        let mut fields = BTreeMap::new();
        for (k, val) in o {
            if k == "links"
                || k == "id"
                || val.get("links").is_some()
                    && val.get("items").is_none()
                    && val.get("id").is_none()
            {
                continue;
            }
            let val = match val {
                Value::Object(m) if m.contains_key("id") => json!({"id": m["id"]}),
                other => other.clone(),
            };
            fields.insert(k.clone(), val);
        }
        let modified_at = meta
            .schema
            .modified_field
            .as_ref()
            .and_then(|m| o.get(m))
            .and_then(|v| v.as_str())
            .map(str::to_string);
        if let Some(t) = modified_at
            .as_deref()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.timestamp())
        {
            newest = Some(newest.map_or(t, |n: i64| n.max(t)));
        }
        last = last.max(*id);
        records.push(NormalizedRecord {
            object: req.object.clone(),
            external_id: id.to_string(),
            modified_at,
            fields,
            deleted: false,
        });
    }
    if list.has_more {
        let c = NsCursor::Rest {
            since,
            after_id: ids.iter().copied().max().unwrap_or(last),
            newest,
        };
        Ok(Page {
            records,
            next: Some(Cursor::new(&c)?),
            watermark: None,
        })
    } else {
        let w = NsCursor::Rest {
            since: newest.or(since),
            after_id: 0,
            newest: None,
        };
        Ok(Page {
            records,
            next: None,
            watermark: Some(Cursor::new(&w)?),
        })
    }
}

/// One page of saved-search rows: (internal id, columns as (name, xsi type, value)).
pub struct SavedPage {
    pub rows: Vec<(String, Vec<(String, String, String)>)>,
    pub search_id: String,
    pub page_index: u32,
    pub total_pages: u32,
}

fn advanced_type(
    family: &str,
) -> Result<(&'static str, &'static str, &'static str), ConnectorError> {
    Ok(match family {
        "customer" => (
            "listRel:CustomerSearchAdvanced",
            "listRel:CustomerSearch",
            "platformCommon:CustomerSearchBasic",
        ),
        "transaction" => (
            "tranSales:TransactionSearchAdvanced",
            "tranSales:TransactionSearch",
            "platformCommon:TransactionSearchBasic",
        ),
        "item" => (
            "listAcct:ItemSearchAdvanced",
            "listAcct:ItemSearch",
            "platformCommon:ItemSearchBasic",
        ),
        "customRecord" => (
            "setupCustom:CustomRecordSearchAdvanced",
            "setupCustom:CustomRecordSearch",
            "platformCommon:CustomRecordSearchBasic",
        ),
        other => {
            return Err(ConnectorError::invalid_input(format!(
                "unknown saved search family {other}"
            )))
        }
    })
}

fn soap_time(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S.000Z")
        .to_string()
}

fn parse_search_result(object: &str, doc: &xml::Element) -> Result<SavedPage, ConnectorError> {
    let r = doc
        .find("searchResult")
        .ok_or_else(|| invalid(object, "SOAP answer has no searchResult".into()))?;
    if let Err((code, msg)) = soap_status(r) {
        return Err(ConnectorError::new(
            soap_status_code(&code, &msg),
            format!("saved search: {code} {msg}"),
        )
        .with_erp_code(code)
        .with_object(object));
    }
    let num = |n: &str| -> Result<u32, ConnectorError> {
        r.child_text(n)
            .unwrap_or("0")
            .parse()
            .map_err(|_| invalid(object, format!("searchResult {n} is not a number")))
    };
    let mut rows = vec![];
    if let Some(list) = r.child("searchRowList") {
        for (i, row) in list.children_named("searchRow").enumerate() {
            let basic = row
                .child("basic")
                .ok_or_else(|| invalid(object, format!("searchRow {i} has no basic")))?;
            let mut id = None;
            let mut cols = vec![];
            for c in &basic.children {
                if c.name == "customFieldList" {
                    for cf in c.children_named("customField") {
                        let sid = cf.attr("scriptId").unwrap_or("").to_string();
                        let v = cf
                            .child("searchValue")
                            .map(|v| {
                                v.attr("internalId")
                                    .map(str::to_string)
                                    .unwrap_or_else(|| v.text.clone())
                            })
                            .unwrap_or_default();
                        cols.push((sid, cf.attr("type").unwrap_or("").to_string(), v));
                    }
                    continue;
                }
                let sv = c.child("searchValue");
                let v = sv
                    .map(|v| {
                        v.attr("internalId")
                            .map(str::to_string)
                            .unwrap_or_else(|| v.text.clone())
                    })
                    .unwrap_or_default();
                if c.name == "internalId" {
                    id = Some(v);
                } else {
                    cols.push((c.name.clone(), String::new(), v));
                }
            }
            rows.push((
                id.ok_or_else(|| invalid(object, format!("searchRow {i} has no internalId")))?,
                cols,
            ));
        }
    } else if let Some(list) = r.child("recordList") {
        for (i, rec) in list.children_named("record").enumerate() {
            let id = rec
                .attr("internalId")
                .ok_or_else(|| invalid(object, format!("record {i} has no internalId")))?;
            let cols = rec
                .children
                .iter()
                .filter(|c| !c.text.is_empty())
                .map(|c| (c.name.clone(), String::new(), c.text.clone()))
                .collect();
            rows.push((id.to_string(), cols));
        }
    }
    Ok(SavedPage {
        rows,
        search_id: r.child_text("searchId").unwrap_or("").to_string(),
        page_index: num("pageIndex")?,
        total_pages: num("totalPages")?,
    })
}

/// Runs a saved search (first page) or fetches a later page of a running one.
pub async fn saved_search_page(
    conn: &NetsuiteConnection,
    family: &str,
    script_id: &str,
    more: Option<(&str, u32)>,
    since: Option<i64>,
    page_size: u32,
) -> Result<SavedPage, ConnectorError> {
    let object = crate::schema::saved_search_object(family, script_id);
    let page_size = page_size.clamp(5, 1000);
    let prefs = format!("<platformMsgs:searchPreferences><platformMsgs:bodyFieldsOnly>true</platformMsgs:bodyFieldsOnly><platformMsgs:returnSearchColumns>true</platformMsgs:returnSearchColumns><platformMsgs:pageSize>{page_size}</platformMsgs:pageSize></platformMsgs:searchPreferences>");
    let doc = match more {
        Some((sid, page)) => {
            let body = format!("<platformMsgs:searchMoreWithId><platformMsgs:searchId>{}</platformMsgs:searchId><platformMsgs:pageIndex>{page}</platformMsgs:pageIndex></platformMsgs:searchMoreWithId>", crate::client::xml_escape(sid));
            conn.client
                .soap("searchMoreWithId", &body, &prefs, true)
                .await?
        }
        None => {
            let (adv, search, basic) = advanced_type(family)?;
            let criteria = match since {
                Some(t) => {
                    let field = if family == "customRecord" {
                        "lastModified"
                    } else {
                        "lastModifiedDate"
                    };
                    format!("<platformMsgs:criteria xsi:type=\"{search}\"><basic xsi:type=\"{basic}\"><platformCommon:{field} operator=\"onOrAfter\"><platformCore:searchValue>{}</platformCore:searchValue></platformCommon:{field}></basic></platformMsgs:criteria>", soap_time(t))
                }
                None => String::new(),
            };
            let body = format!("<platformMsgs:search><platformMsgs:searchRecord xsi:type=\"{adv}\" savedSearchScriptId=\"{}\">{criteria}</platformMsgs:searchRecord></platformMsgs:search>", crate::client::xml_escape(script_id));
            conn.client.soap("search", &body, &prefs, true).await?
        }
    };
    parse_search_result(&object, &doc)
}

/// NetSuite's clock, for saved-search watermarks (never the client's clock).
pub async fn server_time(conn: &NetsuiteConnection) -> Result<i64, ConnectorError> {
    let doc = conn
        .client
        .soap("getServerTime", "<platformMsgs:getServerTime/>", "", true)
        .await?;
    let r = doc.find("getServerTimeResult").ok_or_else(|| {
        ConnectorError::new(
            ErrorCode::InvalidResponse,
            "getServerTime answer has no result",
        )
    })?;
    let t = r.child_text("serverTime").unwrap_or("");
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|d| d.timestamp())
        .map_err(|_| {
            ConnectorError::new(
                ErrorCode::InvalidResponse,
                format!("server time {t:?} is not a dateTime"),
            )
        })
}

async fn read_saved(
    conn: &NetsuiteConnection,
    req: &ReadRequest,
    family: &str,
    script_id: &str,
    limit: u32,
) -> Result<Page, ConnectorError> {
    let (since, mut started_at, search_id, next_page) = match req
        .cursor
        .as_ref()
        .map(parse_cursor::<NsCursor>)
        .transpose()?
    {
        None => (None, None, None, 1),
        Some(NsCursor::Saved {
            since,
            started_at,
            search_id,
            next_page,
        }) => (since, started_at, search_id, next_page),
        Some(other) => {
            return Err(ConnectorError::invalid_input(format!(
                "cursor {other:?} does not fit a saved search"
            )))
        }
    };
    let page = match &search_id {
        Some(sid) => match saved_search_page(
            conn,
            family,
            script_id,
            Some((sid, next_page)),
            since,
            limit,
        )
        .await
        {
            // The search id expired (15 minutes unused): run the search again from the
            // start. Rows already delivered come again (at-least-once), none are lost.
            Err(e) if e.context.erp_code.as_deref() == Some("INVALID_JOB_ID") => {
                started_at = Some(server_time(conn).await?);
                saved_search_page(conn, family, script_id, None, since, limit).await?
            }
            other => other?,
        },
        None => {
            started_at = Some(server_time(conn).await?);
            saved_search_page(conn, family, script_id, None, since, limit).await?
        }
    };
    let records = page
        .rows
        .iter()
        .map(|(id, cols)| {
            let mut fields = BTreeMap::new();
            let mut modified_at = None;
            for (name, _, v) in cols {
                if name == "lastModifiedDate" || name == "lastModified" {
                    modified_at = chrono::DateTime::parse_from_rfc3339(v)
                        .ok()
                        .map(|d| crate::simulator::fmt_iso(d.timestamp()));
                }
                fields.insert(name.clone(), json!(v));
            }
            NormalizedRecord {
                object: req.object.clone(),
                external_id: id.clone(),
                modified_at,
                fields,
                deleted: false,
            }
        })
        .collect();
    if page.page_index < page.total_pages {
        let c = NsCursor::Saved {
            since,
            started_at,
            search_id: Some(page.search_id),
            next_page: page.page_index + 1,
        };
        Ok(Page {
            records,
            next: Some(Cursor::new(&c)?),
            watermark: None,
        })
    } else {
        let w = NsCursor::Saved {
            since: started_at,
            started_at: None,
            search_id: None,
            next_page: 1,
        };
        Ok(Page {
            records,
            next: None,
            watermark: Some(Cursor::new(&w)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn fast_timestamp_path_agrees_with_the_full_parser(t in 0i64..4_102_444_800) {
            prop_assert_eq!(iso_of_sql_ts(&sql_ts(t)), Some(crate::simulator::fmt_iso(t)));
        }

        #[test]
        fn timestamp_conversion_never_panics(s in ".{0,25}") {
            let _ = iso_of_sql_ts(&s);
        }
    }

    #[test]
    fn keyset_query_shape() {
        let meta = crate::schema::object_from_json_schema("salesOrder", &serde_json::json!({"properties": {"lastModifiedDate": {"type": "string", "format": "date-time", "x-ns-filterable": true}, "memo": {"type": "string"}}})).unwrap();
        let q = keyset_query(&meta, "lastmodifieddate", Some((1_704_067_200, 42)));
        assert_eq!(q, "SELECT id, TO_CHAR(lastmodifieddate, 'YYYY-MM-DD HH24:MI:SS') AS lastmodifieddate, memo, TO_CHAR(lastmodifieddate, 'YYYY-MM-DD HH24:MI:SS') AS sy_modified FROM transaction WHERE type = 'SalesOrd' AND (lastmodifieddate > TO_TIMESTAMP('2024-01-01 00:00:00', 'YYYY-MM-DD HH24:MI:SS') OR (lastmodifieddate = TO_TIMESTAMP('2024-01-01 00:00:00', 'YYYY-MM-DD HH24:MI:SS') AND id > 42)) ORDER BY lastmodifieddate, id");
    }
}
