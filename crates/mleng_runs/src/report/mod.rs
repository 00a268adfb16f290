//! Renderers for diagnoses: plain text for terminals, markdown for PRs and notebooks,
//! JSON for tools, and the `--compare` table.

pub mod compare;
pub mod json;
pub mod markdown;
pub mod text;

use crate::diagnosis::Best;
use crate::stats::fmt;

pub(crate) fn opt(v: Option<f64>) -> String {
    v.map(fmt).unwrap_or_else(|| "-".into())
}

pub(crate) fn best(b: Option<Best>) -> String {
    match b {
        Some(b) => match b.epoch {
            Some(e) => format!("{} (epoch {})", fmt(b.value), fmt(e)),
            None => format!("{} (step {})", fmt(b.value), b.step),
        },
        None => "-".into(),
    }
}

pub(crate) fn step_range(first: Option<i64>, last: Option<i64>) -> String {
    match (first, last) {
        (Some(a), Some(b)) if a == b => format!("step {a}"),
        (Some(a), Some(b)) => format!("steps {a}-{b}"),
        (Some(a), None) => format!("from step {a}"),
        _ => String::new(),
    }
}
