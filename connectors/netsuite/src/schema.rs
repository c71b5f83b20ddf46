//! Discovery: record types and fields from the REST metadata catalog (JSON Schema), custom
//! record types cross-checked with SOAP getCustomizationId, saved searches from SOAP
//! getSavedSearch, native-to-normalized type mapping, and the sandbox/production drift report.

use crate::client::{soap_status, xml};
use crate::NetsuiteConnection;
use connector_core::domain::schema::EnumValue;
use connector_core::domain::{
    ErrorCode, FieldSchema, FieldType, ObjectSchema, Origin, Schema, SchemaDiff,
};
use connector_core::ConnectorError;
use http::Method;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// How a field's values are shaped on the wire, for converting SuiteQL strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NativeKind {
    Text,
    Integer,
    Float,
    Boolean,
    Date,
    DateTime,
    Reference,
    Enum,
    Other,
}

/// What a reader needs to know about one object.
#[derive(Debug, Clone)]
pub struct ObjectMeta {
    pub schema: ObjectSchema,
    /// SuiteQL table and any condition that selects this record type from it.
    pub table: String,
    pub table_filter: Option<String>,
    pub kinds: BTreeMap<String, NativeKind>,
    /// (field name, SuiteQL column, kind), precomputed so rows convert without allocating.
    pub columns: Vec<(String, String, NativeKind)>,
    /// The last-modified field's name even when it cannot be filtered on.
    pub modified_column: Option<String>,
}

/// The SuiteQL table of a REST record type.
pub fn suiteql_table(record_type: &str) -> (String, Option<String>) {
    match record_type {
        "salesOrder" => ("transaction".into(), Some("type = 'SalesOrd'".into())),
        "invoice" => ("transaction".into(), Some("type = 'CustInvc'".into())),
        "inventoryItem" => ("item".into(), Some("itemtype = 'InvtPart'".into())),
        other => (other.to_ascii_lowercase(), None),
    }
}

fn bad(what: String) -> ConnectorError {
    ConnectorError::new(ErrorCode::InvalidResponse, what).with_operation("discover")
}

/// Maps one JSON Schema property to a field.
pub fn field_from_property(
    name: &str,
    p: &Value,
    required: bool,
) -> Option<(FieldSchema, NativeKind)> {
    let o = p.as_object()?;
    let ty = o.get("type").and_then(|t| t.as_str()).unwrap_or("");
    let format = o.get("format").and_then(|t| t.as_str()).unwrap_or("");
    let (field_type, kind, native) = match (ty, format) {
        ("string", "date") => (FieldType::Date, NativeKind::Date, "date".to_string()),
        ("string", "date-time") => (
            FieldType::DateTime,
            NativeKind::DateTime,
            "date-time".to_string(),
        ),
        ("string", _) => (
            FieldType::Text {
                max_len: o
                    .get("maxLength")
                    .and_then(|m| m.as_u64())
                    .map(|m| m as u32),
            },
            NativeKind::Text,
            "string".to_string(),
        ),
        ("integer", _) => (
            FieldType::Integer,
            NativeKind::Integer,
            format!("integer {format}").trim().to_string(),
        ),
        ("number", _) => (
            FieldType::Decimal,
            NativeKind::Float,
            format!("number {format}").trim().to_string(),
        ),
        ("boolean", _) => (
            FieldType::Boolean,
            NativeKind::Boolean,
            "boolean".to_string(),
        ),
        ("object", _) => {
            if let Some(target) = o.get("x-ns-referenced-record").and_then(|t| t.as_str()) {
                (
                    FieldType::Reference {
                        object: target.to_string(),
                    },
                    NativeKind::Reference,
                    format!("select:{target}"),
                )
            } else if let (Some(ids), Some(names)) = (
                p.pointer("/properties/id/enum").and_then(|e| e.as_array()),
                p.pointer("/properties/refName/enum")
                    .and_then(|e| e.as_array()),
            ) {
                let values = ids
                    .iter()
                    .zip(names)
                    .map(|(i, n)| EnumValue {
                        value: i.as_str().unwrap_or("").to_string(),
                        label: n.as_str().unwrap_or("").to_string(),
                    })
                    .collect();
                (
                    FieldType::Enum { values },
                    NativeKind::Enum,
                    "list".to_string(),
                )
            } else {
                // Sublists and subrecords are expanded separately.
                return None;
            }
        }
        _ => (FieldType::Other, NativeKind::Other, ty.to_string()),
    };
    let custom = o
        .get("x-ns-custom-field")
        .and_then(|c| c.as_bool())
        .unwrap_or(false);
    Some((
        FieldSchema {
            name: name.to_string(),
            label: o
                .get("title")
                .and_then(|t| t.as_str())
                .unwrap_or(name)
                .to_string(),
            field_type,
            native_type: native,
            required,
            read_only: o.get("readOnly").and_then(|r| r.as_bool()).unwrap_or(false),
            filterable: o
                .get("x-ns-filterable")
                .and_then(|f| f.as_bool())
                .unwrap_or(false),
            origin: if custom {
                Origin::CustomField
            } else {
                Origin::Standard
            },
        },
        kind,
    ))
}

