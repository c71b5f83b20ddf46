//! The simulated REST web services: record CRUD with paging and `q` filters, the metadata
//! catalog, governance limits, the OAuth 2.0 token endpoint and NetSuite's error bodies.

use super::data::{FieldDef, FieldKind, Record, RecordTypeDef};
use super::{fmt_iso, Account, Routed, Simulator};
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

pub(crate) const INVALID_LOGIN: &str = "Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite UI at Setup > Users/Roles > User Management > View Login Audit Trail.";

fn title(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        // NetSuite really titles its 429 body "Bad Request".
        429 => "Bad Request",
        _ => "Internal Server Error",
    }
}

fn rfc_anchor(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.1",
        401 => "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.2",
        403 => "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.4",
        404 => "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.5",
        405 => "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.6",
        500 => "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.5.1",
        _ => "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html",
    }
}

fn json_response(status: StatusCode, body: Value, content_type: &str) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type).unwrap(),
    );
    r
}

/// NetSuite's REST error body with one detail.
pub(crate) fn error(status: StatusCode, code: &str, detail: &str) -> Response {
    error_at(status, code, detail, None)
}

pub(crate) fn error_at(
    status: StatusCode,
    code: &str,
    detail: &str,
    path: Option<&str>,
) -> Response {
    let mut d = json!({"detail": detail, "o:errorCode": code});
    if let Some(p) = path {
        d["o:errorPath"] = json!(p);
    }
    json_response(
        status,
        json!({"type": rfc_anchor(status), "title": title(status), "status": status.as_u16(), "o:errorDetails": [d]}),
        "application/vnd.oracle.resource+json; type=error",
    )
}

pub(crate) fn concurrency_error() -> Response {
    json_response(
        StatusCode::TOO_MANY_REQUESTS,
        json!({"type": "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html",
               "title": "Bad Request", "status": 429, "o:errorCode": "USER_ERROR",
               "o:errorDetails": [{"detail": "Concurrent request limit exceeded. Request blocked.",
                                   "o:errorCode": "CONCURRENCY_LIMIT_EXCEEDED"}]}),
        "application/vnd.oracle.resource+json; type=error",
    )
}

pub(crate) fn unexpected_error() -> Response {
    let id: String = format!("{:x}", rand::random::<u64>());
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "UNEXPECTED_ERROR",
        &format!("An unexpected error occurred. Error ID: {id}"),
    )
}

/// Cuts a response body in half, as a broken proxy or a crashed node would.
pub(crate) async fn truncate(resp: Response) -> Response {
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let cut = bytes.slice(0..bytes.len() / 2);
    let mut parts = parts;
    parts.status = StatusCode::OK;
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(cut))
}

fn bad_request(detail: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", detail)
}

fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "NONEXISTENT_ID",
        "Record does not exist.",
    )
}

fn query_map(uri: &Uri) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub(crate) fn handle(
    sim: &Simulator,
    routed: &Routed,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let path = routed.path.trim_end_matches('/');
    let q = query_map(uri);
    if path == "/services/rest/query/v1/suiteql" {
        if method != Method::POST {
            return error(
                StatusCode::METHOD_NOT_ALLOWED,
                "INVALID_REQUEST",
                "SuiteQL requires POST.",
            );
        }
        return super::suiteql::handle_http(routed, &q, headers, body);
    }
    if path == "/services/rest/system/v1/governanceLimits" {
        let limit = routed.account.limit.load(Ordering::SeqCst);
        return json_response(
            StatusCode::OK,
            json!({"accountConcurrencyLimit": limit, "accountUnallocatedConcurrencyLimit": limit,
                   "integrationLimitType": "accountLimit"}),
            "application/json",
        );
    }
    let Some(rest) = path.strip_prefix("/services/rest/record/v1/") else {
        return error(
            StatusCode::NOT_FOUND,
            "INVALID_REQUEST",
            &format!("Unknown resource {path}."),
        );
    };
    let decoded: Vec<String> = rest
        .split('/')
        .map(|s| crate::auth::pct_decode(s).unwrap_or_else(|_| s.to_string()))
        .collect();
    let segs: Vec<&str> = decoded.iter().map(String::as_str).collect();
    let acct = &routed.account;
    match (method.clone(), segs.as_slice()) {
        (Method::GET, ["metadata-catalog"]) => catalog(routed, &q),
        (Method::GET, ["metadata-catalog", rt]) => match acct.record_type(rt) {
            Some(def) => {
                let accept = headers
                    .get(header::ACCEPT)
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or("");
                if accept.contains("swagger") {
                    json_response(
                        StatusCode::OK,
                        json!({"openapi": "3.0.1", "info": {"title": "NetSuite REST Record API", "version": "v1"},
                               "components": {"schemas": {def.name.clone(): json_schema(def)}}}),
                        "application/swagger+json",
                    )
                } else {
                    json_response(StatusCode::OK, json_schema(def), "application/schema+json")
                }
            }
            None => error(
                StatusCode::NOT_FOUND,
                "INVALID_REQUEST",
                &format!("Record type {rt} is not available."),
            ),
        },
        (Method::GET, [rt]) => list(routed, rt, &q),
        (Method::GET, [rt, id]) => get_one(routed, rt, id, &q),
        (Method::POST, [rt]) => write(sim, routed, rt, None, headers, body, WriteMode::Create),
        (Method::PATCH, [rt, id]) => {
            write(sim, routed, rt, Some(id), headers, body, WriteMode::Update)
        }
        (Method::PUT, [rt, id]) if id.starts_with("eid:") => {
            write(sim, routed, rt, Some(id), headers, body, WriteMode::Upsert)
        }
        (Method::PUT, [_, _]) => bad_request("PUT is only supported with an external id (eid:)."),
        (Method::DELETE, [rt, id]) => delete(routed, rt, id),
        _ => error(
            StatusCode::METHOD_NOT_ALLOWED,
            "INVALID_REQUEST",
            "The request method is not supported for this resource.",
        ),
    }
}

