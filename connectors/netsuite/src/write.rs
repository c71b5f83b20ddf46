//! Bulk writes through the REST record service: every create is an upsert by external id
//! (`PUT /record/v1/<type>/eid:<idempotency key>`), so a retried or resumed write finds the
//! record it already made; results are per item, in order.

use crate::NetsuiteConnection;
use connector_core::domain::{ErrorClass, ErrorCode};
use connector_core::{ConnectorError, ItemOutcome, ItemResult, WriteBatch, WriteItem, WriteOp};
use futures::stream::{self, StreamExt};
use http::Method;
use serde_json::{Map, Value};

/// Characters NetSuite accepts in an external id, and that survive a URL path segment.
fn valid_external_id(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 255
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:@".contains(c))
}

fn record_id_from_location(loc: &str) -> Option<String> {
    let last = loc.trim_end_matches('/').rsplit('/').next()?;
    last.chars()
        .all(|c| c.is_ascii_digit())
        .then(|| last.to_string())
        .filter(|s| !s.is_empty())
}

async fn write_one(
    conn: &NetsuiteConnection,
    object: &str,
    item: &WriteItem,
) -> Result<String, ConnectorError> {
    let body: Map<String, Value> = item.fields.clone().into_iter().collect();
    let body = Value::Object(body);
    let base = format!("/services/rest/record/v1/{object}");
    let (method, path, idempotent) = match item.op {
        WriteOp::Create | WriteOp::Upsert => {
            if !valid_external_id(&item.idempotency_key) {
                return Err(ConnectorError::invalid_input(format!(
                    "idempotency key {:?} cannot be a NetSuite external id (letters, digits, - _ . : @; at most 255)",
                    item.idempotency_key
                )));
            }
            (
                Method::PUT,
                format!("{base}/eid:{}", item.idempotency_key),
                true,
            )
        }
        WriteOp::Update | WriteOp::Delete => {
            let id = item
                .external_id
                .as_deref()
                .filter(|i| !i.is_empty() && i.chars().all(|c| c.is_ascii_digit()))
                .ok_or_else(|| {
                    ConnectorError::invalid_input(
                        "update and delete need the record's NetSuite internal id",
                    )
                })?;
            let m = if item.op == WriteOp::Update {
                Method::PATCH
            } else {
                Method::DELETE
            };
            (m, format!("{base}/{id}"), true)
        }
    };
    let send_body = if method == Method::DELETE {
        None
    } else {
        Some(&body)
    };
    match conn
        .client
        .rest(
            "record_write",
            method.clone(),
            &path,
            send_body,
            &[],
            idempotent,
        )
        .await
    {
        Ok(resp) => {
            if method == Method::DELETE {
                return Ok(item.external_id.clone().unwrap_or_default());
            }
            resp.header("location")
                .and_then(record_id_from_location)
                .ok_or_else(|| {
                    ConnectorError::new(
                        ErrorCode::InvalidResponse,
                        format!(
                            "NetSuite answered {} without a record Location",
                            resp.status
                        ),
                    )
                    .with_object(object)
                })
        }
        // A delete of a record that is already gone has reached its goal.
        Err(e) if method == Method::DELETE && e.code == ErrorCode::NotFound => {
            Ok(item.external_id.clone().unwrap_or_default())
        }
        Err(e) => Err(e.with_object(object)),
    }
}

async fn keyed(
    conn: &NetsuiteConnection,
    object: &str,
    item: &WriteItem,
) -> (String, Result<String, ConnectorError>) {
    (
        item.idempotency_key.clone(),
        write_one(conn, object, item).await,
    )
}

