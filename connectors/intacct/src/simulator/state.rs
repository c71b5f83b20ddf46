//! Per-company simulator state (object definitions with the company's dimensions and
//! requirements, records, completed function ids), sessions, result sets and rate buckets.

use super::config::{CompanyConfig, SimConfig};
use super::objects::{self, ObjectDef};
use crate::protocol::FnResult;
use chrono::{DateTime, Duration, Utc};
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub recordno: u64,
    pub fields: BTreeMap<String, String>,
    pub lines: Vec<BTreeMap<String, String>>,
    /// The owning entity (MEGAENTITYID); `None` for the top level.
    pub entity: Option<String>,
}

/// A token bucket on real time: the gateway's rate limit does not follow the test clock.
#[derive(Debug)]
pub struct Bucket {
    pub rate: f64,
    pub capacity: f64,
    pub tokens: f64,
    pub last: std::time::Instant,
}

impl Bucket {
    pub fn new(rate: f64, capacity: f64) -> Bucket {
        Bucket {
            rate,
            capacity,
            tokens: capacity,
            last: std::time::Instant::now(),
        }
    }
    pub fn try_take(&mut self) -> bool {
        let now = std::time::Instant::now();
        let dt = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.rate).min(self.capacity);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

pub struct Company {
    pub cfg: CompanyConfig,
    pub objects: BTreeMap<String, ObjectDef>,
    pub records: BTreeMap<String, BTreeMap<u64, Record>>,
    pub next_recordno: u64,
    /// Results of functions that completed, by function controlid, for uniqueid=true.
    pub completed: HashMap<String, FnResult>,
    pub bucket: Option<Bucket>,
    pub in_flight: usize,
}

pub struct Session {
    pub company: String,
    pub user: String,
    pub entity: Option<String>,
    pub sender: String,
    pub expires: DateTime<Utc>,
    pub duration: Duration,
}

pub struct ResultSet {
    pub owner: String,
    pub object: String,
    pub rows: Vec<crate::xml::Element>,
    pub pos: usize,
    pub pagesize: usize,
    pub expires: DateTime<Utc>,
}

pub struct State {
    pub cfg: SimConfig,
    pub companies: BTreeMap<String, Company>,
    pub sessions: HashMap<String, Session>,
    pub results: HashMap<String, ResultSet>,
    pub counter: u64,
}

/// Intacct's record timestamp form.
pub fn fmt_ts(t: DateTime<Utc>) -> String {
    t.format("%m/%d/%Y %H:%M:%S").to_string()
}

pub fn fmt_date(t: DateTime<Utc>) -> String {
    t.format("%m/%d/%Y").to_string()
}

impl Company {
    pub fn new(cfg: CompanyConfig, now: DateTime<Utc>) -> Result<Company, String> {
        let mut objects: BTreeMap<String, ObjectDef> = objects::standard_objects()
            .into_iter()
            .map(|o| (o.name.clone(), o))
            .collect();
        // User-defined dimensions become their own objects and a GLDIM field on every line.
        for u in &cfg.udds {
            objects.insert(u.name.clone(), objects::udd_object(&u.name, &u.label));
            for o in objects.values_mut() {
                if let Some(l) = &mut o.lines {
                    l.fields.push(objects::udd_field(&u.name, &u.label));
                }
            }
        }
        for (obj, fields) in &cfg.required {
            let def = objects.get_mut(obj).ok_or_else(|| {
                format!(
                    "intacct scenario: company {} requires fields on unknown object {obj}",
                    cfg.id
                )
            })?;
            for f in fields {
                set_required(def, f, true)
                    .map_err(|e| format!("intacct scenario: company {}: {e}", cfg.id))?;
            }
        }
        let bucket = cfg
            .tier_rps
            .map(|r| Bucket::new(r, cfg.burst.unwrap_or(r).max(1.0)));
        let mut c = Company {
            cfg,
            objects,
            records: BTreeMap::new(),
            next_recordno: 1,
            completed: HashMap::new(),
            bucket,
            in_flight: 0,
        };
        c.seed(now);
        Ok(c)
    }

    pub fn alloc_recordno(&mut self) -> u64 {
        let n = self.next_recordno;
        self.next_recordno += 1;
        n
    }

    pub fn insert(&mut self, object: &str, mut rec: Record) {
        rec.fields
            .insert("RECORDNO".into(), rec.recordno.to_string());
        if let Some(e) = &rec.entity {
            rec.fields.insert("MEGAENTITYID".into(), e.clone());
            let name = self
                .cfg
                .entities
                .iter()
                .find(|x| &x.id == e)
                .map(|x| x.name.clone())
                .unwrap_or_default();
            rec.fields.insert("MEGAENTITYNAME".into(), name);
        }
        self.records
            .entry(object.to_string())
            .or_default()
            .insert(rec.recordno, rec);
    }

