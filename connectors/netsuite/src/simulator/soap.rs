//! The simulated SOAP SuiteTalk endpoint: tokenPassport verification, get/getList,
//! add/addList/upsertList with per-record status, basic and saved (advanced) searches with
//! searchMoreWithId and 15-minute search-id expiry, getCustomizationId, getSavedSearch,
//! getServerTime, and NetSuite's faults.

use super::data::{CustomFieldScope, FieldKind, Record, RecordTypeDef, SavedSearchDef};
use super::{check_tba, fmt_soap_time, remember_nonce, Account, Routed, SearchSession, Simulator};
use crate::auth;
use crate::client::xml::{self, Element};
use crate::client::xml_escape as esc;
use axum::body::Bytes;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};
use std::sync::atomic::Ordering;

/// How long an unused searchId stays valid.
pub(crate) const SEARCH_TTL_SECS: i64 = 15 * 60;

fn ns(v: &str) -> String {
    format!(
        "xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
xmlns:platformMsgs=\"urn:messages_{v}.platform.webservices.netsuite.com\" xmlns:platformCore=\"urn:core_{v}.platform.webservices.netsuite.com\" \
xmlns:platformCommon=\"urn:common_{v}.platform.webservices.netsuite.com\" xmlns:platformFaults=\"urn:faults_{v}.platform.webservices.netsuite.com\" \
xmlns:listRel=\"urn:relationships_{v}.lists.webservices.netsuite.com\" xmlns:listAcct=\"urn:accounting_{v}.lists.webservices.netsuite.com\" \
xmlns:tranSales=\"urn:sales_{v}.transactions.webservices.netsuite.com\" xmlns:setupCustom=\"urn:customization_{v}.setup.webservices.netsuite.com\""
    )
}

fn ns_id(acct: &Account) -> String {
    format!("WEBSERVICES_{}_{:x}", acct.id, rand::random::<u64>())
}

fn envelope(acct: &Account, version: &str, body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soapenv:Envelope {}><soapenv:Header><platformMsgs:documentInfo><platformMsgs:nsId>{}</platformMsgs:nsId></platformMsgs:documentInfo></soapenv:Header><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>",
        ns(version),
        ns_id(acct)
    )
}

fn xml_response(status: StatusCode, text: String) -> Response {
    let mut r = (status, text).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml; charset=utf-8"),
    );
    r
}

fn fault(acct: &Account, faultstring: &str, fault_el: &str, code: &str) -> Response {
    let body = format!(
        "<soapenv:Fault><faultcode>soapenv:Server.userException</faultcode><faultstring>{m}</faultstring><detail><platformFaults:{fault_el}><platformFaults:code>{code}</platformFaults:code><platformFaults:message>{m}</platformFaults:message></platformFaults:{fault_el}><ns1:hostname xmlns:ns1=\"http://xml.apache.org/axis/\">sim.netsuite.local</ns1:hostname></detail></soapenv:Fault>",
        m = esc(faultstring)
    );
    xml_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        envelope(acct, "2024_2", &body),
    )
}

pub(crate) fn concurrency_fault(acct: &Account) -> Response {
    fault(
        acct,
        "Concurrent request limit exceeded. Request blocked.",
        "exceededConcurrentRequestLimitFault",
        "WS_REQUEST_BLOCKED",
    )
}

pub(crate) fn unexpected_fault(acct: &Account) -> Response {
    fault(
        acct,
        "An unexpected error has occurred. Technical Support has been alerted to this problem.",
        "unexpectedErrorFault",
        "UNEXPECTED_ERROR",
    )
}

fn invalid_login(acct: &Account) -> Response {
    fault(
        acct,
        "Invalid login attempt.",
        "invalidCredentialsFault",
        "INVALID_LOGIN_ATTEMPT",
    )
}

fn status_ok() -> &'static str {
    "<platformCore:status isSuccess=\"true\"/>"
}

fn status_err(code: &str, message: &str) -> String {
    format!(
        "<platformCore:status isSuccess=\"false\"><platformCore:statusDetail type=\"ERROR\"><platformCore:code>{}</platformCore:code><platformCore:message>{}</platformCore:message></platformCore:statusDetail></platformCore:status>",
        esc(code),
        esc(message)
    )
}

