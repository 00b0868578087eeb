//! The HTTP API v1: the router and its thin handlers (parse → call the library → map).
//! The sync endpoints (`/v1/sync/push`, `/v1/sync/pull`) are in [`super::sync`].

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use evstore::json::{AppendResultJson, ExpectedVersionJson, NewEventJson, RecordedEventJson};
use evstore::{validate_stream_id, ReadAllOptions, ReadStreamOptions, StartFrom, SubscribeOptions};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::access_log::log_request;
use super::auth::{authenticate, Access};
use super::errors::ApiError;
use super::limits::timeout;
use super::query::{Params, FILTER_PARAMS};
use super::{sse, sync, App};

/// The whole API over `app`.
pub fn router(app: Arc<App>) -> Router {
    let mut router = api(Arc::clone(&app));
    if !app.allow_origins.is_empty() {
        router = router.layer(cors(&app.allow_origins));
    }
    if app.log_requests {
        router = router.layer(axum::middleware::from_fn(log_request));
    }
    router
}

/// CORS for `origins` (`*`: any): the methods and headers the API takes, answered before auth
/// so preflight requests need no token.
fn cors(origins: &[String]) -> CorsLayer {
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|origin| HeaderValue::from_str(origin).ok()),
        )
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            AUTHORIZATION,
            CONTENT_TYPE,
            HeaderName::from_static("last-event-id"),
        ])
}

fn api(app: Arc<App>) -> Router {
    let requests = Router::new()
        .route("/v1/streams/{stream}", get(read_stream).post(append))
        .route("/v1/all", get(read_all))
        .route("/v1/head", get(head))
        .route("/v1/sync/push", post(sync::push))
        .layer(from_fn_with_state(app.limits.request_timeout, timeout));
    // Subscriptions and long-poll pulls outlive the request timeout.
    let live = Router::new()
        .route("/v1/subscribe", get(subscribe))
        .route("/v1/sync/pull", get(sync::pull));
    Router::new()
        .merge(requests)
        .merge(live)
        .route_layer(from_fn_with_state(Arc::clone(&app), authenticate))
        .route("/healthz", get(healthz))
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(axum::extract::DefaultBodyLimit::max(
            app.limits.max_body_bytes,
        ))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::Internal.into_response()
        }))
        .with_state(app)
}

/// 200 while the store answers (no token needed, nothing about the data revealed).
async fn healthz(State(app): State<Arc<App>>) -> Result<Json<serde_json::Value>, ApiError> {
    app.store.head().await?;
    Ok(Json(json!({ "status": "ok" })))
}

/// A `{stream}` path segment: percent-decoded, then validated like the library does.
struct StreamPath(String);

impl<S: Send + Sync> FromRequestParts<S> for StreamPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(stream) = Path::<String>::from_request_parts(parts, state).await?;
        validate_stream_id(&stream)?;
        Ok(StreamPath(stream))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AppendRequest {
    #[serde(default)]
    expected_version: ExpectedVersionJson,
    events: Vec<NewEventJson>,
}

async fn append(
    State(app): State<Arc<App>>,
    Extension(access): Extension<Arc<Access>>,
    StreamPath(stream): StreamPath,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<AppendResultJson>, ApiError> {
    access.check_append(&stream)?;
    let request: AppendRequest = serde_json::from_slice(&body?)
        .map_err(|e| ApiError::BadRequest(format!("the body is not an append: {e}")))?;
    let max = app.limits.max_events_per_append;
    if request.events.len() > max {
        return Err(ApiError::PayloadTooLarge(format!(
            "an append takes at most {max} events; this one has {}",
            request.events.len()
        )));
    }
    let events = request.events.into_iter().map(Into::into).collect();
    let result = app
        .store
        .append(&stream, request.expected_version.0, events)
        .await?;
    Ok(Json(result.into()))
}

fn page(app: &App, params: &Params) -> Result<usize, ApiError> {
    let cap = app.limits.max_page;
    Ok(params
        .number("maxCount")?
        .map_or(cap, |n| n.min(cap as u64) as usize))
}

/// A page of events: `{ events }` from a stream, `{ events, head }` from all streams.
#[derive(Serialize)]
struct Page {
    events: Vec<RecordedEventJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    head: Option<u64>,
}

impl Page {
    fn new(events: Vec<evstore::RecordedEvent>, head: Option<u64>) -> Json<Page> {
        Json(Page {
            events: events.into_iter().map(Into::into).collect(),
            head,
        })
    }
}

async fn read_stream(
    State(app): State<Arc<App>>,
    Extension(access): Extension<Arc<Access>>,
    StreamPath(stream): StreamPath,
    RawQuery(query): RawQuery,
) -> Result<Json<Page>, ApiError> {
    let params = Params::parse(query.as_deref(), &["fromVersion", "direction", "maxCount"])?;
    access.check_read(&stream)?;
    let options = ReadStreamOptions {
        from_version: params.number("fromVersion")?,
        direction: params.direction()?,
        max_count: Some(page(&app, &params)?),
    };
    let events = app.store.read_stream(&stream, options).await?;
    Ok(Page::new(events, None))
}

async fn read_all(
    State(app): State<Arc<App>>,
    Extension(access): Extension<Arc<Access>>,
    RawQuery(query): RawQuery,
) -> Result<Json<Page>, ApiError> {
    let allowed = [
        &["fromPosition", "direction", "maxCount"][..],
        &FILTER_PARAMS,
    ]
    .concat();
    let params = Params::parse(query.as_deref(), &allowed)?;
    let options = ReadAllOptions {
        from_position: params.number("fromPosition")?,
        direction: params.direction()?,
        max_count: Some(page(&app, &params)?),
        filter: access.read_filter(params.filter())?,
    };
    let events = app.store.read_all(options).await?;
    // After the read, so the head is never below a returned position.
    let head = app.store.head().await?;
    Ok(Page::new(events, Some(head)))
}

async fn head(
    State(app): State<Arc<App>>,
    Extension(access): Extension<Arc<Access>>,
    RawQuery(query): RawQuery,
) -> Result<Json<serde_json::Value>, ApiError> {
    Params::parse(query.as_deref(), &[])?;
    access.check_reads_any()?;
    Ok(Json(json!({ "position": app.store.head().await? })))
}

async fn subscribe(
    State(app): State<Arc<App>>,
    Extension(access): Extension<Arc<Access>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let allowed = [&["fromPosition"][..], &FILTER_PARAMS].concat();
    let params = Params::parse(query.as_deref(), &allowed)?;
    let filter = access.read_filter(params.filter())?;
    let resume = headers
        .get("last-event-id")
        .map(|value| {
            value
                .to_str()
                .ok()
                .and_then(|text| text.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    ApiError::BadRequest("Last-Event-ID must be an event position".into())
                })
        })
        .transpose()?;
    let after = match (resume, params.single("fromPosition")?) {
        (Some(position), _) => position,
        (None, Some("end")) => app.store.head().await?,
        (None, None) => 0,
        (None, Some(_)) => params.number("fromPosition")?.unwrap_or(0),
    };
    let slot = app
        .slots
        .acquire(&access.name, app.limits.max_subscriptions_per_token)?;
    let options = SubscribeOptions {
        start: StartFrom::After(after),
        filter,
        ..SubscribeOptions::default()
    };
    let subscription = app.store.subscribe_all(options).await?;
    Ok(sse::respond(
        subscription,
        after,
        slot,
        app.shutdown.clone(),
        app.limits.keep_alive,
    )
    .into_response())
}
