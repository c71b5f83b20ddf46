//! Browser-safe vocabulary shared by every Switchyard crate: identifiers, ERP kinds,
//! environments, staff roles and the closed list of error codes.
//!
//! Nothing here performs IO, so the crate compiles for the server and for wasm alike.

use serde::{Deserialize, Serialize};
use std::fmt;

pub mod catalog;
pub mod error_code;
pub mod record;
pub mod schema;
pub mod views;
pub use error_code::{ErrorClass, ErrorCode};
pub use record::NormalizedRecord;
pub use schema::{FieldSchema, FieldType, ObjectSchema, Origin, Schema, SchemaDiff};

/// The ERPs Switchyard speaks natively. The string form is the stable key used in
/// URLs, the database and the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum ErpKind {
    Netsuite,
    SapB1,
    Intacct,
}

impl ErpKind {
    pub const ALL: [ErpKind; 3] = [ErpKind::Netsuite, ErpKind::SapB1, ErpKind::Intacct];

    pub fn key(self) -> &'static str {
        match self {
            ErpKind::Netsuite => "netsuite",
            ErpKind::SapB1 => "sap_b1",
            ErpKind::Intacct => "intacct",
        }
    }

    pub fn display_name(self) -> &'static str {
        match self {
            ErpKind::Netsuite => "Oracle NetSuite",
            ErpKind::SapB1 => "SAP Business One",
            ErpKind::Intacct => "Sage Intacct",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.key() == s)
    }
}

impl fmt::Display for ErpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// Whether a connection points at a customer's sandbox or its production system.
/// Each is its own connection: a sandbox is never a flag on a production connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    Sandbox,
    Production,
}

impl Environment {
    pub fn key(self) -> &'static str {
        match self {
            Environment::Sandbox => "sandbox",
            Environment::Production => "production",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "sandbox" => Some(Environment::Sandbox),
            "production" => Some(Environment::Production),
            _ => None,
        }
    }
}

/// Staff roles. Admins manage staff and everything support can do; support staff see
/// every tenant and fix mappings and connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Support,
}

impl Role {
    pub fn key(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Support => "support",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Role::Admin),
            "support" => Some(Role::Support),
            _ => None,
        }
    }
}

/// Connection lifecycle as staff and the tenant see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    /// Credentials stored, never checked.
    Pending,
    /// The last check or sync succeeded.
    Active,
    /// The ERP refused the credentials (revoked token, changed password): the tenant
    /// must reconnect. Only this connection stops.
    NeedsReauth,
    /// Switched off by staff.
    Disabled,
}

impl ConnectionStatus {
    pub fn key(self) -> &'static str {
        match self {
            ConnectionStatus::Pending => "pending",
            ConnectionStatus::Active => "active",
            ConnectionStatus::NeedsReauth => "needs_reauth",
            ConnectionStatus::Disabled => "disabled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(ConnectionStatus::Pending),
            "active" => Some(ConnectionStatus::Active),
            "needs_reauth" => Some(ConnectionStatus::NeedsReauth),
            "disabled" => Some(ConnectionStatus::Disabled),
            _ => None,
        }
    }
}

macro_rules! string_id {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }
    };
}

string_id!(
    /// A tenant: one customer of the product, owning its connections and mappings.
    TenantId
);
string_id!(
    /// One ERP connection of a tenant (one account, company database or company).
    ConnectionId
);
string_id!(
    /// A record's id inside the ERP.
    ExternalId
);

/// Who is making a request. Staff see every tenant; the holder of an onboarding link
/// sees exactly one tenant's onboarding pages and nothing else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Principal {
    Staff {
        user_id: String,
        email: String,
        name: String,
        role: Role,
    },
    LinkHolder {
        tenant_id: TenantId,
        link_id: String,
    },
}

impl Principal {
    /// May this principal see and change the given tenant's data?
    pub fn may_access_tenant(&self, tenant: &TenantId) -> bool {
        match self {
            Principal::Staff { .. } => true,
            Principal::LinkHolder { tenant_id, .. } => tenant_id == tenant,
        }
    }

    pub fn is_staff(&self) -> bool {
        matches!(self, Principal::Staff { .. })
    }

    pub fn is_admin(&self) -> bool {
        matches!(
            self,
            Principal::Staff {
                role: Role::Admin,
                ..
            }
        )
    }

    /// The id written into the audit log.
    pub fn actor(&self) -> (&'static str, String) {
        match self {
            Principal::Staff { user_id, .. } => ("staff", user_id.clone()),
            Principal::LinkHolder { link_id, .. } => ("link", link_id.clone()),
        }
    }
}

/// Formats epoch milliseconds as `YYYY-MM-DD HH:MM UTC`, identically on server and browser
/// (no time-zone database, so server rendering and hydration agree).
pub fn format_utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (proleptic Gregorian), after Howard Hinnant's algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formatting_matches_known_instants() {
        assert_eq!(format_utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_utc(1_508_242_306_000), "2017-10-17 12:11 UTC");
        assert_eq!(format_utc(951_782_400_000), "2000-02-29 00:00 UTC");
    }

    #[test]
    fn link_holders_see_only_their_tenant() {
        let p = Principal::LinkHolder {
            tenant_id: TenantId("a".into()),
            link_id: "l".into(),
        };
        assert!(p.may_access_tenant(&TenantId("a".into())));
        assert!(!p.may_access_tenant(&TenantId("b".into())));
        assert!(!p.is_staff());
    }
}