    /// Deterministic seed data: the same scenario always yields the same records.
    fn seed(&mut self, now: DateTime<Utc>) {
        let entities: Vec<String> = self.cfg.entities.iter().map(|e| e.id.clone()).collect();
        let ent = |i: usize| -> Option<String> {
            if entities.is_empty() {
                None
            } else {
                // Every third record lives at the top level; the rest rotate over entities.
                if i.is_multiple_of(3) {
                    None
                } else {
                    Some(entities[i % entities.len()].clone())
                }
            }
        };
        let line_entity = |i: usize| -> String {
            if entities.is_empty() {
                "100".to_string()
            } else {
                entities[i % entities.len()].clone()
            }
        };
        // Locations: entities are locations of type entity; a plain location for standalone.
        let mut locs: Vec<(String, String)> = self
            .cfg
            .entities
            .iter()
            .map(|e| (e.id.clone(), e.name.clone()))
            .collect();
        if locs.is_empty() {
            locs.push(("100".into(), "Headquarters".into()));
        }
        for (id, name) in &locs {
            let n = self.alloc_recordno();
            let mut f = BTreeMap::new();
            f.insert("LOCATIONID".into(), id.clone());
            f.insert("NAME".into(), name.clone());
            f.insert("STATUS".into(), "active".into());
            f.insert("WHENMODIFIED".into(), fmt_ts(now - Duration::days(400)));
            self.insert(
                "LOCATION",
                Record {
                    recordno: n,
                    fields: f.clone(),
                    lines: vec![],
                    entity: None,
                },
            );
            if !self.cfg.entities.is_empty() {
                let n = self.alloc_recordno();
                self.insert(
                    "LOCATIONENTITY",
                    Record {
                        recordno: n,
                        fields: f,
                        lines: vec![],
                        entity: None,
                    },
                );
            }
        }
        for (i, d) in ["ADMIN", "OPS", "SALES"].iter().enumerate() {
            let n = self.alloc_recordno();
            let mut f = BTreeMap::new();
            f.insert("DEPARTMENTID".into(), d.to_string());
            f.insert("TITLE".into(), format!("Department {}", i + 1));
            f.insert("STATUS".into(), "active".into());
            f.insert("WHENMODIFIED".into(), fmt_ts(now - Duration::days(400)));
            self.insert(
                "DEPARTMENT",
                Record {
                    recordno: n,
                    fields: f,
                    lines: vec![],
                    entity: None,
                },
            );
        }
        let udds = self.cfg.udds.clone();
        for u in &udds {
            for (i, v) in u.values.iter().enumerate() {
                let n = self.alloc_recordno();
                let mut f = BTreeMap::new();
                f.insert("id".into(), (i + 1).to_string());
                f.insert("name".into(), v.clone());
                f.insert("WHENMODIFIED".into(), fmt_ts(now - Duration::days(300)));
                self.insert(
                    &u.name,
                    Record {
                        recordno: n,
                        fields: f,
                        lines: vec![],
                        entity: None,
                    },
                );
            }
        }
        let seed = self.cfg.seed.clone();
        let count = |o: &str| seed.get(o).copied().unwrap_or(0);
        // Modification times spread over the last days, one record a few minutes apart, so
        // incremental reads have a real ordering to follow.
        let ts = |i: usize, total: usize| fmt_ts(now - Duration::minutes(7 * (total - i) as i64));
        let nv = count("VENDOR");
        for i in 0..nv {
            let n = self.alloc_recordno();
            let mut f = BTreeMap::new();
            f.insert("VENDORID".into(), format!("V{:05}", i + 1));
            f.insert("NAME".into(), format!("Vendor {} Supply", i + 1));
            f.insert(
                "STATUS".into(),
                if i % 10 == 9 { "inactive" } else { "active" }.into(),
            );
            f.insert(
                "DISPLAYCONTACT.PRINTAS".into(),
                format!("Vendor {} Supply", i + 1),
            );
            f.insert(
                "DISPLAYCONTACT.EMAIL1".into(),
                format!("ap{}@vendor.example", i + 1),
            );
            f.insert(
                "VENDTYPE".into(),
                if i % 2 == 0 {
                    "Supplier"
                } else {
                    "Subcontractor"
                }
                .into(),
            );
            f.insert("TERMNAME".into(), "Net 30".into());
            f.insert("WHENCREATED".into(), ts(i, nv));
            f.insert("WHENMODIFIED".into(), ts(i, nv));
            self.insert(
                "VENDOR",
                Record {
                    recordno: n,
                    fields: f,
                    lines: vec![],
                    entity: ent(i),
                },
            );
        }
        let nc = count("CUSTOMER");
        for i in 0..nc {
            let n = self.alloc_recordno();
            let mut f = BTreeMap::new();
            f.insert("CUSTOMERID".into(), format!("C{:05}", i + 1));
            f.insert("NAME".into(), format!("Customer {} Inc", i + 1));
            f.insert("STATUS".into(), "active".into());
            f.insert(
                "DISPLAYCONTACT.PRINTAS".into(),
                format!("Customer {} Inc", i + 1),
            );
            f.insert("WHENCREATED".into(), ts(i, nc));
            f.insert("WHENMODIFIED".into(), ts(i, nc));
            self.insert(
                "CUSTOMER",
                Record {
                    recordno: n,
                    fields: f,
                    lines: vec![],
                    entity: ent(i),
                },
            );
        }
        let udd_defaults: Vec<(String, String)> = udds
            .iter()
            .filter_map(|u| {
                u.values
                    .first()
                    .map(|v| (format!("GLDIM{}", u.name.to_ascii_uppercase()), v.clone()))
            })
            .collect();
        for (obj, party_field, party_prefix, parties) in [
            ("APBILL", "VENDORID", "V", nv),
            ("ARINVOICE", "CUSTOMERID", "C", nc),
        ] {
            let total = count(obj);
            for i in 0..total {
                let n = self.alloc_recordno();
                let mut f = BTreeMap::new();
                f.insert(
                    party_field.into(),
                    format!("{party_prefix}{:05}", (i % parties.max(1)) + 1),
                );
                f.insert("RECORDID".into(), format!("{}-{:05}", &obj[..2], i + 1));
                f.insert(
                    "STATE".into(),
                    if i % 4 == 0 { "Draft" } else { "Posted" }.into(),
                );
                f.insert("WHENCREATED".into(), fmt_date(now - Duration::days(30)));
                f.insert("WHENDUE".into(), fmt_date(now));
                f.insert("CURRENCY".into(), "USD".into());
                f.insert("WHENMODIFIED".into(), ts(i, total));
                let mut lines = Vec::new();
                for l in 0..2 {
                    let mut lf = BTreeMap::new();
                    lf.insert("LINE_NO".into(), (l + 1).to_string());
                    lf.insert(
                        "ACCOUNTNO".into(),
                        if obj == "APBILL" { "6000" } else { "4000" }.into(),
                    );
                    lf.insert("TRX_AMOUNT".into(), format!("{}.00", 100 + 10 * i + l));
                    lf.insert("LOCATIONID".into(), line_entity(i));
                    for (k, v) in &udd_defaults {
                        lf.insert(k.clone(), v.clone());
                    }
                    lines.push(lf);
                }
                let total_amt: f64 = lines
                    .iter()
                    .filter_map(|l| l.get("TRX_AMOUNT").and_then(|v| v.parse::<f64>().ok()))
                    .sum();
                f.insert("TOTALENTERED".into(), format!("{total_amt:.2}"));
                f.insert("TOTALDUE".into(), format!("{total_amt:.2}"));
                self.insert(
                    obj,
                    Record {
                        recordno: n,
                        fields: f,
                        lines,
                        entity: ent(i),
                    },
                );
            }
        }
        let ng = count("GLBATCH");
        for i in 0..ng {
            let n = self.alloc_recordno();
            let mut f = BTreeMap::new();
            f.insert("JOURNAL".into(), "GJ".into());
            f.insert("BATCH_DATE".into(), fmt_date(now - Duration::days(5)));
            f.insert("BATCH_TITLE".into(), format!("Accrual {}", i + 1));
            f.insert("STATE".into(), "Posted".into());
            f.insert("WHENMODIFIED".into(), ts(i, ng));
            let mut lines = Vec::new();
            for (acct, tr) in [("6500", "1"), ("2080", "-1")] {
                let mut lf = BTreeMap::new();
                lf.insert("ACCOUNTNO".into(), acct.into());
                lf.insert("TR_TYPE".into(), tr.into());
                lf.insert("TRX_AMOUNT".into(), "250.00".into());
                lf.insert("LOCATION".into(), line_entity(i));
                lines.push(lf);
            }
            self.insert(
                "GLBATCH",
                Record {
                    recordno: n,
                    fields: f,
                    lines,
                    entity: ent(i),
                },
            );
        }
    }
}

/// Marks a header or line field required (or optional) on an object.
pub fn set_required(def: &mut ObjectDef, field: &str, required: bool) -> Result<(), String> {
    if let Some(f) = def.fields.iter_mut().find(|f| f.name == field) {
        f.required = required;
        return Ok(());
    }
    if let Some(l) = &mut def.lines {
        if let Some(f) = l.fields.iter_mut().find(|f| f.name == field) {
            f.required = required;
            return Ok(());
        }
    }
    Err(format!("object {} has no field {field}", def.name))
}

impl State {
    pub fn new(cfg: SimConfig, now: DateTime<Utc>) -> Result<State, String> {
        cfg.validate()?;
        let mut companies = BTreeMap::new();
        for c in &cfg.companies {
            companies.insert(c.id.clone(), Company::new(c.clone(), now)?);
        }
        Ok(State {
            cfg,
            companies,
            sessions: HashMap::new(),
            results: HashMap::new(),
            counter: 0,
        })
    }

    /// An opaque id in the style of real session ids (which often end in "..").
    pub fn new_id(&mut self, prefix: &str) -> String {
        self.counter += 1;
        let r: u64 = rand::random();
        format!("{prefix}{:08x}{r:016x}..", self.counter)
    }
}
