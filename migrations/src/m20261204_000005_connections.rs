//! ERP connections of a tenant. Credentials are an AEAD-sealed blob with the id of the
//! master key that sealed it, so that keys can rotate.

use super::m20261204_000003_tenants::Tenants;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub enum Connections {
    Table,
    Id,
    TenantId,
    ErpKind,
    Environment,
    DisplayName,
    Status,
    StatusDetail,
    CredentialKind,
    CredentialBlob,
    CredentialKeyId,
    Settings,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Connections::Table)
                    .col(
                        ColumnDef::new(Connections::Id)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Connections::TenantId).string().not_null())
                    .col(ColumnDef::new(Connections::ErpKind).string().not_null())
                    .col(ColumnDef::new(Connections::Environment).string().not_null())
                    .col(ColumnDef::new(Connections::DisplayName).string().not_null())
                    .col(ColumnDef::new(Connections::Status).string().not_null())
                    .col(ColumnDef::new(Connections::StatusDetail).string().null())
                    .col(
                        ColumnDef::new(Connections::CredentialKind)
                            .string()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Connections::CredentialBlob)
                            .binary()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Connections::CredentialKeyId)
                            .string()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Connections::Settings).text().not_null())
                    .col(
                        ColumnDef::new(Connections::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Connections::UpdatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_connections_tenant")
                            .from(Connections::Table, Connections::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_connections_tenant")
                    .table(Connections::Table)
                    .col(Connections::TenantId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Connections::Table).to_owned())
            .await
    }
}