fn verify_passport(
    sim: &Simulator,
    acct: &Account,
    header_el: Option<&Element>,
) -> Result<(), String> {
    let h = header_el.ok_or("MissingHeader")?;
    let tp = h.child("tokenPassport").ok_or("MissingTokenPassport")?;
    if h.child("passport").is_some()
        || h.child("applicationInfo").is_some()
        || h.child("ssoPassport").is_some()
    {
        return Err("Ambiguous authentication".into());
    }
    let get = |n: &str| {
        tp.child_text(n)
            .map(str::to_string)
            .ok_or_else(|| format!("MissingPassportField: {n}"))
    };
    let (account, ck, token, nonce, ts) = (
        get("account")?,
        get("consumerKey")?,
        get("token")?,
        get("nonce")?,
        get("timestamp")?,
    );
    let sig = tp
        .child("signature")
        .ok_or("MissingPassportField: signature")?;
    match sig.attr("algorithm") {
        Some("HMAC-SHA256") | Some("HMAC_SHA256") => {}
        other => return Err(format!("UnsupportedSignatureMethod: {other:?}")),
    }
    let (cs, tsec) = check_tba(sim, acct, &account, &ck, &token, &nonce, &ts)?;
    let base = auth::soap_base_string(&account, &ck, &token, &nonce, &ts);
    if !auth::signatures_equal(&auth::hmac_sha256_signature(&base, &cs, &tsec), &sig.text) {
        return Err("InvalidSignature".into());
    }
    remember_nonce(acct, &token, &nonce, &ts)
}

pub(crate) fn handle(
    sim: &Simulator,
    routed: &Routed,
    _headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let acct = &routed.account;
    let version = routed
        .path
        .strip_prefix("/services/NetSuitePort_")
        .unwrap_or("2024_2")
        .trim_end_matches('/')
        .to_string();
    let text = String::from_utf8_lossy(body);
    let doc = match xml::parse(&text) {
        Ok(d) if d.name == "Envelope" => d,
        Ok(_) => return xml_response(StatusCode::INTERNAL_SERVER_ERROR, envelope(acct, &version, "<soapenv:Fault><faultcode>soapenv:Client</faultcode><faultstring>Not a SOAP envelope</faultstring></soapenv:Fault>")),
        Err(e) => return xml_response(StatusCode::INTERNAL_SERVER_ERROR, envelope(acct, &version, &format!("<soapenv:Fault><faultcode>soapenv:Client</faultcode><faultstring>{}</faultstring></soapenv:Fault>", esc(&e)))),
    };
    if let Err(why) = verify_passport(sim, acct, doc.child("Header")) {
        acct.log_auth_failure(&why);
        if why == "Ambiguous authentication" {
            return fault(
                acct,
                "Ambiguous authentication",
                "invalidCredentialsFault",
                "USER_ERROR",
            );
        }
        return invalid_login(acct);
    }
    let Some(op) = doc.child("Body").and_then(|b| b.children.first()) else {
        return xml_response(StatusCode::INTERNAL_SERVER_ERROR, envelope(acct, &version, "<soapenv:Fault><faultcode>soapenv:Client</faultcode><faultstring>Empty body</faultstring></soapenv:Fault>"));
    };
    let page_size = doc
        .path(&["Header", "searchPreferences", "pageSize"])
        .map(|p| p.text.parse::<i64>().unwrap_or(-1));
    let return_columns = doc
        .path(&["Header", "searchPreferences", "returnSearchColumns"])
        .map(|p| p.text != "false")
        .unwrap_or(true);
    let inner = match op.name.as_str() {
        "get" => op.child("baseRef").map(|r| format!("<getResponse xmlns=\"urn:messages_{version}.platform.webservices.netsuite.com\">{}</getResponse>", read_response(routed, r))),
        "getList" => {
            let refs: Vec<&Element> = op.children_named("baseRef").collect();
            if refs.len() > 1000 {
                return fault(acct, "The request exceeds the maximum of 1000 records.", "exceededRecordCountFault", "EXCEEDED_MAX_RECORDS");
            }
            let items: String = refs.iter().map(|r| read_response(routed, r)).collect();
            Some(format!("<getListResponse xmlns=\"urn:messages_{version}.platform.webservices.netsuite.com\"><readResponseList>{status}{items}</readResponseList></getListResponse>", status = status_ok()))
        }
        "add" | "addList" | "upsertList" | "upsert" | "updateList" | "update" => {
            let records: Vec<&Element> = op.children_named("record").collect();
            let max = match op.name.as_str() {
                "addList" => 200,
                "upsertList" | "updateList" => 100,
                _ => 1,
            };
            if records.len() > max {
                return fault(acct, &format!("The request exceeds the maximum of {max} records."), "exceededRecordCountFault", "EXCEEDED_MAX_RECORDS");
            }
            let results: String = records
                .iter()
                .map(|r| write_one(sim, acct, r, &op.name))
                .collect();
            let tag = format!("{}Response", op.name);
            Some(if op.name.ends_with("List") {
                format!("<{tag} xmlns=\"urn:messages_{version}.platform.webservices.netsuite.com\"><writeResponseList>{status}{results}</writeResponseList></{tag}>", status = status_ok())
            } else {
                format!("<{tag} xmlns=\"urn:messages_{version}.platform.webservices.netsuite.com\">{results}</{tag}>")
            })
        }
        "search" => {
            let ps = match page_size {
                Some(p) if !(5..=1000).contains(&p) => {
                    return Some(()).map(|_| xml_response(StatusCode::OK, envelope(acct, &version, &format!("<searchResponse xmlns=\"urn:messages_{version}.platform.webservices.netsuite.com\"><platformCore:searchResult>{}</platformCore:searchResult></searchResponse>", status_err("WS_INVALID_SEARCH_PAGE_SIZE", "The page size must be between 5 and 1000."))))).unwrap();
                }
                Some(p) => p as usize,
                None => 1000,
            };
            Some(format!("<searchResponse xmlns=\"urn:messages_{version}.platform.webservices.netsuite.com\">{}</searchResponse>", search(sim, routed, op, ps, return_columns)))
        }
        "searchMoreWithId" => Some(format!("<searchMoreWithIdResponse xmlns=\"urn:messages_{version}.platform.webservices.netsuite.com\">{}</searchMoreWithIdResponse>", search_more(sim, routed, op))),
        "getCustomizationId" => Some(format!("<getCustomizationIdResponse xmlns=\"urn:messages_{version}.platform.webservices.netsuite.com\">{}</getCustomizationIdResponse>", customization_ids(acct, op))),
        "getSavedSearch" => Some(format!("<getSavedSearchResponse xmlns=\"urn:messages_{version}.platform.webservices.netsuite.com\">{}</getSavedSearchResponse>", saved_search_list(acct, op))),
        "getServerTime" => Some(format!("<getServerTimeResponse xmlns=\"urn:messages_{version}.platform.webservices.netsuite.com\"><getServerTimeResult>{}<serverTime>{}</serverTime></getServerTimeResult></getServerTimeResponse>", status_ok(), fmt_soap_time(sim.now()))),
        _ => None,
    };
    match inner {
        Some(b) => xml_response(StatusCode::OK, envelope(acct, &version, &b)),
        None => xml_response(StatusCode::INTERNAL_SERVER_ERROR, envelope(acct, &version, &format!("<soapenv:Fault><faultcode>soapenv:Client</faultcode><faultstring>Unsupported operation {}</faultstring></soapenv:Fault>", esc(&op.name)))),
    }
}

