//! A SuiteQL subset for the simulator: SELECT columns (with TO_CHAR, COUNT, MIN, MAX) FROM a
//! record table, WHERE with AND/OR/NOT, comparisons, BETWEEN, IN, LIKE, IS NULL,
//! TO_TIMESTAMP/TO_DATE literals and `?` parameters, ORDER BY, and NetSuite's paging rules.

use super::data::{FieldKind, Record, RecordTypeDef};
use super::rest::{error, page_links, paging};
use super::{Account, Routed};
use axum::body::Bytes;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};
use std::cmp::Ordering;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    Sym(String),
    Param,
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let c: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = vec![];
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch == '\'' {
            let mut t = String::new();
            i += 1;
            loop {
                match c.get(i) {
                    None => return Err("unterminated string literal".into()),
                    Some('\'') if c.get(i + 1) == Some(&'\'') => {
                        t.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(&x) => {
                        t.push(x);
                        i += 1;
                    }
                }
            }
            out.push(Tok::Str(t));
        } else if ch.is_ascii_digit()
            || (ch == '-'
                && c.get(i + 1).map(|d| d.is_ascii_digit()).unwrap_or(false)
                && !matches!(out.last(), Some(Tok::Ident(_)) | Some(Tok::Num(_))))
        {
            let start = i;
            i += 1;
            while i < c.len() && (c[i].is_ascii_digit() || c[i] == '.') {
                i += 1;
            }
            let t: String = c[start..i].iter().collect();
            out.push(Tok::Num(t.parse().map_err(|_| format!("bad number {t}"))?));
        } else if ch.is_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_' || c[i] == '.') {
                i += 1;
            }
            out.push(Tok::Ident(c[start..i].iter().collect()));
        } else if ch == '?' {
            out.push(Tok::Param);
            i += 1;
        } else {
            let two: String = c[i..(i + 2).min(c.len())].iter().collect();
            if ["<=", ">=", "<>", "!="].contains(&two.as_str()) {
                out.push(Tok::Sym(two));
                i += 2;
            } else if "=<>(),*".contains(ch) {
                out.push(Tok::Sym(ch.to_string()));
                i += 1;
            } else {
                return Err(format!("unexpected character {ch:?}"));
            }
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Null,
    Num(f64),
    Str(String),
    /// Unix seconds; `bool` is true for date-only values.
    Time(i64, bool),
}

impl Val {
    fn cmp(&self, other: &Val) -> Option<Ordering> {
        match (self, other) {
            (Val::Null, _) | (_, Val::Null) => None,
            (Val::Num(a), Val::Num(b)) => a.partial_cmp(b),
            (Val::Time(a, _), Val::Time(b, _)) => a.partial_cmp(b),
            (Val::Str(a), Val::Str(b)) => Some(a.cmp(b)),
            (Val::Num(a), Val::Str(b)) => b.parse::<f64>().ok().and_then(|b| a.partial_cmp(&b)),
            (Val::Str(a), Val::Num(b)) => a.parse::<f64>().ok().and_then(|a| a.partial_cmp(b)),
            _ => None,
        }
    }

    /// The string a SuiteQL row carries: numbers plain, dates in the account's format.
    fn render(&self) -> Option<String> {
        match self {
            Val::Null => None,
            Val::Num(n) if n.fract() == 0.0 && n.abs() < 1e15 => Some(format!("{}", *n as i64)),
            Val::Num(n) => Some(n.to_string()),
            Val::Str(s) => Some(s.clone()),
            Val::Time(t, _) => {
                chrono::DateTime::from_timestamp(*t, 0).map(|d| d.format("%-m/%-d/%Y").to_string())
            }
        }
    }
}

#[derive(Debug, Clone)]
enum Operand {
    Col(String),
    Lit(Val),
}

#[derive(Debug, Clone)]
enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp(Operand, String, Operand),
    Between(Operand, Operand, Operand),
    In(Operand, Vec<Operand>, bool),
    Like(Operand, String, bool),
    IsNull(Operand, bool),
}

