//! The simulator's functions: getAPISession, readByQuery/readMore, query, read/readByName,
//! create/update/delete, inspect, lookup and getDimensions, with Intacct's result shapes.

use super::objects::{DataType, FieldDef, ObjectDef};
use super::query::{self, Expr};
use super::state::{fmt_ts, Company, Record, ResultSet, Session, State};
use crate::protocol::{ErrorDetail, FnResult, Function, Status};
use crate::xml::Element;
use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeMap;

/// Who runs a function and where.
pub struct Ctx {
    pub company: String,
    pub user: String,
    pub entity: Option<String>,
    pub sender: String,
    /// The session (or login) that owns result sets created by this request.
    pub owner: String,
    pub endpoint: String,
    pub now: DateTime<Utc>,
}

pub fn ok(f: &Function, name: &str, data: Option<Element>) -> FnResult {
    FnResult {
        status: Status::Success,
        function: name.to_string(),
        control_id: f.control_id.clone(),
        data,
        errors: vec![],
    }
}

pub fn fail(f: &Function, name: &str, errors: Vec<ErrorDetail>) -> FnResult {
    FnResult {
        status: Status::Failure,
        function: name.to_string(),
        control_id: f.control_id.clone(),
        data: None,
        errors,
    }
}

fn e(no: &str, d: &str, d2: &str, c: &str) -> ErrorDetail {
    ErrorDetail::new(no, d, d2, c)
}

/// Runs one function. Writes change `st` directly; the caller snapshots for transactions.
pub fn run(st: &mut State, ctx: &Ctx, f: &Function) -> FnResult {
    let name = f.body.name.clone();
    let r = match name.as_str() {
        "getAPISession" => get_api_session(st, ctx, f),
        "readByQuery" => read_by_query(st, ctx, f),
        "readMore" => read_more(st, ctx, f),
        "query" => query_fn(st, ctx, f),
        "read" | "readByName" => read(st, ctx, f),
        "create" | "update" => write(st, ctx, f, name == "create"),
        "delete" => delete(st, ctx, f),
        "inspect" => inspect(st, ctx, f),
        "lookup" => lookup(st, ctx, f),
        "getDimensions" => get_dimensions(st, ctx, f),
        other => Err(vec![e(
            "XL03000003",
            "XML Parse schema error",
            &format!("Element '{other}' is not a recognized function in dtdversion 3.0."),
            "",
        )]),
    };
    match r {
        Ok(r) => r,
        Err(errs) => fail(f, &name, errs),
    }
}

type FnOut = Result<FnResult, Vec<ErrorDetail>>;

fn company<'a>(st: &'a mut State, ctx: &Ctx) -> &'a mut Company {
    st.companies
        .get_mut(&ctx.company)
        .expect("authenticated requests name an existing company")
}

/// Finds an object definition by name (exact, then ignoring case), including line objects.
fn find_def(c: &Company, name: &str) -> Option<ObjectDef> {
    if let Some(d) = c.objects.get(name) {
        return Some(d.clone());
    }
    if let Some(d) = c
        .objects
        .values()
        .find(|d| d.name.eq_ignore_ascii_case(name))
    {
        return Some(d.clone());
    }
    c.objects.values().find_map(|d| {
        d.lines.as_ref().and_then(|l| {
            l.element.eq_ignore_ascii_case(name).then(|| ObjectDef {
                name: l.element.clone(),
                label: format!("{} line", d.label),
                plural: format!("{} lines", d.label),
                id_field: None,
                fields: l.fields.clone(),
                lines: None,
            })
        })
    })
}

fn not_found_object(object: &str) -> Vec<ErrorDetail> {
    vec![e(
        "Query Failed",
        "",
        &format!("Object definition {object} not found"),
        "",
    )]
}

/// Role permissions, optionally per entity: the failure Intacct reports as PL04000005.
fn check_permission(
    c: &Company,
    ctx: &Ctx,
    object: &str,
    op: &str,
) -> Result<(), Vec<ErrorDetail>> {
    let user = c.cfg.users.iter().find(|u| u.id == ctx.user);
    let denied = user.into_iter().flat_map(|u| u.denied.iter()).any(|d| {
        d.object.eq_ignore_ascii_case(object)
            && d.operation
                .as_deref()
                .is_none_or(|o| o.eq_ignore_ascii_case(op))
            && d.entity
                .as_ref()
                .is_none_or(|en| Some(en) == ctx.entity.as_ref())
    });
    if denied {
        return Err(vec![e(
            "PL04000005",
            "",
            &format!(
                "You do not have permission for API operation {op} on objects of type {}",
                object.to_ascii_lowercase()
            ),
            "",
        )]);
    }
    Ok(())
}

/// Entity visibility: an entity session sees its own and top-level records; the top level
/// sees everything except private entities' records unless showprivate is set.
fn visible(c: &Company, ctx: &Ctx, r: &Record, showprivate: bool) -> bool {
    match (&ctx.entity, &r.entity) {
        (Some(me), Some(owner)) => me == owner,
        (Some(_), None) => true,
        (None, None) => true,
        (None, Some(owner)) => {
            showprivate || !c.cfg.entities.iter().any(|x| &x.id == owner && x.private)
        }
    }
}