fn catalog(routed: &Routed, q: &BTreeMap<String, String>) -> Response {
    let acct = &routed.account;
    let selected: Option<Vec<String>> = match q.get("select") {
        Some(s) if s.contains(' ') => {
            return bad_request(
                "The request could not be understood by the server due to malformed syntax.",
            )
        }
        Some(s) => Some(s.split(',').map(str::to_string).collect()),
        None => None,
    };
    let base = format!(
        "{}/services/rest/record/v1/metadata-catalog",
        routed.link_base
    );
    let items: Vec<Value> = acct
        .types
        .values()
        .filter(|t| selected.as_ref().map(|s| s.iter().any(|n| n.eq_ignore_ascii_case(&t.name))).unwrap_or(true))
        .map(|t| {
            let href = format!("{base}/{}", t.name);
            json!({"name": t.name, "links": [
                {"rel": "canonical", "href": href, "mediaType": "application/json"},
                {"rel": "alternate", "href": href, "mediaType": "application/swagger+json"},
                {"rel": "alternate", "href": href, "mediaType": "application/schema+json"},
                {"rel": "describes", "href": format!("{}/services/rest/record/v1/{}", routed.link_base, t.name)}]})
        })
        .collect();
    json_response(
        StatusCode::OK,
        json!({"items": items, "links": [{"rel": "self", "href": base}]}),
        "application/vnd.oracle.resource+json; type=collection",
    )
}

fn field_schema(f: &FieldDef) -> Value {
    let mut s = match &f.kind {
        FieldKind::Text => json!({"type": "string"}),
        FieldKind::Integer => json!({"type": "integer", "format": "int64"}),
        FieldKind::Float => json!({"type": "number", "format": "double"}),
        FieldKind::Boolean => json!({"type": "boolean"}),
        FieldKind::Date => json!({"type": "string", "format": "date"}),
        FieldKind::DateTime => json!({"type": "string", "format": "date-time"}),
        FieldKind::Select { record } => json!({"type": "object", "x-ns-referenced-record": record,
            "properties": {"id": {"type": "string"}, "refName": {"type": "string"}}}),
        FieldKind::List { values } => json!({"type": "object",
            "properties": {"id": {"type": "string", "title": "Internal identifier",
                                   "enum": (1..=values.len()).map(|i| i.to_string()).collect::<Vec<_>>(),
                                   "x-ns-support-manual-value": false},
                           "refName": {"type": "string", "enum": values}}}),
    };
    let o = s.as_object_mut().unwrap();
    o.insert("title".into(), json!(f.label));
    o.insert("nullable".into(), json!(!f.required));
    o.insert("x-ns-filterable".into(), json!(f.filterable));
    if f.read_only {
        o.insert("readOnly".into(), json!(true));
    }
    if f.custom.is_some() {
        o.insert("x-ns-custom-field".into(), json!(true));
    }
    s
}

