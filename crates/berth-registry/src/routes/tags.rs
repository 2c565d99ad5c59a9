//! `GET /v2/<name>/tags/list` with `n`/`last` pagination and a `Link` to the next page.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{next_link, paginate, Ctx};
use crate::errors::ApiError;
use crate::names::RepoName;
use crate::task::blocking;

/// Lists tags in byte order.
pub(super) async fn list(ctx: &Ctx, name: RepoName) -> Result<Response, ApiError> {
    let (storage, n) = (ctx.storage().clone(), name.clone());
    let all = blocking(move || storage.list_tags(&n)).await?.ok_or_else(|| ApiError::NameUnknown(name.to_string()))?;
    let (page, more) = paginate(ctx, all)?;
    let body = json!({ "name": name.as_str(), "tags": page }).to_string();
    let mut response = (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    if let (Some(n), Some(last)) = (more, page.last()) {
        response.headers_mut().insert(header::LINK, next_link(&format!("/v2/{name}/tags/list"), n, last));
    }
    Ok(response)
}
