//! The simulator's OData query engine: parses `$filter` and `$orderby` the way Service
//! Layer accepts them and evaluates them against stored entities with B1's quirks (enum
//! names or codes, several date spellings, minute-resolution time comparison).

use super::model::{enum_canonical, EntityDef, PropType};
use serde_json::{Map, Value};
use std::cmp::Ordering;

/// A parse or evaluation failure, reported to the caller as a 400 with code -1000.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryError(pub String);

#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Str(String),
    Num(f64),
    Null,
    Bool(bool),
    /// An unquoted V4 date literal or a `datetime'...'` typed literal.
    Date(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Prop(String),
    Lit(Lit),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp(Operand, CmpOp, Operand),
    /// startswith / endswith / contains / substringof on a property and a literal.
    Func(String, String, String),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    Typed(String, String),
    LParen,
    RParen,
    Comma,
}

fn tokenize(s: &str) -> Result<Vec<Tok>, QueryError> {
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' {
            out.push(Tok::LParen);
            i += 1;
        } else if c == ')' {
            out.push(Tok::RParen);
            i += 1;
        } else if c == ',' {
            out.push(Tok::Comma);
            i += 1;
        } else if c == '\'' {
            let (lit, next) = read_quoted(&chars, i)?;
            out.push(Tok::Str(lit));
            i = next;
        } else if c.is_ascii_digit()
            || (c == '-' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            let start = i;
            i += 1;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '.' | '-' | ':'))
            {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            if text.len() >= 10 && text.as_bytes().get(4) == Some(&b'-') {
                out.push(Tok::Typed("date".into(), text));
            } else {
                let n: f64 = text
                    .parse()
                    .map_err(|_| QueryError(format!("invalid number literal '{text}'")))?;
                out.push(Tok::Num(n));
            }
        } else if c.is_alphabetic() || c == '_' || c == '$' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '.' | '/' | '$'))
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            if chars.get(i) == Some(&'\'') {
                let (lit, next) = read_quoted(&chars, i)?;
                out.push(Tok::Typed(word, lit));
                i = next;
            } else {
                out.push(Tok::Ident(word));
            }
        } else {
            return Err(QueryError(format!("unexpected character '{c}' in $filter")));
        }
    }
    Ok(out)
}

