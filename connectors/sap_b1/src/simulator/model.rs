//! The simulated Service Layer entity model: entity sets, their typed properties, enums and
//! the user-defined metadata (UDFs, UDTs, UDOs) that extends them per company database.

use serde::{Deserialize, Serialize};

/// The B1 enum types the simulator knows, as (member name, database code) pairs.
pub fn enum_members(name: &str) -> &'static [(&'static str, &'static str)] {
    match name {
        "BoCardTypes" => &[("cCustomer", "C"), ("cSupplier", "S"), ("cLid", "L")],
        "BoYesNoEnum" => &[("tYES", "Y"), ("tNO", "N")],
        "BoStatus" => &[
            ("bost_Open", "O"),
            ("bost_Close", "C"),
            ("bost_Paid", "P"),
            ("bost_Delivered", "D"),
        ],
        "BoDocumentTypes" => &[("dDocument_Items", "I"), ("dDocument_Service", "S")],
        "BoItemTypes" => &[("itItems", "I"), ("itLabor", "L"), ("itTravel", "T")],
        "DocumentAuthorizationStatusEnum" => &[
            ("dasWithout", "-"),
            ("dasPending", "W"),
            ("dasApproved", "Y"),
            ("dasRejected", "N"),
            ("dasGenerated", "P"),
            ("dasGeneratedbyAuthorizer", "A"),
            ("dasCancelled", "C"),
        ],
        "BoApprovalRequestStatusEnum" => &[
            ("arsPending", "W"),
            ("arsApproved", "Y"),
            ("arsNotApproved", "N"),
            ("arsGenerated", "P"),
            ("arsGeneratedByAuthorizer", "A"),
            ("arsCancelled", "C"),
        ],
        "BoFieldTypes" => &[
            ("db_Alpha", "A"),
            ("db_Memo", "M"),
            ("db_Numeric", "N"),
            ("db_Date", "D"),
            ("db_Float", "B"),
        ],
        "BoFldSubTypes" => &[
            ("st_None", ""),
            ("st_Address", "?"),
            ("st_Phone", "#"),
            ("st_Time", "T"),
            ("st_Rate", "R"),
            ("st_Sum", "S"),
            ("st_Price", "P"),
            ("st_Quantity", "Q"),
            ("st_Percentage", "%"),
            ("st_Measurement", "M"),
            ("st_Link", "B"),
            ("st_Image", "I"),
        ],
        "BoUTBTableType" => &[
            ("bott_NoObject", "0"),
            ("bott_MasterData", "1"),
            ("bott_MasterDataLines", "2"),
            ("bott_Document", "3"),
            ("bott_DocumentLines", "4"),
            ("bott_NoObjectAutoIncrement", "5"),
        ],
        "BoUDOObjType" => &[("boud_MasterData", "1"), ("boud_Document", "3")],
        _ => &[],
    }
}

/// Every enum type named by a property, for `$metadata`.
pub const ENUM_TYPES: &[&str] = &[
    "BoCardTypes",
    "BoYesNoEnum",
    "BoStatus",
    "BoDocumentTypes",
    "BoItemTypes",
    "DocumentAuthorizationStatusEnum",
    "BoApprovalRequestStatusEnum",
    "BoFieldTypes",
    "BoFldSubTypes",
    "BoUTBTableType",
    "BoUDOObjType",
];

/// Maps an enum literal given as a name or a database code to the member name.
pub fn enum_canonical(enum_name: &str, literal: &str) -> Option<&'static str> {
    enum_members(enum_name)
        .iter()
        .find(|(n, c)| n.eq_ignore_ascii_case(literal) || *c == literal)
        .map(|(n, _)| *n)
}

