//! Discovery: getDimensions (standard and user-defined) plus lookup of every supported object
//! and its line object in one request, turned into the normalized schema and a per-object map
//! of required fields that writes are validated against before sending.

use crate::client::{function_error, Client};
use crate::protocol::{Function, Status};
use crate::xml::Element;
use connector_core::domain::{FieldSchema, FieldType, ObjectSchema, Origin, Schema};
use connector_core::ConnectorError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Objects the connector reads and writes, with their line collection (collection, line).
pub const OBJECTS: &[(&str, Option<(&str, &str)>)] = &[
    ("VENDOR", None),
    ("CUSTOMER", None),
    ("APBILL", Some(("APBILLITEMS", "APBILLITEM"))),
    ("ARINVOICE", Some(("ARINVOICEITEMS", "ARINVOICEITEM"))),
    ("GLBATCH", Some(("ENTRIES", "GLENTRY"))),
];

pub fn lines_of(object: &str) -> Option<(&'static str, &'static str)> {
    OBJECTS
        .iter()
        .find(|(o, _)| *o == object)
        .and_then(|(_, l)| *l)
}

/// One discovered dimension.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dimension {
    pub object: String,
    pub label: String,
    pub user_defined: bool,
}

/// A field that must be present, with where it lives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequiredField {
    pub name: String,
    pub label: String,
    /// True for a field of each line rather than of the header.
    pub on_lines: bool,
    pub dimension: bool,
}

/// What discovery learned about one tenant: its schema, dimensions and required fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Discovery {
    pub schema: Schema,
    pub dimensions: Vec<Dimension>,
    pub required: BTreeMap<String, Vec<RequiredField>>,
    /// Field name -> label over all objects, to name fields in errors.
    pub labels: BTreeMap<String, String>,
}

fn native_type(dt: &str, values: Vec<String>) -> FieldType {
    match dt {
        "INTEGER" => FieldType::Integer,
        "DECIMAL" | "CURRENCY" | "PERCENT" => FieldType::Decimal,
        "BOOLEAN" => FieldType::Boolean,
        "DATE" => FieldType::Date,
        "TIMESTAMP" => FieldType::DateTime,
        "ENUM" => FieldType::Enum {
            values: values
                .into_iter()
                .map(|v| connector_core::domain::schema::EnumValue {
                    value: v.clone(),
                    label: v,
                })
                .collect(),
        },
        // Unknown DATATYPE names are UNCONFIRMED; they are text.
        _ => FieldType::Text { max_len: None },
    }
}

struct LookupField {
    id: String,
    label: String,
    required: bool,
    read_only: bool,
    datatype: String,
    values: Vec<String>,
    custom: bool,
}

fn lookup_fields(data: &Element) -> (String, Vec<LookupField>, Vec<(String, String)>) {
    let Some(ty) = data.child("Type") else {
        return (String::new(), vec![], vec![]);
    };
    let name = ty.attr("Name").unwrap_or("").to_string();
    let t = |e: &Element, n: &str| e.child_text(n).unwrap_or("").to_string();
    let fields = ty
        .child("Fields")
        .map(|f| {
            f.children_named("Field")
                .map(|x| LookupField {
                    id: t(x, "ID"),
                    label: t(x, "LABEL"),
                    required: t(x, "REQUIRED") == "true",
                    read_only: t(x, "READONLY") == "true",
                    datatype: t(x, "DATATYPE"),
                    values: x
                        .child("VALIDVALUES")
                        .map(|v| {
                            v.children_named("VALIDVALUE")
                                .map(|v| v.text.trim().to_string())
                                .collect()
                        })
                        .unwrap_or_default(),
                    custom: t(x, "ISCUSTOM") == "true",
                })
                .filter(|f| !f.id.is_empty())
                .collect()
        })
        .unwrap_or_default();
    // Relationships' RELATEDBY names the fields that hold dimension values.
    let rels = ty
        .child("Relationships")
        .map(|r| {
            r.children_named("Relationship")
                .map(|x| (t(x, "RELATEDBY"), t(x, "OBJECTNAME")))
                .collect()
        })
        .unwrap_or_default();
    (name, fields, rels)
}

