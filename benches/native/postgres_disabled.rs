//! The `postgres` group without feature `postgres`: it cannot run, and says so.

use super::{Config, Workload};

/// Reports that the group needs the feature.
pub fn run(_config: &Config) -> Option<(Vec<Workload>, String)> {
    eprintln!("postgres: skipped, the benchmark was built without `--features postgres`");
    None
}

/// No child kinds of this group exist without the feature.
pub fn child(_kind: &str) -> bool {
    false
}