/// The type of one property, which decides how `$filter` compares it.
#[derive(Debug, Clone, PartialEq)]
pub enum PropType {
    Str,
    Int,
    Double,
    /// A date, compared on its date part only.
    Date,
    /// A time of day, compared at minute resolution as the real server does.
    Time,
    Enum(&'static str),
    /// A collection of complex values (document lines); not filterable.
    Collection,
}

impl PropType {
    pub fn edm(&self, v2: bool) -> String {
        match self {
            PropType::Str => "Edm.String".into(),
            PropType::Int => "Edm.Int32".into(),
            PropType::Double => "Edm.Double".into(),
            PropType::Date => {
                if v2 {
                    "Edm.DateTimeOffset".into()
                } else {
                    "Edm.DateTime".into()
                }
            }
            PropType::Time => {
                if v2 {
                    "Edm.TimeOfDay".into()
                } else {
                    "Edm.Time".into()
                }
            }
            PropType::Enum(e) => format!("SAPB1.{e}"),
            PropType::Collection => "Collection".into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Prop {
    pub name: String,
    pub ty: PropType,
    /// A user-defined field (`U_` property).
    pub udf: bool,
}

fn p(name: &str, ty: PropType) -> Prop {
    Prop {
        name: name.to_string(),
        ty,
        udf: false,
    }
}

/// What kind of object an entity set holds, which decides its write rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A marketing document (Orders, Invoices, PurchaseOrders, Drafts).
    Document,
    BusinessPartner,
    Item,
    JournalEntry,
    ApprovalRequest,
    ApprovalTemplate,
    UserFieldsMd,
    UserTablesMd,
    UserObjectsMd,
    /// A "no object" user-defined table, exposed as `U_<TABLE>`.
    Udt,
    /// A user-defined object, exposed under its code.
    Udo,
}

/// One entity set of one company database, with its UDFs merged in.
#[derive(Debug, Clone)]
pub struct EntityDef {
    pub set: String,
    pub type_name: String,
    pub key: String,
    pub key_is_int: bool,
    pub kind: Kind,
    /// The B1 object type (`ServiceCode`), e.g. "17" for Orders.
    pub object_code: String,
    /// The header table, e.g. ORDR; UDFs attach to it.
    pub table: String,
    /// The line table, e.g. RDR1, when the object has lines.
    pub line_table: Option<String>,
    pub lines_prop: Option<String>,
    pub props: Vec<Prop>,
    pub line_props: Vec<Prop>,
    /// The `BoObjectTypes` name of the object (`oOrders`), used by drafts.
    pub bo_name: String,
}

impl EntityDef {
    pub fn prop(&self, name: &str) -> Option<&Prop> {
        self.props.iter().find(|p| p.name == name)
    }

    pub fn line_prop(&self, name: &str) -> Option<&Prop> {
        self.line_props.iter().find(|p| p.name == name)
    }

    pub fn has_update_stamp(&self) -> bool {
        self.prop("UpdateDate").is_some() && self.prop("UpdateTime").is_some()
    }
}

fn document_props() -> Vec<Prop> {
    use PropType::*;
    vec![
        p("DocEntry", Int),
        p("DocNum", Int),
        p("DocType", Enum("BoDocumentTypes")),
        p("DocDate", Date),
        p("DocDueDate", Date),
        p("CardCode", Str),
        p("CardName", Str),
        p("NumAtCard", Str),
        p("DocTotal", Double),
        p("DocCurrency", Str),
        p("Comments", Str),
        p("Series", Int),
        p("DocObjectCode", Str),
        p("CreationDate", Date),
        p("UpdateDate", Date),
        p("UpdateTime", Time),
        p("DocumentStatus", Enum("BoStatus")),
        p("Cancelled", Enum("BoYesNoEnum")),
        p(
            "AuthorizationStatus",
            Enum("DocumentAuthorizationStatusEnum"),
        ),
        p("DocumentLines", Collection),
    ]
}

fn document_line_props() -> Vec<Prop> {
    use PropType::*;
    vec![
        p("LineNum", Int),
        p("ItemCode", Str),
        p("ItemDescription", Str),
        p("Quantity", Double),
        p("UnitPrice", Double),
        p("Price", Double),
        p("LineTotal", Double),
        p("TaxCode", Str),
        p("WarehouseCode", Str),
        p("LineStatus", Enum("BoStatus")),
    ]
}

/// The marketing document sets: (set, object code, header table, line table, BoObjectTypes name).
pub const DOCUMENT_SETS: &[(&str, &str, &str, &str, &str)] = &[
    ("Orders", "17", "ORDR", "RDR1", "oOrders"),
    ("Invoices", "13", "OINV", "INV1", "oInvoices"),
    ("PurchaseOrders", "22", "OPOR", "POR1", "oPurchaseOrders"),
    ("Quotations", "23", "OQUT", "QUT1", "oQuotations"),
    ("Drafts", "112", "ODRF", "DRF1", "oDrafts"),
];

/// The standard entity sets shared by every company database, before UDFs.
pub fn standard_defs() -> Vec<EntityDef> {
    use PropType::*;
    let mut defs = Vec::new();
    for (set, code, table, line_table, bo) in DOCUMENT_SETS {
        defs.push(EntityDef {
            set: set.to_string(),
            type_name: "Document".into(),
            key: "DocEntry".into(),
            key_is_int: true,
            kind: Kind::Document,
            object_code: code.to_string(),
            table: table.to_string(),
            line_table: Some(line_table.to_string()),
            lines_prop: Some("DocumentLines".into()),
            props: document_props(),
            line_props: document_line_props(),
            bo_name: bo.to_string(),
        });
    }
    defs.push(EntityDef {
        set: "BusinessPartners".into(),
        type_name: "BusinessPartner".into(),
        key: "CardCode".into(),
        key_is_int: false,
        kind: Kind::BusinessPartner,
        object_code: "2".into(),
        table: "OCRD".into(),
        line_table: None,
        lines_prop: None,
        props: vec![
            p("CardCode", Str),
            p("CardName", Str),
            p("CardType", Enum("BoCardTypes")),
            p("Currency", Str),
            p("Phone1", Str),
            p("EmailAddress", Str),
            p("Valid", Enum("BoYesNoEnum")),
            p("CreateDate", Date),
            p("UpdateDate", Date),
            p("UpdateTime", Time),
        ],
        line_props: vec![],
        bo_name: "oBusinessPartners".into(),
    });
    defs.push(EntityDef {
        set: "Items".into(),
        type_name: "Item".into(),
        key: "ItemCode".into(),
        key_is_int: false,
        kind: Kind::Item,
        object_code: "4".into(),
        table: "OITM".into(),
        line_table: None,
        lines_prop: None,
        props: vec![
            p("ItemCode", Str),
            p("ItemName", Str),
            p("ItemType", Enum("BoItemTypes")),
            p("InventoryItem", Enum("BoYesNoEnum")),
            p("SalesItem", Enum("BoYesNoEnum")),
            p("PurchaseItem", Enum("BoYesNoEnum")),
            p("QuantityOnStock", Double),
            p("CreateDate", Date),
            p("UpdateDate", Date),
            p("UpdateTime", Time),
        ],
        line_props: vec![],
        bo_name: "oItems".into(),
    });
    defs.push(EntityDef {
        set: "JournalEntries".into(),
        type_name: "JournalEntry".into(),
        key: "JdtNum".into(),
        key_is_int: true,
        kind: Kind::JournalEntry,
        object_code: "30".into(),
        table: "OJDT".into(),
        line_table: Some("JDT1".into()),
        lines_prop: Some("JournalEntryLines".into()),
        props: vec![
            p("JdtNum", Int),
            p("ReferenceDate", Date),
            p("DueDate", Date),
            p("Memo", Str),
            p("Reference", Str),
            p("JournalEntryLines", Collection),
        ],
        line_props: vec![
            p("Line_ID", Int),
            p("AccountCode", Str),
            p("Debit", Double),
            p("Credit", Double),
            p("LineMemo", Str),
        ],
        bo_name: "oJournalEntries".into(),
    });
    defs.push(EntityDef {
        set: "ApprovalRequests".into(),
        type_name: "ApprovalRequest".into(),
        key: "Code".into(),
        key_is_int: true,
        kind: Kind::ApprovalRequest,
        object_code: "122".into(),
        table: "OWDD".into(),
        line_table: None,
        lines_prop: None,
        props: vec![
            p("Code", Int),
            p("ApprovalTemplatesID", Int),
            p("ObjectType", Str),
            p("IsDraft", Enum("BoYesNoEnum")),
            p("ObjectEntry", Int),
            p("DraftEntry", Int),
            p("DraftType", Str),
            p("Status", Enum("BoApprovalRequestStatusEnum")),
            p("Remarks", Str),
            p("CurrentStage", Int),
            p("OriginatorID", Int),
            p("CreationDate", Date),
            p("CreationTime", Time),
            p("ApprovalRequestLines", Collection),
            p("ApprovalRequestDecisions", Collection),
        ],
        line_props: vec![],
        bo_name: "oApprovalRequests".into(),
    });
    defs.push(EntityDef {
        set: "ApprovalTemplates".into(),
        type_name: "ApprovalTemplate".into(),
        key: "Code".into(),
        key_is_int: true,
        kind: Kind::ApprovalTemplate,
        object_code: "121".into(),
        table: "OWTM".into(),
        line_table: None,
        lines_prop: None,
        props: vec![
            p("Code", Int),
            p("Name", Str),
            p("Remarks", Str),
            p("IsActive", Enum("BoYesNoEnum")),
            p("UseTerms", Enum("BoYesNoEnum")),
            p("ApprovalTemplateDocuments", Collection),
            p("ApprovalTemplateTerms", Collection),
        ],
        line_props: vec![],
        bo_name: "oApprovalTemplates".into(),
    });
    defs.push(EntityDef {
        set: "UserFieldsMD".into(),
        type_name: "UserFieldMD".into(),
        key: "TableName".into(),
        key_is_int: false,
        kind: Kind::UserFieldsMd,
        object_code: "152".into(),
        table: "CUFD".into(),
        line_table: None,
        lines_prop: None,
        props: vec![
            p("TableName", Str),
            p("FieldID", Int),
            p("Name", Str),
            p("Type", Enum("BoFieldTypes")),
            p("SubType", Enum("BoFldSubTypes")),
            p("Size", Int),
            p("EditSize", Int),
            p("Description", Str),
            p("Mandatory", Enum("BoYesNoEnum")),
            p("DefaultValue", Str),
            p("LinkedTable", Str),
            p("LinkedUDO", Str),
            p("ValidValuesMD", Collection),
        ],
        line_props: vec![],
        bo_name: "oUserFields".into(),
    });
    defs.push(EntityDef {
        set: "UserTablesMD".into(),
        type_name: "UserTablesMD".into(),
        key: "TableName".into(),
        key_is_int: false,
        kind: Kind::UserTablesMd,
        object_code: "153".into(),
        table: "OUTB".into(),
        line_table: None,
        lines_prop: None,
        props: vec![
            p("TableName", Str),
            p("TableDescription", Str),
            p("TableType", Enum("BoUTBTableType")),
            p("Archivable", Enum("BoYesNoEnum")),
        ],
        line_props: vec![],
        bo_name: "oUserTables".into(),
    });
    defs.push(EntityDef {
        set: "UserObjectsMD".into(),
        type_name: "UserObjectsMD".into(),
        key: "Code".into(),
        key_is_int: false,
        kind: Kind::UserObjectsMd,
        object_code: "206".into(),
        table: "OUDO".into(),
        line_table: None,
        lines_prop: None,
        props: vec![
            p("Code", Str),
            p("Name", Str),
            p("TableName", Str),
            p("ObjectType", Enum("BoUDOObjType")),
            p("CanCancel", Enum("BoYesNoEnum")),
            p("CanClose", Enum("BoYesNoEnum")),
            p("CanDelete", Enum("BoYesNoEnum")),
            p("CanFind", Enum("BoYesNoEnum")),
            p("CanLog", Enum("BoYesNoEnum")),
            p("ManageSeries", Enum("BoYesNoEnum")),
            p("UserObjectMD_ChildTables", Collection),
        ],
        line_props: vec![],
        bo_name: "oUserObjectsMD".into(),
    });
    defs
}

/// A user-defined field as stored in CUFD.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UdfSpec {
    /// The table it was created on (`OCRD`, `ORDR`, `RDR1`, `@MYTBL`, ...).
    pub table: String,
    /// The name without the `U_` prefix.
    pub name: String,
    /// `db_Alpha`, `db_Memo`, `db_Numeric`, `db_Date` or `db_Float`.
    #[serde(rename = "type", default = "default_udf_type")]
    pub field_type: String,
    #[serde(default)]
    pub sub_type: Option<String>,
    #[serde(default = "default_udf_size")]
    pub size: u32,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub mandatory: bool,
    #[serde(default)]
    pub default_value: Option<String>,
    /// Allowed values as (value, description).
    #[serde(default)]
    pub valid_values: Vec<(String, String)>,
    #[serde(default)]
    pub linked_table: Option<String>,
}

fn default_udf_type() -> String {
    "db_Alpha".into()
}
fn default_udf_size() -> u32 {
    10
}

impl UdfSpec {
    pub fn prop_type(&self) -> PropType {
        match self.field_type.as_str() {
            "db_Numeric" => PropType::Int,
            "db_Float" => PropType::Double,
            "db_Date" => PropType::Date,
            _ if self.sub_type.as_deref() == Some("st_Time") => PropType::Time,
            _ => PropType::Str,
        }
    }
}

/// A user-defined table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UdtSpec {
    /// Without the `@`; upper-cased by the server.
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// `bott_NoObject`, `bott_Document`, `bott_MasterData`, ...
    #[serde(default = "default_udt_type")]
    pub table_type: String,
}

fn default_udt_type() -> String {
    "bott_NoObject".into()
}

/// A user-defined object over a UDT.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UdoSpec {
    pub code: String,
    pub name: String,
    /// The main UDT, without `@`.
    pub table: String,
    /// `boud_Document` or `boud_MasterData`.
    #[serde(default = "default_udo_type")]
    pub object_type: String,
}