fn type_of_ref(acct: &Account, r: &Element) -> Option<RecordTypeDef> {
    if let Some(t) = r.attr("type") {
        if let Some(def) = acct.record_type(t) {
            return Some(def.clone());
        }
    }
    // Custom records are referenced by typeId (the custom record type's internal id).
    let type_id = r.attr("typeId")?;
    acct.types
        .values()
        .find(|t| t.custom && (t.internal_id.to_string() == type_id || t.name == type_id))
        .cloned()
}

fn read_response(routed: &Routed, r: &Element) -> String {
    let acct = &routed.account;
    let Some(def) = type_of_ref(acct, r) else {
        return format!(
            "<readResponse>{}</readResponse>",
            status_err("INVALID_KEY_OR_REF", "The specified key is invalid.")
        );
    };
    let data = acct.data.read().unwrap();
    let table = &data[&def.name];
    let rec = if let Some(id) = r.attr("internalId") {
        id.parse::<u64>().ok().and_then(|n| table.get(&n))
    } else if let Some(e) = r.attr("externalId") {
        table.values().find(|x| x.external_id.as_deref() == Some(e))
    } else {
        None
    };
    match rec {
        Some(rec) => format!(
            "<readResponse>{}{}</readResponse>",
            status_ok(),
            record_xml(acct, &def, rec, "record")
        ),
        None => format!(
            "<readResponse>{}</readResponse>",
            status_err("RCRD_DSNT_EXIST", "That record does not exist.")
        ),
    }
}

fn prefix(def: &RecordTypeDef) -> &str {
    def.soap_type.split(':').next().unwrap_or("listRel")
}

