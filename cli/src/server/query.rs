//! Query strings: percent-decoded pairs, repeatable filters, and strict checking — an unknown or
//! repeated parameter is a 400, never silently ignored.

use evstore::{Direction, Filter};

use super::errors::ApiError;

/// The filter parameters, repeatable: `streamPrefix`, `category`, `eventType`.
pub const FILTER_PARAMS: [&str; 3] = ["streamPrefix", "category", "eventType"];

/// A parsed query string.
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Parses `raw`, refusing parameters not in `allowed`.
    pub fn parse(raw: Option<&str>, allowed: &[&str]) -> Result<Self, ApiError> {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if let Some((key, _)) = pairs.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
            return Err(ApiError::BadRequest(format!(
                "unknown query parameter `{key}` (this call takes {})",
                allowed.join(", ")
            )));
        }
        Ok(Params { pairs })
    }

    /// All values of `key`, in order.
    pub fn list(&self, key: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The one value of `key`, if given; given twice is an error.
    pub fn single(&self, key: &str) -> Result<Option<&str>, ApiError> {
        let mut values = self.pairs.iter().filter(|(k, _)| k == key);
        let first = values.next().map(|(_, v)| v.as_str());
        if values.next().is_some() {
            return Err(ApiError::BadRequest(format!(
                "query parameter `{key}` is given more than once"
            )));
        }
        Ok(first)
    }

    /// `key` as a non-negative integer.
    pub fn number(&self, key: &str) -> Result<Option<u64>, ApiError> {
        self.single(key)?
            .map(|value| {
                value.parse::<u64>().map_err(|_| {
                    ApiError::BadRequest(format!(
                        "`{key}` must be a non-negative integer, got `{value}`"
                    ))
                })
            })
            .transpose()
    }

    /// `direction`: `forward` (default) or `backward`.
    pub fn direction(&self) -> Result<Direction, ApiError> {
        match self.single("direction")? {
            None | Some("forward") => Ok(Direction::Forward),
            Some("backward") => Ok(Direction::Backward),
            Some(other) => Err(ApiError::BadRequest(format!(
                "`direction` must be `forward` or `backward`, got `{other}`"
            ))),
        }
    }

    /// The filter of the repeatable filter parameters.
    pub fn filter(&self) -> Filter {
        Filter {
            stream_prefixes: self.list("streamPrefix"),
            categories: self.list("category"),
            event_types: self.list("eventType"),
        }
    }
}
