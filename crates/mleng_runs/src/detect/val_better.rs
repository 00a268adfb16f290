//! RUN013 validation metric better than training from the start: at the first evaluation
//! and at >= 80% of evaluations the validation accuracy-like metric beats the training one
//! by more than 3 points. Dropout and augmentation make train metrics a little worse, not
//! this consistently; a larger gap points at leakage or a metric bug. Info, warning when
//! the gap exceeds 10 points.

use mleng_diagnostics::Severity;

use super::{is_fraction, Context, Event};
use crate::roles::Role;
use crate::stats::fmt;

pub const CODE: &str = "RUN013";

pub fn detect(ctx: &Context<'_>) -> Option<Event> {
    let train = ctx.clean(Role::TrainMetric);
    let val = ctx.clean(Role::ValMetric);
    if !is_fraction(&train) || !is_fraction(&val) {
        return None;
    }
    let pairs: Vec<(i64, f64, f64)> = val
        .iter()
        .filter_map(|&(s, v)| train.iter().rev().find(|t| t.0 <= s).map(|t| (s, t.1, v)))
        .collect();
    if pairs.len() < 3 {
        return None;
    }
    let &(s0, t0, v0) = pairs.first()?;
    let better = pairs.iter().filter(|p| p.2 - p.1 > 0.03).count();
    if v0 - t0 <= 0.03 || better * 5 < pairs.len() * 4 {
        return None;
    }
    let mean_gap = pairs.iter().map(|p| p.2 - p.1).sum::<f64>() / pairs.len() as f64;
    let sev = if mean_gap > 0.10 {
        Severity::Warning
    } else {
        Severity::Info
    };
    let mut e = Event::new(
        CODE,
        "val-better-than-train",
        sev,
        format!(
            "{} beats {} from the first evaluation (step {s0}: {} vs {}) and at {better} of {} evaluations",
            ctx.series_name(Role::ValMetric),
            ctx.series_name(Role::TrainMetric),
            fmt(v0),
            fmt(t0),
            pairs.len()
        ),
    )
    .steps(s0, pairs.last().map(|p| p.0).unwrap_or(s0));
    e.evidence
        .push(format!("mean gap {:+.1} points", 100.0 * mean_gap));
    e.causes.push("validation samples leak into (or duplicate) the training set, or the split is not by subject/time".into());
    e.causes.push("the train metric is a running average over an epoch of a still-improving model, or is computed with dropout/augmentation on".into());
    e.causes
        .push("a metric bug: different averaging or thresholds for train and val".into());
    e.fixes.push("check for duplicates across splits (hash the inputs) and split by group when samples are correlated".into());
    e.related = vec!["EXP005", "EXP013"];
    Some(e)
}