fn custom_ref_type(kind: &FieldKind) -> &'static str {
    match kind {
        FieldKind::Text => "StringCustomFieldRef",
        FieldKind::Integer => "LongCustomFieldRef",
        FieldKind::Float => "DoubleCustomFieldRef",
        FieldKind::Boolean => "BooleanCustomFieldRef",
        FieldKind::Date | FieldKind::DateTime => "DateCustomFieldRef",
        FieldKind::Select { .. } | FieldKind::List { .. } => "SelectCustomFieldRef",
    }
}

fn value_text(kind: &FieldKind, v: &Value) -> String {
    match kind {
        FieldKind::DateTime => chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap_or(""))
            .map(|d| fmt_soap_time(d.timestamp()))
            .unwrap_or_default(),
        FieldKind::Date => format!("{}T00:00:00.000-08:00", v.as_str().unwrap_or("")),
        _ => match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        },
    }
}

/// One record as SOAP XML.
pub(crate) fn record_xml(_acct: &Account, def: &RecordTypeDef, r: &Record, tag: &str) -> String {
    let p = prefix(def);
    let mut out = format!("<{tag} internalId=\"{}\"", r.id);
    if let Some(e) = &r.external_id {
        out.push_str(&format!(" externalId=\"{}\"", esc(e)));
    }
    out.push_str(&format!(" xsi:type=\"{}\">", def.soap_type));
    if def.custom {
        out.push_str(&format!(
            "<{p}:recType internalId=\"{}\" scriptId=\"{}\" type=\"customRecordType\"/>",
            def.internal_id, def.name
        ));
    }
    let mut customs = String::new();
    for f in def.body_fields() {
        let Some(v) = r.values.get(&f.name) else {
            continue;
        };
        if f.custom.is_some() {
            let inner = match &f.kind {
                FieldKind::Select { .. } | FieldKind::List { .. } => {
                    let id = v.get("id").and_then(|i| i.as_str()).unwrap_or("");
                    format!("<platformCore:value internalId=\"{id}\"/>")
                }
                k => format!(
                    "<platformCore:value>{}</platformCore:value>",
                    esc(&value_text(k, v))
                ),
            };
            customs.push_str(&format!("<platformCore:customField internalId=\"{}\" scriptId=\"{}\" xsi:type=\"platformCore:{}\">{inner}</platformCore:customField>", f.internal_id, f.name, custom_ref_type(&f.kind)));
            continue;
        }
        match &f.kind {
            FieldKind::Select { .. } | FieldKind::List { .. } => {
                let id = v.get("id").and_then(|i| i.as_str()).unwrap_or("");
                out.push_str(&format!(
                    "<{p}:{n} internalId=\"{id}\" xsi:type=\"platformCore:RecordRef\"/>",
                    n = f.name
                ));
            }
            k => out.push_str(&format!(
                "<{p}:{n}>{}</{p}:{n}>",
                esc(&value_text(k, v)),
                n = f.name
            )),
        }
    }
    if !customs.is_empty() {
        out.push_str(&format!(
            "<{p}:customFieldList>{customs}</{p}:customFieldList>"
        ));
    }
    out.push_str(&format!("</{tag}>"));
    out
}

fn def_for_record_el(acct: &Account, el: &Element) -> Option<RecordTypeDef> {
    let t = el.attr("type")?;
    if t.ends_with(":CustomRecord") || t == "CustomRecord" {
        let rt = el.child("recType")?;
        return acct
            .types
            .values()
            .find(|d| {
                d.custom
                    && (rt.attr("scriptId") == Some(d.name.as_str())
                        || rt.attr("internalId") == Some(d.internal_id.to_string().as_str()))
            })
            .cloned();
    }
    let local = t.rsplit(':').next().unwrap_or(t);
    acct.types
        .values()
        .find(|d| d.soap_type.rsplit(':').next() == Some(local))
        .cloned()
}

