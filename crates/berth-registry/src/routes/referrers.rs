//! `GET /v2/<name>/referrers/<digest>`: an OCI index of the manifests whose `subject` is
//! `<digest>`, optionally filtered by `artifactType`. Never 404, per distribution-spec 1.1.

use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::Ctx;
use crate::digest::Digest;
use crate::errors::ApiError;
use crate::manifest::OCI_INDEX;
use crate::names::RepoName;
use crate::task::blocking;

const FILTERS_APPLIED: HeaderName = HeaderName::from_static("oci-filters-applied");

/// Lists the referrers of a manifest (which need not exist).
pub(super) async fn list(ctx: &Ctx, name: RepoName, digest: &str) -> Result<Response, ApiError> {
    let subject: Digest = digest.parse()?;
    let storage = ctx.storage().clone();
    let entries = blocking(move || {
        let mut live = Vec::new();
        for raw in storage.list_referrers(&name, &subject)? {
            let Ok(descriptor) = serde_json::from_slice::<Value>(&raw) else {
                continue;
            };
            // Skip entries whose manifest was deleted but whose index entry survived a crash.
            let held = descriptor["digest"].as_str().and_then(|d| d.parse::<Digest>().ok());
            if let Some(d) = held {
                if storage.revision_media_type(&name, &d)?.is_some() {
                    live.push(descriptor);
                }
            }
        }
        Ok(live)
    })
    .await?;
    let filter = ctx.param("artifactType");
    let manifests: Vec<Value> = match filter {
        Some(t) => entries.into_iter().filter(|d| d["artifactType"].as_str() == Some(t)).collect(),
        None => entries,
    };
    let body = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests }).to_string();
    let mut response = (StatusCode::OK, [(header::CONTENT_TYPE, OCI_INDEX)], body).into_response();
    if filter.is_some() {
        response.headers_mut().insert(FILTERS_APPLIED, HeaderValue::from_static("artifactType"));
    }
    Ok(response)
}
