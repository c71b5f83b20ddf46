//! Staff users: customer-success and admin accounts that sign in with a password.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub enum StaffUsers {
    Table,
    Id,
    Email,
    Name,
    PasswordHash,
    Role,
    Disabled,
    CreatedAt,
    LastSignInAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(StaffUsers::Table)
                    .col(
                        ColumnDef::new(StaffUsers::Id)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(StaffUsers::Email)
                            .string()
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(StaffUsers::Name).string().not_null())
                    .col(ColumnDef::new(StaffUsers::PasswordHash).string().not_null())
                    .col(ColumnDef::new(StaffUsers::Role).string().not_null())
                    .col(
                        ColumnDef::new(StaffUsers::Disabled)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(
                        ColumnDef::new(StaffUsers::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(StaffUsers::LastSignInAt)
                            .big_integer()
                            .null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(StaffUsers::Table).to_owned())
            .await
    }
}
