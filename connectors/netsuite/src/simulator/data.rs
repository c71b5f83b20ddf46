//! The simulator's account model: record types with standard and custom fields, custom
//! record types, saved searches, and deterministic seeded records at any volume.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The type of a simulated field, close to NetSuite's own field types.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum FieldKind {
    Text,
    Integer,
    Float,
    Boolean,
    Date,
    DateTime,
    /// A reference to a record of another type.
    Select {
        record: String,
    },
    /// A custom list: values are referenced by their 1-based internal id.
    List {
        values: Vec<String>,
    },
}

impl FieldKind {
    /// NetSuite's customization field type name, used in metadata and SOAP.
    pub fn ns_name(&self) -> &'static str {
        match self {
            FieldKind::Text => "_freeFormText",
            FieldKind::Integer => "_integerNumber",
            FieldKind::Float => "_decimalNumber",
            FieldKind::Boolean => "_checkBox",
            FieldKind::Date => "_date",
            FieldKind::DateTime => "_dateTime",
            FieldKind::Select { .. } => "_listRecord",
            FieldKind::List { .. } => "_listRecord",
        }
    }
}

/// Where a custom field is applied, which decides its script-id prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CustomFieldScope {
    /// `custentity_*` on entities (customer).
    Entity,
    /// `custbody_*` on transactions (sales order).
    Body,
    /// `custcol_*` on transaction lines.
    Column,
    /// `custitem_*` on items.
    Item,
    /// `custrecord_*` on a custom record type.
    Record,
}

impl CustomFieldScope {
    pub fn customization_type(self) -> &'static str {
        match self {
            CustomFieldScope::Entity => "entityCustomField",
            CustomFieldScope::Body => "transactionBodyCustomField",
            CustomFieldScope::Column => "transactionColumnCustomField",
            CustomFieldScope::Item => "itemCustomField",
            CustomFieldScope::Record => "customRecordCustomField",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldDef {
    /// The REST name (camelCase for standard fields, the script id for custom ones).
    pub name: String,
    pub label: String,
    #[serde(flatten)]
    pub kind: FieldKind,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub read_only: bool,
    #[serde(default = "yes")]
    pub filterable: bool,
    /// Set for custom fields.
    #[serde(default)]
    pub custom: Option<CustomFieldScope>,
    /// Set for transaction-line fields: they live on the `item` sublist, not the body.
    #[serde(default)]
    pub line: bool,
    /// Numeric internal id of a custom field (SOAP `internalId` attribute).
    #[serde(default)]
    pub internal_id: u64,
}

fn yes() -> bool {
    true
}

impl FieldDef {
    pub fn new(name: &str, label: &str, kind: FieldKind) -> Self {
        FieldDef {
            name: name.into(),
            label: label.into(),
            kind,
            required: false,
            read_only: false,
            filterable: true,
            custom: None,
            line: false,
            internal_id: 0,
        }
    }
    pub fn req(mut self) -> Self {
        self.required = true;
        self
    }
    pub fn ro(mut self) -> Self {
        self.read_only = true;
        self
    }
    /// The SuiteQL column name.
    pub fn column(&self) -> String {
        self.name.to_ascii_lowercase()
    }
}

/// One record type of an account: standard (`customer`) or custom (`customrecord_*`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordTypeDef {
    /// The REST record type name.
    pub name: String,
    pub label: String,
    /// SuiteQL table name.
    pub table: String,
    /// SOAP `xsi:type` of the record, e.g. `listRel:Customer`.
    pub soap_type: String,
    /// SOAP search family (`customer`, `transaction`, `item`, `customRecord`).
    pub search_type: String,
    pub custom: bool,
    /// Numeric internal id of a custom record type (SOAP `recType`).
    #[serde(default)]
    pub internal_id: u64,
    pub fields: Vec<FieldDef>,
    /// The last-modified field's REST name (`lastModifiedDate` or `lastModified`).
    pub modified_field: String,
    /// Whether that field can be used in REST `q` and SuiteQL WHERE. Some record types
    /// expose it for reading only; connectors must notice at discovery.
    pub modified_filterable: bool,
}

impl RecordTypeDef {
    pub fn field(&self, name: &str) -> Option<&FieldDef> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }
    pub fn body_fields(&self) -> impl Iterator<Item = &FieldDef> {
        self.fields.iter().filter(|f| !f.line)
    }
}

/// A saved search: a record type, criteria on one field and a column list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedSearchDef {
    pub internal_id: u64,
    pub script_id: String,
    pub title: String,
    /// The record type it searches (REST name).
    pub record_type: String,
    /// Columns returned in each search row (REST field names).
    pub columns: Vec<String>,
    /// Optional filter: field name and the value it must equal.
    #[serde(default)]
    pub filter: Option<(String, String)>,
    /// Summary searches cannot return columns through web services.
    #[serde(default)]
    pub summary: bool,
}

