//! RUN007 overfitting: the validation loss rises after its best evaluation while the
//! training loss keeps falling. A candidate needs at least 5 evaluations, at least 3 since
//! the best (Lightning `EarlyStopping`'s default patience is 3), the last 3 evaluations'
//! median more than 10% above the best, a rising trend since the best (Theil-Sen slope > 0)
//! and the train loss lower at the end than at the best evaluation.
//!
//! What the user cares about decides the severity. With an accuracy-like validation metric:
//! - the metric at the end is below its best by more than its own noise (2 points, or
//!   twice the median evaluation-to-evaluation change), or the train-val metric gap is over
//!   5 points: a warning (the model is getting worse where it counts, or memorizes);
//! - otherwise info: the loss rises from over-confidence on a few errors while the ranking
//!   is still at its best; pick the checkpoint by the metric.
//!
//! - with or without a metric, a rise that undoes over 10% of the progress made (the first
//!   evaluation's val loss minus the best) is a warning too: a train loss near 0 with a val
//!   loss that doubled is memorization even when the accuracy holds (Hugging Face's Trainer
//!   logs no train accuracy to show the gap);
//! - otherwise info. A rise of 10% from a best below 0.01 is noise.
//!
//! The 2-point, 5-point and 10% margins come from the corpus's tune part
//! (`examples/corpus_stats.rs`): healthy digits runs keep a train-val gap under 4 points
//! (the character-level LM 11-12, with no val-loss rise) and end with val-loss rises under 3%
//! of their progress; the tiny-training-set runs open gaps of 7.8-8.1 points or rise by
//! 11-16% of their progress.

use mleng_diagnostics::Severity;

use super::{is_fraction, values, Context, Event, Marker, MarkerKind};
use crate::roles::Role;
use crate::stats::{self, fmt};

pub const CODE: &str = "RUN007";
pub const PATIENCE: usize = 3;
pub const RISE: f64 = 0.10;
/// A metric drop below its best smaller than this (a fraction) is evaluation noise.
pub const METRIC_NOISE: f64 = 0.02;
/// A train-minus-val metric gap over this (a fraction) is memorization.
pub const GAP: f64 = 0.05;
/// Without a metric, a rise under this share of the progress made is noise.
pub const PROGRESS_SHARE: f64 = 0.10;

/// Median of the pairwise slopes (Theil-Sen): robust to one odd evaluation. Quadratic in
/// the points, so at most 200 of them, evenly spread, are used.
fn theil_sen(all: &[(i64, f64)]) -> Option<f64> {
    let stride = all.len().div_ceil(200).max(1);
    let points: Vec<(i64, f64)> = all.iter().step_by(stride).copied().collect();
    let mut slopes = Vec::new();
    for (i, a) in points.iter().enumerate() {
        for b in points.iter().skip(i + 1) {
            if b.0 != a.0 {
                slopes.push((b.1 - a.1) / (b.0 as f64 - a.0 as f64));
            }
        }
    }
    stats::median(&slopes)
}

