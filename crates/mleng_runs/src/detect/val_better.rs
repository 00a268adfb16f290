//! RUN013 validation metric better than training from the start: at the first evaluation
//! and at >= 80% of evaluations the validation accuracy-like metric beats the training one
//! by more than 3 points. Dropout and augmentation make train metrics a little worse, not
//! this consistently; a larger gap points at leakage or a metric bug. Info, warning when
//! the gap exceeds 10 points.
//!
//! Without a train metric (Hugging Face's Trainer logs none), the losses: the val loss
//! below 0.7x the median train loss since the evaluation before it at >= 80% of the
//! evaluations (the first is not required: the first epoch's train loss includes the untrained
//! start); warning when the median ratio is below 0.5. The corpus's healthy runs (dropout up
//! to 0.3, label smoothing) have median ratios of 0.82 and more; its leakage runs (validation
//! drawn from the training set, training-only noise and dropout 0.5-0.6) 0.44-0.45.

use mleng_diagnostics::Severity;

use super::{is_fraction, Context, Event};
use crate::roles::Role;
use crate::stats::{self, fmt};

pub const CODE: &str = "RUN013";

pub fn detect(ctx: &Context<'_>) -> Option<Event> {
    let train = ctx.clean(Role::TrainMetric);
    let val = ctx.clean(Role::ValMetric);
    if !is_fraction(&train) || !is_fraction(&val) {
        return from_losses(ctx);
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
    advise(&mut e);
    Some(e)
}

fn advise(e: &mut Event) {
    e.causes.push("validation samples leak into (or duplicate) the training set, or the split is not by subject/time".into());
    e.causes.push("the train metric is a running average over an epoch of a still-improving model, or is computed with dropout/augmentation on".into());
    e.causes
        .push("a metric bug: different averaging or thresholds for train and val".into());
    e.fixes.push("check for duplicates across splits (hash the inputs) and split by group when samples are correlated".into());
    e.related = vec!["EXP005", "EXP013"];
}

fn from_losses(ctx: &Context<'_>) -> Option<Event> {
    let train = ctx.clean(Role::TrainLoss);
    let val = ctx.clean(Role::ValLoss);
    if train.len() < 10 || val.len() < 3 {
        return None;
    }
    let mut prev = i64::MIN;
    let mut ratios = Vec::new();
    for &(s, v) in &val {
        let window: Vec<f64> = train
            .iter()
            .filter(|t| t.0 > prev && t.0 <= s)
            .map(|t| t.1)
            .collect();
        prev = s;
        if let Some(t) = stats::median(&window).filter(|t| *t > 0.0) {
            ratios.push((s, v / t, t, v));
        }
    }
    if ratios.len() < 3 {
        return None;
    }
    let &(s0, r0, t0, v0) = ratios.first()?;
    let below = ratios.iter().filter(|r| r.1 < RATIO).count();
    if below * 5 < ratios.len() * 4 {
        return None;
    }
    let med = stats::median(&ratios.iter().map(|r| r.1).collect::<Vec<_>>())?;
    let sev = if med < 0.5 {
        Severity::Warning
    } else {
        Severity::Info
    };
    let mut e = Event::new(
        CODE,
        "val-better-than-train",
        sev,
        format!(
            "{} is below {} at {below} of {} evaluations (first: step {s0}, {} vs {}): the validation data looks easier than the training data",
            ctx.series_name(Role::ValLoss),
            ctx.series_name(Role::TrainLoss),
            ratios.len(),
            fmt(v0),
            fmt(t0)
        ),
    )
    .steps(s0, ratios.last().map(|r| r.0).unwrap_or(s0));
    e.evidence.push(format!(
        "val loss / train loss of the epoch before: median {:.2} (first {:.2})",
        med, r0
    ));
    advise(&mut e);
    Some(e)
}

/// Val loss below this share of the train loss counts as "better".
const RATIO: f64 = 0.7;
