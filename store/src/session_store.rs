//! A tower-sessions store on the `sessions` table, so that sessions survive restarts and
//! are shared by every instance on one database.

use crate::entity::session;
use async_trait::async_trait;
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{Error, Result, SessionStore};

#[derive(Clone, Debug)]
pub struct DbSessionStore {
    db: DatabaseConnection,
}

impl DbSessionStore {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// Deletes expired sessions; run periodically.
    pub async fn delete_expired(&self) -> std::result::Result<u64, sea_orm::DbErr> {
        let now = crate::now_ms();
        let r = session::Entity::delete_many()
            .filter(session::Column::ExpiresAt.lt(now))
            .exec(&self.db)
            .await?;
        Ok(r.rows_affected)
    }
}

fn backend(e: impl std::fmt::Display) -> Error {
    Error::Backend(e.to_string())
}

fn expiry_ms(r: &Record) -> i64 {
    (r.expiry_date.unix_timestamp_nanos() / 1_000_000) as i64
}

#[async_trait]
impl SessionStore for DbSessionStore {
    async fn create(&self, record: &mut Record) -> Result<()> {
        // Ids are 128 random bits; a collision is astronomically unlikely, but regenerate
        // rather than overwrite someone else's session if it ever happens.
        loop {
            let exists = session::Entity::find_by_id(record.id.to_string())
                .one(&self.db)
                .await
                .map_err(backend)?;
            if exists.is_none() {
                break;
            }
            record.id = Id::default();
        }
        let data = serde_json::to_string(record).map_err(|e| Error::Encode(e.to_string()))?;
        session::Entity::insert(session::ActiveModel {
            id: Set(record.id.to_string()),
            data: Set(data),
            expires_at: Set(expiry_ms(record)),
        })
        .exec(&self.db)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn save(&self, record: &Record) -> Result<()> {
        let data = serde_json::to_string(record).map_err(|e| Error::Encode(e.to_string()))?;
        let model = session::ActiveModel {
            id: Set(record.id.to_string()),
            data: Set(data),
            expires_at: Set(expiry_ms(record)),
        };
        session::Entity::insert(model)
            .on_conflict(
                sea_orm::sea_query::OnConflict::column(session::Column::Id)
                    .update_columns([session::Column::Data, session::Column::ExpiresAt])
                    .to_owned(),
            )
            .exec(&self.db)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn load(&self, id: &Id) -> Result<Option<Record>> {
        let row = session::Entity::find_by_id(id.to_string())
            .filter(session::Column::ExpiresAt.gt(crate::now_ms()))
            .one(&self.db)
            .await
            .map_err(backend)?;
        match row {
            None => Ok(None),
            Some(r) => Ok(Some(
                serde_json::from_str(&r.data).map_err(|e| Error::Decode(e.to_string()))?,
            )),
        }
    }

    async fn delete(&self, id: &Id) -> Result<()> {
        session::Entity::delete_by_id(id.to_string())
            .exec(&self.db)
            .await
            .map_err(backend)?;
        Ok(())
    }
}
