//! Bulk writes: items are validated against the discovered required-field map, then packed
//! many functions per request (each its own function, transaction="false", so one bad item
//! fails alone). Function controlids derive from idempotency keys and requests carry
//! uniqueid=true, so a resent or resumed batch never writes an item twice.

use crate::client::{function_error, Client};
use crate::protocol::{Function, Status};
use crate::schema::{lines_of, Discovery};
use crate::xml::Element;
use connector_core::domain::ErrorCode;
use connector_core::{ConnectorError, ItemOutcome, ItemResult, WriteBatch, WriteItem, WriteOp};
use sha2::{Digest, Sha256};

/// Functions per request; Intacct documents no limit, about 100 is common practice.
pub const DEFAULT_FUNCTIONS_PER_REQUEST: usize = 50;

/// A deterministic function controlid for an item: the same key always yields the same id.
pub fn control_id(object: &str, op: WriteOp, key: &str) -> String {
    let mut h = Sha256::new();
    h.update(object.as_bytes());
    h.update([0]);
    h.update(format!("{op:?}").as_bytes());
    h.update([0]);
    h.update(key.as_bytes());
    format!("sy-{}", hex::encode(&h.finalize()[..16]))
}

fn value_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Builds an object element from JSON fields: nested objects and dotted keys become groups,
/// an array under the line collection name becomes lines.
pub fn object_element(
    object: &str,
    fields: &std::collections::BTreeMap<String, serde_json::Value>,
) -> Result<Element, ConnectorError> {
    fn put(el: &mut Element, path: &[&str], v: &serde_json::Value) {
        if path.len() == 1 {
            match v {
                serde_json::Value::Object(m) => {
                    let mut g = Element::new(path[0]);
                    for (k, x) in m {
                        put(&mut g, &[k.as_str()], x);
                    }
                    el.push(g);
                }
                _ => el.push(Element::leaf(path[0], value_text(v))),
            }
            return;
        }
        let idx = match el.children.iter().position(|c| c.name == path[0]) {
            Some(i) => i,
            None => {
                el.push(Element::new(path[0]));
                el.children.len() - 1
            }
        };
        put(&mut el.children[idx], &path[1..], v);
    }
    let valid_name = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
            && !s.starts_with(|c: char| c.is_ascii_digit() || c == '.')
    };
    let mut el = Element::new(object);
    let lines = lines_of(object);
    for (k, v) in fields {
        if !valid_name(k) {
            return Err(ConnectorError::invalid_input(format!(
                "field name '{k}' is not a valid Intacct field name"
            )));
        }
        if let (Some((coll, line)), serde_json::Value::Array(items)) = (lines, v) {
            if k == coll {
                let mut c = Element::new(coll);
                for it in items {
                    let serde_json::Value::Object(m) = it else {
                        return Err(ConnectorError::invalid_input(format!(
                            "each {coll} entry must be an object"
                        )));
                    };
                    let mut le = Element::new(line);
                    for (lk, lv) in m {
                        if !valid_name(lk) {
                            return Err(ConnectorError::invalid_input(format!(
                                "line field name '{lk}' is not valid"
                            )));
                        }
                        le.push(Element::leaf(lk, value_text(lv)));
                    }
                    c.push(le);
                }
                el.push(c);
                continue;
            }
        }
        let parts: Vec<&str> = k.split('.').collect();
        put(&mut el, &parts, v);
    }
    Ok(el)
}

fn present(v: Option<&serde_json::Value>) -> bool {
    match v {
        None | Some(serde_json::Value::Null) => false,
        Some(serde_json::Value::String(s)) => !s.trim().is_empty(),
        Some(_) => true,
    }
}

/// Checks an item against the discovered requirements before anything is sent.
pub fn validate(
    object: &str,
    item: &WriteItem,
    discovery: &Discovery,
) -> Result<(), ConnectorError> {
    if item.op == WriteOp::Delete {
        return Ok(());
    }
    let Some(req) = discovery.required.get(object) else {
        return Ok(());
    };
    let lines = lines_of(object);
    for r in req {
        if !r.on_lines {
            // Updates send only changed fields; requirements apply to creates.
            if item.op == WriteOp::Create && !present(item.fields.get(&r.name)) {
                return Err(ConnectorError::new(
                    ErrorCode::RequiredFieldMissing,
                    format!(
                        "{object} requires {} ({}); it is missing, so the item was not sent",
                        r.name, r.label
                    ),
                )
                .with_object(object.to_string()));
            }
            continue;
        }
        let Some((coll, _)) = lines else { continue };
        let Some(serde_json::Value::Array(ls)) = item.fields.get(coll) else {
            if item.op == WriteOp::Create {
                return Err(ConnectorError::new(
                    ErrorCode::RequiredFieldMissing,
                    format!("{object} requires lines in {coll}"),
                )
                .with_object(object.to_string()));
            }
            continue;
        };
        for (i, l) in ls.iter().enumerate() {
            if !present(l.get(&r.name)) {
                let kind = if r.dimension { "dimension" } else { "field" };
                return Err(ConnectorError::new(
                    ErrorCode::RequiredFieldMissing,
                    format!("{object} line {} requires the {kind} {} ({}); it is missing, so the item was not sent", i + 1, r.name, r.label),
                )
                .with_object(object.to_string()));
            }
        }
    }
    Ok(())
}

