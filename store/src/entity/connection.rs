//! An ERP connection of a tenant, with its sealed credentials.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "connections")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub erp_kind: String,
    pub environment: String,
    pub display_name: String,
    pub status: String,
    pub status_detail: Option<String>,
    pub credential_kind: String,
    pub credential_blob: Vec<u8>,
    pub credential_key_id: String,
    pub settings: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