fn text<'a>(el: &'a Element, name: &str) -> Option<&'a str> {
    el.child_text(name)
}

/// Resolves a requested field list against a definition; errors name the unknown fields.
fn resolve_fields(def: &ObjectDef, list: &[String]) -> Result<Vec<String>, Vec<ErrorDetail>> {
    if list.len() == 1 && list[0] == "*" {
        return Ok(def.fields.iter().map(|f| f.name.clone()).collect());
    }
    let mut out = Vec::new();
    let mut bad = Vec::new();
    for n in list {
        match def.fields.iter().find(|f| f.name.eq_ignore_ascii_case(n)) {
            Some(f) => out.push(f.name.clone()),
            None => bad.push(n.clone()),
        }
    }
    if !bad.is_empty() {
        return Err(vec![e(
            &format!("Invalid fields list {}", bad.join(",")),
            "",
            &format!("\n\t{}: [{}]", def.name, bad.join(", ")),
            "Check the field names with lookup.",
        )]);
    }
    Ok(out)
}

fn check_expr_fields(def: &ObjectDef, ex: &Expr) -> Result<(), Vec<ErrorDetail>> {
    let mut names = Vec::new();
    ex.fields(&mut names);
    for n in names {
        if def.field(&n).is_none() {
            return Err(vec![e(
                "Query Failed",
                "",
                &format!("Invalid field {n} in the query condition for {}", def.name),
                "",
            )]);
        }
    }
    Ok(())
}

fn render(def: &ObjectDef, r: &Record, fields: &[String], elem: &str, lines: bool) -> Element {
    let mut el = Element::new(elem);
    for f in fields {
        el.push(Element::leaf(
            f,
            r.fields.get(f).cloned().unwrap_or_default(),
        ));
    }
    if lines {
        if let Some(l) = &def.lines {
            let mut coll = Element::new(&l.collection);
            for line in &r.lines {
                let mut le = Element::new(&l.element);
                for lf in &l.fields {
                    le.push(Element::leaf(
                        &lf.name,
                        line.get(&lf.name).cloned().unwrap_or_default(),
                    ));
                }
                coll.push(le);
            }
            el.push(coll);
        }
    }
    el
}

fn parse_pagesize(el: &Element, max: usize) -> Result<usize, Vec<ErrorDetail>> {
    match text(el, "pagesize") {
        None | Some("") => Ok(100),
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(vec![e(
                "XL03000003",
                "XML Parse schema error",
                &format!("pagesize must be an integer from 1 to {max}, got '{s}'"),
                "",
            )]),
        },
    }
}

fn page_data(
    listtype: &str,
    rows: &[Element],
    total: usize,
    remaining: usize,
    result_id: Option<&str>,
) -> Element {
    let mut d = Element::new("data")
        .with_attr("listtype", listtype)
        .with_attr("count", rows.len().to_string())
        .with_attr("totalcount", total.to_string())
        .with_attr("numremaining", remaining.to_string())
        .with_attr("resultId", result_id.unwrap_or(""));
    d.children = rows.to_vec();
    d
}

fn get_api_session(st: &mut State, ctx: &Ctx, f: &Function) -> FnOut {
    let c = company(st, ctx);
    // An explicit locationid switches entity; an empty one asks for the top level.
    let target: Option<String> = match f.body.child("locationid") {
        None => ctx.entity.clone(),
        Some(l) if l.text.trim().is_empty() => None,
        Some(l) => Some(l.text.trim().to_string()),
    };
    let user = c
        .cfg
        .users
        .iter()
        .find(|u| u.id == ctx.user)
        .cloned()
        .expect("authenticated user exists");
    if let Some(t) = &target {
        if !c.cfg.entities.iter().any(|x| &x.id == t) {
            return Err(vec![e(
                "Get API Session Failed",
                "",
                &format!("Invalid location ID '{t}' for company {}.", ctx.company),
                "",
            )]);
        }
    }
    if let Err(msg) = entity_allowed(&user, target.as_deref()) {
        return Err(vec![e("Get API Session Failed", "", &msg, "")]);
    }
    let duration = Duration::minutes(user.session_minutes);
    let id = st.new_id("sim");
    st.sessions.insert(
        id.clone(),
        Session {
            company: ctx.company.clone(),
            user: ctx.user.clone(),
            entity: target.clone(),
            sender: ctx.sender.clone(),
            expires: ctx.now + duration,
            duration,
        },
    );
    let api = Element::new("api")
        .with_child(Element::leaf("sessionid", &id))
        .with_child(Element::leaf("endpoint", &ctx.endpoint))
        .with_child(Element::leaf("locationid", target.unwrap_or_default()));
    Ok(ok(
        f,
        "getAPISession",
        Some(Element::new("data").with_child(api)),
    ))
}

/// Whether a user may work in an entity (None = top level). The wording of the refusal is
/// UNCONFIRMED in Intacct's documentation; this is the simulator's convention.
pub fn entity_allowed(
    user: &super::config::UserConfig,
    entity: Option<&str>,
) -> Result<(), String> {
    match (&user.entities, entity) {
        (None, _) => Ok(()),
        (Some(_), None) => Err(format!(
            "User {} is restricted to entity-level access and cannot sign in at the top level.",
            user.id
        )),
        (Some(list), Some(e)) if list.iter().any(|x| x == e) => Ok(()),
        (Some(_), Some(e)) => Err(format!(
            "User {} does not have permission to access entity {e}.",
            user.id
        )),
    }
}

