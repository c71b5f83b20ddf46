//! Schema discovery: standard objects with their native types, plus the company
//! database's UDFs (UserFieldsMD), UDTs (UserTablesMD) and UDOs (UserObjectsMD), read from
//! the metadata tables because new UDFs are not in `$metadata` until SL restarts.
//! Change detection between two discoveries is `Schema::diff`.

use crate::client::parse_collection;
use crate::connection::SlConn;
use connector_core::domain::schema::EnumValue;
use connector_core::domain::{FieldSchema, FieldType, ObjectSchema, Origin, Schema};
use connector_core::ConnectorError;
use serde_json::{Map, Value};
use std::sync::Arc;

/// The header and line tables of each standard object (UDFs attach by table).
pub const OBJECTS: &[(&str, &str, Option<&str>, bool)] = &[
    ("Orders", "ORDR", Some("RDR1"), true),
    ("Invoices", "OINV", Some("INV1"), true),
    ("PurchaseOrders", "OPOR", Some("POR1"), true),
    ("Drafts", "ODRF", Some("DRF1"), true),
    ("BusinessPartners", "OCRD", None, true),
    ("Items", "OITM", None, true),
    ("JournalEntries", "OJDT", Some("JDT1"), true),
    ("ApprovalRequests", "OWDD", None, false),
];

fn f(name: &str, t: FieldType, native: &str, required: bool, read_only: bool) -> FieldSchema {
    FieldSchema {
        name: name.into(),
        label: name.into(),
        field_type: t,
        native_type: native.into(),
        required,
        read_only,
        filterable: true,
        origin: Origin::Standard,
    }
}

fn text(n: u32) -> FieldType {
    FieldType::Text { max_len: Some(n) }
}

fn standard_fields(object: &str) -> Vec<FieldSchema> {
    use FieldType::*;
    match object {
        "BusinessPartners" => vec![
            f("CardCode", text(15), "Edm.String", true, false),
            f("CardName", text(100), "Edm.String", false, false),
            f(
                "CardType",
                Enum {
                    values: vec![
                        ev("cCustomer", "Customer"),
                        ev("cSupplier", "Vendor"),
                        ev("cLid", "Lead"),
                    ],
                },
                "BoCardTypes",
                false,
                false,
            ),
            f("Currency", text(3), "Edm.String", false, false),
            f("UpdateDate", Date, "Edm.DateTime", false, true),
            f("UpdateTime", Other, "Edm.Time", false, true),
        ],
        "Items" => vec![
            f("ItemCode", text(50), "Edm.String", true, false),
            f("ItemName", text(200), "Edm.String", false, false),
            f("QuantityOnStock", Decimal, "Edm.Double", false, true),
            f("UpdateDate", Date, "Edm.DateTime", false, true),
            f("UpdateTime", Other, "Edm.Time", false, true),
        ],
        "JournalEntries" => vec![
            f("JdtNum", Integer, "Edm.Int32", false, true),
            f("ReferenceDate", Date, "Edm.DateTime", false, false),
            f("Memo", text(50), "Edm.String", false, false),
            f(
                "JournalEntryLines",
                Other,
                "Collection(JournalEntryLine)",
                true,
                false,
            ),
        ],
        "ApprovalRequests" => vec![
            f("Code", Integer, "Edm.Int32", false, true),
            f("DraftEntry", Integer, "Edm.Int32", false, true),
            f("Status", Other, "BoApprovalRequestStatusEnum", false, true),
        ],
        _ => vec![
            f("DocEntry", Integer, "Edm.Int32", false, true),
            f("DocNum", Integer, "Edm.Int32", false, true),
            f(
                "CardCode",
                Reference {
                    object: "BusinessPartners".into(),
                },
                "Edm.String",
                true,
                false,
            ),
            f("NumAtCard", text(100), "Edm.String", false, false),
            f("DocDate", Date, "Edm.DateTime", false, false),
            f("DocDueDate", Date, "Edm.DateTime", false, false),
            f("DocTotal", Decimal, "Edm.Double", false, true),
            f("Comments", text(254), "Edm.String", false, false),
            f(
                "DocumentLines",
                Other,
                "Collection(DocumentLine)",
                true,
                false,
            ),
            f("UpdateDate", Date, "Edm.DateTime", false, true),
            f("UpdateTime", Other, "Edm.Time", false, true),
            f(
                "AuthorizationStatus",
                Other,
                "DocumentAuthorizationStatusEnum",
                false,
                true,
            ),
        ],
    }
}

fn ev(v: &str, l: &str) -> EnumValue {
    EnumValue {
        value: v.into(),
        label: l.into(),
    }
}