/// One stored record.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub id: u64,
    pub external_id: Option<String>,
    pub created: i64,
    pub modified: i64,
    /// Field values by REST name, in the REST JSON value shape without links: text and
    /// dates as strings, numbers as numbers, booleans, references as `{"id": "7"}`.
    pub values: BTreeMap<String, Value>,
    /// Transaction lines (for sales orders).
    pub lines: Vec<BTreeMap<String, Value>>,
}

/// Start of seeded modification times: 2024-01-01T00:00:00Z.
pub const SEED_EPOCH: i64 = 1_704_067_200;

/// A small deterministic generator (splitmix64), so seeded data is identical across runs.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn seed_of(parts: &[&str], id: u64) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for p in parts {
        for b in p.bytes() {
            h = (h ^ b as u64).wrapping_mul(0x1000_0000_01b3);
        }
    }
    mix(h ^ id)
}

const WORDS: [&str; 12] = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Hooli",
    "Vandelay",
    "Soylent",
    "Tyrell",
    "Cyberdyne",
    "Wonka",
];

/// A deterministic value for one field of one seeded record.
pub fn seeded_value(account: &str, rt: &str, field: &FieldDef, id: u64) -> Option<Value> {
    let r = seed_of(&[account, rt, &field.name], id);
    let v = match &field.kind {
        FieldKind::Text => {
            let w = WORDS[(r % WORDS.len() as u64) as usize];
            match field.name.as_str() {
                "email" => json!(format!("contact{id}@{}.example", w.to_lowercase())),
                "entityId" | "itemId" | "tranId" => json!(format!("{}-{id}", rt.to_uppercase())),
                _ => json!(format!("{w} {id}")),
            }
        }
        FieldKind::Integer => json!((r % 1000) as i64),
        FieldKind::Float => json!(((r % 1_000_000) as f64) / 100.0),
        FieldKind::Boolean => json!(r.is_multiple_of(7)),
        FieldKind::Date => {
            let t = SEED_EPOCH + ((r % 700) as i64) * 86_400;
            json!(super::fmt_date(t))
        }
        FieldKind::DateTime => {
            let t = SEED_EPOCH + (r % 20_000_000) as i64;
            json!(super::fmt_iso(t))
        }
        FieldKind::Select { record } => {
            let target = match record.as_str() {
                "subsidiary" => 1 + r % 3,
                _ => 1 + r % 50,
            };
            json!({"id": target.to_string()})
        }
        FieldKind::List { values } => {
            if values.is_empty() {
                return None;
            }
            json!({"id": (1 + r % values.len() as u64).to_string()})
        }
    };
    // Optional fields are sometimes empty, as real data is.
    if !field.required && r.is_multiple_of(11) {
        return None;
    }
    Some(v)
}

/// The standard record types every simulated account has.
pub fn standard_types() -> Vec<RecordTypeDef> {
    use FieldKind::*;
    let customer = RecordTypeDef {
        name: "customer".into(),
        label: "Customer".into(),
        table: "customer".into(),
        soap_type: "listRel:Customer".into(),
        search_type: "customer".into(),
        custom: false,
        internal_id: 0,
        fields: vec![
            FieldDef::new("entityId", "ID", Text).req(),
            FieldDef::new("companyName", "Company Name", Text).req(),
            FieldDef::new("email", "Email", Text),
            FieldDef::new("phone", "Phone", Text),
            FieldDef::new("isInactive", "Inactive", Boolean),
            FieldDef::new("balance", "Balance", Float).ro(),
            FieldDef::new(
                "subsidiary",
                "Subsidiary",
                Select {
                    record: "subsidiary".into(),
                },
            ),
            FieldDef::new("dateCreated", "Date Created", DateTime).ro(),
            FieldDef::new("lastModifiedDate", "Last Modified Date", DateTime).ro(),
        ],
        modified_field: "lastModifiedDate".into(),
        modified_filterable: true,
    };
    let item = RecordTypeDef {
        name: "inventoryItem".into(),
        label: "Inventory Item".into(),
        table: "item".into(),
        soap_type: "listAcct:InventoryItem".into(),
        search_type: "item".into(),
        custom: false,
        internal_id: 0,
        fields: vec![
            FieldDef::new("itemId", "Item Name/Number", Text).req(),
            FieldDef::new("displayName", "Display Name", Text),
            FieldDef::new("basePrice", "Base Price", Float),
            FieldDef::new("isInactive", "Inactive", Boolean),
            FieldDef::new("dateCreated", "Date Created", DateTime).ro(),
            FieldDef::new("lastModifiedDate", "Last Modified Date", DateTime).ro(),
        ],
        modified_field: "lastModifiedDate".into(),
        modified_filterable: true,
    };
    let mut so_fields = vec![
        FieldDef::new("tranId", "Document Number", Text),
        FieldDef::new(
            "entity",
            "Customer",
            Select {
                record: "customer".into(),
            },
        )
        .req(),
        FieldDef::new("tranDate", "Date", Date).req(),
        FieldDef::new("total", "Total", Float).ro(),
        FieldDef::new("memo", "Memo", Text),
        FieldDef::new("dateCreated", "Date Created", DateTime).ro(),
        FieldDef::new("lastModifiedDate", "Last Modified Date", DateTime).ro(),
    ];
    for (name, label, kind) in [
        (
            "item",
            "Item",
            Select {
                record: "inventoryItem".into(),
            },
        ),
        ("quantity", "Quantity", Float),
        ("rate", "Rate", Float),
    ] {
        let mut f = FieldDef::new(name, label, kind);
        f.line = true;
        f.filterable = false;
        so_fields.push(f);
    }
    let sales_order = RecordTypeDef {
        name: "salesOrder".into(),
        label: "Sales Order".into(),
        table: "transaction".into(),
        soap_type: "tranSales:SalesOrder".into(),
        search_type: "transaction".into(),
        custom: false,
        internal_id: 0,
        fields: so_fields,
        modified_field: "lastModifiedDate".into(),
        modified_filterable: true,
    };
    vec![customer, item, sales_order]
}

