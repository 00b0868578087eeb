//! The one error type of the HTTP API and its mapping to statuses: the library's error kinds
//! (`WrongExpectedVersion` → 409, `StreamNotFound` → 404, `StreamDeleted` → 410, …) and the server's own refusals, all
//! as `{ "code", "message", …fields }` with the same field names as the JavaScript errors.

use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use evstore::json::ExpectedVersionJson;
use evstore::{Error, ErrorKind};
use serde_json::{json, Map, Value};

/// Why a request failed.
#[derive(Debug)]
pub enum ApiError {
    /// The library refused or failed (its own code and fields).
    Store(Error),
    /// A request body, path or query that is not what the call takes (code `InvalidInput`).
    BadRequest(String),
    /// No valid bearer token (401).
    Unauthorized,
    /// The token may not do this (403).
    Forbidden(String),
    /// Over a size limit; nothing was written (413).
    PayloadTooLarge(String),
    /// The token has as many live subscriptions as allowed (429).
    TooManySubscriptions(usize),
    /// The request took longer than the request timeout (408).
    Timeout,
    /// No such route (404).
    NotFound,
    /// The route exists but not with this method (405).
    MethodNotAllowed,
    /// A handler panicked (500); the server goes on.
    Internal,
    /// The server is shutting down; try again later (503).
    Unavailable(String),
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        ApiError::Store(error)
    }
}

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(format!("the request body is too large: {rejection}"))
        } else {
            ApiError::BadRequest(format!("cannot read the request body: {rejection}"))
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::BadRequest(format!("bad path: {}", rejection.body_text()))
    }
}

/// The status of a library error kind.
fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::WrongExpectedVersion | ErrorKind::DuplicateEventId => StatusCode::CONFLICT,
        ErrorKind::StreamNotFound => StatusCode::NOT_FOUND,
        ErrorKind::StreamDeleted => StatusCode::GONE,
        ErrorKind::InvalidInput | ErrorKind::Codec => StatusCode::BAD_REQUEST,
        ErrorKind::QuotaExceeded => StatusCode::INSUFFICIENT_STORAGE,
        ErrorKind::Closed => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The fields of a library error, named as on the JavaScript `Error`s.
fn fields_of(error: &Error) -> Map<String, Value> {
    let value = match error {
        Error::WrongExpectedVersion {
            stream,
            expected,
            actual,
            others,
        } => {
            let others: Vec<Value> = others
                .iter()
                .map(|c| {
                    json!({ "stream": c.stream, "expected": ExpectedVersionJson(c.expected), "actual": c.actual })
                })
                .collect();
            json!({ "stream": stream, "expected": ExpectedVersionJson(*expected), "actual": actual, "others": others })
        }
        Error::StreamNotFound { stream } | Error::StreamDeleted { stream } => {
            json!({ "stream": stream })
        }
        Error::DuplicateEventId { id } => json!({ "id": id }),
        Error::InvalidInput { reason }
        | Error::Storage { reason }
        | Error::QuotaExceeded { reason } => json!({ "reason": reason }),
        Error::Codec { event_type, reason } => {
            json!({ "eventType": event_type, "reason": reason })
        }
        Error::IncompatibleSchema { found, supported } => {
            json!({ "found": found, "supported": supported })
        }
        _ => json!({}),
    };
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, String, Map<String, Value>) {
        let plain = |status, code, message: String| (status, code, message, Map::new());
        match self {
            ApiError::Store(error) => (
                status_of(error.kind()),
                error.kind().code(),
                error.to_string(),
                fields_of(error),
            ),
            ApiError::BadRequest(reason) => {
                let mut fields = Map::new();
                fields.insert("reason".into(), reason.clone().into());
                (
                    StatusCode::BAD_REQUEST,
                    ErrorKind::InvalidInput.code(),
                    format!("invalid input: {reason}"),
                    fields,
                )
            }
            ApiError::Unauthorized => plain(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "a valid bearer token is required (Authorization: Bearer <token>)".into(),
            ),
            ApiError::Forbidden(why) => plain(StatusCode::FORBIDDEN, "Forbidden", why.clone()),
            ApiError::PayloadTooLarge(why) => plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PayloadTooLarge",
                why.clone(),
            ),
            ApiError::TooManySubscriptions(max) => plain(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManySubscriptions",
                format!("this token already has {max} live subscriptions, the limit"),
            ),
            ApiError::Timeout => plain(
                StatusCode::REQUEST_TIMEOUT,
                "Timeout",
                "the request took longer than the server's request timeout".into(),
            ),
            ApiError::NotFound => plain(StatusCode::NOT_FOUND, "NotFound", "no such route".into()),
            ApiError::MethodNotAllowed => plain(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "this route does not take this method".into(),
            ),
            ApiError::Internal => plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal",
                "the server failed on this request".into(),
            ),
            ApiError::Unavailable(message) => plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "Unavailable",
                message.clone(),
            ),
        }
    }

    /// The JSON body `{ code, message, …fields }`.
    pub fn body(&self) -> Value {
        let (_, code, message, mut fields) = self.parts();
        fields.insert("code".into(), code.into());
        fields.insert("message".into(), message.into());
        Value::Object(fields)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.parts().0;
        if status.is_server_error() {
            eprintln!("evstore serve: {status}: {}", self.parts().2);
        }
        let mut response = (status, Json(self.body())).into_response();
        if matches!(self, ApiError::Unauthorized) {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}
