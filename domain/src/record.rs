//! Records as they leave a connector: the ERP's own field names and JSON values,
//! plus the identity and change metadata the pipeline needs.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One ERP record, normalized in shape (not in field names: mapping does that).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NormalizedRecord {
    /// The object it belongs to (`customer`, `Invoices`, `APBILL`).
    pub object: String,
    /// The ERP's id of the record, as a string.
    pub external_id: String,
    /// Last-modified time as the ERP reported it, in RFC 3339 UTC, when it has one.
    pub modified_at: Option<String>,
    /// Field values by the ERP's field names.
    pub fields: BTreeMap<String, serde_json::Value>,
    /// Set when the ERP reported the record as deleted.
    #[serde(default)]
    pub deleted: bool,
}