fn default_udo_type() -> String {
    "boud_MasterData".into()
}

/// The header tables a marketing-document UDF propagates to: B1 adds a UDF created on
/// any marketing document header to all of them, and likewise for line tables.
pub fn related_tables(table: &str) -> Vec<String> {
    let headers: Vec<&str> = DOCUMENT_SETS.iter().map(|d| d.2).collect();
    let lines: Vec<&str> = DOCUMENT_SETS.iter().map(|d| d.3).collect();
    if headers.contains(&table) {
        headers.iter().map(|s| s.to_string()).collect()
    } else if lines.contains(&table) {
        lines.iter().map(|s| s.to_string()).collect()
    } else {
        vec![table.to_string()]
    }
}

/// Builds the entity definitions of one company: the standard sets plus its UDFs as
/// declared `U_` properties, and one set per UDT and UDO.
pub fn company_defs(udfs: &[UdfSpec], udts: &[UdtSpec], udos: &[UdoSpec]) -> Vec<EntityDef> {
    let mut defs = standard_defs();
    let mut expanded: Vec<(String, &UdfSpec)> = Vec::new();
    for u in udfs {
        for t in related_tables(&u.table) {
            expanded.push((t, u));
        }
    }
    for udt in udts {
        let tname = udt.name.to_uppercase();
        let udo = udos.iter().find(|o| o.table.to_uppercase() == tname);
        let (set, key, key_is_int, kind) = match udo {
            Some(o) if o.object_type == "boud_Document" => {
                (o.code.clone(), "DocEntry".to_string(), true, Kind::Udo)
            }
            Some(o) => (o.code.clone(), "Code".to_string(), false, Kind::Udo),
            None => (format!("U_{tname}"), "Code".to_string(), false, Kind::Udt),
        };
        let mut props = vec![p(
            &key,
            if key_is_int {
                PropType::Int
            } else {
                PropType::Str
            },
        )];
        if key != "Code" {
            props.push(p("DocNum", PropType::Int));
        }
        props.push(p("Name", PropType::Str));
        if kind == Kind::Udo {
            props.push(p("CreateDate", PropType::Date));
            props.push(p("UpdateDate", PropType::Date));
            props.push(p("UpdateTime", PropType::Time));
        }
        defs.push(EntityDef {
            set,
            type_name: format!("U_{tname}"),
            key,
            key_is_int,
            kind,
            object_code: String::new(),
            table: format!("@{tname}"),
            line_table: None,
            lines_prop: None,
            props,
            line_props: vec![],
            bo_name: String::new(),
        });
    }
    for def in defs.iter_mut() {
        for (t, u) in &expanded {
            let prop = Prop {
                name: format!("U_{}", u.name),
                ty: u.prop_type(),
                udf: true,
            };
            if *t == def.table && def.prop(&prop.name).is_none() {
                def.props.push(prop.clone());
            }
            if Some(t) == def.line_table.as_ref() && def.line_prop(&prop.name).is_none() {
                def.line_props.push(prop);
            }
        }
    }
    defs
}