/// The JSON Schema (draft-06 hyper-schema) of one record type.
pub(crate) fn json_schema(def: &RecordTypeDef) -> Value {
    let mut props = Map::new();
    props.insert("id".into(), json!({"title": "Internal ID", "type": "string", "nullable": false, "x-ns-filterable": true}));
    props.insert("externalId".into(), json!({"title": "External ID", "type": "string", "nullable": true, "x-ns-filterable": true}));
    let mut required = vec![];
    for f in def.body_fields() {
        props.insert(f.name.clone(), field_schema(f));
        if f.required {
            required.push(f.name.clone());
        }
    }
    let line_fields: Vec<&FieldDef> = def.fields.iter().filter(|f| f.line).collect();
    if !line_fields.is_empty() {
        let mut lp = Map::new();
        for f in &line_fields {
            lp.insert(f.name.clone(), field_schema(f));
        }
        props.insert(
            "item".into(),
            json!({"title": "Items", "type": "object", "properties": {
            "items": {"type": "array", "items": {"type": "object", "properties": lp}},
            "totalResults": {"type": "integer"}}}),
        );
    }
    json!({"type": "object", "title": def.label, "properties": props, "required": required,
           "x-ns-custom-record": def.custom,
           "$schema": "https://json-schema.org/draft-06/hyper-schema#",
           "links": [{"rel": "self", "href": format!("/services/rest/record/v1/{}/{{id}}", def.name)}]})
}

fn record_href(routed: &Routed, rt: &str, id: u64) -> String {
    format!("{}/services/rest/record/v1/{rt}/{id}", routed.link_base)
}

fn render_value(routed: &Routed, acct: &Account, f: &FieldDef, v: &Value) -> Value {
    match &f.kind {
        FieldKind::Select { record } => {
            let id = v.get("id").and_then(|i| i.as_str()).unwrap_or("");
            let label = acct
                .record_type(record)
                .map(|t| t.label.clone())
                .unwrap_or_else(|| record.clone());
            json!({"links": [{"rel": "self", "href": format!("{}/services/rest/record/v1/{record}/{id}", routed.link_base)}],
                   "id": id, "refName": format!("{label} {id}")})
        }
        FieldKind::List { values } => {
            let id = v.get("id").and_then(|i| i.as_str()).unwrap_or("");
            let name = id
                .parse::<usize>()
                .ok()
                .and_then(|i| values.get(i.wrapping_sub(1)))
                .cloned()
                .unwrap_or_default();
            json!({"id": id, "refName": name})
        }
        _ => v.clone(),
    }
}

pub(crate) fn render_record(
    routed: &Routed,
    acct: &Account,
    def: &RecordTypeDef,
    r: &Record,
    fields: Option<&[String]>,
    expand: bool,
) -> Value {
    let mut o = Map::new();
    o.insert(
        "links".into(),
        json!([{"rel": "self", "href": record_href(routed, &def.name, r.id)}]),
    );
    o.insert("id".into(), json!(r.id.to_string()));
    if let Some(e) = &r.external_id {
        o.insert("externalId".into(), json!(e));
    }
    for f in def.body_fields() {
        if let Some(sel) = fields {
            if !sel.iter().any(|s| s.eq_ignore_ascii_case(&f.name)) {
                continue;
            }
        }
        if let Some(v) = r.values.get(&f.name) {
            o.insert(f.name.clone(), render_value(routed, acct, f, v));
        }
    }
    if fields.is_none() && def.fields.iter().any(|f| f.line) {
        let href = format!("{}/item", record_href(routed, &def.name, r.id));
        if expand {
            let items: Vec<Value> = r
                .lines
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    let mut lo = Map::new();
                    lo.insert("links".into(), json!([]));
                    lo.insert("line".into(), json!(i + 1));
                    for f in def.fields.iter().filter(|f| f.line) {
                        if let Some(v) = l.get(&f.name) {
                            lo.insert(f.name.clone(), render_value(routed, acct, f, v));
                        }
                    }
                    Value::Object(lo)
                })
                .collect();
            o.insert(
                "item".into(),
                json!({"links": [{"rel": "self", "href": href}], "items": items, "totalResults": r.lines.len()}),
            );
        } else {
            o.insert(
                "item".into(),
                json!({"links": [{"rel": "self", "href": href}]}),
            );
        }
    }
    Value::Object(o)
}

/// Parses `limit` and `offset` with NetSuite's rules.
pub(crate) fn paging(q: &BTreeMap<String, String>, ceiling: u64) -> Result<(u64, u64), Response> {
    let num = |k: &str, d: u64| -> Result<u64, Response> {
        match q.get(k) {
            None => Ok(d),
            Some(v) => v.parse().map_err(|_| {
                error_at(
                    StatusCode::BAD_REQUEST,
                    "INVALID_PARAMETER",
                    &format!("Invalid value for the query parameter {k}: {v}."),
                    None,
                )
            }),
        }
    };
    let limit = num("limit", 1000)?;
    let offset = num("offset", 0)?;
    if limit == 0 || limit > 1000 {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER",
            "Invalid value for the query parameter limit. The value must be between 1 and 1000.",
        ));
    }
    if offset % limit != 0 {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER",
            "Invalid value for the query parameter offset. The offset must be a multiple of the limit.",
        ));
    }
    if offset >= ceiling {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER",
            &format!("Invalid value for the query parameter offset. You can page through at most {ceiling} results."),
        ));
    }
    Ok((limit, offset))
}

