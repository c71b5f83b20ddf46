//! One simulated company database: its tables, user-defined metadata and approval
//! templates, and the request dispatcher that implements entity reads, writes, approval
//! drafts and `$batch` against it.

use super::config::{ApprovalConfig, CompanyConfig, SimConfig};
use super::metadata;
use super::model::{
    company_defs, enum_canonical, related_tables, EntityDef, Kind, PropType, UdfSpec, UdoSpec,
    UdtSpec,
};
use super::query;
use crate::multipart::{self, HttpMessage};
use chrono::NaiveDateTime;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Key {
    Int(i64),
    Str(String),
}

impl Key {
    fn url(&self) -> String {
        match self {
            Key::Int(i) => i.to_string(),
            Key::Str(s) => format!("'{}'", s.replace('\'', "''")),
        }
    }
}

pub type Row = Map<String, Value>;

/// An answer before it becomes an HTTP response (also used inside `$batch`).
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    fn json(status: u16, body: Value, v2: bool) -> Resp {
        Resp {
            status,
            headers: vec![("Content-Type".into(), content_type(v2).into())],
            body: body.to_string(),
        }
    }

    fn empty(status: u16) -> Resp {
        Resp {
            status,
            headers: vec![],
            body: String::new(),
        }
    }

    pub fn header(mut self, k: &str, v: impl Into<String>) -> Resp {
        self.headers.push((k.into(), v.into()));
        self
    }
}

pub fn content_type(v2: bool) -> &'static str {
    if v2 {
        "application/json;odata.metadata=minimal;charset=utf-8"
    } else {
        "application/json;odata=minimalmetadata;charset=utf-8"
    }
}

/// The Service Layer error body in the shape of the protocol version.
pub fn error(status: u16, code: i64, msg: &str, v2: bool) -> Resp {
    let body = if v2 {
        json!({"error": {"code": code.to_string(), "message": msg}})
    } else {
        json!({"error": {"code": code, "message": {"lang": "en-us", "value": msg}}})
    };
    Resp::json(status, body, v2)
}

fn not_found(v2: bool) -> Resp {
    error(404, -2028, "No matching records found (ODBC -2028)", v2)
}

/// What a request needs to know about where it runs.
pub struct Ctx<'a> {
    pub v2: bool,
    /// The absolute service root, e.g. `http://127.0.0.1:5000/b1s/v1`.
    pub root: String,
    pub now: NaiveDateTime,
    pub user: String,
    pub cfg: &'a SimConfig,
}

impl Ctx<'_> {
    fn path_root(&self) -> &'static str {
        if self.v2 {
            "/b1s/v2"
        } else {
            "/b1s/v1"
        }
    }
}

pub struct Company {
    pub name: String,
    pub users: BTreeMap<String, (String, i64)>,
    pub udfs: Vec<UdfSpec>,
    pub udts: Vec<UdtSpec>,
    pub udos: Vec<UdoSpec>,
    pub approvals: Vec<ApprovalConfig>,
    /// The entity model visible to clients (may lag `udfs` when restart is required).
    pub defs: Vec<EntityDef>,
    pub tables: BTreeMap<String, BTreeMap<Key, Row>>,
    counters: BTreeMap<String, i64>,
    /// Undo records of the change set being executed: (set, key, previous row).
    journal: Option<Vec<(String, Key, Option<Row>)>>,
}

impl Company {
    pub fn new(cfg: &CompanyConfig) -> Company {
        let defs = company_defs(&cfg.udfs, &cfg.udts, &cfg.udos);
        let mut c = Company {
            name: cfg.name.clone(),
            users: cfg
                .users
                .iter()
                .map(|u| (u.name.clone(), (u.password.clone(), u.id)))
                .collect(),
            udfs: cfg.udfs.clone(),
            udts: cfg.udts.clone(),
            udos: cfg.udos.clone(),
            approvals: cfg.approvals.clone(),
            defs,
            tables: BTreeMap::new(),
            counters: BTreeMap::new(),
            journal: None,
        };
        for d in c.defs.clone() {
            c.tables.entry(d.set.clone()).or_default();
        }
        for (i, a) in cfg.approvals.iter().enumerate() {
            let code = i as i64 + 1;
            let docs: Vec<Value> = a
                .documents
                .iter()
                .map(|d| json!({"DocumentType": format!("atdt{}", d.trim_end_matches('s'))}))
                .collect();
            let terms: Vec<Value> = a
                .min_total
                .iter()
                .map(|t| json!({"ConditionType": "atctDocumentTotal", "OpCode": "atotGreaterOrEqual", "OpValue": t.to_string()}))
                .collect();
            let row = json!({"Code": code, "Name": a.name, "Remarks": "", "IsActive": "tYES",
                "UseTerms": if a.min_total.is_some() {"tYES"} else {"tNO"},
                "ApprovalTemplateDocuments": docs, "ApprovalTemplateTerms": terms});
            c.put(
                "ApprovalTemplates",
                Key::Int(code),
                row.as_object().cloned(),
            );
            c.counters.insert("ApprovalTemplates".into(), code);
        }
        super::seed::seed(&mut c, &cfg.seed);
        c
    }

    /// Makes UDFs created since the last restart visible on entities.
    pub fn restart(&mut self) {
        self.defs = company_defs(&self.udfs, &self.udts, &self.udos);
        for d in self.defs.clone() {
            self.tables.entry(d.set.clone()).or_default();
        }
    }

    pub fn def(&self, set: &str) -> Option<&EntityDef> {
        self.defs
            .iter()
            .find(|d| d.set == set)
            .or_else(|| self.defs.iter().find(|d| d.set.eq_ignore_ascii_case(set)))
    }

    pub fn next_id(&mut self, set: &str) -> i64 {
        let c = self.counters.entry(set.to_string()).or_insert(0);
        *c += 1;
        *c
    }

    /// Writes (or deletes, with `None`) one row, journaling the old value in a change set.
    pub fn put(&mut self, set: &str, key: Key, row: Option<Row>) {
        let table = self.tables.entry(set.to_string()).or_default();
        let old = match row {
            Some(r) => table.insert(key.clone(), r),
            None => table.remove(&key),
        };
        if let Some(j) = self.journal.as_mut() {
            j.push((set.to_string(), key, old));
        }
    }

    fn rollback(&mut self, journal: Vec<(String, Key, Option<Row>)>) {
        for (set, key, old) in journal.into_iter().rev() {
            let table = self.tables.entry(set).or_default();
            match old {
                Some(r) => {
                    table.insert(key, r);
                }
                None => {
                    table.remove(&key);
                }
            }
        }
    }

    pub fn count(&self, set: &str) -> usize {
        self.tables.get(set).map(|t| t.len()).unwrap_or(0)
    }

    /// The CUFD rows: one per (table, field), FieldID counted per table.
    pub fn user_fields_rows(&self) -> Vec<Row> {
        let mut per_table: BTreeMap<String, i64> = BTreeMap::new();
        let mut rows = Vec::new();
        for u in &self.udfs {
            for t in related_tables(&u.table) {
                let id = per_table.entry(t.clone()).or_insert(0);
                let vv: Vec<Value> = u
                    .valid_values
                    .iter()
                    .map(|(v, d)| json!({"Value": v, "Description": d}))
                    .collect();
                let row = json!({
                    "TableName": t, "FieldID": *id, "Name": u.name, "Type": u.field_type,
                    "SubType": u.sub_type.clone().unwrap_or_else(|| "st_None".into()),
                    "Size": u.size, "EditSize": u.size, "Description": u.description,
                    "Mandatory": if u.mandatory {"tYES"} else {"tNO"},
                    "DefaultValue": u.default_value, "LinkedTable": u.linked_table,
                    "LinkedUDO": Value::Null, "ValidValuesMD": vv,
                });
                *id += 1;
                rows.push(row.as_object().cloned().unwrap_or_default());
            }
        }
        rows
    }