/// Converts a SOAP record element into the JSON body shape the REST writer understands.
fn soap_record_to_json(def: &RecordTypeDef, el: &Element) -> Result<Map<String, Value>, String> {
    let mut m = Map::new();
    let convert = |kind: &FieldKind, e: &Element| -> Result<Value, String> {
        Ok(match kind {
            FieldKind::Select { .. } | FieldKind::List { .. } => {
                let id = e
                    .attr("internalId")
                    .or_else(|| e.child("value").and_then(|v| v.attr("internalId")));
                json!({"id": id.ok_or_else(|| format!("{} has no internalId", e.name))?})
            }
            FieldKind::Integer => json!(e
                .text
                .parse::<i64>()
                .map_err(|_| format!("{} is not an integer: {}", e.name, e.text))?),
            FieldKind::Float => json!(e
                .text
                .parse::<f64>()
                .map_err(|_| format!("{} is not a number: {}", e.name, e.text))?),
            FieldKind::Boolean => json!(e.text == "true"),
            FieldKind::Date => json!(e.text.get(..10).unwrap_or(&e.text)),
            FieldKind::DateTime => json!(e.text),
            FieldKind::Text => json!(e.text),
        })
    };
    for c in &el.children {
        if c.name == "customFieldList" {
            for cf in c.children_named("customField") {
                let sid = cf.attr("scriptId").unwrap_or("");
                let Some(f) = def.body_fields().find(|f| f.name == sid) else {
                    return Err(format!("unknown custom field {sid}"));
                };
                let v = match &f.kind {
                    FieldKind::Select { .. } | FieldKind::List { .. } => convert(&f.kind, cf)?,
                    k => convert(
                        k,
                        cf.child("value")
                            .ok_or_else(|| format!("{sid} has no value"))?,
                    )?,
                };
                m.insert(f.name.clone(), v);
            }
            continue;
        }
        if c.name == "recType" {
            continue;
        }
        let Some(f) = def.body_fields().find(|f| f.name == c.name) else {
            continue;
        };
        m.insert(f.name.clone(), convert(&f.kind, c)?);
    }
    Ok(m)
}

fn write_one(sim: &Simulator, acct: &Account, el: &Element, op: &str) -> String {
    let fail =
        |code: &str, msg: &str| format!("<writeResponse>{}</writeResponse>", status_err(code, msg));
    let Some(def) = def_for_record_el(acct, el) else {
        return fail("INVALID_RCRD_TYPE", "The record type is not valid.");
    };
    let body = match soap_record_to_json(&def, el) {
        Ok(b) => b,
        Err(e) => return fail("INVALID_FLD_VALUE", &e),
    };
    let eid = el.attr("externalId").map(str::to_string);
    let iid = el.attr("internalId").and_then(|s| s.parse::<u64>().ok());
    if (op == "upsert" || op == "upsertList") && eid.is_none() {
        return fail(
            "USER_ERROR",
            "You must specify an externalId to upsert a record.",
        );
    }
    let existing: Option<Record> = {
        let data = acct.data.read().unwrap();
        let table = &data[&def.name];
        match (op, iid, &eid) {
            ("update" | "updateList", Some(n), _) => table.get(&n).cloned(),
            (_, _, Some(e)) if op != "add" && op != "addList" => table
                .values()
                .find(|r| r.external_id.as_deref() == Some(e.as_str()))
                .cloned(),
            ("add" | "addList", _, Some(e)) => {
                if table
                    .values()
                    .any(|r| r.external_id.as_deref() == Some(e.as_str()))
                {
                    return fail("DUP_RCRD", "This record already exists.");
                }
                None
            }
            _ => None,
        }
    };
    if existing.is_none() && (op == "update" || op == "updateList") {
        return fail("RCRD_DSNT_EXIST", "That record does not exist.");
    }
    let created = existing.is_none();
    let mut rec = existing.unwrap_or_else(|| super::rest::new_record(acct, eid.clone()));
    if let Err((code, msg, path)) = super::rest::apply_body(acct, &def, &mut rec, &body, false) {
        // SOAP names value errors differently from REST: bad references are
        // INVALID_KEY_OR_REF, other bad values INVALID_FLD_VALUE.
        let code = match code.as_str() {
            "INVALID_CONTENT" => match def.field(&path).map(|f| &f.kind) {
                Some(FieldKind::Select { .. } | FieldKind::List { .. }) => {
                    "INVALID_KEY_OR_REF".to_string()
                }
                _ => "INVALID_FLD_VALUE".to_string(),
            },
            _ => code,
        };
        return fail(
            &code,
            msg.trim_start_matches("Error while accessing a resource. "),
        );
    }
    super::rest::stamp(&def, &mut rec, sim.now(), created);
    let id = rec.id;
    acct.data
        .write()
        .unwrap()
        .get_mut(&def.name)
        .unwrap()
        .insert(id, rec);
    let ext = eid
        .map(|e| format!(" externalId=\"{}\"", esc(&e)))
        .unwrap_or_default();
    format!("<writeResponse>{}<baseRef internalId=\"{id}\"{ext} type=\"{}\" xsi:type=\"platformCore:RecordRef\"/></writeResponse>", status_ok(), def.name)
}

