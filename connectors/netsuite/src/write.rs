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
