//! A tenant's discovered ERP schema: objects (record types, tables, documents) and their
//! fields, with where each came from (standard, custom record, UDF, dimension...).
//!
//! Connectors produce it from discovery; the server stores each discovery as a version;
//! the UI lists it and the mapper validates writes against it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where an object or field comes from in the customer's ERP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Shipped by the ERP vendor.
    Standard,
    /// A NetSuite custom record type, an SAP user-defined table or object.
    CustomRecord,
    /// A custom field: NetSuite custbody/custentity/custcol..., SAP U_ UDF, Intacct custom field.
    CustomField,
    /// A dimension: Intacct standard or user-defined dimension, NetSuite custom segment.
    Dimension,
    /// A NetSuite saved search, exposed as a read-only object.
    SavedSearch,
}

/// The normalized type of a field. Native types are kept in `FieldSchema::native_type`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum FieldType {
    Text {
        max_len: Option<u32>,
    },
    Integer,
    Decimal,
    Boolean,
    Date,
    DateTime,
    /// A reference to another object (a select field, a foreign key, a dimension value).
    Reference {
        object: String,
    },
    /// One of a fixed list of values.
    Enum {
        values: Vec<EnumValue>,
    },
    /// Anything we could not classify; the native type says more.
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EnumValue {
    pub value: String,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldSchema {
    /// The name the ERP uses on the wire (`custbody_region`, `U_ProjectCode`, `GLDIMJOBSITE`).
    pub name: String,
    pub label: String,
    pub field_type: FieldType,
    /// The ERP's own type name, for support staff.
    pub native_type: String,
    pub required: bool,
    pub read_only: bool,
    /// Usable in an incremental filter or query condition.
    pub filterable: bool,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectSchema {
    /// The name the ERP uses (`customer`, `customrecord_prodorder`, `Orders`, `APBILL`).
    pub name: String,
    pub label: String,
    pub origin: Origin,
    pub fields: Vec<FieldSchema>,
    /// The field carrying last-modified time, when the ERP can filter on it; objects
    /// without one are read in full and changes found by content hash.
    pub modified_field: Option<String>,
    pub can_read: bool,
    pub can_write: bool,
}

impl ObjectSchema {
    pub fn field(&self, name: &str) -> Option<&FieldSchema> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// One discovery of one connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Schema {
    pub objects: Vec<ObjectSchema>,
}

impl Schema {
    pub fn object(&self, name: &str) -> Option<&ObjectSchema> {
        self.objects.iter().find(|o| o.name == name)
    }

    /// The difference between two discoveries (an older one and a newer one, or a
    /// sandbox and its production account).
    pub fn diff(&self, other: &Schema) -> SchemaDiff {
        let mut diff = SchemaDiff::default();
        let left: BTreeMap<&str, &ObjectSchema> =
            self.objects.iter().map(|o| (o.name.as_str(), o)).collect();
        let right: BTreeMap<&str, &ObjectSchema> =
            other.objects.iter().map(|o| (o.name.as_str(), o)).collect();
        for (name, l) in &left {
            match right.get(name) {
                None => diff.only_left.push(name.to_string()),
                Some(r) => {
                    for lf in &l.fields {
                        match r.field(&lf.name) {
                            None => diff
                                .fields_only_left
                                .push((name.to_string(), lf.name.clone())),
                            Some(rf)
                                if rf.field_type != lf.field_type || rf.required != lf.required =>
                            {
                                diff.fields_changed.push(FieldChange {
                                    object: name.to_string(),
                                    field: lf.name.clone(),
                                    left: lf.clone(),
                                    right: rf.clone(),
                                })
                            }
                            Some(_) => {}
                        }
                    }
                    for rf in &r.fields {
                        if l.field(&rf.name).is_none() {
                            diff.fields_only_right
                                .push((name.to_string(), rf.name.clone()));
                        }
                    }
                }
            }
        }
        for name in right.keys() {
            if !left.contains_key(name) {
                diff.only_right.push(name.to_string());
            }
        }
        diff
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    pub object: String,
    pub field: String,
    pub left: FieldSchema,
    pub right: FieldSchema,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SchemaDiff {
    pub only_left: Vec<String>,
    pub only_right: Vec<String>,
    pub fields_only_left: Vec<(String, String)>,
    pub fields_only_right: Vec<(String, String)>,
    pub fields_changed: Vec<FieldChange>,
}

impl SchemaDiff {
    pub fn is_empty(&self) -> bool {
        self.only_left.is_empty()
            && self.only_right.is_empty()
            && self.fields_only_left.is_empty()
            && self.fields_only_right.is_empty()
            && self.fields_changed.is_empty()
    }
}