/// Builds the object metadata from a record type's JSON Schema.
pub fn object_from_json_schema(name: &str, v: &Value) -> Result<ObjectMeta, ConnectorError> {
    let props = v
        .get("properties")
        .and_then(|p| p.as_object())
        .ok_or_else(|| bad(format!("metadata of {name} has no properties object")))?;
    let required: Vec<&str> = v
        .get("required")
        .and_then(|r| r.as_array())
        .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
        .unwrap_or_default();
    let mut fields = vec![];
    let mut kinds = BTreeMap::new();
    for (k, p) in props {
        if k == "links" {
            continue;
        }
        if let Some((f, kind)) = field_from_property(k, p, required.contains(&k.as_str())) {
            kinds.insert(f.name.clone(), kind);
            fields.push(f);
        } else if let Some(line_props) = p
            .pointer("/properties/items/items/properties")
            .and_then(|l| l.as_object())
        {
            // Transaction lines: column fields appear as `item.<field>`.
            for (lk, lp) in line_props {
                if let Some((mut f, _)) = field_from_property(lk, lp, false) {
                    f.name = format!("{k}.{lk}");
                    f.filterable = false;
                    fields.push(f);
                }
            }
        }
    }
    let custom = v
        .get("x-ns-custom-record")
        .and_then(|c| c.as_bool())
        .unwrap_or(false)
        || name.starts_with("customrecord");
    let modified_column = ["lastModifiedDate", "lastModified"]
        .iter()
        .find(|m| kinds.get(**m) == Some(&NativeKind::DateTime))
        .map(|m| m.to_string());
    let modified_field = modified_column
        .as_ref()
        .filter(|m| fields.iter().any(|f| &f.name == *m && f.filterable))
        .cloned();
    let (table, table_filter) = suiteql_table(name);
    let columns = kinds
        .iter()
        .map(|(n, k)| (n.clone(), n.to_ascii_lowercase(), *k))
        .collect();
    Ok(ObjectMeta {
        columns,
        schema: ObjectSchema {
            name: name.to_string(),
            label: v
                .get("title")
                .and_then(|t| t.as_str())
                .unwrap_or(name)
                .to_string(),
            origin: if custom {
                Origin::CustomRecord
            } else {
                Origin::Standard
            },
            fields,
            modified_field,
            can_read: true,
            can_write: true,
        },
        table,
        table_filter,
        kinds,
        modified_column,
    })
}

/// Fetches (once per connection) the metadata of one record type.
pub async fn object_meta(
    conn: &NetsuiteConnection,
    name: &str,
) -> Result<Arc<ObjectMeta>, ConnectorError> {
    if let Some(m) = conn.meta.lock().await.get(name) {
        return Ok(m.clone());
    }
    if name.contains(|c: char| !c.is_ascii_alphanumeric() && c != '_') {
        return Err(ConnectorError::invalid_input(format!(
            "'{name}' is not a NetSuite record type"
        )));
    }
    let resp = conn
        .client
        .rest(
            "metadata",
            Method::GET,
            &format!("/services/rest/record/v1/metadata-catalog/{name}"),
            None,
            &[("accept", "application/schema+json")],
            true,
        )
        .await
        .map_err(|e| {
            if e.code == ErrorCode::NotFound {
                ConnectorError::new(
                    ErrorCode::NotFound,
                    format!("record type {name} does not exist in this account"),
                )
                .with_object(name)
            } else {
                e
            }
        })?;
    let v: Value = serde_json::from_slice(&resp.body)
        .map_err(|e| bad(format!("metadata of {name} is not JSON: {e}")))?;
    let meta = Arc::new(object_from_json_schema(name, &v)?);
    conn.meta
        .lock()
        .await
        .insert(name.to_string(), meta.clone());
    Ok(meta)
}