fn search_family(acct: &Account, search_type: &str, el: &Element) -> Option<RecordTypeDef> {
    let local = search_type.rsplit(':').next().unwrap_or(search_type);
    let family = local
        .trim_end_matches("Advanced")
        .trim_end_matches("Basic")
        .trim_end_matches("Search");
    match family {
        "Customer" => acct.record_type("customer").cloned(),
        "Transaction" => acct.record_type("salesOrder").cloned(),
        "Item" => acct.record_type("inventoryItem").cloned(),
        "CustomRecord" => {
            let rt = el.find("recType")?;
            acct.types
                .values()
                .find(|d| {
                    d.custom
                        && (rt.attr("scriptId") == Some(d.name.as_str())
                            || rt.attr("internalId") == Some(d.internal_id.to_string().as_str()))
                })
                .cloned()
        }
        _ => None,
    }
}

fn parse_soap_time(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.timestamp())
}

fn search(
    sim: &Simulator,
    routed: &Routed,
    op: &Element,
    page_size: usize,
    return_columns: bool,
) -> String {
    let acct = &routed.account;
    let Some(sr) = op.child("searchRecord") else {
        return format!(
            "<platformCore:searchResult>{}</platformCore:searchResult>",
            status_err("USER_ERROR", "A searchRecord is required.")
        );
    };
    let stype = sr.attr("type").unwrap_or("");
    let saved: Option<SavedSearchDef> = if stype.ends_with("SearchAdvanced") {
        let by_script = sr.attr("savedSearchScriptId");
        let by_id = sr.attr("savedSearchId");
        match acct.saved_searches.iter().find(|s| {
            Some(s.script_id.as_str()) == by_script
                || by_id == Some(s.internal_id.to_string().as_str())
        }) {
            Some(s) => Some(s.clone()),
            None => {
                return format!(
                    "<platformCore:searchResult>{}</platformCore:searchResult>",
                    status_err("INVALID_SAVED_SRCH", "The saved search does not exist.")
                )
            }
        }
    } else {
        None
    };
    if let Some(s) = &saved {
        if s.summary {
            return format!(
                "<platformCore:searchResult>{}</platformCore:searchResult>",
                status_err(
                    "USER_ERROR",
                    &format!(
                        "We cannot return search columns for summary saved search {}.",
                        s.script_id
                    )
                )
            );
        }
    }
    let def = match &saved {
        Some(s) => acct.record_type(&s.record_type).cloned(),
        None => search_family(acct, stype, sr),
    };
    let Some(def) = def else {
        return format!(
            "<platformCore:searchResult>{}</platformCore:searchResult>",
            status_err("INVALID_SRCH_TYPE", "The search type is not supported.")
        );
    };
    // A lastModifiedDate criterion may sit directly in a *SearchBasic or under `basic`.
    let crit = sr
        .find("lastModifiedDate")
        .or_else(|| sr.find("lastModified"));
    let (mut from, mut to) = (i64::MIN, i64::MAX);
    if let Some(c) = crit {
        if !def.modified_filterable {
            return format!(
                "<platformCore:searchResult>{}</platformCore:searchResult>",
                status_err(
                    "INVALID_SRCH_CRITERIA",
                    "The field cannot be used as a search criterion."
                )
            );
        }
        let v1 = c.child_text("searchValue").and_then(parse_soap_time);
        let v2 = c.child_text("searchValue2").and_then(parse_soap_time);
        match (c.attr("operator"), v1) {
            (Some("within"), Some(a)) => {
                from = a;
                to = v2.unwrap_or(i64::MAX);
            }
            (Some("after"), Some(a)) => from = a + 1,
            (Some("onOrAfter"), Some(a)) => from = a,
            (Some("before"), Some(a)) => to = a - 1,
            (Some("onOrBefore"), Some(a)) => to = a,
            _ => {
                return format!(
                    "<platformCore:searchResult>{}</platformCore:searchResult>",
                    status_err(
                        "INVALID_SRCH_CRITERIA",
                        "Invalid lastModifiedDate criterion."
                    )
                )
            }
        }
    }
    let ids: Vec<u64> = {
        let data = acct.data.read().unwrap();
        data[&def.name]
            .values()
            .filter(|r| r.modified >= from && r.modified <= to)
            .filter(|r| match saved.as_ref().and_then(|s| s.filter.as_ref()) {
                Some((f, v)) => r
                    .values
                    .get(f)
                    .map(|x| {
                        x.as_str() == Some(v.as_str())
                            || x.get("id").and_then(|i| i.as_str()) == Some(v.as_str())
                    })
                    .unwrap_or(false),
                None => true,
            })
            .map(|r| r.id)
            .collect()
    };
    let n = acct.search_seq.fetch_add(1, Ordering::SeqCst);
    let search_id = format!(
        "WEBSERVICES_{}_{:08}{:x}",
        acct.id,
        n,
        rand::random::<u32>()
    );
    let session = SearchSession {
        record_type: def.name.clone(),
        ids,
        page_size,
        last_used: sim.now(),
        saved: if return_columns { saved } else { None },
    };
    let out = result_page(acct, &session, 1, &search_id);
    acct.searches.lock().unwrap().insert(search_id, session);
    out
}