/// Builds `links` for a page, keeping the other query parameters.
pub(crate) fn page_links(
    base: &str,
    q: &BTreeMap<String, String>,
    limit: u64,
    offset: u64,
    total: u64,
) -> Vec<Value> {
    let href = |off: u64| {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in q {
            if k != "limit" && k != "offset" {
                s.append_pair(k, v);
            }
        }
        s.append_pair("limit", &limit.to_string());
        s.append_pair("offset", &off.to_string());
        format!("{base}?{}", s.finish())
    };
    let last = if total == 0 {
        0
    } else {
        ((total - 1) / limit) * limit
    };
    let mut links = vec![];
    if offset > 0 {
        links.push(json!({"rel": "first", "href": href(0)}));
        links.push(json!({"rel": "prev", "href": href(offset.saturating_sub(limit))}));
    }
    if offset + limit < total {
        links.push(json!({"rel": "next", "href": href(offset + limit)}));
        links.push(json!({"rel": "last", "href": href(last)}));
    }
    links.push(json!({"rel": "self", "href": href(offset)}));
    links
}

fn list(routed: &Routed, rt: &str, q: &BTreeMap<String, String>) -> Response {
    let acct = &routed.account;
    let Some(def) = acct.record_type(rt) else {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            &format!("Record type '{rt}' does not exist."),
        );
    };
    let (limit, offset) = match paging(q, acct.query_ceiling) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let filter = match q.get("q") {
        Some(text) => match filter::parse(text, def) {
            Ok(f) => Some(f),
            Err(e) => return error_at(StatusCode::BAD_REQUEST, "INVALID_PARAMETER", &e, None),
        },
        None => None,
    };
    let data = acct.data.read().unwrap();
    let table = data
        .get(&def.name)
        .map(|t| t.values().collect::<Vec<_>>())
        .unwrap_or_default();
    let matching: Vec<&Record> = table
        .into_iter()
        .filter(|r| filter.as_ref().map(|f| f.matches(def, r)).unwrap_or(true))
        .collect();
    let total = matching.len() as u64;
    let items: Vec<Value> = matching
        .iter()
        .skip(offset as usize)
        .take(limit as usize)
        .map(|r| json!({"links": [{"rel": "self", "href": record_href(routed, &def.name, r.id)}], "id": r.id.to_string()}))
        .collect();
    let count = items.len() as u64;
    let base = format!("{}/services/rest/record/v1/{}", routed.link_base, def.name);
    json_response(
        StatusCode::OK,
        json!({"links": page_links(&base, q, limit, offset, total), "count": count, "hasMore": offset + count < total,
               "items": items, "offset": offset, "totalResults": total}),
        "application/vnd.oracle.resource+json; type=collection",
    )
}

fn find_id(acct: &Account, def: &RecordTypeDef, id: &str) -> Option<u64> {
    let data = acct.data.read().unwrap();
    let table = data.get(&def.name)?;
    if let Some(eid) = id.strip_prefix("eid:") {
        return table
            .values()
            .find(|r| r.external_id.as_deref() == Some(eid))
            .map(|r| r.id);
    }
    let n: u64 = id.parse().ok()?;
    table.contains_key(&n).then_some(n)
}

fn get_one(routed: &Routed, rt: &str, id: &str, q: &BTreeMap<String, String>) -> Response {
    let acct = &routed.account;
    let Some(def) = acct.record_type(rt) else {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            &format!("Record type '{rt}' does not exist."),
        );
    };
    let Some(n) = find_id(acct, def, id) else {
        return not_found();
    };
    let fields: Option<Vec<String>> = q
        .get("fields")
        .map(|f| f.split(',').map(|s| s.trim().to_string()).collect());
    let expand = q
        .get("expandSubResources")
        .map(|v| v == "true")
        .unwrap_or(false);
    let data = acct.data.read().unwrap();
    let r = &data[&def.name][&n];
    json_response(
        StatusCode::OK,
        render_record(routed, acct, def, r, fields.as_deref(), expand),
        "application/vnd.oracle.resource+json; type=singular",
    )
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum WriteMode {
    Create,
    Update,
    Upsert,
}

/// Why a field value was refused: (error code, detail, path).
pub(crate) type FieldProblem = (String, String, String);