/// The saved-search object name used by the reader: `savedsearch:<script id>`.
pub fn saved_search_object(family: &str, script_id: &str) -> String {
    format!("savedsearch:{family}:{script_id}")
}

/// The full schema of a connection.
pub async fn discover(conn: &NetsuiteConnection) -> Result<Schema, ConnectorError> {
    let resp = conn
        .client
        .rest(
            "metadata_catalog",
            Method::GET,
            "/services/rest/record/v1/metadata-catalog",
            None,
            &[],
            true,
        )
        .await?;
    let v: Value = serde_json::from_slice(&resp.body)
        .map_err(|e| bad(format!("metadata catalog is not JSON: {e}")))?;
    let names: Vec<String> = v
        .get("items")
        .and_then(|i| i.as_array())
        .ok_or_else(|| bad("metadata catalog has no items".into()))?
        .iter()
        .filter_map(|i| i.get("name").and_then(|n| n.as_str()).map(str::to_string))
        .collect();
    let mut objects = vec![];
    for n in &names {
        objects.push(object_meta(conn, n).await?.schema.clone());
    }
    if matches!(conn.client.auth, crate::client::AuthMode::Tba(_)) {
        // Custom record types REST hides (no REST permission) still show up in SOAP.
        let custom_types = custom_record_types(conn).await?;
        for (script_id, label) in custom_types {
            if !objects.iter().any(|o| o.name == script_id) {
                objects.push(ObjectSchema {
                    name: script_id,
                    label,
                    origin: Origin::CustomRecord,
                    fields: vec![],
                    modified_field: None,
                    can_read: false,
                    can_write: false,
                });
            }
        }
        for s in saved_searches(conn).await? {
            objects.push(s);
        }
    }
    objects.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Schema { objects })
}