fn read_by_query(st: &mut State, ctx: &Ctx, f: &Function) -> FnOut {
    let el = &f.body;
    let object = text(el, "object").unwrap_or("").to_string();
    let c = company(st, ctx);
    let def = find_def(c, &object).ok_or_else(|| not_found_object(&object))?;
    check_permission(c, ctx, &def.name, "READ_BY_QUERY")?;
    let fields_text = text(el, "fields").unwrap_or("*");
    let list: Vec<String> = fields_text
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let list = if list.is_empty() {
        vec!["*".to_string()]
    } else {
        list
    };
    let fields = resolve_fields(&def, &list)?;
    let pagesize = parse_pagesize(el, 1000)?;
    let cond = query::parse_read_by_query(text(el, "query").unwrap_or(""))
        .map_err(|m| vec![e("Query Failed", "", &format!("Invalid query: {m}"), "")])?;
    if let Some(cond) = &cond {
        check_expr_fields(&def, cond)?;
    }
    let elem = def.name.to_ascii_lowercase();
    let rows: Vec<Element> = c
        .records
        .get(&def.name)
        .into_iter()
        .flat_map(|m| m.values())
        .filter(|r| visible(c, ctx, r, false))
        .filter(|r| {
            cond.as_ref().is_none_or(|cond| {
                // readByQuery compares the raw stored codes of enumerations.
                cond.eval(
                    &|name| {
                        let v = r.fields.get(name).cloned();
                        match (def.field(name), v) {
                            (Some(fd), Some(v)) if !fd.raw_codes.is_empty() => {
                                Some(fd.raw_of(&v).map(str::to_string).unwrap_or(v))
                            }
                            (_, v) => v,
                        }
                    },
                    false,
                )
            })
        })
        .map(|r| render(&def, r, &fields, &elem, false))
        .collect();
    let total = rows.len();
    let first: Vec<Element> = rows.iter().take(pagesize).cloned().collect();
    let remaining = total - first.len();
    let result_id = if remaining > 0 {
        let id = st.new_id("rs");
        st.results.insert(
            id.clone(),
            ResultSet {
                owner: ctx.owner.clone(),
                object: def.name.clone(),
                rows,
                pos: first.len(),
                pagesize,
                expires: ctx.now + Duration::seconds(st.cfg.result_id_ttl_secs),
            },
        );
        Some(id)
    } else {
        None
    };
    Ok(ok(
        f,
        "readByQuery",
        Some(page_data(
            &elem,
            &first,
            total,
            remaining,
            result_id.as_deref(),
        )),
    ))
}

fn read_more(st: &mut State, ctx: &Ctx, f: &Function) -> FnOut {
    let el = &f.body;
    let id = match text(el, "resultId") {
        Some(id) => id.to_string(),
        None => {
            // The object form continues the latest result set of this object in the session.
            let object = text(el, "object").unwrap_or("");
            st.results
                .iter()
                .filter(|(_, r)| r.owner == ctx.owner && r.object.eq_ignore_ascii_case(object))
                .map(|(k, _)| k.clone())
                .max()
                .unwrap_or_default()
        }
    };
    let failed = || {
        vec![e(
            "readMore failed",
            "",
            &format!("Attempt to readMore with an invalid or expired resultId: {id}"),
            "",
        )]
    };
    let now = ctx.now;
    let rs = st.results.get_mut(&id).ok_or_else(failed)?;
    if rs.owner != ctx.owner || rs.expires < now {
        st.results.remove(&id);
        return Err(failed());
    }
    let end = (rs.pos + rs.pagesize).min(rs.rows.len());
    let page: Vec<Element> = rs.rows[rs.pos..end].to_vec();
    rs.pos = end;
    let total = rs.rows.len();
    let remaining = total - end;
    let listtype = rs.object.to_ascii_lowercase();
    if remaining == 0 {
        st.results.remove(&id);
    }
    Ok(ok(
        f,
        "readMore",
        Some(page_data(
            &listtype,
            &page,
            total,
            remaining,
            (remaining > 0).then_some(id.as_str()),
        )),
    ))
}