/// Checks and converts one incoming field value to the stored shape.
pub(crate) fn coerce(acct: &Account, f: &FieldDef, v: &Value) -> Result<Option<Value>, String> {
    if v.is_null() {
        return Ok(None);
    }
    let ok = match &f.kind {
        FieldKind::Text => v.as_str().map(|s| json!(s)),
        FieldKind::Integer => v.as_i64().map(|n| json!(n)).or_else(|| {
            v.as_str()
                .and_then(|s| s.parse::<i64>().ok())
                .map(|n| json!(n))
        }),
        FieldKind::Float => v.as_f64().map(|n| json!(n)).or_else(|| {
            v.as_str()
                .and_then(|s| s.parse::<f64>().ok())
                .map(|n| json!(n))
        }),
        FieldKind::Boolean => v.as_bool().map(|b| json!(b)),
        FieldKind::Date => v
            .as_str()
            .filter(|s| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok())
            .map(|s| json!(s)),
        FieldKind::DateTime => v
            .as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|d| json!(fmt_iso(d.timestamp()))),
        FieldKind::Select { record } => {
            let id = v.get("id").and_then(|i| {
                i.as_str()
                    .map(str::to_string)
                    .or_else(|| i.as_u64().map(|n| n.to_string()))
            });
            match id {
                Some(id) => {
                    let exists = match acct.record_type(record) {
                        Some(t) => {
                            let data = acct.data.read().unwrap();
                            id.parse::<u64>()
                                .ok()
                                .map(|n| {
                                    data.get(&t.name)
                                        .map(|tb| tb.contains_key(&n))
                                        .unwrap_or(false)
                                })
                                .unwrap_or(false)
                        }
                        None => id.parse::<u64>().is_ok(),
                    };
                    if exists {
                        Some(json!({"id": id}))
                    } else {
                        return Err(id);
                    }
                }
                None => None,
            }
        }
        FieldKind::List { values } => v
            .get("id")
            .and_then(|i| {
                i.as_str()
                    .map(str::to_string)
                    .or_else(|| i.as_u64().map(|n| n.to_string()))
            })
            .filter(|id| {
                id.parse::<usize>()
                    .map(|n| n >= 1 && n <= values.len())
                    .unwrap_or(false)
            })
            .map(|id| json!({"id": id})),
    };
    ok.map(Some).ok_or_else(|| v.to_string())
}

/// Applies a JSON body to a record (new or existing). Shared by REST and SOAP writes.
pub(crate) fn apply_body(
    acct: &Account,
    def: &RecordTypeDef,
    rec: &mut Record,
    body: &Map<String, Value>,
    strict_names: bool,
) -> Result<(), FieldProblem> {
    for (k, v) in body {
        if k == "links" || k == "id" || k.eq_ignore_ascii_case("externalId") {
            continue;
        }
        if k == "item" && def.fields.iter().any(|f| f.line) {
            let items = v
                .get("items")
                .and_then(|i| i.as_array())
                .cloned()
                .unwrap_or_default();
            let mut lines = Vec::new();
            for (i, it) in items.iter().enumerate() {
                let mut l = BTreeMap::new();
                for (lk, lv) in it.as_object().into_iter().flatten() {
                    let Some(f) = def
                        .fields
                        .iter()
                        .find(|f| f.line && f.name.eq_ignore_ascii_case(lk))
                    else {
                        continue;
                    };
                    match coerce(acct, f, lv) {
                        Ok(Some(c)) => {
                            l.insert(f.name.clone(), c);
                        }
                        Ok(None) => {}
                        Err(bad) => {
                            return Err(("INVALID_CONTENT".into(), format!("Error while accessing a resource. You have entered an Invalid Field Value {bad} for the following field: {}", f.name), format!("item.items[{i}].{}", f.name)))
                        }
                    }
                }
                lines.push(l);
            }
            rec.lines = lines;
            continue;
        }
        let Some(f) = def.body_fields().find(|f| f.name.eq_ignore_ascii_case(k)) else {
            if strict_names {
                return Err(("INVALID_CONTENT".into(), format!("Error while accessing a resource. The field {k} is not valid for this record type."), k.clone()));
            }
            continue;
        };
        if f.read_only {
            continue;
        }
        match coerce(acct, f, v) {
            Ok(Some(c)) => {
                rec.values.insert(f.name.clone(), c);
            }
            Ok(None) => {
                rec.values.remove(&f.name);
            }
            Err(bad) => {
                return Err(("INVALID_CONTENT".into(), format!("Error while accessing a resource. You have entered an Invalid Field Value {bad} for the following field: {}", f.name), f.name.clone()))
            }
        }
    }
    let missing: Vec<&str> = def
        .body_fields()
        .filter(|f| f.required && !f.read_only && !rec.values.contains_key(&f.name))
        .map(|f| f.label.as_str())
        .collect();
    if !missing.is_empty() {
        return Err((
            "USER_ERROR".into(),
            format!(
                "Error while accessing a resource. Please enter value(s) for: {}.",
                missing.join(", ")
            ),
            String::new(),
        ));
    }
    Ok(())
}

