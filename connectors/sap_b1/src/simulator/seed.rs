//! Deterministic seed data for one company database at any size: business partners,
//! items, documents and journal entries, with UDF values and many records sharing one
//! UpdateDate/UpdateTime second so incremental readers meet real page-boundary ties.

use super::config::SeedConfig;
use super::model::{related_tables, PropType};
use super::store::{Company, Key, Row};
use chrono::{Duration, NaiveDateTime};
use serde_json::{json, Value};

fn start_of(seed: &SeedConfig) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(&seed.start, "%Y-%m-%dT%H:%M:%S").unwrap_or_else(|_| {
        NaiveDateTime::parse_from_str("2024-05-01T08:00:00", "%Y-%m-%dT%H:%M:%S")
            .expect("constant timestamp parses")
    })
}

/// A seeded value for a UDF, deterministic in the row index.
fn udf_value(c: &Company, table: &str, name: &str, i: usize) -> Option<Value> {
    let u = c
        .udfs
        .iter()
        .find(|u| u.name == name && related_tables(&u.table).iter().any(|t| t == table))?;
    if !u.valid_values.is_empty() {
        return Some(json!(u.valid_values[i % u.valid_values.len()].0));
    }
    Some(match u.prop_type() {
        PropType::Int => json!((i % 9) as i64 + 100),
        PropType::Double => json!((i % 13) as f64 * 1.5),
        PropType::Date => json!(format!("2024-01-{:02}", i % 28 + 1)),
        _ => {
            let s = format!("P{:04}", i % 37);
            json!(s.chars().take(u.size as usize).collect::<String>())
        }
    })
}

fn add_udfs(c: &Company, table: &str, row: &mut Row, i: usize) {
    let names: Vec<String> = c
        .udfs
        .iter()
        .filter(|u| related_tables(&u.table).iter().any(|t| t == table))
        .map(|u| u.name.clone())
        .collect();
    for n in names {
        if let Some(v) = udf_value(c, table, &n, i) {
            row.insert(format!("U_{n}"), v);
        }
    }
}

fn stamp_of(start: NaiveDateTime, per_second: usize, i: usize) -> (String, String) {
    let t = start + Duration::seconds((i / per_second.max(1)) as i64);
    (
        t.date().format("%Y-%m-%d").to_string(),
        t.format("%H:%M:%S").to_string(),
    )
}

pub fn seed(c: &mut Company, s: &SeedConfig) {
    let start = start_of(s);
    let company_tag: String = c.name.chars().rev().take(2).collect();
    for i in 0..s.business_partners {
        let code = format!("C{:05}", i + 1);
        let (d, t) = stamp_of(start, s.per_second, i);
        let mut row: Row = json!({
            "CardCode": code, "CardName": format!("Customer {} {}", i + 1, company_tag),
            "CardType": if i % 5 == 4 {"cSupplier"} else {"cCustomer"}, "Currency": "USD",
            "Phone1": format!("555-{:04}", i), "EmailAddress": format!("c{}@example.com", i + 1),
            "Valid": "tYES", "CreateDate": d, "UpdateDate": d, "UpdateTime": t,
        })
        .as_object()
        .cloned()
        .unwrap_or_default();
        add_udfs(c, "OCRD", &mut row, i);
        c.put("BusinessPartners", Key::Str(code), Some(row));
    }
    for i in 0..s.items {
        let code = format!("A{:05}", i + 1);
        let (d, t) = stamp_of(start, s.per_second, i);
        let mut row: Row = json!({
            "ItemCode": code, "ItemName": format!("Item {}", i + 1), "ItemType": "itItems",
            "InventoryItem": "tYES", "SalesItem": "tYES", "PurchaseItem": if i % 3 == 0 {"tNO"} else {"tYES"},
            "QuantityOnStock": (i * 7 % 100) as f64, "CreateDate": d, "UpdateDate": d, "UpdateTime": t,
        })
        .as_object()
        .cloned()
        .unwrap_or_default();
        add_udfs(c, "OITM", &mut row, i);
        c.put("Items", Key::Str(code), Some(row));
    }
    let bps = s.business_partners.max(1);
    let items = s.items.max(1);
    for (set, n, table, line_table) in [
        ("Orders", s.orders, "ORDR", "RDR1"),
        ("Invoices", s.invoices, "OINV", "INV1"),
        ("PurchaseOrders", s.purchase_orders, "OPOR", "POR1"),
    ] {
        for i in 0..n {
            let entry = c.next_id(set);
            let (d, t) = stamp_of(start, s.per_second, i);
            let qty = (i % 4 + 1) as f64;
            let price = 10.0 + (i % 17) as f64;
            let mut line: Row = json!({
                "LineNum": 0, "ItemCode": format!("A{:05}", i % items + 1), "Quantity": qty,
                "UnitPrice": price, "Price": price, "LineTotal": qty * price, "TaxCode": "T1",
                "WarehouseCode": "01", "LineStatus": "bost_Open",
            })
            .as_object()
            .cloned()
            .unwrap_or_default();
            add_udfs(c, line_table, &mut line, i);
            let bo = match set {
                "Orders" => "oOrders",
                "Invoices" => "oInvoices",
                _ => "oPurchaseOrders",
            };
            let mut row: Row = json!({
                "DocEntry": entry, "DocNum": entry, "DocType": "dDocument_Items", "DocDate": d,
                "DocDueDate": d, "CardCode": format!("C{:05}", i % bps + 1),
                "CardName": format!("Customer {} {}", i % bps + 1, company_tag),
                "NumAtCard": format!("SEED-{set}-{entry}"), "DocTotal": qty * price, "DocCurrency": "USD",
                "Comments": Value::Null, "Series": 1, "DocObjectCode": bo, "CreationDate": d,
                "UpdateDate": d, "UpdateTime": t, "DocumentStatus": if i % 6 == 5 {"bost_Close"} else {"bost_Open"},
                "Cancelled": "tNO", "AuthorizationStatus": "dasWithout", "DocumentLines": [Value::Object(line)],
            })
            .as_object()
            .cloned()
            .unwrap_or_default();
            add_udfs(c, table, &mut row, i);
            c.put(set, Key::Int(entry), Some(row));
        }
    }
    for i in 0..s.journal_entries {
        let n = c.next_id("JournalEntries");
        let (d, _) = stamp_of(start, s.per_second, i);
        let amount = 100.0 + i as f64;
        let row: Row = json!({
            "JdtNum": n, "ReferenceDate": d, "DueDate": d, "Memo": format!("Seed entry {n}"),
            "Reference": format!("JE-{n}"),
            "JournalEntryLines": [
                {"Line_ID": 0, "AccountCode": "_SYS00000000001", "Debit": amount, "Credit": 0.0, "LineMemo": ""},
                {"Line_ID": 1, "AccountCode": "_SYS00000000002", "Debit": 0.0, "Credit": amount, "LineMemo": ""},
            ],
        })
        .as_object()
        .cloned()
        .unwrap_or_default();
        c.put("JournalEntries", Key::Int(n), Some(row));
    }
}