    fn user_tables_rows(&self) -> Vec<Row> {
        self.udts
            .iter()
            .map(|t| {
                json!({"TableName": t.name.to_uppercase(), "TableDescription": t.description,
                    "TableType": t.table_type, "Archivable": "tNO"})
                .as_object()
                .cloned()
                .unwrap_or_default()
            })
            .collect()
    }

    fn user_objects_rows(&self) -> Vec<Row> {
        self.udos
            .iter()
            .map(|o| {
                json!({"Code": o.code, "Name": o.name, "TableName": o.table.to_uppercase(),
                    "ObjectType": o.object_type, "CanCancel": "tYES", "CanClose": "tYES",
                    "CanDelete": "tNO", "CanFind": "tYES", "CanLog": "tNO", "ManageSeries": "tNO",
                    "UserObjectMD_ChildTables": []})
                .as_object()
                .cloned()
                .unwrap_or_default()
            })
            .collect()
    }

    fn rows_of(&self, def: &EntityDef) -> Vec<Row> {
        match def.kind {
            Kind::UserFieldsMd => self.user_fields_rows(),
            Kind::UserTablesMd => self.user_tables_rows(),
            Kind::UserObjectsMd => self.user_objects_rows(),
            _ => self
                .tables
                .get(&def.set)
                .map(|t| t.values().cloned().collect())
                .unwrap_or_default(),
        }
    }

    // ---------------------------------------------------------------- dispatch

