//! Running blocking storage calls from async handlers.

use crate::errors::ApiError;
use crate::storage::StorageError;

/// Runs blocking storage work on tokio's blocking pool, so file I/O never stalls the threads
/// serving other requests.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, StorageError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f).await.map_err(|e| ApiError::Internal(format!("blocking task: {e}")))?.map_err(ApiError::from)
}