/// Stamps creation/modification times on a written record.
pub(crate) fn stamp(def: &RecordTypeDef, rec: &mut Record, now: i64, created: bool) {
    rec.modified = now;
    rec.values
        .insert(def.modified_field.clone(), json!(fmt_iso(now)));
    if created {
        rec.created = now;
        let cf = if def.custom { "created" } else { "dateCreated" };
        rec.values.insert(cf.into(), json!(fmt_iso(now)));
    }
}

fn write(
    sim: &Simulator,
    routed: &Routed,
    rt: &str,
    id: Option<&str>,
    headers: &HeaderMap,
    body: &Bytes,
    mode: WriteMode,
) -> Response {
    let acct = &routed.account;
    let Some(def) = acct.record_type(rt) else {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            &format!("Record type '{rt}' does not exist."),
        );
    };
    let obj = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) => o,
        _ => {
            return bad_request(
                "The request could not be understood by the server due to malformed syntax.",
            )
        }
    };
    let strict = headers
        .get("x-netsuite-propertynamevalidation")
        .and_then(|h| h.to_str().ok())
        .map(|v| v.eq_ignore_ascii_case("error"))
        .unwrap_or(false);
    let body_eid = obj
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("externalId"))
        .and_then(|(_, v)| v.as_str().map(str::to_string));
    let path_eid = id.and_then(|i| i.strip_prefix("eid:")).map(str::to_string);
    let existing = id.and_then(|i| find_id(acct, def, i));
    let now = sim.now();
    let (mut rec, created) = match (mode, existing) {
        (WriteMode::Update, None) => return not_found(),
        (WriteMode::Create, _) => {
            if let Some(e) = &body_eid {
                if find_id(acct, def, &format!("eid:{e}")).is_some() {
                    return error_at(StatusCode::BAD_REQUEST, "DUP_RCRD", "Error while accessing a resource. A record with this external ID already exists.", Some("externalId"));
                }
            }
            (new_record(acct, body_eid.clone()), true)
        }
        (WriteMode::Upsert, None) => (new_record(acct, path_eid.clone()), true),
        (_, Some(n)) => (acct.data.read().unwrap()[&def.name][&n].clone(), false),
    };
    if let Err((code, detail, path)) = apply_body(acct, def, &mut rec, &obj, strict) {
        if created {
            // Give back nothing: the id was never visible.
        }
        return error_at(
            StatusCode::BAD_REQUEST,
            &code,
            &detail,
            (!path.is_empty()).then_some(path.as_str()),
        );
    }
    stamp(def, &mut rec, now, created);
    let rid = rec.id;
    acct.data
        .write()
        .unwrap()
        .get_mut(&def.name)
        .expect("table exists")
        .insert(rid, rec);
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(&record_href(routed, &def.name, rid)).unwrap(),
    );
    r
}

pub(crate) fn new_record(acct: &Account, external_id: Option<String>) -> Record {
    Record {
        id: acct.next_id.fetch_add(1, Ordering::SeqCst),
        external_id,
        created: 0,
        modified: 0,
        values: BTreeMap::new(),
        lines: vec![],
    }
}

fn delete(routed: &Routed, rt: &str, id: &str) -> Response {
    let acct = &routed.account;
    let Some(def) = acct.record_type(rt) else {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            &format!("Record type '{rt}' does not exist."),
        );
    };
    let Some(n) = find_id(acct, def, id) else {
        return not_found();
    };
    acct.data
        .write()
        .unwrap()
        .get_mut(&def.name)
        .unwrap()
        .remove(&n);
    StatusCode::NO_CONTENT.into_response()
}