fn search_more(sim: &Simulator, routed: &Routed, op: &Element) -> String {
    let acct = &routed.account;
    let sid = op.child_text("searchId").unwrap_or("").to_string();
    let page: usize = op
        .child_text("pageIndex")
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let now = sim.now();
    let mut searches = acct.searches.lock().unwrap();
    let Some(s) = searches.get_mut(&sid) else {
        return format!(
            "<platformCore:searchResult>{}</platformCore:searchResult>",
            status_err("INVALID_JOB_ID", "The search ID is invalid or has expired.")
        );
    };
    if now - s.last_used > SEARCH_TTL_SECS {
        searches.remove(&sid);
        return format!(
            "<platformCore:searchResult>{}</platformCore:searchResult>",
            status_err("INVALID_JOB_ID", "The search ID is invalid or has expired.")
        );
    }
    s.last_used = now;
    let s = s.clone();
    drop(searches);
    let total_pages = s.ids.len().div_ceil(s.page_size).max(1);
    if page < 1 || page > total_pages {
        return format!(
            "<platformCore:searchResult>{}</platformCore:searchResult>",
            status_err("INVALID_PAGE_INDEX", "The page index is out of range.")
        );
    }
    result_page(acct, &s, page, &sid)
}

fn result_page(acct: &Account, s: &SearchSession, page: usize, search_id: &str) -> String {
    let total = s.ids.len();
    let total_pages = total.div_ceil(s.page_size).max(1);
    let def = &acct.types[&s.record_type];
    let data = acct.data.read().unwrap();
    let table = &data[&def.name];
    let slice = s
        .ids
        .iter()
        .skip((page - 1) * s.page_size)
        .take(s.page_size);
    let mut list = String::new();
    for id in slice {
        // A record deleted mid-paging drops out, as NetSuite re-runs the search per page.
        let Some(r) = table.get(id) else { continue };
        match &s.saved {
            Some(saved) => list.push_str(&search_row(def, r, saved)),
            None => list.push_str(&record_xml(acct, def, r, "platformCore:record")),
        }
    }
    let wrapped = if s.saved.is_some() {
        format!("<platformCore:searchRowList>{list}</platformCore:searchRowList>")
    } else {
        format!("<platformCore:recordList>{list}</platformCore:recordList>")
    };
    format!(
        "<platformCore:searchResult>{}<platformCore:totalRecords>{total}</platformCore:totalRecords><platformCore:pageSize>{}</platformCore:pageSize><platformCore:totalPages>{total_pages}</platformCore:totalPages><platformCore:pageIndex>{page}</platformCore:pageIndex><platformCore:searchId>{search_id}</platformCore:searchId>{wrapped}</platformCore:searchResult>",
        status_ok(),
        s.page_size
    )
}