#[derive(Debug, Clone)]
enum SelItem {
    Star,
    Col {
        col: String,
        alias: String,
    },
    ToChar {
        col: String,
        fmt: String,
        alias: String,
    },
    Count {
        alias: String,
    },
    Min {
        col: String,
        alias: String,
    },
    Max {
        col: String,
        alias: String,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct Query {
    select: Vec<SelItem>,
    table: String,
    filter: Option<Expr>,
    order: Vec<(String, bool)>,
}

struct Parser<'a> {
    t: Vec<Tok>,
    i: usize,
    params: &'a [Value],
    next_param: usize,
}

impl Parser<'_> {
    fn peek_kw(&self, kw: &str) -> bool {
        matches!(self.t.get(self.i), Some(Tok::Ident(s)) if s.eq_ignore_ascii_case(kw))
    }
    fn kw(&mut self, kw: &str) -> bool {
        if self.peek_kw(kw) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn expect_kw(&mut self, kw: &str) -> Result<(), String> {
        if self.kw(kw) {
            Ok(())
        } else {
            Err(format!("expected {kw}"))
        }
    }
    fn sym(&mut self, s: &str) -> bool {
        if matches!(self.t.get(self.i), Some(Tok::Sym(x)) if x == s) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn expect_sym(&mut self, s: &str) -> Result<(), String> {
        if self.sym(s) {
            Ok(())
        } else {
            Err(format!("expected {s}"))
        }
    }
    fn ident(&mut self) -> Result<String, String> {
        match self.t.get(self.i) {
            Some(Tok::Ident(s)) => {
                self.i += 1;
                Ok(s.to_ascii_lowercase())
            }
            other => Err(format!("expected a name, found {other:?}")),
        }
    }
    fn string(&mut self) -> Result<String, String> {
        match self.t.get(self.i) {
            Some(Tok::Str(s)) => {
                self.i += 1;
                Ok(s.clone())
            }
            other => Err(format!("expected a string, found {other:?}")),
        }
    }
    fn alias(&mut self, default: String) -> Result<String, String> {
        if self.kw("AS") {
            return self.ident();
        }
        match self.t.get(self.i) {
            Some(Tok::Ident(s))
                if !["FROM", "WHERE", "ORDER"]
                    .iter()
                    .any(|k| s.eq_ignore_ascii_case(k)) =>
            {
                self.i += 1;
                Ok(s.to_ascii_lowercase())
            }
            _ => Ok(default),
        }
    }

    fn select_item(&mut self) -> Result<SelItem, String> {
        if self.sym("*") {
            return Ok(SelItem::Star);
        }
        let name = self.ident()?;
        if self.sym("(") {
            let item = match name.as_str() {
                "to_char" => {
                    let col = self.ident()?;
                    self.expect_sym(",")?;
                    let fmt = strftime_of(&self.string()?);
                    self.expect_sym(")")?;
                    let alias = self.alias(col.clone())?;
                    SelItem::ToChar { col, fmt, alias }
                }
                "count" => {
                    if !self.sym("*") {
                        self.ident()?;
                    }
                    self.expect_sym(")")?;
                    SelItem::Count {
                        alias: self.alias("expr1".into())?,
                    }
                }
                "min" | "max" => {
                    let col = self.ident()?;
                    self.expect_sym(")")?;
                    let alias = self.alias("expr1".into())?;
                    if name == "min" {
                        SelItem::Min { col, alias }
                    } else {
                        SelItem::Max { col, alias }
                    }
                }
                "builtin.df" => {
                    let col = self.ident()?;
                    self.expect_sym(")")?;
                    let alias = self.alias(col.clone())?;
                    SelItem::Col { col, alias }
                }
                f => return Err(format!("unsupported function {f}")),
            };
            return Ok(item);
        }
        let alias = self.alias(name.clone())?;
        Ok(SelItem::Col { col: name, alias })
    }

    fn operand(&mut self) -> Result<Operand, String> {
        match self.t.get(self.i).cloned() {
            Some(Tok::Num(n)) => {
                self.i += 1;
                Ok(Operand::Lit(Val::Num(n)))
            }
            Some(Tok::Str(s)) => {
                self.i += 1;
                Ok(Operand::Lit(Val::Str(s)))
            }
            Some(Tok::Param) => {
                self.i += 1;
                let v = self
                    .params
                    .get(self.next_param)
                    .ok_or("more ? placeholders than params")?;
                self.next_param += 1;
                Ok(Operand::Lit(match v {
                    Value::Number(n) => Val::Num(n.as_f64().unwrap_or(0.0)),
                    Value::String(s) => Val::Str(s.clone()),
                    Value::Null => Val::Null,
                    other => Val::Str(other.to_string()),
                }))
            }
            Some(Tok::Ident(name)) => {
                self.i += 1;
                let lower = name.to_ascii_lowercase();
                if (lower == "to_timestamp" || lower == "to_date") && self.sym("(") {
                    let text = self.string()?;
                    self.expect_sym(",")?;
                    let fmt = self.string()?;
                    self.expect_sym(")")?;
                    let t = parse_with_mask(&text, &fmt)
                        .ok_or_else(|| format!("{text:?} does not match format {fmt:?}"))?;
                    return Ok(Operand::Lit(Val::Time(t, lower == "to_date")));
                }
                Ok(Operand::Col(lower))
            }
            other => Err(format!("unexpected {other:?}")),
        }
    }

    fn primary(&mut self) -> Result<Expr, String> {
        if self.kw("NOT") {
            return Ok(Expr::Not(Box::new(self.primary()?)));
        }
        if self.sym("(") {
            let e = self.or()?;
            self.expect_sym(")")?;
            return Ok(e);
        }
        let left = self.operand()?;
        if self.kw("BETWEEN") {
            let lo = self.operand()?;
            self.expect_kw("AND")?;
            let hi = self.operand()?;
            return Ok(Expr::Between(left, lo, hi));
        }
        if self.kw("IS") {
            let not = self.kw("NOT");
            self.expect_kw("NULL")?;
            return Ok(Expr::IsNull(left, not));
        }
        let not = self.kw("NOT");
        if self.kw("IN") {
            self.expect_sym("(")?;
            let mut items = vec![self.operand()?];
            while self.sym(",") {
                items.push(self.operand()?);
            }
            self.expect_sym(")")?;
            return Ok(Expr::In(left, items, not));
        }
        if self.kw("LIKE") {
            return Ok(Expr::Like(left, self.string()?, not));
        }
        if not {
            return Err("expected IN or LIKE after NOT".into());
        }
        let op = match self.t.get(self.i) {
            Some(Tok::Sym(s)) if ["=", "<", ">", "<=", ">=", "<>", "!="].contains(&s.as_str()) => {
                s.clone()
            }
            other => return Err(format!("expected a comparison, found {other:?}")),
        };
        self.i += 1;
        let right = self.operand()?;
        Ok(Expr::Cmp(left, op, right))
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut e = self.primary()?;
        while self.kw("AND") {
            e = Expr::And(Box::new(e), Box::new(self.primary()?));
        }
        Ok(e)
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut e = self.and()?;
        while self.kw("OR") {
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }
}

/// Parses an Oracle-style date format mask subset: YYYY MM DD HH24 MI SS.
fn parse_with_mask(text: &str, mask: &str) -> Option<i64> {
    let fmt = mask
        .to_ascii_uppercase()
        .replace("YYYY", "%Y")
        .replace("HH24", "%H")
        .replace("MI", "%M")
        .replace("SS", "%S")
        .replace("MM", "%m")
        .replace("DD", "%d");
    chrono::NaiveDateTime::parse_from_str(text, &fmt)
        .map(|d| d.and_utc().timestamp())
        .ok()
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(text, &fmt)
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|d| d.and_utc().timestamp())
        })
}