fn query_fn(st: &mut State, ctx: &Ctx, f: &Function) -> FnOut {
    let el = &f.body;
    let object = text(el, "object").unwrap_or("").to_string();
    let c = company(st, ctx);
    let def = find_def(c, &object).ok_or_else(|| not_found_object(&object))?;
    check_permission(c, ctx, &def.name, "READ_BY_QUERY")?;
    let select = el.child("select").ok_or_else(|| {
        vec![e(
            "XL03000003",
            "XML Parse schema error",
            "query requires <select>",
            "",
        )]
    })?;
    let mut list = Vec::new();
    for s in &select.children {
        if s.name != "field" {
            return Err(vec![e(
                "XL03000003",
                "XML Parse schema error",
                &format!("<{}> in <select> is not supported by the simulator", s.name),
                "",
            )]);
        }
        if s.text.trim() == "*" {
            return Err(vec![e(
                "XL03000003",
                "XML Parse schema error",
                "query does not accept * in <select>",
                "List the fields.",
            )]);
        }
        list.push(s.text.trim().to_string());
    }
    if list.is_empty() {
        return Err(vec![e(
            "XL03000003",
            "XML Parse schema error",
            "<select> needs at least one <field>",
            "",
        )]);
    }
    let fields = resolve_fields(&def, &list)?;
    let pagesize = parse_pagesize(el, 2000)?;
    let offset = match text(el, "offset") {
        None | Some("") => 0,
        Some(s) => s.parse::<usize>().map_err(|_| {
            vec![e(
                "XL03000003",
                "XML Parse schema error",
                &format!("bad offset '{s}'"),
                "",
            )]
        })?,
    };
    let opts = el.child("options");
    let flag = |n: &str| {
        opts.and_then(|o| o.child_text(n))
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    };
    let (ci, showprivate) = (flag("caseinsensitive"), flag("showprivate"));
    let cond = match el.child("filter") {
        Some(fl) => Some(
            query::parse_filter(fl)
                .map_err(|m| vec![e("XL03000003", "XML Parse schema error", &m, "")])?,
        ),
        None => None,
    };
    if let Some(cond) = &cond {
        check_expr_fields(&def, cond)?;
    }
    let mut order: Vec<(String, bool)> = Vec::new();
    if let Some(ob) = el.child("orderby") {
        for o in ob.children_named("order") {
            let fld = o.child_text("field").unwrap_or("").to_string();
            if def.field(&fld).is_none() {
                return Err(vec![e(
                    "Query Failed",
                    "",
                    &format!("Invalid orderby field {fld}"),
                    "",
                )]);
            }
            order.push((fld, o.child("descending").is_none()));
        }
    }
    let mut recs: Vec<&Record> = c
        .records
        .get(&def.name)
        .into_iter()
        .flat_map(|m| m.values())
        .filter(|r| visible(c, ctx, r, showprivate))
        .filter(|r| {
            cond.as_ref()
                .is_none_or(|cond| cond.eval(&|n| r.fields.get(n).cloned(), ci))
        })
        .collect();
    if !order.is_empty() {
        recs.sort_by(|a, b| {
            for (fld, asc) in &order {
                let x = a.fields.get(fld).map(String::as_str).unwrap_or("");
                let y = b.fields.get(fld).map(String::as_str).unwrap_or("");
                let o = query::compare(x, y, ci);
                let o = if *asc { o } else { o.reverse() };
                if o != std::cmp::Ordering::Equal {
                    return o;
                }
            }
            std::cmp::Ordering::Equal
        });
    }
    let total = recs.len();
    let page: Vec<Element> = recs
        .iter()
        .skip(offset)
        .take(pagesize)
        .map(|r| render(&def, r, &fields, &def.name, false))
        .collect();
    let remaining = total.saturating_sub(offset + page.len());
    let mut d = Element::new("data")
        .with_attr("listtype", &def.name)
        .with_attr("totalcount", total.to_string())
        .with_attr("offset", offset.to_string())
        .with_attr("count", page.len().to_string())
        .with_attr("numremaining", remaining.to_string());
    d.children = page;
    Ok(ok(f, "query", Some(d)))
}

fn read(st: &mut State, ctx: &Ctx, f: &Function) -> FnOut {
    let el = &f.body;
    let by_name = el.name == "readByName";
    let object = text(el, "object").unwrap_or("").to_string();
    let c = company(st, ctx);
    let def = find_def(c, &object).ok_or_else(|| not_found_object(&object))?;
    check_permission(c, ctx, &def.name, "READ")?;
    let list: Vec<String> = text(el, "fields")
        .unwrap_or("*")
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let list = if list.is_empty() {
        vec!["*".to_string()]
    } else {
        list
    };
    let fields = resolve_fields(&def, &list)?;
    let keys: Vec<String> = text(el, "keys")
        .unwrap_or("")
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if keys.len() > 100 {
        return Err(vec![e(
            "XL03000003",
            "XML Parse schema error",
            "read accepts at most 100 keys",
            "",
        )]);
    }
    let all = c.records.get(&def.name);
    let mut rows = Vec::new();
    for k in &keys {
        let found = all.and_then(|m| {
            if by_name {
                let idf = def.id_field.as_deref().unwrap_or("RECORDNO");
                m.values().find(|r| r.fields.get(idf) == Some(k))
            } else {
                k.parse::<u64>().ok().and_then(|n| m.get(&n))
            }
        });
        if let Some(r) = found.filter(|r| visible(c, ctx, r, false)) {
            rows.push(render(&def, r, &fields, &def.name, true));
        }
    }
    let mut d = Element::new("data")
        .with_attr("listtype", &def.name)
        .with_attr("count", rows.len().to_string());
    d.children = rows;
    Ok(ok(f, &el.name, Some(d)))
}

/// Flattens an object element into dotted header fields and its line collection.
#[allow(clippy::type_complexity)]
fn flatten(
    def: &ObjectDef,
    el: &Element,
) -> Result<
    (
        BTreeMap<String, String>,
        Option<Vec<BTreeMap<String, String>>>,
    ),
    Vec<ErrorDetail>,
