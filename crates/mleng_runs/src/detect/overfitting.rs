//! RUN007 overfitting: the validation loss rises after its best evaluation while the
//! training loss keeps falling. Thresholds: at least 5 evaluations, at least 3 since the
//! best (Lightning `EarlyStopping`'s default patience is 3), the last 3 evaluations' median
//! more than 10% above the best, and the train loss lower at the end than at the best
//! evaluation. Reports the epoch of the best validation loss and of the best metric.

use mleng_diagnostics::Severity;

use super::{is_fraction, values, Context, Event, Marker, MarkerKind};
use crate::roles::Role;
use crate::stats::{self, fmt};

pub const CODE: &str = "RUN007";
pub const PATIENCE: usize = 3;
pub const RISE: f64 = 0.10;

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
    let mut event = Event::new(
        CODE,
        "overfitting",
        Severity::Warning,
        format!(
            "Overfitting: {name} was best at step {best_step}{} ({}) and rose to {} (+{:.0}%) while the training loss kept falling",
            ctx.epoch_note(best_step),
            fmt(best),
            fmt(recent),
            100.0 * (recent / best - 1.0)
        ),
    )
    .steps(best_step, last_step);
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
    let metric = ctx.clean(Role::ValMetric);
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
    let train_metric = ctx.clean(Role::TrainMetric);
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
