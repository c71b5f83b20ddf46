//! Filters of the simulator: the SQL-like readByQuery string and the `query` function's XML
//! filter tree, both compiled into one expression type and evaluated against records.

use crate::xml::Element;
use chrono::{NaiveDate, NaiveDateTime};
use std::cmp::Ordering;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Cmp {
        field: String,
        op: CmpOp,
        value: String,
    },
    Like {
        field: String,
        pattern: String,
        negate: bool,
    },
    In {
        field: String,
        values: Vec<String>,
        negate: bool,
    },
    Between {
        field: String,
        lo: String,
        hi: String,
    },
    Null {
        field: String,
        negate: bool,
    },
}

impl Expr {
    /// Every field the expression names, so unknown ones can be reported before evaluating.
    pub fn fields(&self, out: &mut Vec<String>) {
        match self {
            Expr::And(v) | Expr::Or(v) => v.iter().for_each(|e| e.fields(out)),
            Expr::Not(e) => e.fields(out),
            Expr::Cmp { field, .. }
            | Expr::Like { field, .. }
            | Expr::In { field, .. }
            | Expr::Between { field, .. }
            | Expr::Null { field, .. } => out.push(field.clone()),
        }
    }

    /// Evaluates against a record; `get` returns the comparable value of a field.
    pub fn eval(&self, get: &dyn Fn(&str) -> Option<String>, ci: bool) -> bool {
        match self {
            Expr::And(v) => v.iter().all(|e| e.eval(get, ci)),
            Expr::Or(v) => v.iter().any(|e| e.eval(get, ci)),
            Expr::Not(e) => !e.eval(get, ci),
            Expr::Cmp { field, op, value } => {
                let Some(v) = get(field).filter(|v| !v.is_empty()) else {
                    // SQL semantics: comparisons with NULL are false, even <>.
                    return false;
                };
                let o = compare(&v, value, ci);
                match op {
                    CmpOp::Eq => o == Ordering::Equal,
                    CmpOp::Ne => o != Ordering::Equal,
                    CmpOp::Lt => o == Ordering::Less,
                    CmpOp::Le => o != Ordering::Greater,
                    CmpOp::Gt => o == Ordering::Greater,
                    CmpOp::Ge => o != Ordering::Less,
                }
            }
            Expr::Like {
                field,
                pattern,
                negate,
            } => {
                let v = get(field).unwrap_or_default();
                like(&v, pattern, ci) != *negate
            }
            Expr::In {
                field,
                values,
                negate,
            } => {
                let v = get(field).unwrap_or_default();
                values.iter().any(|x| compare(&v, x, ci) == Ordering::Equal) != *negate
            }
            Expr::Between { field, lo, hi } => match get(field).filter(|v| !v.is_empty()) {
                Some(v) => {
                    compare(&v, lo, ci) != Ordering::Less
                        && compare(&v, hi, ci) != Ordering::Greater
                }
                None => false,
            },
            Expr::Null { field, negate } => {
                get(field).map(|v| v.is_empty()).unwrap_or(true) != *negate
            }
        }
    }
}

/// Parses Intacct's `MM/DD/YYYY` and `MM/DD/YYYY HH:MM:SS` forms.
pub fn parse_intacct_time(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    if let Ok(t) = NaiveDateTime::parse_from_str(s, "%m/%d/%Y %H:%M:%S") {
        return Some(t);
    }
    NaiveDate::parse_from_str(s, "%m/%d/%Y")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
}

/// Numbers compare as numbers, dates as dates, everything else as (optionally folded) text.
pub fn compare(a: &str, b: &str, ci: bool) -> Ordering {
    if let (Ok(x), Ok(y)) = (a.trim().parse::<f64>(), b.trim().parse::<f64>()) {
        return x.partial_cmp(&y).unwrap_or(Ordering::Equal);
    }
    if let (Some(x), Some(y)) = (parse_intacct_time(a), parse_intacct_time(b)) {
        return x.cmp(&y);
    }
    if ci {
        a.to_lowercase().cmp(&b.to_lowercase())
    } else {
        a.cmp(b)
    }
}