fn function_for(object: &str, item: &WriteItem) -> Result<Function, ConnectorError> {
    let cid = control_id(object, item.op, &item.idempotency_key);
    let body = match item.op {
        WriteOp::Create => Element::new("create").with_child(object_element(object, &item.fields)?),
        WriteOp::Update | WriteOp::Upsert => {
            let mut fields = item.fields.clone();
            match &item.external_id {
                Some(id) => {
                    fields.insert("RECORDNO".into(), serde_json::Value::String(id.clone()));
                }
                None if item.op == WriteOp::Upsert => {
                    return Ok(Function {
                        control_id: control_id(object, WriteOp::Create, &item.idempotency_key),
                        body: Element::new("create")
                            .with_child(object_element(object, &item.fields)?),
                    });
                }
                None => {
                    return Err(ConnectorError::invalid_input(
                        "an update needs the record's external id (RECORDNO)",
                    ))
                }
            }
            Element::new("update").with_child(object_element(object, &fields)?)
        }
        WriteOp::Delete => {
            let id = item.external_id.clone().ok_or_else(|| {
                ConnectorError::invalid_input("a delete needs the record's external id (RECORDNO)")
            })?;
            Element::new("delete")
                .with_child(Element::leaf("object", object))
                .with_child(Element::leaf("keys", id))
        }
    };
    Ok(Function {
        control_id: cid,
        body,
    })
}

/// Writes a batch: per-item results in order; the outer error only when no item could be
/// attempted (sign-in, gateway down).
pub async fn write_batch(
    client: &Client,
    object: &str,
    entity: Option<&str>,
    batch: &WriteBatch,
    discovery: &Discovery,
    per_request: usize,
) -> Result<Vec<ItemResult>, ConnectorError> {
    let mut out: Vec<Option<ItemOutcome>> = vec![None; batch.items.len()];
    let mut pending: Vec<(usize, Function)> = Vec::new();
    for (i, item) in batch.items.iter().enumerate() {
        match validate(object, item, discovery).and_then(|_| function_for(object, item)) {
            Ok(f) => pending.push((i, f)),
            Err(e) => out[i] = Some(ItemOutcome::Failed { error: e }),
        }
    }
    let labels = |f: &str| discovery.labels.get(f).cloned();
    for chunk in pending.chunks(per_request.max(1)) {
        let functions: Vec<Function> = chunk.iter().map(|(_, f)| f.clone()).collect();
        // uniqueid makes a resend after a timeout safe, so the request counts as idempotent.
        let results = client
            .call(entity, "write_batch", functions, false, true, true)
            .await?;
        for ((i, _), r) in chunk.iter().zip(results) {
            let item = &batch.items[*i];
            out[*i] = Some(if r.status == Status::Success {
                let id = r
                    .data
                    .as_ref()
                    .and_then(|d| d.children.first())
                    .and_then(|o| o.child_text("RECORDNO"))
                    .map(str::to_string)
                    .or_else(|| item.external_id.clone());
                match id {
                    Some(external_id) => ItemOutcome::Written { external_id },
                    None => ItemOutcome::Failed {
                        error: ConnectorError::invalid_response(
                            "a successful write returned no RECORDNO",
                        ),
                    },
                }
            } else {
                ItemOutcome::Failed {
                    error: function_error(&r, &labels).with_object(object.to_string()),
                }
            });
        }
    }
    Ok(batch
        .items
        .iter()
        .zip(out)
        .map(|(item, o)| ItemResult {
            idempotency_key: item.idempotency_key.clone(),
            outcome: o.unwrap_or(ItemOutcome::Failed {
                error: ConnectorError::new(ErrorCode::Internal, "item was not attempted"),
            }),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builds_groups_and_lines() {
        let fields: std::collections::BTreeMap<String, serde_json::Value> = serde_json::from_value(json!({
            "VENDORID": "V1",
            "WHENCREATED": "03/01/2024",
            "APBILLITEMS": [{"ACCOUNTNO": "6000", "TRX_AMOUNT": 10.5, "GLDIMJOBSITE": "Harbor Tower"}]
        })).unwrap();
        let el = object_element("APBILL", &fields).unwrap();
        let mut s = String::new();
        el.write_to(&mut s);
        assert_eq!(s, "<APBILL><APBILLITEMS><APBILLITEM><ACCOUNTNO>6000</ACCOUNTNO><GLDIMJOBSITE>Harbor Tower</GLDIMJOBSITE><TRX_AMOUNT>10.5</TRX_AMOUNT></APBILLITEM></APBILLITEMS><VENDORID>V1</VENDORID><WHENCREATED>03/01/2024</WHENCREATED></APBILL>");
        let f2: std::collections::BTreeMap<String, serde_json::Value> = serde_json::from_value(
            json!({"DISPLAYCONTACT.PRINTAS": "X", "DISPLAYCONTACT.EMAIL1": "e"}),
        )
        .unwrap();
        let mut s = String::new();
        object_element("VENDOR", &f2).unwrap().write_to(&mut s);
        assert_eq!(s, "<VENDOR><DISPLAYCONTACT><EMAIL1>e</EMAIL1><PRINTAS>X</PRINTAS></DISPLAYCONTACT></VENDOR>");
        let bad: std::collections::BTreeMap<String, serde_json::Value> =
            serde_json::from_value(json!({"<x>": 1})).unwrap();
        assert_eq!(
            object_element("VENDOR", &bad).unwrap_err().code,
            ErrorCode::InvalidInput
        );
    }

    #[test]
    fn control_ids_are_deterministic_and_distinct() {
        assert_eq!(
            control_id("VENDOR", WriteOp::Create, "k1"),
            control_id("VENDOR", WriteOp::Create, "k1")
        );
        assert_ne!(
            control_id("VENDOR", WriteOp::Create, "k1"),
            control_id("VENDOR", WriteOp::Create, "k2")
        );
        assert_ne!(
            control_id("VENDOR", WriteOp::Create, "k1"),
            control_id("VENDOR", WriteOp::Update, "k1")
        );
    }
}