> {
    let mut fields = BTreeMap::new();
    let mut lines = None;
    for ch in &el.children {
        if let Some(l) = def.lines.as_ref().filter(|l| l.collection == ch.name) {
            let mut v = Vec::new();
            for le in &ch.children {
                if le.name != l.element {
                    return Err(vec![e(
                        "BL03000018",
                        "Invalid line",
                        &format!(
                            "<{}> is not a valid line in {}; expected <{}>",
                            le.name, l.collection, l.element
                        ),
                        "",
                    )]);
                }
                let mut lf = BTreeMap::new();
                for x in &le.children {
                    if !l.fields.iter().any(|fd| fd.name == x.name) {
                        return Err(vec![e(
                            "BL03000018",
                            "Invalid field",
                            &format!("Field {} is not valid on {}", x.name, l.element),
                            "Check the field names with lookup.",
                        )]);
                    }
                    lf.insert(x.name.clone(), x.text.trim().to_string());
                }
                v.push(lf);
            }
            lines = Some(v);
        } else if ch.children.is_empty() {
            fields.insert(ch.name.clone(), ch.text.trim().to_string());
        } else {
            // Nested groups (DISPLAYCONTACT, MAILADDRESS…) are stored under dotted names.
            let mut stack: Vec<(String, &Element)> = vec![(ch.name.clone(), ch)];
            while let Some((prefix, g)) = stack.pop() {
                for x in &g.children {
                    let name = format!("{prefix}.{}", x.name);
                    if x.children.is_empty() {
                        fields.insert(name, x.text.trim().to_string());
                    } else {
                        stack.push((name, x));
                    }
                }
            }
        }
    }
    for k in fields.keys() {
        // Nested groups the simulator does not model are accepted and kept, as Intacct
        // accepts contact sub-elements it shows elsewhere; unknown plain fields are refused.
        if !k.contains('.') && def.field(k).is_none() {
            return Err(vec![e(
                "BL03000018",
                "Invalid field",
                &format!("Field {k} is not valid on {}", def.name),
                "Check the field names with lookup.",
            )]);
        }
    }
    Ok((fields, lines))
}

/// Simulator-only wording (Intacct has no canonical required-field message): a specific
/// BL03000018 error naming the field and its label, then the generic BL01001973 companion.
fn required_missing(
    def: &ObjectDef,
    fd: &FieldDef,
    line: Option<usize>,
    verb: &str,
) -> Vec<ErrorDetail> {
    let where_ = match line {
        Some(n) => format!(" on line {n}"),
        None => String::new(),
    };
    let kind = if fd.dimension.is_some() {
        "dimension"
    } else {
        "field"
    };
    vec![
        e(
            "BL03000018",
            "Required field missing",
            &format!(
                "Required {kind} {} ({}) is missing{where_}.",
                fd.name, fd.label
            ),
            &format!("Provide a value for {}, then try again.", fd.label),
        ),
        e(
            "BL01001973",
            "",
            &format!("Could not {verb} {} record!", def.label),
            "",
        ),
    ]
}

fn validate(
    c: &Company,
    def: &ObjectDef,
    rec: &Record,
    verb: &str,
) -> Result<(), Vec<ErrorDetail>> {
    for fd in def.fields.iter().filter(|f| f.required && !f.read_only) {
        // A draft bill may omit its dates and vendor (since 2022 R1).
        let draft = rec.fields.get("ACTION").is_some_and(|a| a == "Draft");
        if draft && ["WHENCREATED", "WHENDUE", "VENDORID"].contains(&fd.name.as_str()) {
            continue;
        }
        if rec.fields.get(&fd.name).is_none_or(|v| v.is_empty()) {
            return Err(required_missing(def, fd, None, verb));
        }
    }
    if let Some(l) = &def.lines {
        let min = if def.name == "GLBATCH" { 2 } else { 1 };
        if rec.lines.len() < min {
            return Err(vec![
                e(
                    "BL03000018",
                    "Missing lines",
                    &format!("{} needs at least {min} {} line(s).", def.name, l.element),
                    "",
                ),
                e(
                    "BL01001973",
                    "",
                    &format!("Could not {verb} {} record!", def.label),
                    "",
                ),
            ]);
        }
        for (i, line) in rec.lines.iter().enumerate() {
            for fd in l.fields.iter().filter(|f| f.required) {
                if line.get(&fd.name).is_none_or(|v| v.is_empty()) {
                    return Err(required_missing(def, fd, Some(i + 1), verb));
                }
            }
            for fd in l.fields.iter().filter(|f| f.dimension.is_some()) {
                let Some(v) = line.get(&fd.name).filter(|v| !v.is_empty()) else {
                    continue;
                };
                let dim = fd.dimension.as_deref().unwrap_or("");
                let known = match dim {
                    "LOCATION" => c
                        .records
                        .get("LOCATION")
                        .is_some_and(|m| m.values().any(|r| r.fields.get("LOCATIONID") == Some(v))),
                    "DEPARTMENT" => c.records.get("DEPARTMENT").is_some_and(|m| {
                        m.values().any(|r| r.fields.get("DEPARTMENTID") == Some(v))
                    }),
                    d if c.cfg.udds.iter().any(|u| u.name == d) => {
                        c.records.get(d).is_some_and(|m| {
                            m.values().any(|r| {
                                r.fields.get("name") == Some(v) || r.fields.get("id") == Some(v)
                            })
                        })
                    }
                    _ => true,
                };
                if !known {
                    return Err(vec![
                        e(
                            "BL03000018",
                            "Invalid dimension value",
                            &format!("Invalid {} '{v}' specified on line {}.", fd.label, i + 1),
                            &format!("Use an existing {}.", fd.label),
                        ),
                        e(
                            "BL01001973",
                            "",
                            &format!("Could not {verb} {} record!", def.label),
                            "",
                        ),
                    ]);
                }
            }
        }
        if def.name == "GLBATCH" {
            let mut bal = 0f64;
            for line in &rec.lines {
                let amt: f64 = line
                    .get("TRX_AMOUNT")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0.0);
                let sign: f64 = if line.get("TR_TYPE").map(String::as_str) == Some("-1") {
                    -1.0
                } else {
                    1.0
                };
                bal += sign * amt;
            }
            if bal.abs() > 0.005 {
                return Err(vec![
                    e(
                        "BL01001973",
                        "Transaction is out of balance",
                        "Debits must equal credits in a journal entry.",
                        "",
                    ),
                    e(
                        "BL01001973",
                        "",
                        &format!("Could not {verb} {} record!", def.label),
                        "",
                    ),
                ]);
            }
        }
    }
    Ok(())
}