pub async fn write_batch(
    conn: &NetsuiteConnection,
    batch: WriteBatch,
) -> Result<Vec<ItemResult>, ConnectorError> {
    if batch.object.starts_with("savedsearch:") {
        return Err(ConnectorError::invalid_input(
            "saved searches are read-only",
        ));
    }
    if conn.soap_bulk_writes
        && batch
            .items
            .iter()
            .all(|i| matches!(i.op, WriteOp::Create | WriteOp::Upsert))
    {
        return soap_upsert_batch(conn, batch).await;
    }
    let width = conn.client.ctx.limits.max_concurrency.max(1) as usize;
    let object = batch.object.clone();
    let futures: Vec<_> = batch
        .items
        .iter()
        .map(|item| keyed(conn, &object, item))
        .collect();
    let results: Vec<(String, Result<String, ConnectorError>)> =
        stream::iter(futures).buffered(width).collect().await;
    let mut out = Vec::with_capacity(results.len());
    for (key, r) in results {
        let outcome = match r {
            Ok(id) => ItemOutcome::Written { external_id: id },
            // Credentials refused: the whole batch (and connection) stops.
            Err(e) if e.class() == ErrorClass::Reauthenticate => return Err(e),
            Err(e) => ItemOutcome::Failed { error: e },
        };
        out.push(ItemResult {
            idempotency_key: key,
            outcome,
        });
    }
    Ok(out)
}

