//! The evsync/1 endpoints: thin handlers over the library's `sync::handle_push` and
//! `sync::handle_pull`, with the token's rights as the caller's [`SyncAccess`].

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::{Extension, Json};
use evstore::sync::{
    handle_pull, handle_push, PullRequest, PullResponse, PushRequest, PushResponse,
    SyncServerOptions,
};

use super::auth::Access;
use super::errors::ApiError;
use super::query::Params;
use super::App;

/// The longest a pull waits for news (its `wait`, capped).
const MAX_WAIT: Duration = Duration::from_secs(30);

fn options(app: &App) -> SyncServerOptions {
    SyncServerOptions {
        page_size: app.limits.max_page,
        max_page_size: app.limits.max_page,
        max_wait: MAX_WAIT,
        max_batch_events: app.limits.max_events_per_append,
        ..SyncServerOptions::default()
    }
}

/// `POST /v1/sync/push`.
pub async fn push(
    State(app): State<Arc<App>>,
    Extension(access): Extension<Arc<Access>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<PushResponse>, ApiError> {
    let request: PushRequest = serde_json::from_slice(&body?)
        .map_err(|e| ApiError::BadRequest(format!("the body is not an evsync/1 push: {e}")))?;
    let response = handle_push(&app.store, &access.sync_access(), request, &options(&app)).await?;
    Ok(Json(response))
}

/// `GET /v1/sync/pull?after=&limit=&streamPrefix=&category=&wait=` (a long poll with `wait`, in
/// milliseconds). A shutdown ends a waiting pull with 503, which clients retry.
pub async fn pull(
    State(app): State<Arc<App>>,
    Extension(access): Extension<Arc<Access>>,
    RawQuery(query): RawQuery,
) -> Result<Json<PullResponse>, ApiError> {
    let params = Params::parse(
        query.as_deref(),
        &["after", "limit", "streamPrefix", "category", "wait"],
    )?;
    let request = PullRequest {
        after: params.number("after")?.unwrap_or(0),
        limit: params.number("limit")?.map(|n| n as usize),
        stream_prefixes: params.list("streamPrefix"),
        categories: params.list("category"),
        wait: params.number("wait")?,
    };
    let mut shutdown = app.shutdown.clone();
    let sync_access = access.sync_access();
    let options = options(&app);
    let pulled = handle_pull(&app.store, &sync_access, &request, &options);
    tokio::select! {
        response = pulled => Ok(Json(response?)),
        _ = shutdown.wait_for(|stopping| *stopping) => Err(ApiError::Unavailable(
            "the server is shutting down".into(),
        )),
    }
}
