//! The ERP catalog as the browser sees it: which ERPs exist and what a connection form
//! must ask for. Built by the server from the connector declarations, so the web app
//! never depends on connector code.

use crate::{Environment, ErpKind};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormField {
    pub key: String,
    pub label: String,
    pub secret: bool,
    pub required: bool,
    pub help: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialForm {
    pub key: String,
    pub label: String,
    pub help: String,
    pub fields: Vec<FormField>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogEntry {
    pub erp: ErpKind,
    pub display_name: String,
    pub credential_kinds: Vec<CredentialForm>,
    pub settings: Vec<FormField>,
    pub environments: Vec<Environment>,
    pub can_discover: bool,
    /// The customer hosts it (SAP B1 Service Layer): the form must ask for its address.
    pub needs_base_url: bool,
}

/// The limits every connection form field is held to, in the browser and on the server.
pub const MAX_FIELD_LEN: usize = 4096;
