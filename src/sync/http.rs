//! What the HTTP transports share: the URLs of the two calls and how an HTTP answer maps to a
//! [`TransportError`].

use crate::sync::protocol::PullRequest;
use crate::sync::transport::{TransportError, TransportErrorKind};

/// The URL of `POST /v1/sync/push` under `base` (`http://host:port`, with or without a path
/// prefix and trailing slash).
pub(crate) fn push_url(base: &str) -> String {
    format!("{}/v1/sync/push", base.trim_end_matches('/'))
}

/// The URL of `GET /v1/sync/pull` for `request` under `base`.
pub(crate) fn pull_url(base: &str, request: &PullRequest) -> String {
    format!(
        "{}/v1/sync/pull?{}",
        base.trim_end_matches('/'),
        request.to_query()
    )
}

/// The error of a non-2xx answer: 401 asks for a new token, 5xx (and 408/429) are retried,
/// anything else refuses the request. The message is the server's `{code, message}` when the
/// body has one.
pub(crate) fn status_error(status: u16, body: &str) -> TransportError {
    let kind = match status {
        401 => TransportErrorKind::Unauthorized,
        408 | 429 | 500..=599 => TransportErrorKind::Server,
        _ => TransportErrorKind::Refused,
    };
    let detail = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|value| {
            let code = value.get("code")?.as_str()?.to_owned();
            let message = value.get("message").and_then(|m| m.as_str()).unwrap_or("");
            Some(format!("{code}: {message}"))
        })
        .unwrap_or_else(|| body.chars().take(200).collect());
    TransportError::new(kind, format!("HTTP {status}: {detail}"))
}

/// The error of an answer that is not the expected JSON.
pub(crate) fn protocol_error(error: impl std::fmt::Display) -> TransportError {
    TransportError::new(
        TransportErrorKind::Refused,
        format!("the server's answer is not evsync/1: {error}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_status_errors() {
        assert_eq!(push_url("http://h:1/"), "http://h:1/v1/sync/push");
        let request = PullRequest {
            after: 5,
            ..PullRequest::default()
        };
        assert_eq!(
            pull_url("http://h:1", &request),
            "http://h:1/v1/sync/pull?after=5"
        );
        let e = status_error(401, r#"{"code":"Unauthorized","message":"no token"}"#);
        assert_eq!(e.kind, TransportErrorKind::Unauthorized);
        assert_eq!(e.message, "HTTP 401: Unauthorized: no token");
        assert!(status_error(503, "down").is_retryable());
        assert_eq!(status_error(403, "").kind, TransportErrorKind::Refused);
        assert_eq!(status_error(429, "").kind, TransportErrorKind::Server);
    }
}