fn derive(c: &Company, def: &ObjectDef, rec: &mut Record) {
    if let Some(v) = rec.fields.get("VENDORID").cloned() {
        if def.name == "APBILL" {
            let name = c
                .records
                .get("VENDOR")
                .and_then(|m| m.values().find(|r| r.fields.get("VENDORID") == Some(&v)))
                .and_then(|r| r.fields.get("NAME").cloned());
            rec.fields
                .insert("VENDORNAME".into(), name.unwrap_or_default());
        }
    }
    if let Some(l) = &def.lines {
        let _ = l;
        if def.name != "GLBATCH" {
            let total: f64 = rec
                .lines
                .iter()
                .filter_map(|l| l.get("TRX_AMOUNT").and_then(|v| v.parse::<f64>().ok()))
                .sum();
            rec.fields
                .insert("TOTALENTERED".into(), format!("{total:.2}"));
            rec.fields
                .entry("TOTALDUE".into())
                .or_insert(format!("{total:.2}"));
        }
        if def.field("STATE").is_some() && def.name != "GLBATCH" {
            let draft = rec.fields.get("ACTION").is_some_and(|a| a == "Draft");
            rec.fields.insert(
                "STATE".into(),
                if draft { "Draft" } else { "Posted" }.into(),
            );
        }
        for (i, line) in rec.lines.iter_mut().enumerate() {
            line.insert("LINE_NO".into(), (i + 1).to_string());
        }
    }
    if def.name == "GLBATCH" {
        rec.fields.entry("STATE".into()).or_insert("Posted".into());
    }
}

