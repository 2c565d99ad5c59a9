//! The metadata database: one redb file holding every table of the daemon (images, tags,
//! containers, volumes, ...), values as JSON. A write transaction commits all or nothing, so a
//! daemon killed at any instant comes back to the old or the new state, never a mix.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A table of JSON values by string key.
pub type Table = TableDefinition<'static, &'static str, &'static [u8]>;

/// Why a metadata operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("metadata database: {0}")]
    Db(#[from] redb::Error),
    #[error("corrupt record {key:?} in table {table}: {source}")]
    Corrupt { table: String, key: String, source: serde_json::Error },
}

macro_rules! meta_from {
    ($($t:ty),*) => {$(
        impl From<$t> for MetaError {
            fn from(e: $t) -> Self { Self::Db(e.into()) }
        }
    )*};
}
meta_from!(redb::TransactionError, redb::TableError, redb::StorageError, redb::CommitError, redb::DatabaseError);

/// The daemon's metadata database.
pub struct MetaDb {
    db: Database,
}

fn decode<T: DeserializeOwned>(table: &Table, key: &str, bytes: &[u8]) -> Result<T, MetaError> {
    serde_json::from_slice(bytes).map_err(|source| MetaError::Corrupt { table: table.to_string(), key: key.to_string(), source })
}

impl MetaDb {
    /// Opens (creating) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, MetaError> {
        Ok(Self { db: Database::create(path)? })
    }

    /// Reads one record.
    pub fn get<T: DeserializeOwned>(&self, table: Table, key: &str) -> Result<Option<T>, MetaError> {
        let txn = self.db.begin_read()?;
        let t = match txn.open_table(table) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        match t.get(key)? {
            Some(v) => Ok(Some(decode(&table, key, v.value())?)),
            None => Ok(None),
        }
    }

    /// Reads every record of a table, in key order.
    pub fn list<T: DeserializeOwned>(&self, table: Table) -> Result<Vec<(String, T)>, MetaError> {
        let txn = self.db.begin_read()?;
        let t = match txn.open_table(table) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::new();
        for entry in t.iter()? {
            let (k, v) = entry?;
            out.push((k.value().to_string(), decode(&table, k.value(), v.value())?));
        }
        Ok(out)
    }

    /// Writes one record.
    pub fn put<T: Serialize>(&self, table: Table, key: &str, value: &T) -> Result<(), MetaError> {
        self.write(|txn| put_in(txn, table, key, value))
    }

    /// Deletes one record; returns whether it existed.
    pub fn delete(&self, table: Table, key: &str) -> Result<bool, MetaError> {
        self.write(|txn| delete_in(txn, table, key))
    }

    /// Runs `f` in one write transaction, committed only if `f` succeeds.
    pub fn write<R, E>(&self, f: impl FnOnce(&WriteTransaction) -> Result<R, E>) -> Result<R, E>
    where
        E: From<MetaError>,
    {
        let txn = self.db.begin_write().map_err(|e| E::from(e.into()))?;
        let r = f(&txn)?;
        txn.commit().map_err(|e| E::from(e.into()))?;
        Ok(r)
    }
}

/// Writes a record inside a transaction.
pub fn put_in<T: Serialize>(txn: &WriteTransaction, table: Table, key: &str, value: &T) -> Result<(), MetaError> {
    let bytes = serde_json::to_vec(value).map_err(|source| MetaError::Corrupt { table: table.to_string(), key: key.to_string(), source })?;
    let mut t = txn.open_table(table)?;
    t.insert(key, bytes.as_slice())?;
    Ok(())
}

/// Deletes a record inside a transaction.
pub fn delete_in(txn: &WriteTransaction, table: Table, key: &str) -> Result<bool, MetaError> {
    let mut t = txn.open_table(table)?;
    let existed = t.remove(key)?.is_some();
    Ok(existed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Table = TableDefinition::new("test");

    #[test]
    fn put_get_list_delete() {
        let dir = tempfile::tempdir().unwrap();
        let db = MetaDb::open(&dir.path().join("db")).unwrap();
        assert_eq!(db.get::<u32>(T, "a").unwrap(), None);
        db.put(T, "a", &1u32).unwrap();
        db.put(T, "b", &2u32).unwrap();
        assert_eq!(db.get::<u32>(T, "a").unwrap(), Some(1));
        assert_eq!(db.list::<u32>(T).unwrap(), vec![("a".into(), 1), ("b".into(), 2)]);
        assert!(db.delete(T, "a").unwrap());
        assert!(!db.delete(T, "a").unwrap());
    }

    #[test]
    fn failed_transaction_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let db = MetaDb::open(&dir.path().join("db")).unwrap();
        let r: Result<(), MetaError> = db.write(|txn| {
            put_in(txn, T, "x", &1u32)?;
            Err(MetaError::Corrupt { table: "t".into(), key: "x".into(), source: serde_json::from_str::<u32>("x").unwrap_err() })
        });
        assert!(r.is_err());
        assert_eq!(db.get::<u32>(T, "x").unwrap(), None);
    }
}