fn search_row(def: &RecordTypeDef, r: &Record, saved: &SavedSearchDef) -> String {
    let family = match def.search_type.as_str() {
        "customer" => (
            "listRel:CustomerSearchRow",
            "platformCommon:CustomerSearchRowBasic",
        ),
        "transaction" => (
            "tranSales:TransactionSearchRow",
            "platformCommon:TransactionSearchRowBasic",
        ),
        "item" => (
            "listAcct:ItemSearchRow",
            "platformCommon:ItemSearchRowBasic",
        ),
        _ => (
            "setupCustom:CustomRecordSearchRow",
            "platformCommon:CustomRecordSearchRowBasic",
        ),
    };
    let mut basic = format!("<platformCommon:internalId><platformCore:searchValue internalId=\"{}\"/></platformCommon:internalId>", r.id);
    let mut customs = String::new();
    for c in &saved.columns {
        let Some(f) = def.field(c) else { continue };
        let Some(v) = r.values.get(&f.name) else {
            continue;
        };
        let val = match &f.kind {
            FieldKind::Select { .. } | FieldKind::List { .. } => format!(
                "<platformCore:searchValue internalId=\"{}\"/>",
                v.get("id").and_then(|i| i.as_str()).unwrap_or("")
            ),
            k => format!(
                "<platformCore:searchValue>{}</platformCore:searchValue>",
                esc(&value_text(k, v))
            ),
        };
        if f.custom.is_some() {
            customs.push_str(&format!("<platformCore:customField scriptId=\"{}\" internalId=\"{}\" xsi:type=\"platformCore:SearchColumn{}CustomField\">{val}</platformCore:customField>", f.name, f.internal_id, match f.kind { FieldKind::Select { .. } | FieldKind::List { .. } => "Select", FieldKind::Integer => "Long", FieldKind::Float => "Double", FieldKind::Boolean => "Boolean", FieldKind::Date | FieldKind::DateTime => "Date", FieldKind::Text => "String" }));
        } else {
            basic.push_str(&format!(
                "<platformCommon:{n}>{val}</platformCommon:{n}>",
                n = f.name
            ));
        }
    }
    if !customs.is_empty() {
        basic.push_str(&format!(
            "<platformCommon:customFieldList>{customs}</platformCommon:customFieldList>"
        ));
    }
    format!("<platformCore:searchRow xsi:type=\"{}\"><basic xsi:type=\"{}\">{basic}</basic></platformCore:searchRow>", family.0, family.1)
}

fn customization_ids(acct: &Account, op: &Element) -> String {
    let kind = op
        .child("customizationType")
        .and_then(|c| c.attr("getCustomizationType"))
        .unwrap_or("");
    let mut refs = vec![];
    if kind == "customRecordType" {
        for t in acct.types.values().filter(|t| t.custom) {
            refs.push((t.internal_id, t.name.clone(), t.label.clone()));
        }
    } else {
        let scope = match kind {
            "entityCustomField" => Some(CustomFieldScope::Entity),
            "transactionBodyCustomField" => Some(CustomFieldScope::Body),
            "transactionColumnCustomField" => Some(CustomFieldScope::Column),
            "itemCustomField" => Some(CustomFieldScope::Item),
            "customRecordCustomField" => Some(CustomFieldScope::Record),
            _ => None,
        };
        let Some(scope) = scope else {
            return format!(
                "<platformCore:getCustomizationIdResult>{}</platformCore:getCustomizationIdResult>",
                status_err(
                    "INVALID_CUSTOMIZATION_TYPE",
                    "The customization type is not supported."
                )
            );
        };
        for t in acct.types.values() {
            for f in t.fields.iter().filter(|f| f.custom == Some(scope)) {
                refs.push((f.internal_id, f.name.clone(), f.label.clone()));
            }
        }
    }
    refs.sort();
    refs.dedup();
    let list: String = refs
        .iter()
        .map(|(id, sid, name)| format!("<platformCore:customizationRef internalId=\"{id}\" scriptId=\"{sid}\" type=\"{kind}\"><platformCore:name>{}</platformCore:name></platformCore:customizationRef>", esc(name)))
        .collect();
    format!("<platformCore:getCustomizationIdResult>{}<platformCore:totalRecords>{}</platformCore:totalRecords><platformCore:customizationRefList>{list}</platformCore:customizationRefList></platformCore:getCustomizationIdResult>", status_ok(), refs.len())
}

fn saved_search_list(acct: &Account, op: &Element) -> String {
    let st = op
        .child("record")
        .and_then(|r| r.attr("searchType"))
        .unwrap_or("");
    let list: Vec<&SavedSearchDef> = acct
        .saved_searches
        .iter()
        .filter(|s| {
            acct.record_type(&s.record_type)
                .map(|t| t.search_type == st)
                .unwrap_or(false)
        })
        .collect();
    let refs: String = list
        .iter()
        .map(|s| format!("<platformCore:recordRef internalId=\"{}\" scriptId=\"{}\" xsi:type=\"platformCore:CustomizationRef\"><platformCore:name>{}</platformCore:name></platformCore:recordRef>", s.internal_id, s.script_id, esc(&s.title)))
        .collect();
    format!("<platformCore:getSavedSearchResult>{}<platformCore:totalRecords>{}</platformCore:totalRecords><platformCore:recordRefList>{refs}</platformCore:recordRefList></platformCore:getSavedSearchResult>", status_ok(), list.len())
}