fn read_quoted(chars: &[char], start: usize) -> Result<(String, usize), QueryError> {
    let mut i = start + 1;
    let mut lit = String::new();
    loop {
        match chars.get(i) {
            None => return Err(QueryError("unterminated string literal in $filter".into())),
            Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                lit.push('\'');
                i += 2;
            }
            Some('\'') => return Ok((lit, i + 1)),
            Some(c) => {
                lit.push(*c);
                i += 1;
            }
        }
    }
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek_word(&self, w: &str) -> bool {
        matches!(self.toks.get(self.pos), Some(Tok::Ident(x)) if x.eq_ignore_ascii_case(w))
    }

    fn or(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.and()?;
        while self.peek_word("or") {
            self.pos += 1;
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.unary()?;
        while self.peek_word("and") {
            self.pos += 1;
            let right = self.unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, QueryError> {
        self.depth += 1;
        if self.depth > 64 {
            return Err(QueryError("$filter nests too deeply".into()));
        }
        let r = if self.peek_word("not") {
            self.pos += 1;
            Ok(Expr::Not(Box::new(self.unary()?)))
        } else {
            self.primary()
        };
        self.depth -= 1;
        r
    }

    fn primary(&mut self) -> Result<Expr, QueryError> {
        match self.toks.get(self.pos).cloned() {
            Some(Tok::LParen) => {
                self.pos += 1;
                let e = self.or()?;
                self.expect(Tok::RParen)?;
                Ok(e)
            }
            Some(Tok::Ident(name))
                if matches!(
                    name.to_ascii_lowercase().as_str(),
                    "startswith" | "endswith" | "contains" | "substringof"
                ) && self.toks.get(self.pos + 1) == Some(&Tok::LParen) =>
            {
                self.pos += 2;
                let a = self.operand()?;
                self.expect(Tok::Comma)?;
                let b = self.operand()?;
                self.expect(Tok::RParen)?;
                let lname = name.to_ascii_lowercase();
                // substringof takes its arguments the other way round.
                let (prop, lit) = match (lname.as_str(), a, b) {
                    ("substringof", Operand::Lit(Lit::Str(s)), Operand::Prop(p)) => (p, s),
                    (_, Operand::Prop(p), Operand::Lit(Lit::Str(s))) => (p, s),
                    _ => {
                        return Err(QueryError(format!(
                            "{name} needs a property and a string literal"
                        )))
                    }
                };
                let func = if lname == "substringof" {
                    "contains".to_string()
                } else {
                    lname
                };
                let mut e = Expr::Func(func, prop, lit);
                // `startswith(X,'a') eq true` is a common V3 spelling.
                if self.peek_word("eq") {
                    self.pos += 1;
                    match self.toks.get(self.pos) {
                        Some(Tok::Ident(b)) if b == "true" => self.pos += 1,
                        Some(Tok::Ident(b)) if b == "false" => {
                            self.pos += 1;
                            e = Expr::Not(Box::new(e));
                        }
                        _ => return Err(QueryError("expected true or false".into())),
                    }
                }
                Ok(e)
            }
            Some(_) => {
                let left = self.operand()?;
                let op = match self.toks.get(self.pos) {
                    Some(Tok::Ident(w)) => match w.to_ascii_lowercase().as_str() {
                        "eq" => CmpOp::Eq,
                        "ne" => CmpOp::Ne,
                        "gt" => CmpOp::Gt,
                        "ge" => CmpOp::Ge,
                        "lt" => CmpOp::Lt,
                        "le" => CmpOp::Le,
                        other => return Err(QueryError(format!("unknown operator '{other}'"))),
                    },
                    _ => return Err(QueryError("expected a comparison operator".into())),
                };
                self.pos += 1;
                let right = self.operand()?;
                Ok(Expr::Cmp(left, op, right))
            }
            None => Err(QueryError("unexpected end of $filter".into())),
        }
    }

    fn operand(&mut self) -> Result<Operand, QueryError> {
        let t = self
            .toks
            .get(self.pos)
            .cloned()
            .ok_or_else(|| QueryError("unexpected end of $filter".into()))?;
        self.pos += 1;
        Ok(match t {
            Tok::Str(s) => Operand::Lit(Lit::Str(s)),
            Tok::Num(n) => Operand::Lit(Lit::Num(n)),
            Tok::Typed(kind, v) => {
                if kind.eq_ignore_ascii_case("datetime") || kind == "date" {
                    Operand::Lit(Lit::Date(v))
                } else {
                    // SAPB1.BoYesNoEnum'tYES' and similar typed enum literals.
                    Operand::Lit(Lit::Str(v))
                }
            }
            Tok::Ident(w) if w == "null" => Operand::Lit(Lit::Null),
            Tok::Ident(w) if w == "true" => Operand::Lit(Lit::Bool(true)),
            Tok::Ident(w) if w == "false" => Operand::Lit(Lit::Bool(false)),
            Tok::Ident(w) => Operand::Prop(w),
            other => return Err(QueryError(format!("unexpected token {other:?} in $filter"))),
        })
    }

    fn expect(&mut self, t: Tok) -> Result<(), QueryError> {
        if self.toks.get(self.pos) == Some(&t) {
            self.pos += 1;
            Ok(())
        } else {
            Err(QueryError(format!("expected {t:?} in $filter")))
        }
    }
}

/// Parses a `$filter` expression.
pub fn parse_filter(s: &str) -> Result<Expr, QueryError> {
    let toks = tokenize(s)?;
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
    };
    let e = p.or()?;
    if p.pos != p.toks.len() {
        return Err(QueryError("trailing input in $filter".into()));
    }
    Ok(e)
}

/// Checks that every property the filter names exists on the entity.
pub fn check_props(e: &Expr, def: &EntityDef) -> Result<(), QueryError> {
    let check = |name: &str| {
        if def.prop(name).is_some() {
            Ok(())
        } else {
            Err(QueryError(format!(
                "Property '{name}' of '{}' is invalid",
                def.type_name
            )))
        }
    };
    match e {
        Expr::Or(a, b) | Expr::And(a, b) => {
            check_props(a, def)?;
            check_props(b, def)
        }
        Expr::Not(a) => check_props(a, def),
        Expr::Cmp(l, _, r) => {
            if let Operand::Prop(p) = l {
                check(p)?;
            }
            if let Operand::Prop(p) = r {
                check(p)?;
            }
            Ok(())
        }
        Expr::Func(_, p, _) => check(p),
    }
}

/// Normalizes a date literal in any accepted spelling to `YYYY-MM-DD`.
pub fn norm_date(s: &str) -> Option<String> {
    let s = s.trim();
    let digits: String = s.chars().take_while(|c| c.is_ascii_digit()).collect();
    if digits.len() == 8 && (s.len() == 8 || !s.as_bytes()[8].is_ascii_digit()) {
        return Some(format!(
            "{}-{}-{}",
            &digits[0..4],
            &digits[4..6],
            &digits[6..8]
        ));
    }
    let b = s.as_bytes();
    if b.len() >= 10 && b[4] == b'-' && b[7] == b'-' && s[0..4].chars().all(|c| c.is_ascii_digit())
    {
        let d = &s[0..10];
        if d[5..7].chars().all(|c| c.is_ascii_digit())
            && d[8..10].chars().all(|c| c.is_ascii_digit())
        {
            return Some(d.to_string());
        }
    }
    None
}

/// Normalizes a time literal to `HH:MM`, dropping seconds: the server compares times at
/// minute resolution.
pub fn norm_time_minute(s: &str) -> Option<String> {
    let s = s.trim();
    let t = match s.find('T') {
        Some(i) => &s[i + 1..],
        None => s,
    };
    let digits: String = t.chars().filter(|c| c.is_ascii_digit()).collect();
    let (h, m) = if t.contains(':') {
        let mut it = t.split(':');
        let h = it.next()?.trim();
        let m = it.next()?.trim();
        (h.to_string(), m.chars().take(2).collect::<String>())
    } else if digits.len() >= 4 {
        (digits[0..2].to_string(), digits[2..4].to_string())
    } else {
        return None;
    };
    let hv: u32 = h.parse().ok()?;
    let mv: u32 = m.parse().ok()?;
    if hv > 23 || mv > 59 {
        return None;
    }
    Some(format!("{hv:02}:{mv:02}"))
}

/// A value ready for comparison.
#[derive(Debug, PartialEq, PartialOrd)]
enum Cv {
    Null,
    Num(f64),
    Text(String),
}

fn coerce_lit(lit: &Lit, ty: &PropType) -> Result<Cv, QueryError> {
    Ok(match (lit, ty) {
        (Lit::Null, _) => Cv::Null,
        (Lit::Str(s) | Lit::Date(s), PropType::Date) => {
            Cv::Text(norm_date(s).ok_or_else(|| QueryError(format!("invalid date literal '{s}'")))?)
        }
        (Lit::Str(s) | Lit::Date(s), PropType::Time) => Cv::Text(
            norm_time_minute(s).ok_or_else(|| QueryError(format!("invalid time literal '{s}'")))?,
        ),
        (Lit::Str(s), PropType::Enum(e)) => Cv::Text(
            enum_canonical(e, s)
                .ok_or_else(|| QueryError(format!("invalid value '{s}' for enum {e}")))?
                .to_string(),
        ),
        (Lit::Str(s), PropType::Int | PropType::Double) => Cv::Num(
            s.parse()
                .map_err(|_| QueryError(format!("'{s}' is not a number")))?,
        ),
        (Lit::Num(n), PropType::Str) => Cv::Text(format_num(*n)),
        (Lit::Num(n), _) => Cv::Num(*n),
        (Lit::Str(s) | Lit::Date(s), _) => Cv::Text(s.clone()),
        (Lit::Bool(b), _) => Cv::Text(if *b { "tYES".into() } else { "tNO".into() }),
    })
}

fn format_num(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

fn coerce_val(v: Option<&Value>, ty: &PropType) -> Cv {
    match v {
        None | Some(Value::Null) => Cv::Null,
        Some(Value::Number(n)) => Cv::Num(n.as_f64().unwrap_or(0.0)),
        Some(Value::String(s)) => match ty {
            PropType::Date => Cv::Text(norm_date(s).unwrap_or_else(|| s.clone())),
            PropType::Time => Cv::Text(norm_time_minute(s).unwrap_or_else(|| s.clone())),
            PropType::Int | PropType::Double => {
                s.parse().map(Cv::Num).unwrap_or(Cv::Text(s.clone()))
            }
            _ => Cv::Text(s.clone()),
        },
        Some(other) => Cv::Text(other.to_string()),
    }
}

fn cmp(l: &Cv, op: CmpOp, r: &Cv) -> bool {
    match (l, r) {
        (Cv::Null, Cv::Null) => matches!(op, CmpOp::Eq | CmpOp::Ge | CmpOp::Le),
        (Cv::Null, _) | (_, Cv::Null) => op == CmpOp::Ne,
        _ => {
            let o = match (l, r) {
                (Cv::Num(a), Cv::Num(b)) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
                (Cv::Text(a), Cv::Text(b)) => a.cmp(b),
                (Cv::Num(a), Cv::Text(b)) => format_num(*a).cmp(b),
                (Cv::Text(a), Cv::Num(b)) => a.cmp(&format_num(*b)),
                _ => Ordering::Equal,
            };
            match op {
                CmpOp::Eq => o == Ordering::Equal,
                CmpOp::Ne => o != Ordering::Equal,
                CmpOp::Gt => o == Ordering::Greater,
                CmpOp::Ge => o != Ordering::Less,
                CmpOp::Lt => o == Ordering::Less,
                CmpOp::Le => o != Ordering::Greater,
            }
        }
    }
}

/// Evaluates a (checked) filter against one entity.
pub fn eval(e: &Expr, row: &Map<String, Value>, def: &EntityDef) -> Result<bool, QueryError> {
    Ok(match e {
        Expr::Or(a, b) => eval(a, row, def)? || eval(b, row, def)?,
        Expr::And(a, b) => eval(a, row, def)? && eval(b, row, def)?,
        Expr::Not(a) => !eval(a, row, def)?,
        Expr::Func(f, prop, lit) => {
            let v = match row.get(prop) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => return Ok(false),
            };
            match f.as_str() {
                "startswith" => v.starts_with(lit.as_str()),
                "endswith" => v.ends_with(lit.as_str()),
                _ => v.contains(lit.as_str()),
            }
        }
        Expr::Cmp(l, op, r) => {
            let (lv, rv) = match (l, r) {
                (Operand::Prop(p), Operand::Lit(lit)) => {
                    let ty = &def.prop(p).map(|x| x.ty.clone()).unwrap_or(PropType::Str);
                    (coerce_val(row.get(p), ty), coerce_lit(lit, ty)?)
                }
                (Operand::Lit(lit), Operand::Prop(p)) => {
                    let ty = &def.prop(p).map(|x| x.ty.clone()).unwrap_or(PropType::Str);
                    (coerce_lit(lit, ty)?, coerce_val(row.get(p), ty))
                }
                (Operand::Prop(a), Operand::Prop(b)) => {
                    let ta = def.prop(a).map(|x| x.ty.clone()).unwrap_or(PropType::Str);
                    let tb = def.prop(b).map(|x| x.ty.clone()).unwrap_or(PropType::Str);
                    (coerce_val(row.get(a), &ta), coerce_val(row.get(b), &tb))
                }
                (Operand::Lit(a), Operand::Lit(b)) => (
                    coerce_lit(a, &PropType::Str)?,
                    coerce_lit(b, &PropType::Str)?,
                ),
            };
            cmp(&lv, *op, &rv)
        }
    })
}

/// Parses `$orderby` into (property, descending) pairs and checks the properties.
pub fn parse_orderby(s: &str, def: &EntityDef) -> Result<Vec<(String, bool)>, QueryError> {
    let mut out = Vec::new();
    for part in s.split(',') {
        let mut words = part.split_whitespace();
        let name = words
            .next()
            .ok_or_else(|| QueryError("empty $orderby item".into()))?;
        let desc = match words.next().map(|w| w.to_ascii_lowercase()) {
            None => false,
            Some(w) if w == "asc" => false,
            Some(w) if w == "desc" => true,
            Some(w) => return Err(QueryError(format!("invalid $orderby direction '{w}'"))),
        };
        if words.next().is_some() {
            return Err(QueryError(format!("invalid $orderby item '{part}'")));
        }
        if def.prop(name).is_none() {
            return Err(QueryError(format!(
                "Property '{name}' of '{}' is invalid",
                def.type_name
            )));
        }
        out.push((name.to_string(), desc));
    }
    Ok(out)
}

/// Orders two rows by the given keys; full values (seconds included) decide the order.
pub fn compare_rows(
    a: &Map<String, Value>,
    b: &Map<String, Value>,
    keys: &[(String, bool)],
) -> Ordering {
    for (k, desc) in keys {
        let o = match (a.get(k), b.get(k)) {
            (Some(Value::Number(x)), Some(Value::Number(y))) => x
                .as_f64()
                .unwrap_or(0.0)
                .partial_cmp(&y.as_f64().unwrap_or(0.0))
                .unwrap_or(Ordering::Equal),
            (Some(Value::String(x)), Some(Value::String(y))) => x.cmp(y),
            (None | Some(Value::Null), None | Some(Value::Null)) => Ordering::Equal,
            (None | Some(Value::Null), _) => Ordering::Less,
            (_, None | Some(Value::Null)) => Ordering::Greater,
            (Some(x), Some(y)) => x.to_string().cmp(&y.to_string()),
        };
        let o = if *desc { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulator::model::standard_defs;

    fn orders() -> EntityDef {
        standard_defs()
            .into_iter()
            .find(|d| d.set == "Orders")
            .unwrap()
    }

    fn row(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn time_comparison_ignores_seconds() {
        let d = orders();
        let r = row(serde_json::json!({"UpdateDate":"2024-05-01","UpdateTime":"10:15:59"}));
        let e = parse_filter("UpdateTime ge '10:15:30'").unwrap();
        assert!(eval(&e, &r, &d).unwrap());
        let e = parse_filter("UpdateTime gt '10:15:00'").unwrap();
        assert!(!eval(&e, &r, &d).unwrap(), "same minute is not greater");
        let e = parse_filter("UpdateDate eq '20240501' and UpdateTime eq '1015'").unwrap();
        assert!(eval(&e, &r, &d).unwrap());
    }

    #[test]
    fn dates_in_every_documented_spelling() {
        let d = orders();
        let r = row(serde_json::json!({"DocDate":"2014-04-23"}));
        for f in [
            "DocDate eq '2014-04-23'",
            "DocDate eq '20140423'",
            "DocDate eq datetime'2014-04-23'",
            "DocDate eq '2014-04-23T12:21:21'",
            "DocDate eq 2014-04-23",
        ] {
            assert!(eval(&parse_filter(f).unwrap(), &r, &d).unwrap(), "{f}");
        }
    }

    #[test]
    fn enums_by_name_or_code_and_functions() {
        let bp = standard_defs()
            .into_iter()
            .find(|d| d.set == "BusinessPartners")
            .unwrap();
        let r = row(serde_json::json!({"CardType":"cCustomer","CardName":"O'Brien Ltd"}));
        assert!(eval(&parse_filter("CardType eq 'C'").unwrap(), &r, &bp).unwrap());
        assert!(eval(&parse_filter("CardType eq 'cCustomer'").unwrap(), &r, &bp).unwrap());
        assert!(eval(
            &parse_filter("startswith(CardName,'O''Br')").unwrap(),
            &r,
            &bp
        )
        .unwrap());
        assert!(eval(&parse_filter("not (CardType eq 'S')").unwrap(), &r, &bp).unwrap());
        assert!(parse_filter("CardType eq").is_err());
        let e = parse_filter("Bogus eq 1").unwrap();
        assert!(check_props(&e, &bp).is_err());
    }
}