    /// Executes one request addressed relative to the service root (no session logic).
    pub fn dispatch(
        &mut self,
        ctx: &Ctx,
        method: &str,
        target: &str,
        headers: &[(String, String)],
        body: &str,
    ) -> Resp {
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, q),
            None => (target, ""),
        };
        let path = path.trim_start_matches('/');
        let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let v2 = ctx.v2;
        if path.is_empty() {
            let sets: Vec<Value> = self
                .defs
                .iter()
                .map(|d| json!({"name": d.set, "kind": "EntitySet", "url": d.set}))
                .collect();
            return Resp::json(200, json!({"value": sets}), v2);
        }
        if path == "$metadata" {
            return Resp {
                status: 200,
                headers: vec![("Content-Type".into(), "application/xml".into())],
                body: metadata::render(&self.defs, v2),
            };
        }
        if path == "DraftsService_SaveDraftToDocument" && method == "POST" {
            return self.save_draft_to_document(ctx, body);
        }
        if path.starts_with("ApprovalRequestsService_Get") && method == "POST" {
            let open_only = path.contains("Open");
            let rows: Vec<Value> = self
                .tables
                .get("ApprovalRequests")
                .map(|t| t.values().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
                .into_iter()
                .filter(|r| !open_only || r.get("Status") == Some(&json!("arsPending")))
                .map(|r| json!({"Code": r.get("Code"), "Remarks": r.get("Remarks"), "Status": r.get("Status")}))
                .collect();
            return Resp::json(200, json!({"value": rows}), v2);
        }
        // Split "Set(key)/rest".
        let (set_part, rest) = match path.find('/') {
            Some(i) => (&path[..i], Some(&path[i + 1..])),
            None => (path, None),
        };
        let (set_name, key_text) = match set_part.find('(') {
            Some(i) if set_part.ends_with(')') => {
                (&set_part[..i], Some(&set_part[i + 1..set_part.len() - 1]))
            }
            Some(_) => return error(400, -1000, "Invalid resource path", v2),
            None => (set_part, None),
        };
        let def = match self.def(set_name) {
            Some(d) => d.clone(),
            None => {
                return error(
                    404,
                    -1000,
                    &format!("Resource not found for the segment '{set_name}'"),
                    v2,
                )
            }
        };
        match key_text {
            None => match (method, rest) {
                ("GET", None) => self.get_collection(ctx, &def, &params, headers, false),
                ("GET", Some("$count")) => self.get_collection(ctx, &def, &params, headers, true),
                ("POST", None) => self.create(ctx, &def, headers, body),
                _ => error(405, -1000, "Method not allowed on this resource", v2),
            },
            Some(kt) => {
                let key = match parse_key(kt, &def) {
                    Ok(k) => k,
                    Err(m) => return error(400, -1000, &m, v2),
                };
                match (method, rest) {
                    ("GET", None) => self.get_one(ctx, &def, &key, &params),
                    ("GET", Some(prop)) => {
                        let Some(row) = self.find(&def, &key) else {
                            return not_found(v2);
                        };
                        let (prop, raw) = match prop.strip_suffix("/$value") {
                            Some(p) => (p, true),
                            None => (prop, false),
                        };
                        match row.get(prop) {
                            None if def.prop(prop).is_none() => error(
                                400,
                                -1000,
                                &format!("Property '{prop}' of '{}' is invalid", def.type_name),
                                v2,
                            ),
                            None | Some(Value::Null) => error(
                                404,
                                -2028,
                                &format!("Resource not found for the property: {prop}"),
                                v2,
                            ),
                            Some(v) if raw => Resp {
                                status: 200,
                                headers: vec![("Content-Type".into(), "text/plain".into())],
                                body: match v {
                                    Value::String(s) => s.clone(),
                                    other => other.to_string(),
                                },
                            },
                            Some(v) => Resp::json(200, json!({"value": v}), v2),
                        }
                    }
                    ("PATCH", None) | ("PUT", None) => self.update(ctx, &def, &key, body),
                    ("DELETE", None) => self.delete(&def, &key, v2),
                    ("POST", Some("Close")) | ("POST", Some("Cancel")) => {
                        if def.kind != Kind::Document {
                            return error(
                                400,
                                -5006,
                                "The requested action is not supported for this object.",
                                v2,
                            );
                        }
                        let Some(mut row) = self.find(&def, &key) else {
                            return not_found(v2);
                        };
                        if rest == Some("Cancel") {
                            row.insert("Cancelled".into(), json!("tYES"));
                        }
                        row.insert("DocumentStatus".into(), json!("bost_Close"));
                        stamp(&mut row, ctx.now, &def);
                        self.put(&def.set, key, Some(row));
                        Resp::empty(204)
                    }
                    _ => error(405, -1000, "Method not allowed on this resource", v2),
                }
            }
        }
    }

    fn find(&self, def: &EntityDef, key: &Key) -> Option<Row> {
        match def.kind {
            Kind::UserFieldsMd | Kind::UserTablesMd | Kind::UserObjectsMd => {
                let rows = self.rows_of(def);
                rows.into_iter().find(|r| match key {
                    Key::Str(s) => r.get(&def.key).and_then(|v| v.as_str()) == Some(s.as_str()),
                    Key::Int(_) => false,
                })
            }
            _ => self.tables.get(&def.set).and_then(|t| t.get(key)).cloned(),
        }
    }

    fn get_collection(
        &self,
        ctx: &Ctx,
        def: &EntityDef,
        params: &[(String, String)],
        headers: &[(String, String)],
        count_only: bool,
    ) -> Resp {
        let v2 = ctx.v2;
        let mut filter = None;
        let mut select: Option<Vec<String>> = None;
        let mut order = vec![(def.key.clone(), false)];
        let mut top: Option<usize> = None;
        let mut skip = 0usize;
        let mut want_count = false;
        let mut keep: Vec<(String, String)> = Vec::new();
        for (k, v) in params {
            match k.as_str() {
                "$filter" => match query::parse_filter(v)
                    .and_then(|e| query::check_props(&e, def).map(|_| e))
                {
                    Ok(e) => filter = Some(e),
                    Err(e) => return error(400, -1000, &e.0, v2),
                },
                "$select" => {
                    if v.trim() != "*" {
                        let names: Vec<String> =
                            v.split(',').map(|s| s.trim().to_string()).collect();
                        for n in &names {
                            if def.prop(n).is_none() {
                                return error(
                                    400,
                                    -1000,
                                    &format!("Property '{n}' of '{}' is invalid", def.type_name),
                                    v2,
                                );
                            }
                        }
                        select = Some(names);
                    }
                }
                "$orderby" => match query::parse_orderby(v, def) {
                    Ok(mut o) => {
                        // A stable tie-break by key keeps paging deterministic.
                        if !o.iter().any(|(n, _)| *n == def.key) {
                            o.push((def.key.clone(), false));
                        }
                        order = o;
                    }
                    Err(e) => return error(400, -1000, &e.0, v2),
                },
                "$top" => match v.parse::<usize>() {
                    Ok(n) => top = Some(n),
                    Err(_) => return error(400, -1000, &format!("Invalid $top value '{v}'"), v2),
                },
                "$skip" => match v.parse::<usize>() {
                    Ok(n) => skip = n,
                    Err(_) => return error(400, -1000, &format!("Invalid $skip value '{v}'"), v2),
                },
                "$inlinecount" if !v2 => match v.as_str() {
                    "allpages" => want_count = true,
                    "none" => {}
                    _ => {
                        return error(400, -1000, &format!("Invalid $inlinecount value '{v}'"), v2)
                    }
                },
                "$count" if v2 => want_count = v == "true",
                "$expand" | "$apply" => {}
                other if other.starts_with('$') => {
                    return error(
                        400,
                        -1000,
                        &format!("Unsupported query option '{other}'"),
                        v2,
                    )
                }
                _ => {}
            }
            if k != "$skip" && k != "$top" {
                keep.push((k.clone(), v.clone()));
            }
        }
        let mut rows = self.rows_of(def);
        if let Some(f) = &filter {
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                match query::eval(f, &r, def) {
                    Ok(true) => out.push(r),
                    Ok(false) => {}
                    Err(e) => return error(400, -1000, &e.0, v2),
                }
            }
            rows = out;
        }
        if count_only {
            return Resp {
                status: 200,
                headers: vec![("Content-Type".into(), "text/plain".into())],
                body: rows.len().to_string(),
            };
        }
        let total = rows.len();
        rows.sort_by(|a, b| query::compare_rows(a, b, &order));
        // Page size: Prefer odata.maxpagesize beats B1S-PageSize beats the server default.
        let mut applied = None;
        let mut page = ctx.cfg.page_size;
        if let Some(p) =
            multipart::header(headers, "B1S-PageSize").and_then(|v| v.trim().parse().ok())
        {
            page = p;
        }
        if let Some(prefer) = multipart::header(headers, "Prefer") {
            for pref in prefer.split(',') {
                if let Some(n) = pref.trim().strip_prefix("odata.maxpagesize=") {
                    if let Ok(n) = n.trim().parse::<usize>() {
                        page = n;
                        applied = Some(format!("odata.maxpagesize={n}"));
                    }
                }
            }
        }
        let window_end = match top {
            Some(t) => (skip + t).min(total),
            None => total,
        };
        let start = skip.min(total);
        let end = if page == 0 {
            window_end
        } else {
            (start + page).min(window_end)
        };
        let value: Vec<Value> = rows[start..end]
            .iter()
            .map(|r| Value::Object(project(r, select.as_deref())))
            .collect();
        let mut out = Map::new();
        let context = format!("{}/$metadata#{}", ctx.root, def.set);
        if v2 {
            out.insert("@odata.context".into(), json!(context));
            if want_count {
                out.insert("@odata.count".into(), json!(total));
            }
        } else {
            out.insert("odata.metadata".into(), json!(context));
            if want_count {
                out.insert("odata.count".into(), json!(total.to_string()));
            }
        }
        out.insert("value".into(), Value::Array(value));
        if end < window_end {
            let mut q: Vec<(String, String)> = keep;
            if let Some(t) = top {
                q.push(("$top".into(), (t - (end - skip)).to_string()));
            }
            q.push(("$skip".into(), end.to_string()));
            let qs: String = q
                .iter()
                .map(|(k, v)| format!("{}={}", k, encode(v)))
                .collect::<Vec<_>>()
                .join("&");
            let link = if ctx.cfg.host_relative_next_links {
                format!("{}/{}?{}", ctx.path_root(), def.set, qs)
            } else {
                format!("{}?{}", def.set, qs)
            };
            out.insert(
                if v2 {
                    "@odata.nextLink"
                } else {
                    "odata.nextLink"
                }
                .into(),
                json!(link),
            );
        }
        let mut resp = Resp::json(200, Value::Object(out), v2);
        if let Some(a) = applied {
            resp = resp.header("Preference-Applied", a);
        }
        resp
    }

    fn get_one(&self, ctx: &Ctx, def: &EntityDef, key: &Key, params: &[(String, String)]) -> Resp {
        let v2 = ctx.v2;
        let Some(row) = self.find(def, key) else {
            return not_found(v2);
        };
        let select: Option<Vec<String>> = params
            .iter()
            .find(|(k, _)| k == "$select")
            .filter(|(_, v)| v.trim() != "*")
            .map(|(_, v)| v.split(',').map(|s| s.trim().to_string()).collect());
        let mut out = Map::new();
        let context = format!("{}/$metadata#{}", ctx.root, def.set);
        if v2 {
            out.insert("@odata.context".into(), json!(format!("{context}/$entity")));
        } else {
            out.insert(
                "odata.metadata".into(),
                json!(format!("{context}/@Element")),
            );
        }
        out.extend(project(&row, select.as_deref()));
        Resp::json(200, Value::Object(out), v2)
    }

    // ------------------------------------------------------------------- writes

    /// Checks a payload's property names against the model, fixing their case.
    fn canonical_payload(&self, def: &EntityDef, body: &Value, v2: bool) -> Result<Row, Resp> {
        let obj = body
            .as_object()
            .ok_or_else(|| error(400, -1000, "The request body must be a JSON object", v2))?;
        let mut out = Map::new();
        for (k, v) in obj {
            if k.starts_with("odata.") || k.starts_with('@') {
                continue;
            }
            let prop = def
                .props
                .iter()
                .find(|p| p.name == *k)
                .or_else(|| def.props.iter().find(|p| p.name.eq_ignore_ascii_case(k)));
            let Some(prop) = prop else {
                return Err(error(
                    400,
                    -1000,
                    &format!("Property '{k}' of '{}' is invalid", def.type_name),
                    v2,
                ));
            };
            let mut v = v.clone();
            if Some(&prop.name) == def.lines_prop.as_ref() {
                let Some(lines) = v.as_array() else {
                    return Err(error(
                        400,
                        -1000,
                        &format!("Property '{k}' must be a collection"),
                        v2,
                    ));
                };
                let mut fixed = Vec::new();
                for l in lines {
                    let Some(lo) = l.as_object() else {
                        return Err(error(400, -1000, "A line must be a JSON object", v2));
                    };
                    let mut nl = Map::new();
                    for (lk, lv) in lo {
                        let Some(lp) = def
                            .line_props
                            .iter()
                            .find(|p| p.name.eq_ignore_ascii_case(lk))
                        else {
                            return Err(error(
                                400,
                                -1000,
                                &format!("Property '{lk}' of '{}Line' is invalid", def.type_name),
                                v2,
                            ));
                        };
                        nl.insert(lp.name.clone(), lv.clone());
                    }
                    fixed.push(Value::Object(nl));
                }
                v = Value::Array(fixed);
            } else if let PropType::Enum(e) = prop.ty {
                if let Some(s) = v.as_str() {
                    match enum_canonical(e, s) {
                        Some(c) => v = json!(c),
                        None => {
                            return Err(error(
                                400,
                                -1000,
                                &format!("Invalid value '{s}' for property '{}'", prop.name),
                                v2,
                            ))
                        }
                    }
                }
            }
            out.insert(prop.name.clone(), v);
        }
        Ok(out)
    }

    /// Applies UDF defaults and checks mandatory flags, valid values and sizes.
    fn check_udfs(&self, table: &str, row: &mut Row, creating: bool, v2: bool) -> Result<(), Resp> {
        for u in &self.udfs {
            if !related_tables(&u.table).iter().any(|t| t == table) {
                continue;
            }
            let name = format!("U_{}", u.name);
            if creating && !row.contains_key(&name) {
                if let Some(d) = &u.default_value {
                    row.insert(name.clone(), json!(d));
                }
            }
            let val = row.get(&name).cloned().unwrap_or(Value::Null);
            if u.mandatory && creating && (val.is_null() || val == json!("")) {
                return Err(error(
                    400,
                    -5002,
                    &format!("Field '{name}' cannot be empty ({table})"),
                    v2,
                ));
            }
            if let Some(s) = val.as_str() {
                if !u.valid_values.is_empty() && !u.valid_values.iter().any(|(v, _)| v == s) {
                    return Err(error(
                        400,
                        -5002,
                        &format!("Value '{s}' is not a valid value for field '{name}'"),
                        v2,
                    ));
                }
                if matches!(u.field_type.as_str(), "db_Alpha")
                    && s.chars().count() > u.size as usize
                {
                    return Err(error(
                        400,
                        -5002,
                        &format!(
                            "Value too long for field '{name}' (maximum {} characters)",
                            u.size
                        ),
                        v2,
                    ));
                }
            }
        }
        Ok(())
    }

    fn create(
        &mut self,
        ctx: &Ctx,
        def: &EntityDef,
        headers: &[(String, String)],
        body: &str,
    ) -> Resp {
        let v2 = ctx.v2;
        let no_content = multipart::header(headers, "Prefer")
            .is_some_and(|p| p.split(',').any(|x| x.trim() == "return-no-content"));
        let parsed: Value = match serde_json::from_str(body) {
            Ok(v) => v,
            Err(e) => {
                return error(
                    400,
                    -1000,
                    &format!("Invalid JSON in request body: {e}"),
                    v2,
                )
            }
        };
        let mut row = match self.canonical_payload(def, &parsed, v2) {
            Ok(r) => r,
            Err(resp) => return resp,
        };
        let result = match def.kind {
            Kind::Document => self.create_document(ctx, def, &mut row),
            Kind::BusinessPartner => self.create_master(ctx, def, &mut row, |r| {
                r.entry("CardType").or_insert(json!("cCustomer"));
                r.entry("Valid").or_insert(json!("tYES"));
                r.entry("Currency").or_insert(json!("USD"));
            }),
            Kind::Item => self.create_master(ctx, def, &mut row, |r| {
                r.entry("ItemType").or_insert(json!("itItems"));
                for f in ["InventoryItem", "SalesItem", "PurchaseItem"] {
                    r.entry(f).or_insert(json!("tYES"));
                }
                r.entry("QuantityOnStock").or_insert(json!(0.0));
            }),
            Kind::JournalEntry => self.create_journal_entry(ctx, def, &mut row),
            Kind::Udt | Kind::Udo => self.create_user_object(ctx, def, &mut row),
            Kind::UserFieldsMd => return self.create_udf(ctx, &row),
            Kind::UserTablesMd => {
                let name = row
                    .get("TableName")
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_uppercase();
                if name.is_empty() || self.udts.iter().any(|t| t.name.to_uppercase() == name) {
                    return error(
                        400,
                        -10,
                        &format!("Table '{name}' already exists or has no name"),
                        v2,
                    );
                }
                self.udts.push(UdtSpec {
                    name: name.clone(),
                    description: row
                        .get("TableDescription")
                        .and_then(|v| v.as_str())
                        .unwrap_or("")
                        .into(),
                    table_type: row
                        .get("TableType")
                        .and_then(|v| v.as_str())
                        .unwrap_or("bott_NoObject")
                        .into(),
                });
                if !ctx.cfg.udf_requires_restart {
                    self.restart();
                }
                Ok((Key::Str(name), None))
            }
            Kind::UserObjectsMd => {
                let code = row
                    .get("Code")
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_string();
                let table = row
                    .get("TableName")
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_uppercase();
                if code.is_empty() || !self.udts.iter().any(|t| t.name.to_uppercase() == table) {
                    return error(
                        400,
                        -5002,
                        &format!("UDO '{code}' needs an existing user table, got '{table}'"),
                        v2,
                    );
                }
                self.udos.push(UdoSpec {
                    code: code.clone(),
                    name: row
                        .get("Name")
                        .and_then(|v| v.as_str())
                        .unwrap_or(&code)
                        .into(),
                    table,
                    object_type: row
                        .get("ObjectType")
                        .and_then(|v| v.as_str())
                        .unwrap_or("boud_MasterData")
                        .into(),
                });
                if !ctx.cfg.udf_requires_restart {
                    self.restart();
                }
                Ok((Key::Str(code), None))
            }
            Kind::ApprovalRequest | Kind::ApprovalTemplate => {
                return error(
                    400,
                    -5006,
                    "The requested action is not supported for this object.",
                    v2,
                )
            }
        };
        match result {
            Err(resp) => resp,
            Ok((key, Some(draft_entry))) => {
                // The document went to approval: SL saved a draft and fails reading back
                // the target document, hence -2028.
                let location = format!("{}/Drafts({draft_entry})", ctx.root);
                if no_content {
                    let mut r = Resp::empty(204).header("Preference-Applied", "return-no-content");
                    if ctx.cfg.approval_location_on_no_content {
                        r = r.header("Location", location);
                    }
                    r
                } else {
                    let _ = key;
                    error(
                        ctx.cfg.approval_error_status,
                        -2028,
                        "No matching records found (ODBC -2028)",
                        v2,
                    )
                    .header("Location", location)
                }
            }
            Ok((key, None)) => {
                let set = &def.set;
                let location = format!("{}/{}({})", ctx.root, set, key.url());
                if no_content {
                    return Resp::empty(204)
                        .header("Location", location)
                        .header("Preference-Applied", "return-no-content");
                }
                let fresh = self.def(set).cloned().unwrap_or_else(|| def.clone());
                let row = self.find(&fresh, &key).unwrap_or_default();
                let mut out = Map::new();
                let context = format!("{}/$metadata#{}", ctx.root, set);
                if v2 {
                    out.insert("@odata.context".into(), json!(format!("{context}/$entity")));
                } else {
                    out.insert(
                        "odata.metadata".into(),
                        json!(format!("{context}/@Element")),
                    );
                }
                out.extend(row);
                Resp::json(201, Value::Object(out), v2).header("Location", location)
            }
        }
    }

    /// Creates a marketing document, or a draft with an approval request when a template
    /// applies. Returns the key and, for approvals, the draft's DocEntry.
    fn create_document(
        &mut self,
        ctx: &Ctx,
        def: &EntityDef,
        row: &mut Row,
    ) -> Result<(Key, Option<i64>), Resp> {
        let v2 = ctx.v2;
        let card = row
            .get("CardCode")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string();
        if card.is_empty() {
            return Err(error(
                400,
                -5002,
                "Enter a business partner code (CardCode)",
                v2,
            ));
        }
        let Some(bp) = self
            .tables
            .get("BusinessPartners")
            .and_then(|t| t.get(&Key::Str(card.clone())))
            .cloned()
        else {
            return Err(error(400, -5002, &format!("Invalid BP code '{card}'"), v2));
        };
        let lines = row
            .get("DocumentLines")
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_default();
        if lines.is_empty() {
            return Err(error(
                400,
                -5002,
                "To generate this document, first define the item (DocumentLines is empty)",
                v2,
            ));
        }
        let mut total = 0.0;
        let mut out_lines = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            let mut l = l.as_object().cloned().unwrap_or_default();
            let item = l
                .get("ItemCode")
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string();
            if !self
                .tables
                .get("Items")
                .is_some_and(|t| t.contains_key(&Key::Str(item.clone())))
            {
                return Err(error(
                    400,
                    -5002,
                    &format!("Invalid item code '{item}' on line {}", i + 1),
                    v2,
                ));
            }
            let qty = l.get("Quantity").and_then(|v| v.as_f64()).unwrap_or(1.0);
            if qty <= 0.0 {
                return Err(error(
                    400,
                    -5002,
                    &format!("Quantity must be positive on line {}", i + 1),
                    v2,
                ));
            }
            let price = l
                .get("UnitPrice")
                .or_else(|| l.get("Price"))
                .and_then(|v| v.as_f64())
                .unwrap_or(0.0);
            let line_total = (qty * price * 100.0).round() / 100.0;
            total += line_total;
            l.insert("LineNum".into(), json!(i));
            l.insert("Quantity".into(), json!(qty));
            l.insert("UnitPrice".into(), json!(price));
            l.insert("Price".into(), json!(price));
            l.insert("LineTotal".into(), json!(line_total));
            l.entry("LineStatus").or_insert(json!("bost_Open"));
            if let Some(lt) = &def.line_table {
                self.check_udfs(lt, &mut l, true, v2)?;
            }
            out_lines.push(Value::Object(l));
        }
        row.insert("DocumentLines".into(), Value::Array(out_lines));
        self.check_udfs(&def.table, row, true, v2)?;
        let today = ctx.now.date().format("%Y-%m-%d").to_string();
        row.insert(
            "CardName".into(),
            bp.get("CardName").cloned().unwrap_or(Value::Null),
        );
        row.insert("DocTotal".into(), json!((total * 100.0).round() / 100.0));
        row.entry("DocDate").or_insert(json!(today));
        row.entry("DocDueDate").or_insert(json!(today));
        row.entry("DocCurrency").or_insert(json!("USD"));
        row.entry("DocType").or_insert(json!("dDocument_Items"));
        row.insert("DocumentStatus".into(), json!("bost_Open"));
        row.insert("Cancelled".into(), json!("tNO"));
        row.insert("CreationDate".into(), json!(today));
        row.entry("Series").or_insert(json!(1));
        for date_field in ["DocDate", "DocDueDate"] {
            if let Some(s) = row.get(date_field).and_then(|v| v.as_str()) {
                match query::norm_date(s) {
                    Some(d) => {
                        row.insert(date_field.into(), json!(d));
                    }
                    None => {
                        return Err(error(
                            400,
                            -1000,
                            &format!("Invalid date '{s}' for {date_field}"),
                            v2,
                        ))
                    }
                }
            }
        }
        stamp(row, ctx.now, def);

        if def.set == "Drafts" {
            if row.get("DocObjectCode").and_then(|v| v.as_str()).is_none() {
                return Err(error(
                    400,
                    -5002,
                    "DocObjectCode is required on a draft",
                    v2,
                ));
            }
            row.entry("AuthorizationStatus")
                .or_insert(json!("dasWithout"));
            let entry = self.next_id("Drafts");
            row.insert("DocEntry".into(), json!(entry));
            row.insert("DocNum".into(), json!(entry));
            self.put("Drafts", Key::Int(entry), Some(row.clone()));
            return Ok((Key::Int(entry), None));
        }
        row.insert("DocObjectCode".into(), json!(def.bo_name));
        let template = self
            .approvals
            .iter()
            .enumerate()
            .find(|(_, a)| {
                a.documents.iter().any(|d| d == &def.set) && a.min_total.is_none_or(|m| total >= m)
            })
            .map(|(i, a)| (i, a.clone()));
        if let Some((idx, tpl)) = template {
            let approver_id = self.users.get(&tpl.approver).map(|u| u.1).unwrap_or(1);
            let originator = self.users.get(&ctx.user).map(|u| u.1).unwrap_or(1);
            let entry = self.next_id("Drafts");
            row.insert("DocEntry".into(), json!(entry));
            row.insert("DocNum".into(), json!(entry));
            row.insert("AuthorizationStatus".into(), json!("dasPending"));
            self.put("Drafts", Key::Int(entry), Some(row.clone()));
            let code = self.next_id("ApprovalRequests");
            let now_t = ctx.now.format("%H:%M:%S").to_string();
            let req = json!({
                "Code": code, "ApprovalTemplatesID": idx as i64 + 1, "ObjectType": "112",
                "IsDraft": "tYES", "ObjectEntry": Value::Null, "DraftEntry": entry,
                "DraftType": def.object_code, "Status": "arsPending",
                "Remarks": format!("{} requires approval", tpl.name), "CurrentStage": 1,
                "OriginatorID": originator, "CreationDate": today, "CreationTime": now_t,
                "ApprovalRequestLines": [{"StageCode": 1, "UserID": approver_id, "Status": "ardPending",
                    "Remarks": "", "CreationDate": today, "CreationTime": now_t}],
                "ApprovalRequestDecisions": [],
            });
            self.put("ApprovalRequests", Key::Int(code), req.as_object().cloned());
            return Ok((Key::Int(entry), Some(entry)));
        }
        row.insert("AuthorizationStatus".into(), json!("dasWithout"));
        let entry = self.next_id(&def.set);
        row.insert("DocEntry".into(), json!(entry));
        row.insert("DocNum".into(), json!(entry));
        self.put(&def.set, Key::Int(entry), Some(row.clone()));
        Ok((Key::Int(entry), None))
    }

    fn create_master(
        &mut self,
        ctx: &Ctx,
        def: &EntityDef,
        row: &mut Row,
        defaults: impl Fn(&mut Row),
    ) -> Result<(Key, Option<i64>), Resp> {
        let v2 = ctx.v2;
        let code = row
            .get(&def.key)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string();
        if code.is_empty() {
            return Err(error(
                400,
                -5002,
                &format!("Enter a value for {}", def.key),
                v2,
            ));
        }
        let key = Key::Str(code.clone());
        if self
            .tables
            .get(&def.set)
            .is_some_and(|t| t.contains_key(&key))
        {
            let msg = if def.kind == Kind::BusinessPartner {
                format!("1320000140 - Business partner code '{code}' already assigned to a business partner; enter a unique business partner code")
            } else {
                format!("Item code '{code}' already exists")
            };
            return Err(error(400, -10, &msg, v2));
        }
        defaults(row);
        self.check_udfs(&def.table, row, true, v2)?;
        let today = ctx.now.date().format("%Y-%m-%d").to_string();
        row.insert("CreateDate".into(), json!(today));
        stamp(row, ctx.now, def);
        self.put(&def.set, key.clone(), Some(row.clone()));
        Ok((key, None))
    }

    fn create_journal_entry(
        &mut self,
        ctx: &Ctx,
        def: &EntityDef,
        row: &mut Row,
    ) -> Result<(Key, Option<i64>), Resp> {
        let v2 = ctx.v2;
        let lines = row
            .get("JournalEntryLines")
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_default();
        if lines.len() < 2 {
            return Err(error(
                400,
                -5002,
                "A journal entry needs at least two lines",
                v2,
            ));
        }
        let (mut debit, mut credit) = (0.0, 0.0);
        let mut out = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            let mut l = l.as_object().cloned().unwrap_or_default();
            debit += l.get("Debit").and_then(|v| v.as_f64()).unwrap_or(0.0);
            credit += l.get("Credit").and_then(|v| v.as_f64()).unwrap_or(0.0);
            l.insert("Line_ID".into(), json!(i));
            out.push(Value::Object(l));
        }
        if (debit - credit).abs() > 0.005 {
            return Err(error(
                400,
                -5002,
                &format!("Unbalanced transaction: debit {debit} and credit {credit} differ"),
                v2,
            ));
        }
        row.insert("JournalEntryLines".into(), Value::Array(out));
        self.check_udfs(&def.table, row, true, v2)?;
        let today = ctx.now.date().format("%Y-%m-%d").to_string();
        row.entry("ReferenceDate").or_insert(json!(today));
        row.entry("DueDate").or_insert(json!(today));
        let n = self.next_id("JournalEntries");
        row.insert("JdtNum".into(), json!(n));
        self.put("JournalEntries", Key::Int(n), Some(row.clone()));
        Ok((Key::Int(n), None))
    }

    fn create_user_object(
        &mut self,
        ctx: &Ctx,
        def: &EntityDef,
        row: &mut Row,
    ) -> Result<(Key, Option<i64>), Resp> {
        let v2 = ctx.v2;
        self.check_udfs(&def.table, row, true, v2)?;
        let key = if def.key_is_int {
            let n = self.next_id(&def.set);
            row.insert(def.key.clone(), json!(n));
            row.insert("DocNum".into(), json!(n));
            Key::Int(n)
        } else {
            let code = row
                .get("Code")
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string();
            if code.is_empty() {
                return Err(error(400, -5002, "Enter a value for Code", v2));
            }
            let k = Key::Str(code.clone());
            if self
                .tables
                .get(&def.set)
                .is_some_and(|t| t.contains_key(&k))
            {
                return Err(error(
                    400,
                    -10,
                    &format!("Code '{code}' already exists"),
                    v2,
                ));
            }
            k
        };
        if def.kind == Kind::Udo {
            row.insert(
                "CreateDate".into(),
                json!(ctx.now.date().format("%Y-%m-%d").to_string()),
            );
            stamp(row, ctx.now, def);
        }
        self.put(&def.set, key.clone(), Some(row.clone()));
        Ok((key, None))
    }

    fn create_udf(&mut self, ctx: &Ctx, row: &Row) -> Resp {
        let v2 = ctx.v2;
        let s = |k: &str| row.get(k).and_then(|v| v.as_str()).map(|s| s.to_string());
        let (Some(table), Some(name)) = (s("TableName"), s("Name")) else {
            return error(400, -5002, "TableName and Name are required", v2);
        };
        if self.udfs.iter().any(|u| {
            related_tables(&u.table).contains(&table) && u.name.eq_ignore_ascii_case(&name)
        }) {
            return error(
                400,
                -10,
                &format!("Field '{name}' already exists on table '{table}'"),
                v2,
            );
        }
        let spec = UdfSpec {
            table: table.clone(),
            name: name.clone(),
            field_type: s("Type").unwrap_or_else(|| "db_Alpha".into()),
            sub_type: s("SubType").filter(|x| x != "st_None"),
            size: row.get("Size").and_then(|v| v.as_u64()).unwrap_or(10) as u32,
            description: s("Description").unwrap_or_default(),
            mandatory: s("Mandatory").as_deref() == Some("tYES"),
            default_value: s("DefaultValue"),
            valid_values: row
                .get("ValidValuesMD")
                .and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .map(|x| {
                            (
                                x.get("Value")
                                    .and_then(|v| v.as_str())
                                    .unwrap_or("")
                                    .to_string(),
                                x.get("Description")
                                    .and_then(|v| v.as_str())
                                    .unwrap_or("")
                                    .to_string(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
            linked_table: s("LinkedTable"),
        };
        self.udfs.push(spec);
        if !ctx.cfg.udf_requires_restart {
            self.restart();
        }
        let created = self
            .user_fields_rows()
            .into_iter()
            .find(|r| {
                r.get("TableName") == Some(&json!(table)) && r.get("Name") == Some(&json!(name))
            })
            .unwrap_or_default();
        let field_id = created.get("FieldID").cloned().unwrap_or(json!(0));
        Resp::json(201, Value::Object(created), v2).header(
            "Location",
            format!(
                "{}/UserFieldsMD(TableName='{}',FieldID={})",
                ctx.root, table, field_id
            ),
        )
    }

    fn update(&mut self, ctx: &Ctx, def: &EntityDef, key: &Key, body: &str) -> Resp {
        let v2 = ctx.v2;
        let parsed: Value = match serde_json::from_str(body) {
            Ok(v) => v,
            Err(e) => {
                return error(
                    400,
                    -1000,
                    &format!("Invalid JSON in request body: {e}"),
                    v2,
                )
            }
        };
        if def.kind == Kind::ApprovalRequest {
            return self.decide(ctx, key, &parsed);
        }
        if matches!(
            def.kind,
            Kind::UserFieldsMd | Kind::UserTablesMd | Kind::UserObjectsMd
        ) {
            return error(
                400,
                -5006,
                "The requested action is not supported for this object.",
                v2,
            );
        }
        let Some(mut row) = self.find(def, key) else {
            return not_found(v2);
        };
        let patch = match self.canonical_payload(def, &parsed, v2) {
            Ok(p) => p,
            Err(r) => return r,
        };
        for (k, v) in patch {
            // Read-only fields are silently ignored, as the real server does.
            if k == def.key
                || matches!(
                    k.as_str(),
                    "DocEntry"
                        | "DocNum"
                        | "DocTotal"
                        | "CreationDate"
                        | "CreateDate"
                        | "UpdateDate"
                        | "UpdateTime"
                )
            {
                continue;
            }
            if Some(&k) == def.lines_prop.as_ref() {
                // Collections merge: keyed lines update, new lines append.
                let mut lines = row
                    .get(&k)
                    .and_then(|x| x.as_array())
                    .cloned()
                    .unwrap_or_default();
                for nl in v.as_array().cloned().unwrap_or_default() {
                    let idx = nl.get("LineNum").and_then(|x| x.as_i64());
                    match idx.and_then(|i| {
                        lines
                            .iter_mut()
                            .find(|l| l.get("LineNum").and_then(|x| x.as_i64()) == Some(i))
                    }) {
                        Some(existing) => {
                            if let (Some(e), Some(n)) = (existing.as_object_mut(), nl.as_object()) {
                                for (a, b) in n {
                                    e.insert(a.clone(), b.clone());
                                }
                            }
                        }
                        None => lines.push(nl),
                    }
                }
                row.insert(k, Value::Array(lines));
            } else {
                row.insert(k, v);
            }
        }
        if let Err(r) = self.check_udfs(&def.table.clone(), &mut row, false, v2) {
            return r;
        }
        stamp(&mut row, ctx.now, def);
        self.put(&def.set, key.clone(), Some(row));
        Resp::empty(204)
    }

    fn delete(&mut self, def: &EntityDef, key: &Key, v2: bool) -> Resp {
        if def.kind == Kind::Document && def.set != "Drafts" {
            return error(
                400,
                -5006,
                "The requested action is not supported for this object.",
                v2,
            );
        }
        if def.kind == Kind::UserFieldsMd {
            return error(
                400,
                -5006,
                "Delete user fields through their composite key is not supported here",
                v2,
            );
        }
        if self.find(def, key).is_none() {
            return not_found(v2);
        }
        self.put(&def.set, key.clone(), None);
        Resp::empty(204)
    }

    /// An approver's decision on an approval request.
    fn decide(&mut self, ctx: &Ctx, key: &Key, body: &Value) -> Resp {
        let v2 = ctx.v2;
        let Some(mut req) = self
            .tables
            .get("ApprovalRequests")
            .and_then(|t| t.get(key))
            .cloned()
        else {
            return not_found(v2);
        };
        let Some(decision) = body
            .get("ApprovalRequestDecisions")
            .and_then(|d| d.as_array())
            .and_then(|a| a.first())
            .cloned()
        else {
            return error(
                400,
                -5002,
                "ApprovalRequestDecisions must hold one decision",
                v2,
            );
        };
        if req.get("Status") != Some(&json!("arsPending")) {
            return error(
                400,
                -5002,
                "The approval request has already been decided",
                v2,
            );
        }
        let status = decision
            .get("Status")
            .and_then(|s| s.as_str())
            .unwrap_or("");
        let (ars, das, ard) = match status {
            "ardApproved" => ("arsApproved", "dasApproved", "ardApproved"),
            "ardNotApproved" => ("arsNotApproved", "dasRejected", "ardNotApproved"),
            other => {
                return error(
                    400,
                    -1000,
                    &format!("Invalid decision status '{other}'"),
                    v2,
                )
            }
        };
        req.insert("Status".into(), json!(ars));
        if let Some(lines) = req
            .get_mut("ApprovalRequestLines")
            .and_then(|l| l.as_array_mut())
        {
            for l in lines {
                if let Some(o) = l.as_object_mut() {
                    o.insert("Status".into(), json!(ard));
                    o.insert(
                        "UpdateDate".into(),
                        json!(ctx.now.date().format("%Y-%m-%d").to_string()),
                    );
                    o.insert(
                        "UpdateTime".into(),
                        json!(ctx.now.format("%H:%M:%S").to_string()),
                    );
                }
            }
        }
        if let Some(d) = req
            .get_mut("ApprovalRequestDecisions")
            .and_then(|l| l.as_array_mut())
        {
            d.push(json!({"ApproverUserName": ctx.user, "Status": ard,
                "Remarks": decision.get("Remarks").cloned().unwrap_or(json!(""))}));
        }
        let draft_entry = req.get("DraftEntry").and_then(|v| v.as_i64()).unwrap_or(0);
        self.put("ApprovalRequests", key.clone(), Some(req));
        if let Some(mut draft) = self
            .tables
            .get("Drafts")
            .and_then(|t| t.get(&Key::Int(draft_entry)))
            .cloned()
        {
            draft.insert("AuthorizationStatus".into(), json!(das));
            self.put("Drafts", Key::Int(draft_entry), Some(draft));
        }
        Resp::empty(204)
    }

    /// Turns an approved (or approval-free) draft into the real document.
    fn save_draft_to_document(&mut self, ctx: &Ctx, body: &str) -> Resp {
        let v2 = ctx.v2;
        let entry = serde_json::from_str::<Value>(body).ok().and_then(|v| {
            v.get("Document")
                .and_then(|d| d.get("DocEntry"))
                .and_then(|e| e.as_i64())
        });
        let Some(entry) = entry else {
            return error(400, -1000, "Expected {\"Document\":{\"DocEntry\":n}}", v2);
        };
        let Some(mut draft) = self
            .tables
            .get("Drafts")
            .and_then(|t| t.get(&Key::Int(entry)))
            .cloned()
        else {
            return not_found(v2);
        };
        let status = draft
            .get("AuthorizationStatus")
            .and_then(|s| s.as_str())
            .unwrap_or("")
            .to_string();
        if !matches!(status.as_str(), "dasApproved" | "dasWithout") {
            return error(
                400,
                -5002,
                &format!(
                    "Draft {entry} cannot be added as a document: authorization status is {status}"
                ),
                v2,
            );
        }
        let bo = draft
            .get("DocObjectCode")
            .and_then(|s| s.as_str())
            .unwrap_or("")
            .to_string();
        let Some(target) = self
            .defs
            .iter()
            .find(|d| d.kind == Kind::Document && d.bo_name == bo && d.set != "Drafts")
            .cloned()
        else {
            return error(400, -5002, &format!("Unknown draft object type '{bo}'"), v2);
        };
        let mut doc = draft.clone();
        let n = self.next_id(&target.set);
        doc.insert("DocEntry".into(), json!(n));
        doc.insert("DocNum".into(), json!(n));
        doc.insert(
            "AuthorizationStatus".into(),
            json!(if status == "dasApproved" {
                "dasApproved"
            } else {
                "dasWithout"
            }),
        );
        stamp(&mut doc, ctx.now, &target);
        self.put(&target.set, Key::Int(n), Some(doc));
        draft.insert("AuthorizationStatus".into(), json!("dasGenerated"));
        draft.insert("DocumentStatus".into(), json!("bost_Close"));
        self.put("Drafts", Key::Int(entry), Some(draft));
        let req_key = self.tables.get("ApprovalRequests").and_then(|t| {
            t.iter()
                .find(|(_, r)| r.get("DraftEntry") == Some(&json!(entry)))
                .map(|(k, _)| k.clone())
        });
        if let Some(k) = req_key {
            if let Some(mut r) = self
                .tables
                .get("ApprovalRequests")
                .and_then(|t| t.get(&k))
                .cloned()
            {
                r.insert("Status".into(), json!("arsGenerated"));
                r.insert("ObjectEntry".into(), json!(n));
                r.insert("ObjectType".into(), json!(target.object_code));
                self.put("ApprovalRequests", k, Some(r));
            }
        }
        Resp::empty(204)
    }

    // -------------------------------------------------------------------- batch

    /// Runs a `$batch` body: parts in order, change sets atomic, stopping at the first
    /// failure. Returns the answer and how many requests ran (for the latency model).
    pub fn batch(&mut self, ctx: &Ctx, content_type: &str, body: &str) -> (Resp, usize) {
        let v2 = ctx.v2;
        let malformed = |m: &str| (error(400, -1000, m, v2), 0);
        let Some(boundary) = multipart::boundary_of(content_type) else {
            return malformed("Incomplete Batch Request Body! (no boundary in Content-Type)");
        };
        let parts = match multipart::split(body, &boundary) {
            Ok(p) if !p.is_empty() => p,
            Ok(_) => return malformed("Incomplete Batch Request Body!"),
            Err(e) => return malformed(&format!("Incomplete Batch Request Body! ({e})")),
        };
        // Parse everything first: a malformed batch runs nothing.
        enum Item {
            Single(Vec<(String, String)>, HttpMessage),
            ChangeSet(Vec<(Vec<(String, String)>, HttpMessage)>),
        }
        let mut items = Vec::new();
        let mut total = 0usize;
        for part in &parts {
            let ct = part.header("Content-Type").unwrap_or("");
            if ct.to_ascii_lowercase().starts_with("multipart/mixed") {
                let Some(cb) = multipart::boundary_of(ct) else {
                    return malformed(
                        "Incomplete Batch Request Body! (change set without boundary)",
                    );
                };
                let subs = match multipart::split(&part.body, &cb) {
                    Ok(s) => s,
                    Err(e) => return malformed(&format!("Incomplete Batch Request Body! ({e})")),
                };
                let mut reqs = Vec::new();
                for s in subs {
                    let msg = match multipart::parse_http(&s.body) {
                        Ok(m) => m,
                        Err(e) => {
                            return malformed(&format!("Incomplete Batch Request Body! ({e})"))
                        }
                    };
                    match msg.request_line() {
                        Ok((m, _)) if m == "GET" => {
                            return malformed("A change set must not contain GET requests")
                        }
                        Ok(_) => {}
                        Err(e) => return malformed(&e.0),
                    }
                    if v2 && s.header("Content-ID").is_none() {
                        return malformed(
                            "Content-ID is mandatory for every request in a change set",
                        );
                    }
                    reqs.push((s.headers.clone(), msg));
                }
                total += reqs.len();
                items.push(Item::ChangeSet(reqs));
            } else {
                let msg = match multipart::parse_http(&part.body) {
                    Ok(m) => m,
                    Err(e) => return malformed(&format!("Incomplete Batch Request Body! ({e})")),
                };
                if let Err(e) = msg.request_line() {
                    return malformed(&e.0);
                }
                total += 1;
                items.push(Item::Single(part.headers.clone(), msg));
            }
        }
        if total > ctx.cfg.max_batch_requests {
            return malformed(&format!(
                "Too many requests in one batch: {total} (the maximum is {})",
                ctx.cfg.max_batch_requests
            ));
        }
        let out_boundary = format!("batchresponse_{}", uuid::Uuid::new_v4());
        let mut out = String::new();
        let mut executed = 0usize;
        for item in items {
            match item {
                Item::Single(mime, msg) => {
                    executed += 1;
                    let resp = self.run_sub(ctx, &msg, &BTreeMap::new());
                    let failed = resp.status >= 400;
                    write_resp_part(&mut out, &out_boundary, content_id(&mime), &resp);
                    if failed {
                        break;
                    }
                }
                Item::ChangeSet(reqs) => {
                    self.journal = Some(Vec::new());
                    let mut created: BTreeMap<String, String> = BTreeMap::new();
                    let mut results = Vec::new();
                    let mut failure = None;
                    for (mime, msg) in &reqs {
                        executed += 1;
                        let resp = self.run_sub(ctx, msg, &created);
                        if resp.status >= 400 {
                            failure = Some((content_id(mime), resp));
                            break;
                        }
                        if let (Some(id), Some(loc)) = (
                            content_id(mime),
                            multipart::header(&resp.headers, "Location"),
                        ) {
                            created.insert(id, loc.to_string());
                        }
                        results.push((content_id(mime), resp));
                    }
                    let journal = self.journal.take().unwrap_or_default();
                    if let Some((cid, resp)) = failure {
                        // One answer for the whole change set: the error; everything rolls back.
                        self.rollback(journal);
                        write_resp_part(&mut out, &out_boundary, cid, &resp);
                        break;
                    }
                    let cs = format!("changesetresponse_{}", uuid::Uuid::new_v4());
                    out.push_str(&format!(
                        "--{out_boundary}\r\nContent-Type: multipart/mixed;boundary={cs}\r\n\r\n"
                    ));
                    for (cid, resp) in &results {
                        write_resp_part(&mut out, &cs, cid.clone(), resp);
                    }
                    out.push_str(&format!("--{cs}--\r\n"));
                }
            }
        }
        out.push_str(&format!("--{out_boundary}--\r\n"));
        let status = if v2 { 200 } else { 202 };
        (
            Resp {
                status,
                headers: vec![(
                    "Content-Type".into(),
                    format!("multipart/mixed;boundary={out_boundary}"),
                )],
                body: out,
            },
            executed,
        )
    }

    fn run_sub(
        &mut self,
        ctx: &Ctx,
        msg: &HttpMessage,
        created: &BTreeMap<String, String>,
    ) -> Resp {
        let (method, target) = match msg.request_line() {
            Ok(x) => x,
            Err(e) => return error(400, -1000, &e.0, ctx.v2),
        };
        let mut target = strip_root(&target, ctx.v2);
        // `$1` refers to the entity created by the request with Content-ID 1.
        if let Some(rest) = target.strip_prefix('$') {
            let (id, tail) = match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, ""),
            };
            match created.get(id) {
                Some(loc) => target = format!("{}{}", strip_root(loc, ctx.v2), tail),
                None => {
                    return error(
                        400,
                        -1000,
                        &format!("Content-ID reference ${id} is unknown"),
                        ctx.v2,
                    )
                }
            }
        }
        if target == "Login" || target == "Logout" || target == "$batch" {
            return error(
                400,
                -1000,
                &format!("{target} is not allowed inside $batch"),
                ctx.v2,
            );
        }
        self.dispatch(ctx, &method, &target, &msg.headers, &msg.body)
    }
}

fn content_id(mime: &[(String, String)]) -> Option<String> {
    multipart::header(mime, "Content-ID").map(|s| s.to_string())
}

fn write_resp_part(out: &mut String, boundary: &str, cid: Option<String>, resp: &Resp) {
    let mut mime = Vec::new();
    if let Some(c) = cid {
        mime.push(("Content-ID".to_string(), c));
    }
    let msg = HttpMessage {
        start_line: format!("HTTP/1.1 {} {}", resp.status, reason(resp.status)),
        headers: resp.headers.clone(),
        body: resp.body.clone(),
    };
    multipart::write_http_part(out, boundary, &mime, &msg);
}

pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        412 => "Precondition Failed",
        500 => "Internal Server Error",
        502 => "Proxy Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Accepts an absolute path, a root-relative path or a full URL.
fn strip_root(target: &str, v2: bool) -> String {
    let mut t = target;
    if let Some(i) = t.find("://") {
        t = &t[i + 3..];
        t = t.find('/').map(|j| &t[j..]).unwrap_or("");
    }
    let root = if v2 { "/b1s/v2/" } else { "/b1s/v1/" };
    if let Some(r) = t.strip_prefix(root) {
        return r.to_string();
    }
    t.trim_start_matches('/').to_string()
}

fn encode(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

fn project(row: &Row, select: Option<&[String]>) -> Row {
    match select {
        None => row.clone(),
        Some(names) => names
            .iter()
            .map(|n| (n.clone(), row.get(n).cloned().unwrap_or(Value::Null)))
            .collect(),
    }
}

/// Sets UpdateDate/UpdateTime to the simulator clock on objects that track them.
pub fn stamp(row: &mut Row, now: NaiveDateTime, def: &EntityDef) {
    if def.has_update_stamp() {
        row.insert(
            "UpdateDate".into(),
            json!(now.date().format("%Y-%m-%d").to_string()),
        );
        row.insert(
            "UpdateTime".into(),
            json!(now.format("%H:%M:%S").to_string()),
        );
    }
}

/// Parses `22`, `'C1'`, `DocEntry=22` or `TableName='OCRD',FieldID=0`.
fn parse_key(text: &str, def: &EntityDef) -> Result<Key, String> {
    let text = text.trim();
    let first = text.split(',').next().unwrap_or("");
    let value = match first.split_once('=') {
        Some((_, v)) => v.trim(),
        None => first,
    };
    if let Some(inner) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        let decoded = url::form_urlencoded::parse(format!("k={inner}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        return Ok(Key::Str(decoded.replace("''", "'")));
    }
    if def.key_is_int {
        value
            .parse::<i64>()
            .map(Key::Int)
            .map_err(|_| format!("Invalid key '{value}' for {}", def.set))
    } else {
        Err(format!(
            "Invalid key '{value}' for {}: string keys are quoted",
            def.set
        ))
    }
}