/// Script-id prefix check: custom fields must be named the way NetSuite names them.
pub fn expected_prefix(scope: CustomFieldScope) -> &'static str {
    match scope {
        CustomFieldScope::Entity => "custentity",
        CustomFieldScope::Body => "custbody",
        CustomFieldScope::Column => "custcol",
        CustomFieldScope::Item => "custitem",
        CustomFieldScope::Record => "custrecord",
    }
}

/// A custom record type declared in an account spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomRecordSpec {
    pub script_id: String,
    pub label: String,
    pub fields: Vec<FieldDef>,
    /// False for record types whose last-modified time cannot be filtered on.
    #[serde(default = "yes")]
    pub modified_filterable: bool,
}

impl CustomRecordSpec {
    pub fn into_def(self, internal_id: u64) -> RecordTypeDef {
        let mut fields: Vec<FieldDef> = vec![
            FieldDef::new("name", "Name", FieldKind::Text).req(),
            FieldDef::new("isInactive", "Inactive", FieldKind::Boolean),
            FieldDef::new("created", "Date Created", FieldKind::DateTime).ro(),
        ];
        let mut modified = FieldDef::new("lastModified", "Last Modified", FieldKind::DateTime).ro();
        modified.filterable = self.modified_filterable;
        fields.push(modified);
        for (i, mut f) in self.fields.into_iter().enumerate() {
            f.custom = Some(CustomFieldScope::Record);
            if f.internal_id == 0 {
                f.internal_id = internal_id * 100 + i as u64 + 1;
            }
            fields.push(f);
        }
        RecordTypeDef {
            table: self.script_id.clone(),
            name: self.script_id,
            label: self.label,
            soap_type: "setupCustom:CustomRecord".into(),
            search_type: "customRecord".into(),
            custom: true,
            internal_id,
            fields,
            modified_field: "lastModified".into(),
            modified_filterable: self.modified_filterable,
        }
    }
}

/// A custom body, entity, column or item field added to a standard record type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomFieldSpec {
    pub record_type: String,
    pub scope: CustomFieldScope,
    #[serde(flatten)]
    pub field: FieldDef,
}