/// SOAP getCustomizationId for custom record types: (script id, name).
pub async fn custom_record_types(
    conn: &NetsuiteConnection,
) -> Result<Vec<(String, String)>, ConnectorError> {
    let doc = conn
        .client
        .soap("getCustomizationId", "<platformMsgs:getCustomizationId><platformMsgs:customizationType getCustomizationType=\"customRecordType\"/><platformMsgs:includeInactives>false</platformMsgs:includeInactives></platformMsgs:getCustomizationId>", "", true)
        .await?;
    let r = doc
        .find("getCustomizationIdResult")
        .ok_or_else(|| bad("getCustomizationId answer has no result".into()))?;
    soap_status(r).map_err(|(c, m)| bad(format!("getCustomizationId failed: {c} {m}")))?;
    Ok(r.child("customizationRefList")
        .map(|l| {
            l.children_named("customizationRef")
                .filter_map(|c| {
                    Some((
                        c.attr("scriptId")?.to_string(),
                        c.child_text("name").unwrap_or("").to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default())
}

fn column_type(xsi: &str, name: &str) -> FieldType {
    if xsi.contains("Long") {
        FieldType::Integer
    } else if xsi.contains("Double") {
        FieldType::Decimal
    } else if xsi.contains("Boolean") {
        FieldType::Boolean
    } else if xsi.contains("Date")
        || name.to_ascii_lowercase().contains("date")
        || name == "lastModified"
    {
        FieldType::DateTime
    } else if xsi.contains("Select") {
        FieldType::Reference {
            object: String::new(),
        }
    } else {
        FieldType::Text { max_len: None }
    }
}

/// Saved searches of every search family, with columns learned from a first small page.
pub async fn saved_searches(
    conn: &NetsuiteConnection,
) -> Result<Vec<ObjectSchema>, ConnectorError> {
    let mut out = vec![];
    for family in ["customer", "transaction", "item", "customRecord"] {
        let doc = conn
            .client
            .soap("getSavedSearch", &format!("<platformMsgs:getSavedSearch><platformMsgs:record searchType=\"{family}\"/></platformMsgs:getSavedSearch>"), "", true)
            .await?;
        let r = doc
            .find("getSavedSearchResult")
            .ok_or_else(|| bad("getSavedSearch answer has no result".into()))?;
        soap_status(r).map_err(|(c, m)| bad(format!("getSavedSearch failed: {c} {m}")))?;
        let refs: Vec<(String, String)> = r
            .child("recordRefList")
            .map(|l| {
                l.children_named("recordRef")
                    .filter_map(|c| {
                        Some((
                            c.attr("scriptId")?.to_string(),
                            c.child_text("name").unwrap_or("").to_string(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        for (script_id, title) in refs {
            let (fields, readable) =
                match crate::read::saved_search_page(conn, family, &script_id, None, None, 5).await
                {
                    Ok(page) => (columns_of(&page.rows), true),
                    // Summary searches cannot return columns through web services.
                    Err(e) if e.code == ErrorCode::ValidationFailed => (vec![], false),
                    Err(e) => return Err(e),
                };
            out.push(ObjectSchema {
                name: saved_search_object(family, &script_id),
                label: title,
                origin: Origin::SavedSearch,
                fields,
                modified_field: None,
                can_read: readable,
                can_write: false,
            });
        }
    }
    Ok(out)
}

fn columns_of(rows: &[(String, Vec<(String, String, String)>)]) -> Vec<FieldSchema> {
    let mut seen: BTreeMap<String, FieldSchema> = BTreeMap::new();
    for (_, cols) in rows {
        for (name, xsi, _) in cols {
            seen.entry(name.clone()).or_insert_with(|| FieldSchema {
                name: name.clone(),
                label: name.clone(),
                field_type: column_type(xsi, name),
                native_type: if xsi.is_empty() {
                    "searchColumn".into()
                } else {
                    xsi.clone()
                },
                required: false,
                read_only: true,
                filterable: false,
                origin: if name.starts_with("cust") {
                    Origin::CustomField
                } else {
                    Origin::Standard
                },
            });
        }
    }
    seen.into_values().collect()
}

/// The difference between a tenant's sandbox and its production account.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftReport {
    pub sandbox: String,
    pub production: String,
    pub diff: SchemaDiff,
}

impl DriftReport {
    pub fn new(
        sandbox: &str,
        sandbox_schema: &Schema,
        production: &str,
        production_schema: &Schema,
    ) -> Self {
        DriftReport {
            sandbox: sandbox.into(),
            production: production.into(),
            diff: sandbox_schema.diff(production_schema),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.diff.is_empty()
    }

    /// Saved searches present on one side only: (sandbox-only, production-only).
    pub fn saved_searches(&self) -> (Vec<&str>, Vec<&str>) {
        let pick = |v: &'_ [String]| -> Vec<String> {
            v.iter()
                .filter(|n| n.starts_with("savedsearch:"))
                .cloned()
                .collect()
        };
        let _ = pick;
        (
            self.diff
                .only_left
                .iter()
                .filter(|n| n.starts_with("savedsearch:"))
                .map(String::as_str)
                .collect(),
            self.diff
                .only_right
                .iter()
                .filter(|n| n.starts_with("savedsearch:"))
                .map(String::as_str)
                .collect(),
        )
    }
}

impl fmt::Display for DriftReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Drift between sandbox {} and production {}:",
            self.sandbox, self.production
        )?;
        if self.diff.is_empty() {
            return writeln!(f, "  none");
        }
        for o in &self.diff.only_left {
            writeln!(f, "  only in sandbox: {o}")?;
        }
        for o in &self.diff.only_right {
            writeln!(f, "  only in production: {o}")?;
        }
        for (o, fl) in &self.diff.fields_only_left {
            writeln!(f, "  field only in sandbox: {o}.{fl}")?;
        }
        for (o, fl) in &self.diff.fields_only_right {
            writeln!(f, "  field only in production: {o}.{fl}")?;
        }
        for c in &self.diff.fields_changed {
            writeln!(
                f,
                "  field differs: {}.{}: sandbox {} (required {}), production {} (required {})",
                c.object,
                c.field,
                c.left.native_type,
                c.left.required,
                c.right.native_type,
                c.right.required
            )?;
        }
        Ok(())
    }
}

#[allow(dead_code)]
fn _use(_: &xml::Element) {}
