//! `GET /v2/_catalog`: the repositories, paginated like tags (a Docker extension; not in the
//! OCI spec but used by tools such as `crane catalog` and `reg`).

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{next_link, paginate, Ctx};
use crate::errors::ApiError;
use crate::task::blocking;

/// Lists repository names in byte order.
pub(super) async fn list(ctx: &Ctx) -> Result<Response, ApiError> {
    let storage = ctx.storage().clone();
    let repos = blocking(move || storage.list_repositories()).await?;
    let all: Vec<String> = repos.iter().map(ToString::to_string).collect();
    let (page, more) = paginate(ctx, all)?;
    let body = json!({ "repositories": page }).to_string();
    let mut response = (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    if let (Some(n), Some(last)) = (more, page.last()) {
        response.headers_mut().insert(header::LINK, next_link("/v2/_catalog", n, last));
    }
    Ok(response)
}
