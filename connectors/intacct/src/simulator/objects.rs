//! The simulator's object definitions: fields with types, required and read-only flags, raw
//! enumeration codes, line collections and which dimension field names each object uses.

/// How a field is typed in `lookup` (DATATYPE) and `inspect` (externalDataName).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataType {
    Text,
    Integer,
    Decimal,
    Date,
    Timestamp,
    Boolean,
    Enum,
}

impl DataType {
    pub fn lookup_name(self) -> &'static str {
        match self {
            DataType::Text => "TEXT",
            DataType::Integer => "INTEGER",
            DataType::Decimal => "DECIMAL",
            DataType::Date => "DATE",
            DataType::Timestamp => "TIMESTAMP",
            DataType::Boolean => "BOOLEAN",
            DataType::Enum => "ENUM",
        }
    }

    pub fn inspect_names(self) -> (&'static str, &'static str) {
        match self {
            DataType::Text | DataType::Enum => ("Pt_FieldString", "string"),
            DataType::Integer => ("Pt_FieldInt", "integer"),
            DataType::Decimal => ("Pt_FieldDouble", "number"),
            DataType::Date | DataType::Timestamp => ("Pt_FieldDateTime", "datetime"),
            DataType::Boolean => ("Pt_FieldBoolean", "boolean"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct FieldDef {
    pub name: String,
    pub label: String,
    pub datatype: DataType,
    pub required: bool,
    pub read_only: bool,
    /// Display values for enumerations.
    pub valid_values: Vec<String>,
    /// (raw code, display value) pairs: readByQuery filters compare raw codes.
    pub raw_codes: Vec<(String, String)>,
    pub is_custom: bool,
    /// Set for dimension fields: the dimension object it refers to.
    pub dimension: Option<String>,
}

impl FieldDef {
    fn new(name: &str, label: &str, datatype: DataType) -> Self {
        FieldDef {
            name: name.into(),
            label: label.into(),
            datatype,
            required: false,
            read_only: false,
            valid_values: vec![],
            raw_codes: vec![],
            is_custom: false,
            dimension: None,
        }
    }
    fn req(mut self) -> Self {
        self.required = true;
        self
    }
    fn ro(mut self) -> Self {
        self.read_only = true;
        self
    }
    fn codes(mut self, pairs: &[(&str, &str)]) -> Self {
        self.raw_codes = pairs
            .iter()
            .map(|(r, d)| (r.to_string(), d.to_string()))
            .collect();
        self.valid_values = pairs.iter().map(|(_, d)| d.to_string()).collect();
        self
    }

    /// The raw code stored for a display value, when this field has codes.
    pub fn raw_of(&self, display: &str) -> Option<&str> {
        self.raw_codes
            .iter()
            .find(|(_, d)| d == display)
            .map(|(r, _)| r.as_str())
    }
}

/// A line collection such as APBILLITEMS/APBILLITEM.
#[derive(Debug, Clone)]
pub struct LineDef {
    pub collection: String,
    pub element: String,
    pub fields: Vec<FieldDef>,
    /// Name of the location and department dimension fields on these lines.
    pub location_field: String,
    pub department_field: String,
}

#[derive(Debug, Clone)]
pub struct ObjectDef {
    pub name: String,
    pub label: String,
    pub plural: String,
    pub id_field: Option<String>,
    pub fields: Vec<FieldDef>,
    pub lines: Option<LineDef>,
}

impl ObjectDef {
    pub fn field(&self, name: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.name == name)
    }
    /// The object that holds dimension values for writes: the line object when there are
    /// lines, the header otherwise.
    pub fn dimension_target(&self) -> &str {
        match &self.lines {
            Some(l) => &l.element,
            None => &self.name,
        }
    }
}

fn common_audit() -> Vec<FieldDef> {
    use DataType::*;
    vec![
        FieldDef::new("RECORDNO", "Record number", Integer).ro(),
        FieldDef::new("WHENCREATED", "When created", Timestamp).ro(),
        FieldDef::new("WHENMODIFIED", "When modified", Timestamp).ro(),
        FieldDef::new("CREATEDBY", "Created by", Integer).ro(),
        FieldDef::new("MODIFIEDBY", "Modified by", Integer).ro(),
        FieldDef::new("MEGAENTITYKEY", "Created at entity key", Integer).ro(),
        FieldDef::new("MEGAENTITYID", "Created at entity ID", Text).ro(),
        FieldDef::new("MEGAENTITYNAME", "Created at entity name", Text).ro(),
    ]
}

fn status_field() -> FieldDef {
    FieldDef::new("STATUS", "Status", DataType::Enum).codes(&[("T", "active"), ("F", "inactive")])
}

fn contact_fields() -> Vec<FieldDef> {
    use DataType::*;
    [
        ("CONTACTNAME", "Contact name"),
        ("COMPANYNAME", "Company name"),
        ("FIRSTNAME", "First name"),
        ("LASTNAME", "Last name"),
        ("INITIAL", "Middle initial"),
        ("PRINTAS", "Print as"),
        ("PHONE1", "Primary phone"),
        ("PHONE2", "Secondary phone"),
        ("EMAIL1", "Primary email"),
        ("EMAIL2", "Secondary email"),
    ]
    .iter()
    .map(|(n, l)| FieldDef::new(&format!("DISPLAYCONTACT.{n}"), l, Text))
    .collect()
}

/// Line fields shared by AP bill and AR invoice lines: account, amount and the dimensions.
fn line_fields(location: &str, department: &str) -> Vec<FieldDef> {
    use DataType::*;
    let mut v = vec![
        FieldDef::new("LINE_NO", "Line number", Integer),
        FieldDef::new("ACCOUNTNO", "GL account", Text).req(),
        FieldDef::new("TRX_AMOUNT", "Transaction amount", Decimal).req(),
        FieldDef::new("ENTRYDESCRIPTION", "Memo", Text),
    ];
    for (name, label, dim) in [
        (location, "Location", "LOCATION"),
        (department, "Department", "DEPARTMENT"),
        ("PROJECTID", "Project", "PROJECT"),
        ("CUSTOMERID", "Customer", "CUSTOMER"),
        ("VENDORID", "Vendor", "VENDOR"),
        ("EMPLOYEEID", "Employee", "EMPLOYEE"),
        ("ITEMID", "Item", "ITEM"),
        ("CLASSID", "Class", "CLASS"),
    ] {
        let mut f = FieldDef::new(name, label, Text);
        f.dimension = Some(dim.into());
        v.push(f);
    }
    v
}

/// The standard objects every simulated company has.
pub fn standard_objects() -> Vec<ObjectDef> {
    use DataType::*;
    let mut out = Vec::new();

    let mut vendor = vec![
        FieldDef::new("VENDORID", "Vendor ID", Text).req(),
        FieldDef::new("NAME", "Vendor name", Text).req(),
        FieldDef::new("PARENTKEY", "Parent key", Integer),
        FieldDef::new("PARENTID", "Parent ID", Text),
        FieldDef::new("PARENTNAME", "Parent name", Text).ro(),
        FieldDef::new("VENDORACCOUNTNO", "Account number", Text),
        FieldDef::new("VENDTYPE", "Vendor type", Text),
        FieldDef::new("ACCOUNTLABEL", "Account label", Text),
        FieldDef::new("APACCOUNT", "AP account", Text),
        FieldDef::new("APACCOUNTTITLE", "AP account title", Text).ro(),
        FieldDef::new("TERMNAME", "Terms", Text),
        FieldDef::new("CURRENCY", "Currency", Text),
        FieldDef::new("TAXID", "Tax ID", Text),
        FieldDef::new("ONHOLD", "On hold", Boolean),
        status_field(),
    ];
    vendor.extend(contact_fields());
    vendor.extend(common_audit());
    out.push(ObjectDef {
        name: "VENDOR".into(),
        label: "Vendor".into(),
        plural: "Vendors".into(),
        id_field: Some("VENDORID".into()),
        fields: vendor,
        lines: None,
    });

    let mut customer = vec![
        FieldDef::new("CUSTOMERID", "Customer ID", Text).req(),
        FieldDef::new("NAME", "Customer name", Text).req(),
        FieldDef::new("ENTITY", "Entity", Text).ro(),
        FieldDef::new("PARENTKEY", "Parent key", Integer),
        FieldDef::new("PARENTID", "Parent ID", Text),
        FieldDef::new("PARENTNAME", "Parent name", Text).ro(),
        FieldDef::new("CUSTREPNAME", "Sales rep", Text),
        FieldDef::new("TOTALDUE", "Total due", Decimal).ro(),
        FieldDef::new("GLGRPKEY", "GL group key", Integer),
        FieldDef::new("GLGROUP", "GL group", Text),
        FieldDef::new("ONETIME", "One time", Boolean),
        FieldDef::new("ONHOLD", "On hold", Boolean),
        FieldDef::new("TERMNAME", "Terms", Text),
        FieldDef::new("CURRENCY", "Currency", Text),
        FieldDef::new("OBJECTRESTRICTION", "Restriction type", Enum).codes(&[
            ("Unrestricted", "Unrestricted"),
            ("RootOnly", "RootOnly"),
            ("Restricted", "Restricted"),
        ]),
        status_field(),
    ];
    customer.extend(contact_fields());
    customer.extend(common_audit());
    out.push(ObjectDef {
        name: "CUSTOMER".into(),
        label: "Customer".into(),
        plural: "Customers".into(),
        id_field: Some("CUSTOMERID".into()),
        fields: customer,
        lines: None,
    });

    let mut apbill = vec![
        FieldDef::new("RECORDID", "Bill number", Text),
        FieldDef::new("RECORD_URL", "Record URL", Text).ro(),
        FieldDef::new("STATE", "State", Enum).ro().codes(&[
            ("D", "Draft"),
            ("S", "Submitted"),
            ("PA", "Partially Approved"),
            ("A", "Posted"),
            ("U", "Declined"),
        ]),
        FieldDef::new("VENDORID", "Vendor ID", Text).req(),
        FieldDef::new("VENDORNAME", "Vendor name", Text).ro(),
        FieldDef::new("DOCNUMBER", "Reference number", Text),
        FieldDef::new("TERMNAME", "Terms", Text),
        FieldDef::new("WHENPOSTED", "GL posting date", Date),
        FieldDef::new("WHENDUE", "Due date", Date).req(),
        FieldDef::new("WHENPAID", "Date fully paid", Date).ro(),
        FieldDef::new("RECPAYMENTDATE", "Recommended payment date", Date),
        FieldDef::new("PAYMENTPRIORITY", "Payment priority", Text),
        FieldDef::new("TOTALENTERED", "Total transaction amount", Decimal).ro(),
        FieldDef::new("TOTALSELECTED", "Total selected", Decimal).ro(),
        FieldDef::new("TOTALPAID", "Total paid", Decimal).ro(),
        FieldDef::new("TOTALDUE", "Total due", Decimal).ro(),
        FieldDef::new("DESCRIPTION", "Description", Text),
        FieldDef::new("ONHOLD", "On hold", Boolean),
        FieldDef::new("BASECURR", "Base currency", Text),
        FieldDef::new("CURRENCY", "Currency", Text),
        FieldDef::new("DUE_IN_DAYS", "Due in days", Integer).ro(),
        FieldDef::new("PRBATCH", "Summary", Text),
        FieldDef::new("ACTION", "Action", Text),
    ];
    apbill.extend(common_audit());
    // The bill date is WHENCREATED and is writable and required for bills, unlike the
    // audit timestamp of other objects.
    if let Some(f) = apbill.iter_mut().find(|f| f.name == "WHENCREATED") {
        f.read_only = false;
        f.required = true;
        f.datatype = Date;
        f.label = "Bill date".into();
    }
    out.push(ObjectDef {
        name: "APBILL".into(),
        label: "AP Bill".into(),
        plural: "AP Bills".into(),
        id_field: None,
        fields: apbill,
        lines: Some(LineDef {
            collection: "APBILLITEMS".into(),
            element: "APBILLITEM".into(),
            fields: line_fields("LOCATIONID", "DEPARTMENTID"),
            location_field: "LOCATIONID".into(),
            department_field: "DEPARTMENTID".into(),
        }),
    });

    let mut arinvoice = vec![
        FieldDef::new("RECORDID", "Invoice number", Text),
        FieldDef::new("STATE", "State", Enum).ro().codes(&[
            ("D", "Draft"),
            ("A", "Posted"),
            ("P", "Paid"),
        ]),
        FieldDef::new("CUSTOMERID", "Customer ID", Text).req(),
        FieldDef::new("CUSTOMERNAME", "Customer name", Text).ro(),
        FieldDef::new("DOCNUMBER", "Reference number", Text),
        FieldDef::new("DESCRIPTION", "Description", Text),
        FieldDef::new("TERMNAME", "Terms", Text),
        FieldDef::new("WHENPOSTED", "GL posting date", Date),
        FieldDef::new("WHENDUE", "Due date", Date).req(),
        FieldDef::new("WHENPAID", "Date fully paid", Date).ro(),
        FieldDef::new("BASECURR", "Base currency", Text),
        FieldDef::new("CURRENCY", "Currency", Text),
        FieldDef::new("TOTALENTERED", "Total transaction amount", Decimal).ro(),
        FieldDef::new("TOTALPAID", "Total paid", Decimal).ro(),
        FieldDef::new("TOTALDUE", "Total due", Decimal).ro(),
        FieldDef::new("PRBATCH", "Summary", Text),
    ];
    arinvoice.extend(common_audit());
    if let Some(f) = arinvoice.iter_mut().find(|f| f.name == "WHENCREATED") {
        f.read_only = false;
        f.required = true;
        f.datatype = Date;
        f.label = "Invoice date".into();
    }
    out.push(ObjectDef {
        name: "ARINVOICE".into(),
        label: "AR Invoice".into(),
        plural: "AR Invoices".into(),
        id_field: None,
        fields: arinvoice,
        lines: Some(LineDef {
            collection: "ARINVOICEITEMS".into(),
            element: "ARINVOICEITEM".into(),
            fields: line_fields("LOCATIONID", "DEPARTMENTID"),
            location_field: "LOCATIONID".into(),
            department_field: "DEPARTMENTID".into(),
        }),
    });

    let mut glbatch = vec![
        FieldDef::new("JOURNAL", "Journal", Text).req(),
        FieldDef::new("BATCH_DATE", "Posting date", Date).req(),
        FieldDef::new("BATCH_TITLE", "Description", Text).req(),
        FieldDef::new("REVERSEDATE", "Reverse date", Date),
        FieldDef::new("TAXIMPLICATIONS", "Tax implications", Text),
        FieldDef::new("VATVENDORID", "VAT vendor", Text),
        FieldDef::new("VATCUSTOMERID", "VAT customer", Text),
        FieldDef::new("VATCONTACTID", "VAT contact", Text),
        FieldDef::new("REFERENCENO", "Reference number", Text),
        FieldDef::new("BASELOCATION_NO", "Source entity", Text),
        FieldDef::new("STATE", "State", Enum).codes(&[
            ("I", "Draft"),
            ("S", "Submitted"),
            ("X", "Partially Approved"),
            ("A", "Posted"),
        ]),
        FieldDef::new("TAXSOLUTIONID", "Tax solution", Text),
        FieldDef::new("HISTORY_COMMENT", "History comment", Text),
    ];
    glbatch.extend(common_audit());
    let mut glentry = line_fields("LOCATION", "DEPARTMENT");
    glentry.retain(|f| f.name != "ENTRYDESCRIPTION");
    glentry.insert(
        2,
        FieldDef::new("TR_TYPE", "Debit or credit", Integer).req(),
    );
    glentry.push(FieldDef::new("DESCRIPTION", "Memo", Text));
    out.push(ObjectDef {
        name: "GLBATCH".into(),
        label: "Journal Entry".into(),
        plural: "Journal Entries".into(),
        id_field: None,
        fields: glbatch,
        lines: Some(LineDef {
            collection: "ENTRIES".into(),
            element: "GLENTRY".into(),
            fields: glentry,
            location_field: "LOCATION".into(),
            department_field: "DEPARTMENT".into(),
        }),
    });

    for (name, label, id, namefield) in [
        ("LOCATION", "Location", "LOCATIONID", "NAME"),
        ("DEPARTMENT", "Department", "DEPARTMENTID", "TITLE"),
        ("PROJECT", "Project", "PROJECTID", "NAME"),
        ("CLASS", "Class", "CLASSID", "NAME"),
        ("LOCATIONENTITY", "Entity", "LOCATIONID", "NAME"),
    ] {
        let mut f = vec![
            FieldDef::new(id, &format!("{label} ID"), Text).req(),
            FieldDef::new(namefield, "Name", Text).req(),
            FieldDef::new("PARENTID", "Parent", Text),
            status_field(),
        ];
        f.extend(common_audit());
        out.push(ObjectDef {
            name: name.into(),
            label: label.into(),
            plural: format!("{label}s"),
            id_field: Some(id.into()),
            fields: f,
            lines: None,
        });
    }
    out
}

/// A user-defined dimension's own Platform object, with lowercase fields as Intacct has them.
pub fn udd_object(integration_name: &str, label: &str) -> ObjectDef {
    use DataType::*;
    let mut id = FieldDef::new("id", "ID", Integer);
    id.read_only = true;
    ObjectDef {
        name: integration_name.to_string(),
        label: label.to_string(),
        plural: format!("{label}s"),
        id_field: Some("name".into()),
        fields: vec![
            FieldDef::new("RECORDNO", "Record number", Integer).ro(),
            id,
            FieldDef::new("name", "Name", Text).req(),
            FieldDef::new("WHENMODIFIED", "Updated at", Timestamp).ro(),
        ],
        lines: None,
    }
}

/// The line field that carries a user-defined dimension.
pub fn udd_field(integration_name: &str, label: &str) -> FieldDef {
    let mut f = FieldDef::new(
        &format!("GLDIM{}", integration_name.to_ascii_uppercase()),
        label,
        DataType::Text,
    );
    f.is_custom = true;
    f.dimension = Some(integration_name.to_string());
    f
}