fn write(st: &mut State, ctx: &Ctx, f: &Function, create: bool) -> FnOut {
    let fname = if create { "create" } else { "update" };
    let verb = fname;
    let mut done: Vec<Element> = Vec::new();
    if f.body.children.is_empty() {
        return Err(vec![e(
            "XL03000003",
            "XML Parse schema error",
            &format!("<{fname}> holds no object"),
            "",
        )]);
    }
    let objs = f.body.children.clone();
    for obj in &objs {
        let c = company(st, ctx);
        let step = (|| -> Result<Element, Vec<ErrorDetail>> {
            let def = c
                .objects
                .get(&obj.name)
                .cloned()
                .ok_or_else(|| not_found_object(&obj.name))?;
            check_permission(c, ctx, &def.name, if create { "CREATE" } else { "UPDATE" })?;
            let (fields, lines) = flatten(&def, obj)?;
            for k in fields.keys() {
                if let Some(fd) = def.field(k) {
                    if fd.read_only && !(k == "RECORDNO" && !create) {
                        return Err(vec![e(
                            "BL03000018",
                            "Read-only field",
                            &format!("Field {k} of {} is read-only.", def.name),
                            "",
                        )]);
                    }
                }
            }
            let now_ts = fmt_ts(ctx.now);
            let rec = if create {
                let mut rec = Record {
                    recordno: 0,
                    fields,
                    lines: lines.unwrap_or_default(),
                    entity: ctx.entity.clone(),
                };
                if let Some(idf) = &def.id_field {
                    if let Some(idv) = rec.fields.get(idf).filter(|v| !v.is_empty()) {
                        let dup = c
                            .records
                            .get(&def.name)
                            .is_some_and(|m| m.values().any(|r| r.fields.get(idf) == Some(idv)));
                        if dup {
                            return Err(vec![
                                e(
                                    "BL34000061",
                                    "",
                                    &format!(
                                        "Another {} with the given value(s) {idv} already exists",
                                        def.label
                                    ),
                                    "Use a unique value instead.",
                                ),
                                e(
                                    "BL01001973",
                                    "",
                                    &format!("Could not create {} record!", def.label),
                                    "",
                                ),
                            ]);
                        }
                    }
                }
                validate(c, &def, &rec, verb)?;
                derive(c, &def, &mut rec);
                rec.recordno = c.alloc_recordno();
                if def.field("WHENCREATED").is_some_and(|f| f.read_only) {
                    rec.fields.insert("WHENCREATED".into(), now_ts.clone());
                }
                rec.fields.insert("WHENMODIFIED".into(), now_ts);
                rec.fields.insert("CREATEDBY".into(), ctx.user.clone());
                rec.fields.insert("MODIFIEDBY".into(), ctx.user.clone());
                rec
            } else {
                let key = fields.get("RECORDNO").and_then(|v| v.parse::<u64>().ok());
                let idf = def.id_field.clone();
                let found = c.records.get(&def.name).and_then(|m| match key {
                    Some(k) => m.get(&k).cloned(),
                    None => idf.as_ref().and_then(|idf| {
                        fields.get(idf).and_then(|v| {
                            m.values().find(|r| r.fields.get(idf) == Some(v)).cloned()
                        })
                    }),
                });
                let mut rec = found.filter(|r| visible(c, ctx, r, true)).ok_or_else(|| {
                    let (k, v) = match (key, &idf) {
                        (Some(k), _) => ("RECORDNO".to_string(), k.to_string()),
                        (None, Some(idf)) => {
                            (idf.clone(), fields.get(idf).cloned().unwrap_or_default())
                        }
                        (None, None) => ("RECORDNO".to_string(), String::new()),
                    };
                    vec![e(
                        "BL01001973",
                        "",
                        &format!("Cannot update non-existing {} with {k}={v}.", def.name),
                        "",
                    )]
                })?;
                for (k, v) in fields {
                    if k != "RECORDNO" {
                        rec.fields.insert(k, v);
                    }
                }
                // Line collections are replaced as a whole when sent.
                if let Some(l) = lines {
                    rec.lines = l;
                }
                validate(c, &def, &rec, verb)?;
                derive(c, &def, &mut rec);
                rec.fields.insert("WHENMODIFIED".into(), now_ts);
                rec.fields.insert("MODIFIEDBY".into(), ctx.user.clone());
                rec
            };
            let mut out = Element::new(def.name.to_ascii_lowercase())
                .with_child(Element::leaf("RECORDNO", rec.recordno.to_string()));
            if let Some(idf) = &def.id_field {
                out.push(Element::leaf(
                    idf,
                    rec.fields.get(idf).cloned().unwrap_or_default(),
                ));
            }
            let name = def.name.clone();
            c.insert(&name, rec);
            Ok(out)
        })();
        match step {
            Ok(el) => done.push(el),
            Err(errs) => {
                // A multi-object function is not atomic: report what was already written.
                let mut r = fail(f, fname, errs);
                if !done.is_empty() {
                    let mut d = Element::new("data")
                        .with_attr("listtype", "objects")
                        .with_attr("count", done.len().to_string());
                    d.children = done;
                    r.data = Some(d);
                }
                return Ok(r);
            }
        }
    }
    let mut d = Element::new("data")
        .with_attr("listtype", "objects")
        .with_attr("count", done.len().to_string());
    d.children = done;
    Ok(ok(f, fname, Some(d)))
}

fn delete(st: &mut State, ctx: &Ctx, f: &Function) -> FnOut {
    let el = &f.body;
    let object = text(el, "object").unwrap_or("").to_string();
    let c = company(st, ctx);
    let def = c
        .objects
        .get(&object)
        .cloned()
        .ok_or_else(|| not_found_object(&object))?;
    check_permission(c, ctx, &def.name, "DELETE")?;
    let keys: Vec<String> = text(el, "keys")
        .unwrap_or("")
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if keys.is_empty() {
        return Err(vec![e(
            "XL03000003",
            "XML Parse schema error",
            "delete needs <keys>",
            "",
        )]);
    }
    for k in keys {
        let n = k.parse::<u64>().ok();
        let exists = n
            .and_then(|n| c.records.get(&def.name).and_then(|m| m.get(&n)))
            .is_some_and(|r| visible(c, ctx, r, true));
        if !exists {
            return Err(vec![e(
                "BL01001973",
                "",
                &format!(
                    "Cannot find {} with key '{k}' to delete.",
                    def.name.to_ascii_lowercase()
                ),
                "",
            )]);
        }
        if let (Some(n), Some(m)) = (n, c.records.get_mut(&def.name)) {
            m.remove(&n);
        }
    }
    Ok(ok(f, "delete", None))
}