/// Built-in customization sets: a manufacturer and a SaaS company.
pub fn preset(
    name: &str,
) -> Option<(
    Vec<CustomRecordSpec>,
    Vec<CustomFieldSpec>,
    Vec<SavedSearchDef>,
)> {
    use FieldKind::*;
    let list = |v: &[&str]| List {
        values: v.iter().map(|s| s.to_string()).collect(),
    };
    let custom_field = |rt: &str, scope, name: &str, label: &str, kind: FieldKind, id: u64| {
        let mut f = FieldDef::new(name, label, kind);
        f.custom = Some(scope);
        f.internal_id = id;
        f.line = scope == CustomFieldScope::Column;
        CustomFieldSpec {
            record_type: rt.into(),
            scope,
            field: f,
        }
    };
    match name {
        "manufacturer" => Some((
            vec![
                CustomRecordSpec {
                    script_id: "customrecord_production_order".into(),
                    label: "Production Order".into(),
                    fields: vec![
                        FieldDef::new(
                            "custrecord_po_item",
                            "Assembly",
                            Select {
                                record: "inventoryItem".into(),
                            },
                        )
                        .req(),
                        FieldDef::new("custrecord_po_quantity", "Quantity", Integer).req(),
                        FieldDef::new(
                            "custrecord_po_status",
                            "Status",
                            list(&["Planned", "Released", "In Progress", "Built"]),
                        ),
                        FieldDef::new("custrecord_po_due", "Due Date", Date),
                    ],
                    modified_filterable: true,
                },
                CustomRecordSpec {
                    script_id: "customrecord_machine_rate".into(),
                    label: "Machine Rate".into(),
                    fields: vec![
                        FieldDef::new("custrecord_mr_machine", "Machine", Text).req(),
                        FieldDef::new("custrecord_mr_rate", "Hourly Rate", Float).req(),
                    ],
                    // A legacy type whose last-modified time cannot be filtered on.
                    modified_filterable: false,
                },
            ],
            vec![
                custom_field(
                    "customer",
                    CustomFieldScope::Entity,
                    "custentity_region",
                    "Sales Region",
                    list(&["North", "South", "East", "West"]),
                    1201,
                ),
                custom_field(
                    "salesOrder",
                    CustomFieldScope::Body,
                    "custbody_plant",
                    "Plant",
                    Text,
                    1202,
                ),
                custom_field(
                    "salesOrder",
                    CustomFieldScope::Column,
                    "custcol_lot_number",
                    "Lot Number",
                    Text,
                    1203,
                ),
                custom_field(
                    "inventoryItem",
                    CustomFieldScope::Item,
                    "custitem_bom_level",
                    "BOM Level",
                    Integer,
                    1204,
                ),
            ],
            vec![
                SavedSearchDef {
                    internal_id: 501,
                    script_id: "customsearch_open_production".into(),
                    title: "Open Production Orders".into(),
                    record_type: "customrecord_production_order".into(),
                    columns: vec![
                        "name".into(),
                        "custrecord_po_quantity".into(),
                        "custrecord_po_status".into(),
                        "lastModified".into(),
                    ],
                    filter: None,
                    summary: false,
                },
                SavedSearchDef {
                    internal_id: 502,
                    script_id: "customsearch_customers_by_region".into(),
                    title: "Customers by Region".into(),
                    record_type: "customer".into(),
                    columns: vec![
                        "entityId".into(),
                        "companyName".into(),
                        "custentity_region".into(),
                        "lastModifiedDate".into(),
                    ],
                    filter: None,
                    summary: false,
                },
                SavedSearchDef {
                    internal_id: 503,
                    script_id: "customsearch_sales_summary".into(),
                    title: "Sales Summary".into(),
                    record_type: "salesOrder".into(),
                    columns: vec!["entity".into(), "total".into()],
                    filter: None,
                    summary: true,
                },
            ],
        )),
        "saas" => Some((
            vec![CustomRecordSpec {
                script_id: "customrecord_subscription".into(),
                label: "Subscription".into(),
                fields: vec![
                    FieldDef::new(
                        "custrecord_sub_customer",
                        "Customer",
                        Select {
                            record: "customer".into(),
                        },
                    )
                    .req(),
                    FieldDef::new(
                        "custrecord_sub_plan",
                        "Plan",
                        list(&["Starter", "Growth", "Enterprise"]),
                    )
                    .req(),
                    FieldDef::new("custrecord_sub_mrr", "MRR", Float),
                    FieldDef::new("custrecord_sub_renewal", "Renewal Date", Date),
                    FieldDef::new("custrecord_sub_auto_renew", "Auto Renew", Boolean),
                ],
                modified_filterable: true,
            }],
            vec![
                custom_field(
                    "customer",
                    CustomFieldScope::Entity,
                    "custentity_csm",
                    "Customer Success Manager",
                    Text,
                    1301,
                ),
                custom_field(
                    "salesOrder",
                    CustomFieldScope::Body,
                    "custbody_contract_term",
                    "Contract Term (months)",
                    Integer,
                    1302,
                ),
            ],
            vec![SavedSearchDef {
                internal_id: 601,
                script_id: "customsearch_active_subscriptions".into(),
                title: "Active Subscriptions".into(),
                record_type: "customrecord_subscription".into(),
                columns: vec![
                    "name".into(),
                    "custrecord_sub_plan".into(),
                    "custrecord_sub_mrr".into(),
                    "lastModified".into(),
                ],
                filter: None,
                summary: false,
            }],
        )),
        _ => None,
    }
}