/// The SOAP record type and namespace prefix of a REST record type.
fn soap_type(object: &str) -> Option<(&'static str, &'static str)> {
    Some(match object {
        "customer" => ("listRel:Customer", "listRel"),
        "salesOrder" => ("tranSales:SalesOrder", "tranSales"),
        "inventoryItem" => ("listAcct:InventoryItem", "listAcct"),
        o if o.starts_with("customrecord") => ("setupCustom:CustomRecord", "setupCustom"),
        _ => return None,
    })
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One record as SOAP XML, typed by the object's metadata.
fn soap_record(
    meta: &crate::schema::ObjectMeta,
    object: &str,
    item: &WriteItem,
) -> Result<String, ConnectorError> {
    use crate::client::xml_escape as e;
    use crate::schema::NativeKind;
    let (xsi, p) = soap_type(object).ok_or_else(|| {
        ConnectorError::invalid_input(format!(
            "{object} has no SOAP record type in this connector"
        ))
    })?;
    let mut body = String::new();
    if object.starts_with("customrecord") {
        body.push_str(&format!(
            "<{p}:recType scriptId=\"{}\" type=\"customRecordType\"/>",
            e(object)
        ));
    }
    let mut customs = String::new();
    for (name, v) in &item.fields {
        if v.is_null() {
            continue;
        }
        let kind = meta.kinds.get(name).copied().ok_or_else(|| {
            ConnectorError::new(
                ErrorCode::ValidationFailed,
                format!("{object} has no field {name}"),
            )
            .with_object(object)
        })?;
        let reference = matches!(kind, NativeKind::Reference | NativeKind::Enum);
        let id = || v.get("id").map(text_of).unwrap_or_else(|| text_of(v));
        if name.starts_with("cust") && !object.starts_with("customrecord")
            || name.starts_with("custrecord")
        {
            let (ty, inner) = match kind {
                _ if reference => (
                    "SelectCustomFieldRef",
                    format!("<platformCore:value internalId=\"{}\"/>", e(&id())),
                ),
                NativeKind::Integer => (
                    "LongCustomFieldRef",
                    format!(
                        "<platformCore:value>{}</platformCore:value>",
                        e(&text_of(v))
                    ),
                ),
                NativeKind::Float => (
                    "DoubleCustomFieldRef",
                    format!(
                        "<platformCore:value>{}</platformCore:value>",
                        e(&text_of(v))
                    ),
                ),
                NativeKind::Boolean => (
                    "BooleanCustomFieldRef",
                    format!(
                        "<platformCore:value>{}</platformCore:value>",
                        e(&text_of(v))
                    ),
                ),
                NativeKind::Date | NativeKind::DateTime => (
                    "DateCustomFieldRef",
                    format!(
                        "<platformCore:value>{}</platformCore:value>",
                        e(&text_of(v))
                    ),
                ),
                _ => (
                    "StringCustomFieldRef",
                    format!(
                        "<platformCore:value>{}</platformCore:value>",
                        e(&text_of(v))
                    ),
                ),
            };
            customs.push_str(&format!("<platformCore:customField scriptId=\"{}\" xsi:type=\"platformCore:{ty}\">{inner}</platformCore:customField>", e(name)));
        } else if reference {
            body.push_str(&format!(
                "<{p}:{n} internalId=\"{}\" xsi:type=\"platformCore:RecordRef\"/>",
                e(&id()),
                n = e(name)
            ));
        } else {
            body.push_str(&format!(
                "<{p}:{n}>{}</{p}:{n}>",
                e(&text_of(v)),
                n = e(name)
            ));
        }
    }
    if !customs.is_empty() {
        body.push_str(&format!(
            "<{p}:customFieldList>{customs}</{p}:customFieldList>"
        ));
    }
    Ok(format!(
        "<platformMsgs:record xsi:type=\"{xsi}\" externalId=\"{}\">{body}</platformMsgs:record>",
        e(&item.idempotency_key)
    ))
}

/// Creates and upserts through SOAP upsertList, 100 records per request (NetSuite's limit),
/// with one status per record; the idempotency key is the externalId.
async fn soap_upsert_batch(
    conn: &NetsuiteConnection,
    batch: WriteBatch,
) -> Result<Vec<ItemResult>, ConnectorError> {
    let meta = crate::schema::object_meta(conn, &batch.object).await?;
    let mut out = Vec::with_capacity(batch.items.len());
    for chunk in batch.items.chunks(100) {
        let mut records = String::new();
        let mut prepared: Vec<Option<ConnectorError>> = vec![];
        for item in chunk {
            if !valid_external_id(&item.idempotency_key) {
                prepared.push(Some(ConnectorError::invalid_input(format!(
                    "idempotency key {:?} cannot be a NetSuite external id",
                    item.idempotency_key
                ))));
                continue;
            }
            match soap_record(&meta, &batch.object, item) {
                Ok(x) => {
                    records.push_str(&x);
                    prepared.push(None);
                }
                Err(e) => prepared.push(Some(e)),
            }
        }
        let mut statuses = Vec::new();
        if !records.is_empty() {
            let doc = conn
                .client
                .soap(
                    "upsertList",
                    &format!("<platformMsgs:upsertList>{records}</platformMsgs:upsertList>"),
                    "",
                    true,
                )
                .await?;
            let list = doc.find("writeResponseList").ok_or_else(|| {
                ConnectorError::new(
                    ErrorCode::InvalidResponse,
                    "upsertList answer has no writeResponseList",
                )
                .with_object(&batch.object)
            })?;
            statuses = list.children_named("writeResponse").cloned().collect();
        }
        let mut st = statuses.into_iter();
        for (item, prep) in chunk.iter().zip(prepared) {
            let outcome = match prep {
                Some(error) => ItemOutcome::Failed { error },
                None => {
                    let w = st.next().ok_or_else(|| {
                        ConnectorError::new(
                            ErrorCode::InvalidResponse,
                            "upsertList answered fewer statuses than records",
                        )
                        .with_object(&batch.object)
                    })?;
                    match crate::client::soap_status(&w) {
                        Ok(()) => match w.child("baseRef").and_then(|r| r.attr("internalId")) {
                            Some(id) => ItemOutcome::Written {
                                external_id: id.to_string(),
                            },
                            None => ItemOutcome::Failed {
                                error: ConnectorError::new(
                                    ErrorCode::InvalidResponse,
                                    "upsertList success without a baseRef",
                                )
                                .with_object(&batch.object),
                            },
                        },
                        Err((code, msg)) => ItemOutcome::Failed {
                            error: ConnectorError::new(
                                crate::client::soap_status_code(&code, &msg),
                                format!("NetSuite: {msg}"),
                            )
                            .with_erp_code(code)
                            .with_object(&batch.object)
                            .with_operation("upsertList"),
                        },
                    }
                }
            };
            out.push(ItemResult {
                idempotency_key: item.idempotency_key.clone(),
                outcome,
            });
        }
    }
    Ok(out)
}
