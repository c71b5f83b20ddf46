//! Renders the `$metadata` EDMX document of one company database: EDMX 1.0 / OData V3 for
//! `/b1s/v1` and EDMX 4.0 / OData V4 for `/b1s/v2`, with the company's UDFs declared as
//! `U_` properties, so the document differs from one company database to the next.

use super::model::{enum_members, EntityDef, PropType, ENUM_TYPES};

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub fn render(defs: &[EntityDef], v2: bool) -> String {
    let mut x = String::new();
    x.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    if v2 {
        x.push_str("<edmx:Edmx Version=\"4.0\" xmlns:edmx=\"http://docs.oasis-open.org/odata/ns/edmx\">\n<edmx:DataServices>\n<Schema Namespace=\"SAPB1\" xmlns=\"http://docs.oasis-open.org/odata/ns/edm\">\n");
    } else {
        x.push_str("<edmx:Edmx Version=\"1.0\" xmlns:edmx=\"http://schemas.microsoft.com/ado/2007/06/edmx\">\n<edmx:DataServices m:DataServiceVersion=\"3.0\" xmlns:m=\"http://schemas.microsoft.com/ado/2007/08/dataservices/metadata\">\n<Schema Namespace=\"SAPB1\" xmlns=\"http://schemas.microsoft.com/ado/2009/11/edm\">\n");
    }
    for e in ENUM_TYPES {
        x.push_str(&format!("<EnumType Name=\"{e}\">\n"));
        for (i, (name, code)) in enum_members(e).iter().enumerate() {
            if v2 {
                x.push_str(&format!(
                    "<Member Name=\"{name}\" Value=\"{i}\"><Annotation Term=\"SAPB1.ValidValue\" String=\"{}\"/></Member>\n",
                    esc(code)
                ));
            } else {
                x.push_str(&format!(
                    "<Member Name=\"{name}\" Value=\"{}\"/>\n",
                    esc(code)
                ));
            }
        }
        x.push_str("</EnumType>\n");
    }
    let mut seen_types = std::collections::BTreeSet::new();
    for d in defs {
        let type_name = d.type_name.clone();
        if !seen_types.insert(type_name.clone()) {
            continue;
        }
        x.push_str(&format!(
            "<EntityType Name=\"{}\" OpenType=\"true\">\n<Key><PropertyRef Name=\"{}\"/></Key>\n",
            esc(&type_name),
            esc(&d.key)
        ));
        for p in &d.props {
            let ty = match (&p.ty, &d.lines_prop) {
                (PropType::Collection, Some(lp)) if *lp == p.name => {
                    format!("Collection(SAPB1.{}Line)", d.type_name)
                }
                (PropType::Collection, _) => "Collection(Edm.String)".to_string(),
                (t, _) => t.edm(v2),
            };
            let nullable = if p.name == d.key {
                " Nullable=\"false\""
            } else {
                ""
            };
            x.push_str(&format!(
                "<Property Name=\"{}\" Type=\"{}\"{nullable}/>\n",
                esc(&p.name),
                esc(&ty)
            ));
        }
        x.push_str("</EntityType>\n");
        if !d.line_props.is_empty() {
            x.push_str(&format!(
                "<ComplexType Name=\"{}Line\">\n",
                esc(&d.type_name)
            ));
            for p in &d.line_props {
                x.push_str(&format!(
                    "<Property Name=\"{}\" Type=\"{}\"/>\n",
                    esc(&p.name),
                    esc(&p.ty.edm(v2))
                ));
            }
            x.push_str("</ComplexType>\n");
        }
    }
    if v2 {
        x.push_str("<Action Name=\"Login\"><Parameter Name=\"CompanyDB\" Type=\"Edm.String\"/><Parameter Name=\"UserName\" Type=\"Edm.String\"/><Parameter Name=\"Password\" Type=\"Edm.String\"/><Parameter Name=\"Language\" Type=\"Edm.String\"/><ReturnType Type=\"SAPB1.B1Session\"/></Action>\n");
    }
    x.push_str("<EntityContainer Name=\"ServiceLayer\">\n");
    if !v2 {
        x.push_str("<FunctionImport Name=\"Login\" ReturnType=\"SAPB1.B1Session\"><Parameter Name=\"CompanyDB\" Type=\"Edm.String\"/><Parameter Name=\"UserName\" Type=\"Edm.String\"/><Parameter Name=\"Password\" Type=\"Edm.String\"/><Parameter Name=\"Language\" Type=\"Edm.String\"/></FunctionImport>\n");
    }
    for d in defs {
        let type_name = d.type_name.clone();
        if v2 {
            x.push_str(&format!(
                "<EntitySet Name=\"{}\" EntityType=\"SAPB1.{}\"/>\n",
                esc(&d.set),
                esc(&type_name)
            ));
        } else {
            x.push_str(&format!(
                "<EntitySet Name=\"{}\" EntityType=\"SAPB1.{}\" ServiceCode=\"{}\" TableName=\"{}\"/>\n",
                esc(&d.set), esc(&type_name), esc(&d.object_code), esc(&d.table)
            ));
        }
    }
    x.push_str("</EntityContainer>\n</Schema>\n</edmx:DataServices>\n</edmx:Edmx>\n");
    x
}