/// SQL LIKE with `%` and `_`, iterative so a hostile pattern cannot recurse deeply.
pub fn like(value: &str, pattern: &str, ci: bool) -> bool {
    let (v, p): (Vec<char>, Vec<char>) = if ci {
        (
            value.to_lowercase().chars().collect(),
            pattern.to_lowercase().chars().collect(),
        )
    } else {
        (value.chars().collect(), pattern.chars().collect())
    };
    let (mut i, mut j) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while i < v.len() {
        if j < p.len() && (p[j] == '_' || p[j] == v[i]) {
            i += 1;
            j += 1;
        } else if j < p.len() && p[j] == '%' {
            star = Some((j, i));
            j += 1;
        } else if let Some((sj, si)) = star {
            j = sj + 1;
            i = si + 1;
            star = Some((sj, si + 1));
        } else {
            return false;
        }
    }
    while j < p.len() && p[j] == '%' {
        j += 1;
    }
    j == p.len()
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(String),
    Op(String),
    LParen,
    RParen,
    Comma,
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let c: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch == '(' {
            out.push(Tok::LParen);
            i += 1;
        } else if ch == ')' {
            out.push(Tok::RParen);
            i += 1;
        } else if ch == ',' {
            out.push(Tok::Comma);
            i += 1;
        } else if ch == '\'' {
            let mut v = String::new();
            i += 1;
            loop {
                match c.get(i) {
                    None => return Err("unterminated string literal".into()),
                    Some('\\') if c.get(i + 1) == Some(&'\'') => {
                        v.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(x) => {
                        v.push(*x);
                        i += 1;
                    }
                }
            }
            out.push(Tok::Str(v));
        } else if "=<>!".contains(ch) {
            let two: String = c[i..(i + 2).min(c.len())].iter().collect();
            if ["<=", ">=", "<>", "!="].contains(&two.as_str()) {
                out.push(Tok::Op(two));
                i += 2;
            } else if ch == '!' {
                return Err("'!' must be followed by '='".into());
            } else {
                out.push(Tok::Op(ch.to_string()));
                i += 1;
            }
        } else if ch.is_ascii_digit()
            || (ch == '-' && c.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            let st = i;
            i += 1;
            while i < c.len() && (c[i].is_ascii_digit() || c[i] == '.') {
                i += 1;
            }
            out.push(Tok::Num(c[st..i].iter().collect()));
        } else if ch.is_alphanumeric() || ch == '_' {
            let st = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_' || c[i] == '.') {
                i += 1;
            }
            out.push(Tok::Ident(c[st..i].iter().collect()));
        } else {
            return Err(format!("unexpected character '{ch}'"));
        }
    }
    Ok(out)
}

struct P {
    t: Vec<Tok>,
    i: usize,
    depth: usize,
}

const MAX_DEPTH: usize = 64;

impl P {
    fn peek_kw(&self, kw: &str) -> bool {
        matches!(self.t.get(self.i), Some(Tok::Ident(s)) if s.eq_ignore_ascii_case(kw))
    }
    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.peek_kw(kw) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn or(&mut self) -> Result<Expr, String> {
        let mut v = vec![self.and()?];
        while self.eat_kw("OR") {
            v.push(self.and()?);
        }
        Ok(if v.len() == 1 {
            v.pop().unwrap()
        } else {
            Expr::Or(v)
        })
    }
    fn and(&mut self) -> Result<Expr, String> {
        let mut v = vec![self.unary()?];
        while self.eat_kw("AND") {
            v.push(self.unary()?);
        }
        Ok(if v.len() == 1 {
            v.pop().unwrap()
        } else {
            Expr::And(v)
        })
    }
    fn unary(&mut self) -> Result<Expr, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!("query nests deeper than {MAX_DEPTH} levels"));
        }
        let r = if self.eat_kw("NOT") {
            Ok(Expr::Not(Box::new(self.unary()?)))
        } else if self.t.get(self.i) == Some(&Tok::LParen) {
            self.i += 1;
            let e = self.or()?;
            if self.t.get(self.i) != Some(&Tok::RParen) {
                return Err("missing ')'".into());
            }
            self.i += 1;
            Ok(e)
        } else {
            self.predicate()
        };
        self.depth -= 1;
        r
    }
    fn value(&mut self) -> Result<String, String> {
        match self.t.get(self.i).cloned() {
            Some(Tok::Str(s)) | Some(Tok::Num(s)) => {
                self.i += 1;
                Ok(s)
            }
            other => Err(format!("expected a value, found {other:?}")),
        }
    }
    fn predicate(&mut self) -> Result<Expr, String> {
        let field = match self.t.get(self.i).cloned() {
            Some(Tok::Ident(s)) => s,
            other => return Err(format!("expected a field name, found {other:?}")),
        };
        self.i += 1;
        if self.eat_kw("IS") {
            let negate = self.eat_kw("NOT");
            if !self.eat_kw("NULL") {
                return Err("expected NULL after IS".into());
            }
            return Ok(Expr::Null { field, negate });
        }
        let negate = self.eat_kw("NOT");
        if self.eat_kw("LIKE") {
            let pattern = self.value()?;
            return Ok(Expr::Like {
                field,
                pattern,
                negate,
            });
        }
        if self.eat_kw("IN") {
            if self.t.get(self.i) != Some(&Tok::LParen) {
                return Err("expected '(' after IN".into());
            }
            self.i += 1;
            let mut values = vec![self.value()?];
            while self.t.get(self.i) == Some(&Tok::Comma) {
                self.i += 1;
                values.push(self.value()?);
            }
            if self.t.get(self.i) != Some(&Tok::RParen) {
                return Err("missing ')' after IN list".into());
            }
            self.i += 1;
            return Ok(Expr::In {
                field,
                values,
                negate,
            });
        }
        if negate {
            return Err("NOT must be followed by LIKE or IN here".into());
        }
        let op = match self.t.get(self.i).cloned() {
            Some(Tok::Op(o)) => o,
            other => {
                return Err(format!(
                    "expected an operator after {field}, found {other:?}"
                ))
            }
        };
        self.i += 1;
        let value = self.value()?;
        let op = match op.as_str() {
            "=" => CmpOp::Eq,
            "!=" | "<>" => CmpOp::Ne,
            "<" => CmpOp::Lt,
            "<=" => CmpOp::Le,
            ">" => CmpOp::Gt,
            ">=" => CmpOp::Ge,
            o => return Err(format!("unknown operator {o}")),
        };
        Ok(Expr::Cmp { field, op, value })
    }
}