/// The normalized type of a UDF from its UserFieldsMD row.
pub fn udf_field(row: &Map<String, Value>, prefix: &str) -> Result<FieldSchema, ConnectorError> {
    let s = |k: &str| {
        row.get(k)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string()
    };
    let name = s("Name");
    if name.is_empty() || name.len() > 100 {
        return Err(ConnectorError::invalid_response(
            "UserFieldsMD row without a usable Name",
        ));
    }
    let ty = s("Type");
    let sub = s("SubType");
    let size = row
        .get("Size")
        .and_then(|v| v.as_u64())
        .map(|n| n.min(u32::MAX as u64) as u32);
    let valid: Vec<EnumValue> = row
        .get("ValidValuesMD")
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| {
                    Some(ev(
                        x.get("Value")?.as_str()?,
                        x.get("Description").and_then(|d| d.as_str()).unwrap_or(""),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let field_type = if !valid.is_empty() {
        FieldType::Enum { values: valid }
    } else {
        match ty.as_str() {
            "db_Alpha" if sub == "st_Time" => FieldType::Other,
            "db_Alpha" => FieldType::Text { max_len: size },
            "db_Memo" => FieldType::Text { max_len: None },
            "db_Numeric" => FieldType::Integer,
            "db_Float" => FieldType::Decimal,
            "db_Date" => FieldType::Date,
            _ => FieldType::Other,
        }
    };
    let native = match (size, sub.as_str()) {
        (Some(n), "" | "st_None") => format!("{ty}({n})"),
        (Some(n), st) => format!("{ty}/{st}({n})"),
        (None, _) => ty.clone(),
    };
    let label = s("Description");
    Ok(FieldSchema {
        name: format!("{prefix}U_{name}"),
        label: if label.is_empty() {
            name.clone()
        } else {
            label
        },
        field_type,
        native_type: native,
        // A mandatory UDF with a default is filled by the server.
        required: s("Mandatory") == "tYES" && row.get("DefaultValue").is_none_or(|d| d.is_null()),
        read_only: false,
        filterable: prefix.is_empty(),
        origin: Origin::CustomField,
    })
}

async fn all_rows(
    conn: &Arc<SlConn>,
    set: &str,
) -> Result<Vec<Map<String, Value>>, ConnectorError> {
    let mut url = conn.url(set)?;
    let mut out = Vec::new();
    for _ in 0..1000 {
        let resp = conn.get(0, "discover", url.clone(), Some(200)).await?;
        let c = parse_collection(&resp.body)?;
        out.extend(c.value);
        match c.next_link {
            Some(l) => url = crate::client::resolve_next_link(&conn.root, &l)?,
            None => return Ok(out),
        }
    }
    Err(ConnectorError::invalid_response(format!(
        "{set} paging did not end"
    )))
}

/// Discovers the company database's schema.
pub async fn discover(conn: &Arc<SlConn>) -> Result<Schema, ConnectorError> {
    let udfs = all_rows(conn, "UserFieldsMD").await?;
    let udts = all_rows(conn, "UserTablesMD").await?;
    let udos = all_rows(conn, "UserObjectsMD").await?;
    fn by_table<'a>(
        udfs: &'a [Map<String, Value>],
        t: &'a str,
    ) -> impl Iterator<Item = &'a Map<String, Value>> + 'a {
        udfs.iter()
            .filter(move |r| r.get("TableName").and_then(|v| v.as_str()) == Some(t))
    }
    let mut objects = Vec::new();
    for (name, header, lines, writable) in OBJECTS {
        let mut fields = standard_fields(name);
        for r in by_table(&udfs, header) {
            fields.push(udf_field(r, "")?);
        }
        if let Some(lt) = lines {
            for r in by_table(&udfs, lt) {
                fields.push(udf_field(r, "DocumentLines/")?);
            }
        }
        let stamped = fields.iter().any(|f| f.name == "UpdateDate");
        objects.push(ObjectSchema {
            name: name.to_string(),
            label: name.to_string(),
            origin: Origin::Standard,
            fields,
            modified_field: stamped.then(|| "UpdateDate".to_string()),
            can_read: true,
            can_write: *writable && *name != "ApprovalRequests",
        });
    }
    for t in &udts {
        let table = t
            .get("TableName")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string();
        if table.is_empty() {
            return Err(ConnectorError::invalid_response(
                "UserTablesMD row without TableName",
            ));
        }
        let udo = udos
            .iter()
            .find(|o| o.get("TableName").and_then(|v| v.as_str()) == Some(table.as_str()));
        let (name, key) = match udo {
            Some(o) => {
                let code = o
                    .get("Code")
                    .and_then(|v| v.as_str())
                    .unwrap_or(&table)
                    .to_string();
                let doc = o.get("ObjectType").and_then(|v| v.as_str()) == Some("boud_Document");
                (code, if doc { "DocEntry" } else { "Code" })
            }
            None => (format!("U_{table}"), "Code"),
        };
        let mut fields = vec![
            f(
                key,
                if key == "DocEntry" {
                    FieldType::Integer
                } else {
                    text(50)
                },
                "Edm.String",
                key == "Code",
                key == "DocEntry",
            ),
            f("Name", text(100), "Edm.String", false, false),
        ];
        let udt_table = format!("@{table}");
        for r in by_table(&udfs, &udt_table) {
            fields.push(udf_field(r, "")?);
        }
        objects.push(ObjectSchema {
            name: name.clone(),
            label: t
                .get("TableDescription")
                .and_then(|v| v.as_str())
                .unwrap_or(&name)
                .to_string(),
            origin: Origin::CustomRecord,
            fields,
            modified_field: udo.map(|_| "UpdateDate".to_string()),
            can_read: true,
            can_write: true,
        });
    }
    Ok(Schema { objects })
}