/// Converts an Oracle format mask to a strftime pattern (once per query, not per row).
fn strftime_of(mask: &str) -> String {
    mask.to_ascii_uppercase()
        .replace("YYYY", "%Y")
        .replace("HH24", "%H")
        .replace("MI", "%M")
        .replace("SS", "%S")
        .replace("MM", "%m")
        .replace("DD", "%d")
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Parses the simulator's own stored form `YYYY-MM-DDTHH:MM:SSZ` without chrono: SuiteQL
/// evaluates it for every row, so this is the hot path. Other shapes return None.
fn fast_utc_iso(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'Z'
    {
        return None;
    }
    let n = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse().ok() };
    let (y, mo, d, h, mi, se) = (
        n(0..4)?,
        n(5..7)?,
        n(8..10)?,
        n(11..13)?,
        n(14..16)?,
        n(17..19)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 59 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se)
}

fn format_with_mask(t: i64, strftime: &str) -> String {
    if strftime == "%Y-%m-%d %H:%M:%S" && t >= 0 {
        let (y, m, d) = civil_from_days(t.div_euclid(86_400));
        let secs = t.rem_euclid(86_400);
        return format!(
            "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        );
    }
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format(strftime).to_string())
        .unwrap_or_default()
}

pub(crate) fn parse(q: &str, params: &[Value]) -> Result<Query, String> {
    let mut p = Parser {
        t: lex(q)?,
        i: 0,
        params,
        next_param: 0,
    };
    p.expect_kw("SELECT")?;
    let mut select = vec![p.select_item()?];
    while p.sym(",") {
        select.push(p.select_item()?);
    }
    p.expect_kw("FROM")?;
    let table = p.ident()?;
    let filter = if p.kw("WHERE") { Some(p.or()?) } else { None };
    let mut order = vec![];
    if p.kw("ORDER") {
        p.expect_kw("BY")?;
        loop {
            let c = p.ident()?;
            let desc = if p.kw("DESC") {
                true
            } else {
                p.kw("ASC");
                false
            };
            order.push((c, desc));
            if !p.sym(",") {
                break;
            }
        }
    }
    if p.i != p.t.len() {
        return Err(format!("unexpected {:?} after the query", p.t[p.i]));
    }
    Ok(Query {
        select,
        table,
        filter,
        order,
    })
}