fn inspect(st: &mut State, ctx: &Ctx, f: &Function) -> FnOut {
    let el = &f.body;
    let c = company(st, ctx);
    let object = text(el, "object")
        .or_else(|| text(el, "name"))
        .unwrap_or("*")
        .to_string();
    let mut d = Element::new("data")
        .with_attr("listtype", "All")
        .with_attr("count", "1");
    if object == "*" {
        for o in c.objects.values() {
            d.push(Element::leaf("type", &o.label).with_attr("typename", &o.name));
        }
        return Ok(ok(f, "inspect", Some(d)));
    }
    let def = find_def(c, &object).ok_or_else(|| not_found_object(&object))?;
    let detail = el.attr("detail") == Some("1");
    let mut fields = Element::new("Fields");
    for fd in &def.fields {
        if detail {
            let (dn, ext) = fd.datatype.inspect_names();
            fields.push(
                Element::new("Field")
                    .with_child(Element::leaf("Name", &fd.name))
                    .with_child(Element::new("GroupName"))
                    .with_child(Element::leaf("dataName", dn))
                    .with_child(Element::leaf("externalDataName", ext))
                    .with_child(Element::leaf("isRequired", fd.required.to_string()))
                    .with_child(Element::leaf("isReadOnly", fd.read_only.to_string()))
                    .with_child(Element::leaf("maxLength", "0"))
                    .with_child(Element::leaf("DisplayLabel", &fd.label))
                    .with_child(Element::leaf("Description", &fd.label)),
            );
        } else {
            fields.push(Element::leaf("Field", &fd.name));
        }
    }
    let ty = Element::new("Type")
        .with_attr("Name", &def.name)
        .with_child(
            Element::new("Attributes")
                .with_child(Element::leaf("SingularName", &def.label))
                .with_child(Element::leaf("PluralName", &def.plural))
                .with_child(Element::new("Description")),
        )
        .with_child(fields);
    d.push(ty);
    Ok(ok(f, "inspect", Some(d)))
}

fn lookup(st: &mut State, ctx: &Ctx, f: &Function) -> FnOut {
    let el = &f.body;
    let c = company(st, ctx);
    let object = text(el, "object")
        .or_else(|| text(el, "name"))
        .unwrap_or("")
        .to_string();
    let def = find_def(c, &object).ok_or_else(|| not_found_object(&object))?;
    let mut fields = Element::new("Fields");
    let mut rels = Element::new("Relationships");
    for fd in &def.fields {
        let mut fe = Element::new("Field")
            .with_child(Element::leaf("ID", &fd.name))
            .with_child(Element::leaf("LABEL", &fd.label))
            .with_child(Element::new("DESCRIPTION"))
            .with_child(Element::leaf("REQUIRED", fd.required.to_string()))
            .with_child(Element::leaf("READONLY", fd.read_only.to_string()))
            .with_child(Element::leaf("DATATYPE", fd.datatype.lookup_name()));
        if fd.datatype == DataType::Enum {
            let mut vv = Element::new("VALIDVALUES");
            for v in &fd.valid_values {
                vv.push(Element::leaf("VALIDVALUE", v));
            }
            fe.push(vv);
        }
        fe.push(Element::leaf("ISCUSTOM", fd.is_custom.to_string()));
        fields.push(fe);
        if let Some(dim) = &fd.dimension {
            let label = c
                .cfg
                .udds
                .iter()
                .find(|u| &u.name == dim)
                .map(|u| u.label.clone())
                .unwrap_or_else(|| fd.label.clone());
            rels.push(
                Element::new("Relationship")
                    .with_child(Element::leaf("OBJECTPATH", dim))
                    .with_child(Element::leaf("OBJECTNAME", dim))
                    .with_child(Element::leaf("LABEL", label))
                    .with_child(Element::leaf("RELATIONSHIPTYPE", "MANY2ONE"))
                    .with_child(Element::leaf("RELATEDBY", &fd.name)),
            );
        }
    }
    let ty = Element::new("Type")
        .with_attr("Name", &def.name)
        .with_attr("DocumentType", "")
        .with_child(fields)
        .with_child(rels);
    Ok(ok(
        f,
        "lookup",
        Some(
            Element::new("data")
                .with_attr("listtype", "All")
                .with_attr("count", "1")
                .with_child(ty),
        ),
    ))
}

fn get_dimensions(st: &mut State, ctx: &Ctx, f: &Function) -> FnOut {
    let c = company(st, ctx);
    let mut dims = Element::new("dimensions");
    let std_dims = [
        ("DEPARTMENT", "Department"),
        ("LOCATION", "Location"),
        ("PROJECT", "Project"),
        ("CUSTOMER", "Customer"),
        ("VENDOR", "Vendor"),
        ("EMPLOYEE", "Employee"),
        ("ITEM", "Item"),
        ("CLASS", "Class"),
    ];
    let mut push = |name: &str, label: &str, udd: bool| {
        let term = c
            .cfg
            .term_labels
            .get(name)
            .cloned()
            .unwrap_or_else(|| label.to_string());
        dims.push(
            Element::new("dimension")
                .with_child(Element::leaf("objectName", name))
                .with_child(Element::leaf("objectLabel", label))
                .with_child(Element::leaf("termLabel", term))
                .with_child(Element::leaf("userDefinedDimension", udd.to_string()))
                .with_child(Element::leaf("enabledInGL", "true")),
        );
    };
    for (n, l) in std_dims {
        push(n, l, false);
    }
    for u in &c.cfg.udds {
        push(&u.name, &u.label, true);
    }
    Ok(ok(
        f,
        "getDimensions",
        Some(Element::new("data").with_child(dims)),
    ))
}
