//! Discovered schemas, one row per discovery of a connection, so that versions can be
//! compared (drift over time, or a sandbox against its production account).

use super::m20261204_000005_connections::Connections;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub enum SchemaVersions {
    Table,
    Id,
    TenantId,
    ConnectionId,
    Version,
    DiscoveredAt,
    Document,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SchemaVersions::Table)
                    .col(
                        ColumnDef::new(SchemaVersions::Id)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(SchemaVersions::TenantId).string().not_null())
                    .col(
                        ColumnDef::new(SchemaVersions::ConnectionId)
                            .string()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SchemaVersions::Version)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SchemaVersions::DiscoveredAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(SchemaVersions::Document).text().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_schema_versions_connection")
                            .from(SchemaVersions::Table, SchemaVersions::ConnectionId)
                            .to(Connections::Table, Connections::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_schema_versions_connection")
                    .table(SchemaVersions::Table)
                    .col(SchemaVersions::ConnectionId)
                    .col(SchemaVersions::Version)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SchemaVersions::Table).to_owned())
            .await
    }
}
