//! Bearer tokens: the tokens file, what each token may do, and the layer that checks them.
//!
//! The tokens file is JSON:
//!
//! ```json
//! { "tokens": [
//!     { "name": "web-app", "token": "…at least 16 characters…", "read": ["account-", "order-"], "append": ["order-"] },
//!     { "name": "admin",   "token": "…",                       "read": [""],                     "append": [""] }
//! ] }
//! ```
//!
//! `read` and `append` list stream-id prefixes (`""` = every stream; absent = none). `name` is
//! what the server says in its messages: a token itself is never printed.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use evstore::sync::SyncAccess;
use evstore::Filter;
use serde::Deserialize;

use super::errors::ApiError;
use super::App;

/// The shortest token accepted in a tokens file.
pub const MIN_TOKEN_CHARS: usize = 16;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokensFile {
    tokens: Vec<TokenEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    name: String,
    token: String,
    #[serde(default)]
    read: Vec<String>,
    #[serde(default)]
    append: Vec<String>,
}

/// What a request may do: the rights of its token (or every right, without a tokens file).
#[derive(Debug)]
pub struct Access {
    /// The token's name (`"anonymous"` without a tokens file).
    pub name: String,
    read: Vec<String>,
    append: Vec<String>,
}

fn covers(prefixes: &[String], stream: &str) -> bool {
    prefixes.iter().any(|p| stream.starts_with(p.as_str()))
}

impl Access {
    /// Every right: a server without a tokens file (loopback only).
    pub fn anonymous() -> Access {
        Access {
            name: "anonymous".into(),
            read: vec![String::new()],
            append: vec![String::new()],
        }
    }

    /// 403 unless the token may read `stream`.
    pub fn check_read(&self, stream: &str) -> Result<(), ApiError> {
        if covers(&self.read, stream) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "token `{}` may not read stream `{stream}`",
                self.name
            )))
        }
    }

    /// 403 unless the token may append to `stream`.
    pub fn check_append(&self, stream: &str) -> Result<(), ApiError> {
        if covers(&self.append, stream) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "token `{}` may not append to stream `{stream}`",
                self.name
            )))
        }
    }

    /// The token's rights for the sync endpoints (prefix `""` covers every stream).
    pub fn sync_access(&self) -> SyncAccess {
        SyncAccess::prefixes(Some(self.read.clone()), Some(self.append.clone()))
    }

    /// 403 unless the token may read some streams.
    pub fn check_reads_any(&self) -> Result<(), ApiError> {
        if self.read.is_empty() {
            Err(ApiError::Forbidden(format!(
                "token `{}` may not read",
                self.name
            )))
        } else {
            Ok(())
        }
    }

    /// `requested` narrowed to the streams the token may read. Without stream prefixes it gets
    /// the token's; a requested prefix wider than the token's rights is narrowed to them; one
    /// entirely outside them is a 403.
    pub fn read_filter(&self, requested: Filter) -> Result<Filter, ApiError> {
        self.check_reads_any()?;
        if self.read.iter().any(String::is_empty) {
            return Ok(requested);
        }
        if requested.stream_prefixes.is_empty() {
            return Ok(Filter {
                stream_prefixes: self.read.clone(),
                ..requested
            });
        }
        let mut allowed = Vec::new();
        for wanted in &requested.stream_prefixes {
            let before = allowed.len();
            if covers(&self.read, wanted) {
                allowed.push(wanted.clone());
            } else {
                allowed.extend(
                    self.read
                        .iter()
                        .filter(|right| right.starts_with(wanted.as_str()))
                        .cloned(),
                );
            }
            if allowed.len() == before {
                return Err(ApiError::Forbidden(format!(
                    "token `{}` may not read streams starting with `{wanted}`",
                    self.name
                )));
            }
        }
        allowed.sort();
        allowed.dedup();
        Ok(Filter {
            stream_prefixes: allowed,
            ..requested
        })
    }
}

/// The tokens of a tokens file.
pub struct Tokens {
    entries: Vec<(Vec<u8>, Arc<Access>)>,
}

impl Tokens {
    /// Reads and checks a tokens file (see the [module docs](self)).
    pub fn load(path: &Path) -> anyhow::Result<Tokens> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the tokens file `{}`", path.display()))?;
        let file: TokensFile = serde_json::from_str(&text).with_context(|| {
            format!(
                "the tokens file `{}` is not {{\"tokens\": [{{\"name\", \"token\", \"read\", \"append\"}}, …]}}",
                path.display()
            )
        })?;
        if file.tokens.is_empty() {
            bail!("the tokens file `{}` lists no token", path.display());
        }
        let mut entries: Vec<(Vec<u8>, Arc<Access>)> = Vec::new();
        for entry in file.tokens {
            if entry.token.chars().count() < MIN_TOKEN_CHARS {
                bail!(
                    "token `{}` is shorter than {MIN_TOKEN_CHARS} characters",
                    entry.name
                );
            }
            if entries
                .iter()
                .any(|(t, a)| *t == entry.token.as_bytes() || a.name == entry.name)
            {
                bail!(
                    "token `{}` is listed twice (same name or token)",
                    entry.name
                );
            }
            entries.push((
                entry.token.into_bytes(),
                Arc::new(Access {
                    name: entry.name,
                    read: entry.read,
                    append: entry.append,
                }),
            ));
        }
        Ok(Tokens { entries })
    }

    /// How many tokens there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The rights of `presented`, compared in constant time against every token.
    fn find(&self, presented: &[u8]) -> Option<Arc<Access>> {
        let mut found = None;
        for (token, access) in &self.entries {
            if constant_time_eq(token, presented) {
                found = Some(Arc::clone(access));
            }
        }
        found
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The auth layer: puts the request's [`Access`] into its extensions, or answers 401.
pub async fn authenticate(
    State(app): State<Arc<App>>,
    mut request: Request,
    next: Next,
) -> Response {
    let access = match &app.tokens {
        None => Arc::new(Access::anonymous()),
        Some(tokens) => {
            let presented = request
                .headers()
                .get(AUTHORIZATION)
                .and_then(|value| value.as_bytes().strip_prefix(b"Bearer "))
                .and_then(|token| tokens.find(token));
            match presented {
                Some(access) => access,
                None => return ApiError::Unauthorized.into_response(),
            }
        }
    };
    request.extensions_mut().insert(access);
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(read: &[&str]) -> Access {
        Access {
            name: "t".into(),
            read: read.iter().map(|s| s.to_string()).collect(),
            append: Vec::new(),
        }
    }

    #[test]
    fn read_filters_narrow_to_the_rights() {
        let a = access(&["account-", "order-"]);
        let none = a.read_filter(Filter::new()).unwrap();
        assert_eq!(none.stream_prefixes, ["account-", "order-"]);
        let inside = a
            .read_filter(Filter::new().stream_prefix("account-1"))
            .unwrap();
        assert_eq!(inside.stream_prefixes, ["account-1"]);
        let wider = a.read_filter(Filter::new().stream_prefix("acc")).unwrap();
        assert_eq!(wider.stream_prefixes, ["account-"]);
        let everything = a.read_filter(Filter::new().stream_prefix("")).unwrap();
        assert_eq!(everything.stream_prefixes, ["account-", "order-"]);
        assert!(a.read_filter(Filter::new().stream_prefix("user-")).is_err());
        assert!(access(&[]).read_filter(Filter::new()).is_err());
        let all = access(&[""])
            .read_filter(Filter::new().category("x"))
            .unwrap();
        assert_eq!(all, Filter::new().category("x"));
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