pub fn detect(ctx: &Context<'_>) -> Option<Event> {
    let val = ctx.clean(Role::ValLoss);
    if val.len() < 5 {
        return None;
    }
    let (best_idx, &(best_step, best)) = val
        .iter()
        .enumerate()
        .min_by(|a, b| a.1 .1.total_cmp(&b.1 .1))?;
    let since = val.len() - 1 - best_idx;
    let recent = stats::tail_median(&values(&val), 0.0, 3)?;
    if since < PATIENCE || recent <= best * (1.0 + RISE) || recent - best < 1e-6 {
        return None;
    }
    let since_best = val.get(best_idx..).unwrap_or(&[]);
    if !theil_sen(since_best).is_some_and(|s| s > 0.0) {
        return None;
    }
    let train = ctx.clean(Role::TrainLoss);
    let train_at_best = train.iter().rev().find(|p| p.0 <= best_step).map(|p| p.1);
    let train_end = stats::tail_median(&values(&train), 0.05, 3);
    let train_falls = match (train_at_best, train_end) {
        (Some(a), Some(b)) => b < a,
        _ => true,
    };
    if !train_falls {
        return None;
    }
    let (last_step, _) = *val.last()?;
    let name = ctx.series_name(Role::ValLoss);
    let metric = ctx.clean(Role::ValMetric);
    let train_metric = ctx.clean(Role::TrainMetric);
    let judged = judge(&metric, &train_metric, &values(&val), best, recent);
    let title = match &judged {
        Judged::Worse(why) => format!(
            "Overfitting: {name} was best at step {best_step}{} ({}) and rose to {} (+{:.0}%) while the training loss kept falling; {why}",
            ctx.epoch_note(best_step),
            fmt(best),
            fmt(recent),
            100.0 * (recent / best - 1.0)
        ),
        Judged::Benign(why) => format!(
            "{name} rose {:.0}% from its best ({} at step {best_step}{}) but {why}: pick the checkpoint by {}",
            100.0 * (recent / best - 1.0),
            fmt(best),
            ctx.epoch_note(best_step),
            if is_fraction(&metric) { ctx.series_name(Role::ValMetric) } else { "the validation loss".into() }
        ),
    };
    let severity = match judged {
        Judged::Worse(_) => Severity::Warning,
        Judged::Benign(_) => Severity::Info,
    };
    let mut event = Event::new(CODE, "overfitting", severity, title).steps(best_step, last_step);
    event.evidence.push(format!(
        "{name}: best {} at step {best_step}{}, median of the last 3 evaluations {}, {since} evaluations since the best",
        fmt(best),
        ctx.epoch_note(best_step),
        fmt(recent)
    ));
    if let (Some(a), Some(b)) = (train_at_best, train_end) {
        event.evidence.push(format!(
            "{}: {} at the best evaluation, {} at the end",
            ctx.series_name(Role::TrainLoss),
            fmt(a),
            fmt(b)
        ));
    }
    if is_fraction(&metric) {
        if let Some(&(ms, mv)) = metric.iter().max_by(|a, b| a.1.total_cmp(&b.1)) {
            let last = metric.last().map(|p| p.1).unwrap_or(mv);
            event.evidence.push(format!(
                "{}: best {} at step {ms}{}, final {}",
                ctx.series_name(Role::ValMetric),
                fmt(mv),
                ctx.epoch_note(ms),
                fmt(last)
            ));
        }
    }
    if let Some(&(_, tm)) = train_metric.last() {
        event.evidence.push(format!(
            "{} at the end: {}",
            ctx.series_name(Role::TrainMetric),
            fmt(tm)
        ));
    }
    event
        .causes
        .push("the model memorizes a training set too small for its capacity".into());
    // Val loss rising while val accuracy still improves is overconfidence on the errors.
    if let Some(&(ms, _)) = metric.iter().max_by(|a, b| a.1.total_cmp(&b.1)) {
        if is_fraction(&metric) && ms > best_step {
            event.causes.push(format!(
                "growing overconfidence: {} peaked later, at step {ms}{}, so the model still ranks better while its wrong answers get more confident; pick the checkpoint by the metric you care about",
                ctx.series_name(Role::ValMetric),
                ctx.epoch_note(ms)
            ));
        }
    }
    event
        .causes
        .push("too little regularization (weight decay, dropout, augmentation)".into());
    event
        .causes
        .push("training for too long: no early stopping".into());
    event.fixes.push(format!(
        "keep the checkpoint from step {best_step}{} and stop early on the validation loss (Lightning EarlyStopping(monitor=\"val_loss\", patience=3))",
        ctx.epoch_note(best_step)
    ));
    event
        .fixes
        .push("add weight decay (AdamW, 0.01-0.1), dropout, or data augmentation".into());
    event
        .fixes
        .push("get more training data or use a smaller model".into());
    event.markers.push(Marker {
        step: best_step,
        kind: MarkerKind::BestEpoch,
        label: format!("best val loss{}", ctx.epoch_note(best_step)),
    });
    Some(event)
}

enum Judged {
    Worse(String),
    Benign(String),
}

/// Whether the rise matters: by the validation metric and the train-val gap when an
/// accuracy-like metric is logged, else by the size of the rise against the progress made.
fn judge(
    metric: &[(i64, f64)],
    train_metric: &[(i64, f64)],
    val: &[f64],
    best: f64,
    recent: f64,
) -> Judged {
    if is_fraction(metric) && metric.len() >= 3 {
        let m = values(metric);
        let best_m = m.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let end_m = stats::tail_median(&m, 0.0, 3).unwrap_or(best_m);
        let steps: Vec<f64> = m.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
        let noise = (2.0 * stats::median(&steps).unwrap_or(0.0)).max(METRIC_NOISE);
        let gap = match (train_metric.last(), metric.last()) {
            (Some(t), Some(v)) if is_fraction(train_metric) => t.1 - v.1,
            _ => 0.0,
        };
        if best_m - end_m > noise {
            return Judged::Worse(format!(
                "the validation metric fell from {} to {}",
                fmt(best_m),
                fmt(end_m)
            ));
        }
        if gap > GAP {
            return Judged::Worse(format!(
                "the train metric is {:.1} points above the validation metric",
                100.0 * gap
            ));
        }
        let progress = (val.first().copied().unwrap_or(best) - best).abs();
        if recent - best > PROGRESS_SHARE * progress {
            return Judged::Worse(format!(
                "the rise undoes {:.0}% of the progress since the first evaluation",
                100.0 * (recent - best) / progress.max(1e-12)
            ));
        }
        return Judged::Benign(format!(
            "the validation metric is still at its best ({} at the end, best {})",
            fmt(end_m),
            fmt(best_m)
        ));
    }
    let initial = val.first().copied().unwrap_or(best);
    let progress = (initial - best).abs();
    if recent - best > PROGRESS_SHARE * progress {
        Judged::Worse(format!(
            "the rise undoes {:.0}% of the progress since the first evaluation",
            100.0 * (recent - best) / progress.max(1e-12)
        ))
    } else {
        Judged::Benign(format!(
            "the rise is {:.1}% of the progress since the first evaluation, within noise",
            100.0 * (recent - best) / progress.max(1e-12)
        ))
    }
}
