//! Onboarding links: a random token (stored only as its SHA-256) that gives its holder one
//! tenant's onboarding pages until it expires or is revoked.

use super::m20261204_000003_tenants::Tenants;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub enum OnboardingLinks {
    Table,
    Id,
    TenantId,
    TokenHash,
    Label,
    CreatedBy,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
    RevokedBy,
    LastUsedAt,
    UseCount,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OnboardingLinks::Table)
                    .col(
                        ColumnDef::new(OnboardingLinks::Id)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(OnboardingLinks::TenantId)
                            .string()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OnboardingLinks::TokenHash)
                            .string()
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(OnboardingLinks::Label).string().not_null())
                    .col(
                        ColumnDef::new(OnboardingLinks::CreatedBy)
                            .string()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OnboardingLinks::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OnboardingLinks::ExpiresAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OnboardingLinks::RevokedAt)
                            .big_integer()
                            .null(),
                    )
                    .col(ColumnDef::new(OnboardingLinks::RevokedBy).string().null())
                    .col(
                        ColumnDef::new(OnboardingLinks::LastUsedAt)
                            .big_integer()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(OnboardingLinks::UseCount)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_onboarding_links_tenant")
                            .from(OnboardingLinks::Table, OnboardingLinks::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_onboarding_links_tenant")
                    .table(OnboardingLinks::Table)
                    .col(OnboardingLinks::TenantId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(OnboardingLinks::Table).to_owned())
            .await
    }
}
