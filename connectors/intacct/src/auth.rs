//! Intacct's two credential layers (one Web Services sender for the deployment, one company
//! user per tenant) and the session value kept in the pool, all redacted in Debug.

use connector_core::{ConnectionConfig, ConnectorError, ExposeSecret, SecretString};
use std::sync::OnceLock;

/// The partner (Web Services) credentials: they identify Switchyard, not a tenant.
#[derive(Clone)]
pub struct SenderCredentials {
    pub sender_id: String,
    pub password: SecretString,
}

impl std::fmt::Debug for SenderCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SenderCredentials({}, [redacted])", self.sender_id)
    }
}

/// A company user of one tenant.
#[derive(Clone)]
pub struct UserCredentials {
    pub company_id: String,
    pub user_id: String,
    pub password: SecretString,
}

impl std::fmt::Debug for UserCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "UserCredentials({}@{}, [redacted])",
            self.user_id, self.company_id
        )
    }
}

static DEPLOYMENT_SENDER: OnceLock<SenderCredentials> = OnceLock::new();

/// Sets the deployment's sender once at startup (from the server's secret configuration).
/// Tenant credentials may still carry their own sender (partner programmes, tests).
pub fn set_deployment_sender(sender: SenderCredentials) -> bool {
    DEPLOYMENT_SENDER.set(sender).is_ok()
}

fn deployment_sender() -> Option<SenderCredentials> {
    if let Some(s) = DEPLOYMENT_SENDER.get() {
        return Some(s.clone());
    }
    let id = std::env::var("INTACCT_SENDER_ID").ok()?;
    let pw = std::env::var("INTACCT_SENDER_PASSWORD").ok()?;
    Some(SenderCredentials {
        sender_id: id,
        password: SecretString::from(pw),
    })
}

/// Reads both layers from a connection config; errors name the missing field only.
pub fn credentials(
    config: &ConnectionConfig,
) -> Result<(SenderCredentials, UserCredentials), ConnectorError> {
    let c = &config.credentials;
    let sender = match (c.expose("sender_id"), c.expose("sender_password")) {
        (Some(id), Some(pw)) if !id.is_empty() => SenderCredentials {
            sender_id: id.to_string(),
            password: SecretString::from(pw.to_string()),
        },
        _ => deployment_sender().ok_or_else(|| {
            ConnectorError::invalid_input(
                "no Intacct sender: set the deployment sender (INTACCT_SENDER_ID/INTACCT_SENDER_PASSWORD) or give sender_id and sender_password",
            )
        })?,
    };
    let user = UserCredentials {
        company_id: c.require("company_id")?.to_string(),
        user_id: c.require("user_id")?.to_string(),
        password: SecretString::from(c.require("user_password")?.to_string()),
    };
    Ok((sender, user))
}

/// A session from getAPISession: its id, the endpoint it must be used with, and the entity.
#[derive(Clone)]
pub struct IntacctSession {
    pub id: SecretString,
    pub endpoint: url::Url,
    pub entity: Option<String>,
}

impl std::fmt::Debug for IntacctSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntacctSession")
            .field("id", &"[redacted]")
            .field("endpoint", &self.endpoint.as_str())
            .field("entity", &self.entity)
            .finish()
    }
}

impl IntacctSession {
    pub fn id(&self) -> &str {
        self.id.expose_secret()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_secrets() {
        let s = SenderCredentials {
            sender_id: "sy".into(),
            password: SecretString::from("topsecret".to_string()),
        };
        let u = UserCredentials {
            company_id: "C".into(),
            user_id: "u".into(),
            password: SecretString::from("pw-secret".to_string()),
        };
        let sess = IntacctSession {
            id: SecretString::from("sess-secret".to_string()),
            endpoint: url::Url::parse("https://x.intacct.com").unwrap(),
            entity: None,
        };
        let all = format!("{s:?}{u:?}{sess:?}");
        assert!(
            !all.contains("topsecret")
                && !all.contains("pw-secret")
                && !all.contains("sess-secret")
        );
    }
}