/// The OAuth 2.0 client-credentials token endpoint.
pub(crate) fn oauth2_token(sim: &Simulator, routed: &Routed, body: &Bytes) -> Response {
    let acct = &routed.account;
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let fail = |code: &str, why: &str| {
        acct.log_auth_failure(why);
        json_response(
            StatusCode::BAD_REQUEST,
            json!({"error": code}),
            "application/json",
        )
    };
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return fail("unsupported_grant_type", "OAuth2: unsupported grant type");
    }
    if form.get("client_assertion_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    {
        return fail("invalid_request", "OAuth2: wrong client_assertion_type");
    }
    let Some(jwt) = form.get("client_assertion") else {
        return fail("invalid_request", "OAuth2: no client_assertion");
    };
    let kid = match crate::auth::assertion_kid(jwt) {
        Ok(k) => k,
        Err(e) => {
            return fail(
                "invalid_client",
                &format!("OAuth2: {}", super::auth_error_kind(&e)),
            )
        }
    };
    let keys: Vec<(String, String)> = acct
        .auth
        .lock()
        .unwrap()
        .oauth2_clients
        .iter()
        .filter(|((_, cert), _)| cert == &kid)
        .map(|((client, _), key)| (client.clone(), key.clone()))
        .collect();
    let Some((client, key)) = keys.into_iter().next() else {
        return fail("invalid_client", "OAuth2: unknown certificate id");
    };
    let claims = match crate::auth::verify_assertion(jwt, &key) {
        Ok(c) => c,
        Err(e) => {
            return fail(
                "invalid_client",
                &format!("OAuth2: {}", super::auth_error_kind(&e)),
            )
        }
    };
    let now = sim.wall_now();
    let token_urls: Vec<String> = routed
        .signed_urls
        .iter()
        .map(crate::auth::base_string_uri)
        .collect();
    if claims.iss != client {
        return fail("invalid_client", "OAuth2: iss is not the client id");
    }
    if !token_urls.contains(&claims.aud) {
        return fail("invalid_grant", "OAuth2: aud is not the token endpoint");
    }
    if claims.exp <= now || claims.exp - claims.iat > 3600 || claims.iat > now + 300 {
        return fail(
            "invalid_grant",
            "OAuth2: assertion expired or too long-lived",
        );
    }
    if !claims
        .scopes
        .iter()
        .any(|s| s == "rest_webservices" || s == "restlets")
    {
        return fail("invalid_scope", "OAuth2: no usable scope");
    }
    let token: String = format!(
        "{:032x}{:032x}",
        rand::random::<u128>(),
        rand::random::<u128>()
    );
    acct.auth.lock().unwrap().access_tokens.insert(
        token.clone(),
        super::AccessToken {
            expires: now + 3600,
            revoked: false,
        },
    );
    json_response(
        StatusCode::OK,
        json!({"access_token": token, "expires_in": "3600", "token_type": "Bearer"}),
        "application/json",
    )
}

/// The REST `q` filter language: `field OPERATOR value`, joined by AND (binding tighter)
/// and OR.
pub(crate) mod filter {
    use super::super::data::{FieldKind, Record, RecordTypeDef};
    use serde_json::Value;

    #[derive(Debug, Clone)]
    pub struct Cond {
        field: String,
        op: String,
        values: Vec<String>,
    }

    /// OR of ANDs.
    #[derive(Debug, Clone)]
    pub struct Filter(Vec<Vec<Cond>>);