/// Parses a readByQuery `<query>` string; an empty string selects everything.
pub fn parse_read_by_query(s: &str) -> Result<Option<Expr>, String> {
    let t = tokenize(s)?;
    if t.is_empty() {
        return Ok(None);
    }
    let mut p = P { t, i: 0, depth: 0 };
    let e = p.or()?;
    if p.i != p.t.len() {
        return Err(format!(
            "unexpected text after the condition: {:?}",
            p.t[p.i]
        ));
    }
    Ok(Some(e))
}

/// Compiles a `query` `<filter>` element (which holds exactly one operator).
pub fn parse_filter(filter: &Element) -> Result<Expr, String> {
    if filter.children.len() != 1 {
        return Err(format!(
            "<filter> must hold exactly one operator, found {}",
            filter.children.len()
        ));
    }
    filter_op(&filter.children[0], 0)
}

fn filter_op(el: &Element, depth: usize) -> Result<Expr, String> {
    if depth > MAX_DEPTH {
        return Err(format!("filter nests deeper than {MAX_DEPTH} levels"));
    }
    let field = || -> Result<String, String> {
        el.child_text("field")
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or_else(|| format!("<{}> needs a <field>", el.name))
    };
    let values: Vec<String> = el
        .children_named("value")
        .map(|v| v.text.trim().to_string())
        .collect();
    let one = |values: &Vec<String>| -> Result<String, String> {
        if values.len() != 1 {
            return Err(format!("<{}> needs exactly one <value>", el.name));
        }
        Ok(values[0].clone())
    };
    let cmp = |op| -> Result<Expr, String> {
        Ok(Expr::Cmp {
            field: field()?,
            op,
            value: one(&values)?,
        })
    };
    match el.name.as_str() {
        "and" | "or" => {
            if el.children.len() < 2 {
                return Err(format!("<{}> needs at least two operands", el.name));
            }
            let v = el
                .children
                .iter()
                .map(|c| filter_op(c, depth + 1))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(if el.name == "and" {
                Expr::And(v)
            } else {
                Expr::Or(v)
            })
        }
        "equalto" => cmp(CmpOp::Eq),
        "notequalto" => cmp(CmpOp::Ne),
        "lessthan" => cmp(CmpOp::Lt),
        "lessthanorequalto" => cmp(CmpOp::Le),
        "greaterthan" => cmp(CmpOp::Gt),
        "greaterthanorequalto" => cmp(CmpOp::Ge),
        "like" | "notlike" => Ok(Expr::Like {
            field: field()?,
            pattern: one(&values)?,
            negate: el.name == "notlike",
        }),
        "in" | "notin" => {
            if values.is_empty() || values.len() > 1000 {
                return Err(format!(
                    "<{}> takes 1 to 1000 values, found {}",
                    el.name,
                    values.len()
                ));
            }
            Ok(Expr::In {
                field: field()?,
                values,
                negate: el.name == "notin",
            })
        }
        "between" => {
            if values.len() != 2 {
                return Err("<between> needs exactly two <value>".into());
            }
            Ok(Expr::Between {
                field: field()?,
                lo: values[0].clone(),
                hi: values[1].clone(),
            })
        }
        "isnull" | "isnotnull" => Ok(Expr::Null {
            field: field()?,
            negate: el.name == "isnotnull",
        }),
        other => Err(format!("unknown filter operator <{other}>")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn rec(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn read_by_query_grammar() {
        let e = parse_read_by_query(
            "WHENMODIFIED >= '03/01/2024 00:00:00' AND (STATUS = 'T' OR NAME LIKE 'Jane\\'s%') AND VENDORID NOT IN ('V1','V2')",
        )
        .unwrap()
        .unwrap();
        let r = rec(&[
            ("WHENMODIFIED", "03/02/2024 10:00:00"),
            ("STATUS", "F"),
            ("NAME", "Jane's Deli"),
            ("VENDORID", "V3"),
        ]);
        assert!(e.eval(&|f| r.get(f).cloned(), false));
        let r2 = rec(&[("WHENMODIFIED", "12/31/2023 23:59:59"), ("STATUS", "T")]);
        assert!(!e.eval(&|f| r2.get(f).cloned(), false));
        assert!(parse_read_by_query("").unwrap().is_none());
        assert!(parse_read_by_query("A = ").is_err());
        assert!(parse_read_by_query(&"(".repeat(500)).is_err());
    }

    #[test]
    fn like_and_nulls() {
        assert!(like("Acme Supply", "Acme%", false));
        assert!(like("abc", "a_c", false));
        assert!(!like("abc", "A%", false));
        assert!(like("abc", "A%", true));
        let e = parse_read_by_query("X IS NULL").unwrap().unwrap();
        assert!(e.eval(&|_| None, false));
    }
}