/// Runs discovery in one request (getDimensions and every lookup as separate functions).
pub async fn discover(client: &Client, entity: Option<&str>) -> Result<Discovery, ConnectorError> {
    let mut functions = vec![Function {
        control_id: "dims".into(),
        body: Element::new("getDimensions"),
    }];
    let mut names = Vec::new();
    for (o, lines) in OBJECTS {
        names.push(o.to_string());
        if let Some((_, l)) = lines {
            names.push(l.to_string());
        }
    }
    for n in &names {
        functions.push(Function {
            control_id: format!("lookup-{n}"),
            body: Element::new("lookup").with_child(Element::leaf("object", n)),
        });
    }
    let results = client
        .call(entity, "discover", functions, false, false, true)
        .await?;
    let mut d = Discovery::default();
    let dims = &results[0];
    if dims.status != Status::Success {
        return Err(function_error(dims, &|_| None));
    }
    if let Some(list) = dims.data.as_ref().and_then(|x| x.child("dimensions")) {
        for x in list.children_named("dimension") {
            d.dimensions.push(Dimension {
                object: x.child_text("objectName").unwrap_or("").to_string(),
                label: x
                    .child_text("termLabel")
                    .or(x.child_text("objectLabel"))
                    .unwrap_or("")
                    .to_string(),
                user_defined: x.child_text("userDefinedDimension") == Some("true"),
            });
        }
    }
    let mut parsed: BTreeMap<String, (Vec<LookupField>, Vec<(String, String)>)> = BTreeMap::new();
    for (n, r) in names.iter().zip(&results[1..]) {
        if r.status != Status::Success {
            // An object the user may not see is left out of the schema, not a failed discovery.
            continue;
        }
        let (_, f, rels) = lookup_fields(r.data.as_ref().unwrap_or(&Element::new("data")));
        parsed.insert(n.clone(), (f, rels));
    }
    for (o, lines) in OBJECTS {
        let Some((fields, _)) = parsed.get(*o) else {
            continue;
        };
        let mut obj = ObjectSchema {
            name: o.to_string(),
            label: o.to_string(),
            origin: Origin::Standard,
            fields: vec![],
            modified_field: Some("WHENMODIFIED".into()),
            can_read: true,
            can_write: true,
        };
        let mut req = Vec::new();
        let mut push = |f: &LookupField,
                        prefix: Option<&str>,
                        rels: &[(String, String)],
                        obj: &mut ObjectSchema| {
            let dim = rels.iter().find(|(by, _)| by == &f.id);
            let origin = if dim.is_some() {
                Origin::Dimension
            } else if f.custom {
                Origin::CustomField
            } else {
                Origin::Standard
            };
            let name = match prefix {
                Some(p) => format!("{p}.{}", f.id),
                None => f.id.clone(),
            };
            let field_type = match dim {
                Some((_, target)) => FieldType::Reference {
                    object: target.clone(),
                },
                None => native_type(&f.datatype, f.values.clone()),
            };
            obj.fields.push(FieldSchema {
                name,
                label: f.label.clone(),
                field_type,
                native_type: f.datatype.clone(),
                required: f.required,
                read_only: f.read_only,
                filterable: prefix.is_none(),
                origin,
            });
            if f.required && !f.read_only {
                req.push(RequiredField {
                    name: f.id.clone(),
                    label: f.label.clone(),
                    on_lines: prefix.is_some(),
                    dimension: dim.is_some(),
                });
            }
            d.labels.insert(f.id.clone(), f.label.clone());
        };
        let header_rels = parsed.get(*o).map(|x| x.1.clone()).unwrap_or_default();
        for f in fields {
            push(f, None, &header_rels, &mut obj);
        }
        if let Some((coll, line)) = lines {
            if let Some((lf, rels)) = parsed.get(*line) {
                let prefix = format!("{coll}.{line}");
                for f in lf {
                    push(f, Some(&prefix), rels, &mut obj);
                }
            }
        }
        d.required.insert(o.to_string(), req);
        d.schema.objects.push(obj);
    }
    for dim in d.dimensions.iter().filter(|x| x.user_defined) {
        d.schema.objects.push(ObjectSchema {
            name: dim.object.clone(),
            label: dim.label.clone(),
            origin: Origin::Dimension,
            fields: vec![
                FieldSchema {
                    name: "id".into(),
                    label: "ID".into(),
                    field_type: FieldType::Integer,
                    native_type: "INTEGER".into(),
                    required: false,
                    read_only: true,
                    filterable: true,
                    origin: Origin::Dimension,
                },
                FieldSchema {
                    name: "name".into(),
                    label: "Name".into(),
                    field_type: FieldType::Text { max_len: None },
                    native_type: "TEXT".into(),
                    required: true,
                    read_only: false,
                    filterable: true,
                    origin: Origin::Dimension,
                },
            ],
            modified_field: None,
            can_read: true,
            can_write: false,
        });
    }
    Ok(d)
}