/// The SuiteQL value of one column of a record.
fn column(def: &RecordTypeDef, r: &Record, col: &str) -> Result<Val, String> {
    match col {
        "id" => return Ok(Val::Num(r.id as f64)),
        "externalid" => return Ok(r.external_id.clone().map(Val::Str).unwrap_or(Val::Null)),
        "type" if def.table == "transaction" => return Ok(Val::Str("SalesOrd".into())),
        "itemtype" if def.table == "item" => return Ok(Val::Str("InvtPart".into())),
        _ => {}
    }
    let f = def
        .body_fields()
        .find(|f| f.name.eq_ignore_ascii_case(col))
        .ok_or_else(|| format!("Field '{col}' for record '{}' was not found.", def.table))?;
    let Some(v) = r.values.get(&f.name) else {
        return Ok(Val::Null);
    };
    Ok(match &f.kind {
        FieldKind::Text => Val::Str(v.as_str().unwrap_or("").to_string()),
        FieldKind::Integer | FieldKind::Float => Val::Num(v.as_f64().unwrap_or(0.0)),
        FieldKind::Boolean => Val::Str(if v.as_bool() == Some(true) { "T" } else { "F" }.into()),
        FieldKind::Date => chrono::NaiveDate::parse_from_str(v.as_str().unwrap_or(""), "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|d| Val::Time(d.and_utc().timestamp(), true))
            .unwrap_or(Val::Null),
        FieldKind::DateTime => {
            let text = v.as_str().unwrap_or("");
            fast_utc_iso(text)
                .or_else(|| {
                    chrono::DateTime::parse_from_rfc3339(text)
                        .ok()
                        .map(|d| d.timestamp())
                })
                .map(|t| Val::Time(t, false))
                .unwrap_or(Val::Null)
        }
        FieldKind::Select { .. } | FieldKind::List { .. } => v
            .get("id")
            .and_then(|i| i.as_str())
            .and_then(|s| s.parse::<f64>().ok())
            .map(Val::Num)
            .unwrap_or(Val::Null),
    })
}

fn operand_val(def: &RecordTypeDef, r: &Record, o: &Operand) -> Result<Val, String> {
    match o {
        Operand::Col(c) => column(def, r, c),
        Operand::Lit(v) => Ok(v.clone()),
    }
}

fn like(s: &str, pat: &str) -> bool {
    // `%` matches any run, `_` one character; enough for the simulator.
    fn go(s: &[char], p: &[char]) -> bool {
        match (p.first(), s.first()) {
            (None, _) => s.is_empty(),
            (Some('%'), _) => go(s, &p[1..]) || (!s.is_empty() && go(&s[1..], p)),
            (Some('_'), Some(_)) => go(&s[1..], &p[1..]),
            (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => go(&s[1..], &p[1..]),
            _ => false,
        }
    }
    go(
        &s.chars().collect::<Vec<_>>(),
        &pat.chars().collect::<Vec<_>>(),
    )
}

fn eval(def: &RecordTypeDef, r: &Record, e: &Expr) -> Result<bool, String> {
    Ok(match e {
        Expr::And(a, b) => eval(def, r, a)? && eval(def, r, b)?,
        Expr::Or(a, b) => eval(def, r, a)? || eval(def, r, b)?,
        Expr::Not(a) => !eval(def, r, a)?,
        Expr::Cmp(a, op, b) => {
            let (x, y) = (operand_val(def, r, a)?, operand_val(def, r, b)?);
            match x.cmp(&y) {
                None => false,
                Some(o) => match op.as_str() {
                    "=" => o == Ordering::Equal,
                    "<>" | "!=" => o != Ordering::Equal,
                    "<" => o == Ordering::Less,
                    ">" => o == Ordering::Greater,
                    "<=" => o != Ordering::Greater,
                    ">=" => o != Ordering::Less,
                    _ => false,
                },
            }
        }
        Expr::Between(a, lo, hi) => {
            let x = operand_val(def, r, a)?;
            matches!(
                x.cmp(&operand_val(def, r, lo)?),
                Some(Ordering::Greater | Ordering::Equal)
            ) && matches!(
                x.cmp(&operand_val(def, r, hi)?),
                Some(Ordering::Less | Ordering::Equal)
            )
        }
        Expr::In(a, items, not) => {
            let x = operand_val(def, r, a)?;
            let mut hit = false;
            for i in items {
                if x.cmp(&operand_val(def, r, i)?) == Some(Ordering::Equal) {
                    hit = true;
                }
            }
            hit != *not
        }
        Expr::Like(a, pat, not) => match operand_val(def, r, a)? {
            Val::Str(s) => like(&s, pat) != *not,
            _ => false,
        },
        Expr::IsNull(a, not) => (operand_val(def, r, a)? == Val::Null) != *not,
    })
}

/// Bounds on `id` implied by top-level AND conjuncts, so id-range queries do not scan
/// the whole table (the filter is still evaluated on every row returned).
fn id_bounds(e: &Expr) -> (u64, u64) {
    match e {
        Expr::And(a, b) => {
            let (l1, h1) = id_bounds(a);
            let (l2, h2) = id_bounds(b);
            (l1.max(l2), h1.min(h2))
        }
        Expr::Cmp(Operand::Col(c), op, Operand::Lit(Val::Num(n))) if c == "id" && *n >= 0.0 => {
            let n = *n as u64;
            match op.as_str() {
                ">" => (n.saturating_add(1), u64::MAX),
                ">=" => (n, u64::MAX),
                "<" => (0, n.saturating_sub(1)),
                "<=" => (0, n),
                "=" => (n, n),
                _ => (0, u64::MAX),
            }
        }
        _ => (0, u64::MAX),
    }
}

fn referenced_columns(e: &Expr, out: &mut Vec<String>) {
    let mut op = |o: &Operand| {
        if let Operand::Col(c) = o {
            out.push(c.clone())
        }
    };
    match e {
        Expr::And(a, b) | Expr::Or(a, b) => {
            referenced_columns(a, out);
            referenced_columns(b, out);
        }
        Expr::Not(a) => referenced_columns(a, out),
        Expr::Cmp(a, _, b) => {
            op(a);
            op(b)
        }
        Expr::Between(a, b, c) => {
            op(a);
            op(b);
            op(c)
        }
        Expr::In(a, items, _) => {
            op(a);
            items.iter().for_each(op)
        }
        Expr::Like(a, _, _) | Expr::IsNull(a, _) => op(a),
    }
}

/// Runs a query: returns the total row count and the requested page of rows.
pub(crate) fn execute(
    acct: &Account,
    q: &Query,
    limit: u64,
    offset: u64,
) -> Result<(u64, Vec<Value>), String> {
    let def = acct
        .types
        .values()
        .find(|t| t.table.eq_ignore_ascii_case(&q.table))
        .ok_or_else(|| format!("Record '{}' was not found.", q.table))?;
    if let Some(f) = &q.filter {
        let mut cols = vec![];
        referenced_columns(f, &mut cols);
        let mcol = def.modified_field.to_ascii_lowercase();
        if !def.modified_filterable && cols.contains(&mcol) {
            return Err(format!(
                "Field '{mcol}' for record '{}' is not available for filtering.",
                def.table
            ));
        }
    }
    let data = acct.data.read().unwrap();
    let empty = BTreeMap::new();
    let table = data.get(&def.name).unwrap_or(&empty);
    let (lo, hi) = q.filter.as_ref().map(id_bounds).unwrap_or((0, u64::MAX));
    let mut rows: Vec<&Record> = Vec::new();
    // BTreeMap::range panics on an inverted range; contradictory bounds match nothing.
    let scan: Box<dyn Iterator<Item = &Record>> = if lo <= hi {
        Box::new(table.range(lo..=hi).map(|(_, r)| r))
    } else {
        Box::new(std::iter::empty())
    };
    for r in scan {
        let keep = match &q.filter {
            Some(f) => eval(def, r, f)?,
            None => true,
        };
        if keep {
            rows.push(r);
        }
    }
    let aggregate = q.select.iter().any(|s| {
        matches!(
            s,
            SelItem::Count { .. } | SelItem::Min { .. } | SelItem::Max { .. }
        )
    });
    if aggregate {
        let mut o = Map::new();
        o.insert("links".into(), json!([]));
        for s in &q.select {
            match s {
                SelItem::Count { alias } => {
                    o.insert(alias.clone(), json!(rows.len().to_string()));
                }
                SelItem::Min { col, alias } | SelItem::Max { col, alias } => {
                    let mut best: Option<Val> = None;
                    for r in &rows {
                        let v = column(def, r, col)?;
                        if v == Val::Null {
                            continue;
                        }
                        let better = match &best {
                            None => true,
                            Some(b) => {
                                let o = v.cmp(b);
                                if matches!(s, SelItem::Min { .. }) {
                                    o == Some(Ordering::Less)
                                } else {
                                    o == Some(Ordering::Greater)
                                }
                            }
                        };
                        if better {
                            best = Some(v);
                        }
                    }
                    if let Some(v) = best.and_then(|b| b.render()) {
                        o.insert(alias.clone(), json!(v));
                    }
                }
                _ => return Err("cannot mix aggregate and plain columns without GROUP BY".into()),
            }
        }
        return Ok((
            1,
            if offset == 0 {
                vec![Value::Object(o)]
            } else {
                vec![]
            },
        ));
    }
    if !q.order.is_empty() {
        let mut keyed: Vec<(Vec<Val>, &Record)> = Vec::with_capacity(rows.len());
        for r in rows {
            let mut k = Vec::with_capacity(q.order.len());
            for (c, _) in &q.order {
                k.push(column(def, r, c)?);
            }
            keyed.push((k, r));
        }
        keyed.sort_by(|(a, _), (b, _)| {
            for (i, (_, desc)) in q.order.iter().enumerate() {
                // NULLs sort last, as in Oracle's default ascending order.
                let o = match (&a[i], &b[i]) {
                    (Val::Null, Val::Null) => Ordering::Equal,
                    (Val::Null, _) => Ordering::Greater,
                    (_, Val::Null) => Ordering::Less,
                    (x, y) => x.cmp(y).unwrap_or(Ordering::Equal),
                };
                let o = if *desc { o.reverse() } else { o };
                if o != Ordering::Equal {
                    return o;
                }
            }
            Ordering::Equal
        });
        rows = keyed.into_iter().map(|(_, r)| r).collect();
    }
    let total = rows.len() as u64;
    let mut out = Vec::new();
    for r in rows.iter().skip(offset as usize).take(limit as usize) {
        let mut o = Map::new();
        o.insert("links".into(), json!([]));
        for s in &q.select {
            match s {
                SelItem::Star => {
                    for (k, v) in [("id".to_string(), column(def, r, "id")?)]
                        .into_iter()
                        .chain(def.body_fields().map(|f| {
                            (f.column(), column(def, r, &f.column()).unwrap_or(Val::Null))
                        }))
                    {
                        if let Some(s) = v.render() {
                            o.insert(k, json!(s));
                        }
                    }
                }
                SelItem::Col { col, alias } => {
                    if let Some(s) = column(def, r, col)?.render() {
                        o.insert(alias.clone(), json!(s));
                    }
                }
                SelItem::ToChar { col, fmt, alias } => match column(def, r, col)? {
                    Val::Time(t, _) => {
                        o.insert(alias.clone(), json!(format_with_mask(t, fmt)));
                    }
                    Val::Null => {}
                    other => {
                        if let Some(s) = other.render() {
                            o.insert(alias.clone(), json!(s));
                        }
                    }
                },
                _ => unreachable!("aggregates handled above"),
            }
        }
        out.push(Value::Object(o));
    }
    Ok((total, out))
}

fn search_error(detail: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "INVALID_PARAMETER",
        &format!("Invalid search query. Detailed unprocessed description follows. Search error occurred: {detail}"),
    )
}

pub(crate) fn handle_http(
    routed: &Routed,
    qs: &BTreeMap<String, String>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let transient = headers
        .get_all("prefer")
        .iter()
        .filter_map(|h| h.to_str().ok())
        .any(|v| {
            v.split(',')
                .any(|p| p.trim().eq_ignore_ascii_case("transient"))
        });
    if !transient {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "The request is missing the required header Prefer: transient.",
        );
    }
    let acct = &routed.account;
    let (limit, offset) = match paging(qs, acct.query_ceiling) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let parsed: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                "The request could not be understood by the server due to malformed syntax.",
            )
        }
    };
    let Some(q) = parsed.get("q").and_then(|q| q.as_str()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "The request body must contain a q property with the query.",
        );
    };
    let params: Vec<Value> = parsed
        .get("params")
        .and_then(|p| p.as_array())
        .cloned()
        .unwrap_or_default();
    let query = match parse(q, &params) {
        Ok(q) => q,
        Err(e) => return search_error(&e),
    };
    let (total, items) = match execute(acct, &query, limit, offset) {
        Ok(r) => r,
        Err(e) => return search_error(&e),
    };
    let count = items.len() as u64;
    let base = format!("{}/services/rest/query/v1/suiteql", routed.link_base);
    let body = json!({"links": page_links(&base, qs, limit, offset, total), "count": count,
                      "hasMore": offset + count < total, "items": items, "offset": offset, "totalResults": total});
    let mut r = (StatusCode::OK, body.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.oracle.resource+json; type=collection"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn fast_date_paths_agree_with_chrono(t in 0i64..4_102_444_800) {
            let iso = crate::simulator::fmt_iso(t);
            proptest::prop_assert_eq!(fast_utc_iso(&iso), Some(t));
            let slow = chrono::DateTime::from_timestamp(t, 0).unwrap().format("%Y-%m-%d %H:%M:%S").to_string();
            proptest::prop_assert_eq!(format_with_mask(t, "%Y-%m-%d %H:%M:%S"), slow);
        }
    }

    #[test]
    fn parses_the_connector_shapes() {
        let q = parse("SELECT id, TO_CHAR(lastmodifieddate, 'YYYY-MM-DD HH24:MI:SS') AS lm FROM customer WHERE lastmodifieddate > TO_TIMESTAMP('2024-01-01 00:00:00', 'YYYY-MM-DD HH24:MI:SS') OR (lastmodifieddate = TO_TIMESTAMP('2024-01-01 00:00:00', 'YYYY-MM-DD HH24:MI:SS') AND id > ?) ORDER BY lastmodifieddate, id", &[json!(5)]).unwrap();
        assert_eq!(q.table, "customer");
        assert_eq!(q.order.len(), 2);
        assert!(parse("SELECT FROM x", &[]).is_err());
        assert!(parse("SELECT id FROM x WHERE id >", &[]).is_err());
        assert!(parse("SELECT id FROM x WHERE id = ?", &[]).is_err());
        assert!(parse("SELECT id FROM x extra junk", &[]).is_err());
        assert_eq!(
            parse_with_mask("2024-01-02 03:04:05", "YYYY-MM-DD HH24:MI:SS"),
            Some(1_704_164_645)
        );
        assert_eq!(
            format_with_mask(1_704_164_645, &strftime_of("YYYY-MM-DD HH24:MI:SS")),
            "2024-01-02 03:04:05"
        );
        assert!(like("Acme 12", "acme%"));
        assert!(!like("Acme 12", "%x%"));
    }
}