    fn tokens(s: &str) -> Result<Vec<String>, String> {
        let mut out = vec![];
        let mut chars = s.chars().peekable();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() {
                chars.next();
            } else if c == '"' {
                chars.next();
                let mut t = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some(c) => t.push(c),
                        None => return Err("Invalid search query: unterminated string.".into()),
                    }
                }
                out.push(format!("\"{t}"));
            } else if c == '[' {
                let mut t = String::new();
                for c in chars.by_ref() {
                    t.push(c);
                    if c == ']' {
                        break;
                    }
                }
                if !t.ends_with(']') {
                    return Err("Invalid search query: unterminated list.".into());
                }
                out.push(t);
            } else {
                let mut t = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() {
                        break;
                    }
                    t.push(c);
                    chars.next();
                }
                out.push(t);
            }
        }
        Ok(out)
    }

    fn unquote(t: &str) -> String {
        t.strip_prefix('"').unwrap_or(t).to_string()
    }

    pub fn parse(text: &str, def: &RecordTypeDef) -> Result<Filter, String> {
        let toks = tokens(text)?;
        let mut ors = vec![vec![]];
        let mut i = 0;
        while i < toks.len() {
            let field = &toks[i];
            let op = toks
                .get(i + 1)
                .ok_or_else(|| format!("Invalid search query: missing operator after {field}."))?
                .to_ascii_uppercase();
            let f_ok = field.eq_ignore_ascii_case("id")
                || field.eq_ignore_ascii_case("externalId")
                || def
                    .body_fields()
                    .any(|f| f.name.eq_ignore_ascii_case(field) && f.filterable);
            if !f_ok {
                return Err(format!(
                    "Invalid search query. The field {field} is not available for filtering."
                ));
            }
            let (values, used) = if op == "EMPTY" || op == "EMPTY_NOT" {
                (vec![], 2)
            } else {
                let v = toks.get(i + 2).ok_or_else(|| {
                    format!("Invalid search query: missing value for {field} {op}.")
                })?;
                let vals =
                    if let Some(inner) = v.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
                        inner
                            .split(',')
                            .map(|s| unquote(s.trim()).trim_matches('"').to_string())
                            .collect()
                    } else {
                        vec![unquote(v)]
                    };
                (vals, 3)
            };
            ors.last_mut().unwrap().push(Cond {
                field: field.clone(),
                op,
                values,
            });
            i += used;
            match toks.get(i).map(|t| t.to_ascii_uppercase()) {
                None => {}
                Some(j) if j == "AND" => i += 1,
                Some(j) if j == "OR" => {
                    ors.push(vec![]);
                    i += 1
                }
                Some(j) => return Err(format!("Invalid search query: unexpected {j}.")),
            }
        }
        Ok(Filter(ors))
    }

    /// Parses a `q` date (`1/1/2024`, `1/1/2024 3:04 pm`) or ISO text into Unix seconds.
    pub fn parse_q_date(s: &str) -> Option<i64> {
        let s = s.trim();
        for fmt in [
            "%m/%d/%Y %I:%M %p",
            "%m/%d/%Y %I:%M:%S %p",
            "%m/%d/%Y %H:%M",
            "%m/%d/%Y %H:%M:%S",
        ] {
            if let Ok(d) = chrono::NaiveDateTime::parse_from_str(&s.to_ascii_uppercase(), fmt) {
                return Some(d.and_utc().timestamp());
            }
        }
        if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%m/%d/%Y") {
            return d.and_hms_opt(0, 0, 0).map(|x| x.and_utc().timestamp());
        }
        chrono::DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|d| d.timestamp())
    }

    fn to_time(v: &Value) -> Option<i64> {
        let s = v.as_str()?;
        chrono::DateTime::parse_from_rfc3339(s)
            .map(|d| d.timestamp())
            .ok()
            .or_else(|| {
                chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .ok()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
                    .map(|d| d.and_utc().timestamp())
            })
    }

    impl Cond {
        fn matches(&self, def: &RecordTypeDef, r: &Record) -> bool {
            let (negate, op) = match self.op.strip_suffix("_NOT") {
                Some(o) => (true, o.to_string()),
                None => (false, self.op.clone()),
            };
            let value: Option<Value> = if self.field.eq_ignore_ascii_case("id") {
                Some(Value::from(r.id))
            } else if self.field.eq_ignore_ascii_case("externalId") {
                r.external_id.clone().map(Value::from)
            } else {
                def.field(&self.field)
                    .and_then(|f| r.values.get(&f.name).cloned())
            };
            let kind = def
                .field(&self.field)
                .map(|f| f.kind.clone())
                .unwrap_or(FieldKind::Integer);
            let res = match (&kind, value) {
                (_, None) => op == "EMPTY",
                (_, Some(_)) if op == "EMPTY" => false,
                (FieldKind::Date | FieldKind::DateTime, Some(v)) => {
                    let (Some(t), Some(q)) = (
                        to_time(&v),
                        self.values.first().and_then(|s| parse_q_date(s)),
                    ) else {
                        return false;
                    };
                    match op.as_str() {
                        "AFTER" => t > q,
                        "BEFORE" => t < q,
                        "ON" => t / 86_400 == q / 86_400,
                        "ON_OR_AFTER" => t >= q,
                        "ON_OR_BEFORE" => t <= q,
                        "WITHIN" => self
                            .values
                            .get(1)
                            .and_then(|s| parse_q_date(s))
                            .map(|q2| t >= q && t <= q2)
                            .unwrap_or(false),
                        _ => false,
                    }
                }
                (FieldKind::Text, Some(v)) => {
                    let s = v.as_str().unwrap_or("").to_ascii_lowercase();
                    let q = self
                        .values
                        .first()
                        .map(|x| x.to_ascii_lowercase())
                        .unwrap_or_default();
                    match op.as_str() {
                        "IS" => s == q,
                        "CONTAIN" => s.contains(&q),
                        "START_WITH" => s.starts_with(&q),
                        "END_WITH" => s.ends_with(&q),
                        _ => false,
                    }
                }
                (FieldKind::Boolean, Some(v)) => {
                    let q = self
                        .values
                        .first()
                        .map(|x| x.eq_ignore_ascii_case("true"))
                        .unwrap_or(false);
                    op == "IS" && v.as_bool() == Some(q)
                }
                (_, Some(v)) => {
                    let n = v
                        .as_f64()
                        .or_else(|| {
                            v.get("id")
                                .and_then(|i| i.as_str())
                                .and_then(|s| s.parse().ok())
                        })
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()));
                    let qs: Vec<f64> = self.values.iter().filter_map(|s| s.parse().ok()).collect();
                    let (Some(n), Some(q)) = (n, qs.first().copied()) else {
                        return false;
                    };
                    match op.as_str() {
                        "EQUAL" | "IS" => n == q,
                        "GREATER" => n > q,
                        "GREATER_OR_EQUAL" => n >= q,
                        "LESS" => n < q,
                        "LESS_OR_EQUAL" => n <= q,
                        "ANY_OF" => qs.contains(&n),
                        "BETWEEN" | "WITHIN" => qs.len() == 2 && n >= qs[0] && n <= qs[1],
                        _ => false,
                    }
                }
            };
            res != negate
        }
    }

    impl Filter {
        pub fn matches(&self, def: &RecordTypeDef, r: &Record) -> bool {
            self.0
                .iter()
                .any(|ands| ands.iter().all(|c| c.matches(def, r)))
        }
    }
}
