//! RUN003 divergence. Two shapes:
//! * late: the smoothed loss (rolling median of 9) ends far above its running minimum and
//!   does not come back: final > 2x minimum *and* the rise is > 25% of the initial loss.
//!   This is AUTOTRAINER's "loss goes up" / UMLAUT's "loss increasing" rule made robust
//!   to noise with a rolling median.
//! * early blow-up: within the first 10% of the run the loss rises to 5x its first value,
//!   or peaks at more than 10x where the run later settles while the run ends without
//!   learning (typical of a learning rate so high that the first updates wreck the net).

use mleng_diagnostics::Severity;

use super::{values, Context, Event, Marker, MarkerKind};
use crate::stats::{self, fmt};

pub const CODE: &str = "RUN003";

pub fn detect(ctx: &Context<'_>) -> Option<Event> {
    let (role, pts) = ctx.loss();
    if pts.len() < 8 {
        return None;
    }
    let name = ctx.series_name(role);
    let vals = values(&pts);
    early_blowup(ctx, &name, &pts, &vals).or_else(|| late(ctx, &name, &pts, &vals))
}

fn early_blowup(ctx: &Context<'_>, name: &str, pts: &[(i64, f64)], vals: &[f64]) -> Option<Event> {
    let head = ((pts.len() as f64 * 0.1).ceil() as usize)
        .max(3)
        .min(pts.len());
    let (peak_idx, peak) = vals
        .get(..head)?
        .iter()
        .copied()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    let first = *vals.first()?;
    let late = stats::tail_median(vals, 0.5, 3)?;
    let rose = first > 0.0 && peak >= 5.0 * first && peak_idx > 0;
    let settles_far_below = late > 0.0 && peak >= 10.0 * late && stuck_at_chance(ctx, late);
    if !(rose || settles_far_below) {
        return None;
    }
    let (peak_step, _) = *pts.get(peak_idx)?;
    let mut event = Event::new(
        CODE,
        "divergence",
        Severity::Error,
        format!(
            "The loss blew up at the start: {name} reached {} by step {peak_step}, {:.0}x where it later settles ({})",
            fmt(peak),
            peak / late,
            fmt(late)
        ),
    )
    .steps(pts.first()?.0, peak_step);
    event.evidence.push(format!(
        "{name}: first logged {} at step {}, peak {} at step {peak_step}, median of the last half {}",
        fmt(first),
        pts.first()?.0,
        fmt(peak),
        fmt(late)
    ));
    if let Some(k) = ctx.chance_classes(late) {
        event.evidence.push(format!(
            "a freshly initialized {k}-class classifier starts near ln({k}) = {}; a loss of {} means the first updates overshot badly",
            fmt(f64::from(k).ln()),
            fmt(peak)
        ));
    }
    if let Some((_, line)) = ctx.configured_lr() {
        event.evidence.push(line);
    }
    event.causes.push(
        "learning rate far too high: the first updates overshoot, saturate activations or kill ReLUs, and the net never recovers"
            .into(),
    );
    event.causes.push(
        "no warmup: the full learning rate hits the randomly initialized network at step 0".into(),
    );
    event.fixes.push(
        "lower the learning rate 10-100x (for Adam, 1e-3 or below is the usual start)".into(),
    );
    event
        .fixes
        .push("add a linear warmup over the first ~5% of steps".into());
    event.fixes.push("clip gradients at 1.0 (TRN001)".into());
    event.related = vec!["TRN001", "TRN022"];
    event.markers.push(Marker {
        step: peak_step,
        kind: MarkerKind::Event,
        label: "early blow-up".into(),
    });
    Some(event)
}

/// How far from chance towards perfect, `(acc - 1/K) / (1 - 1/K)`, an accuracy may sit in a
/// run still called "at chance". The scale is the same for every K: the earlier bar, acc <=
/// 1.5/K, allowed 5.6% of the way for K = 10 and 50% for K = 2 (a 74% binary classifier). 0.25: corpus (tune part:
/// the runs whose loss ends within 15% of ln K are either at chance, <= 0.17 of the way,
/// or plainly learning, 0.87).
pub const CHANCE_ACCURACY_SHARE: f64 = 0.25;

/// True when the run ends at chance: the loss within 15% of ln K and the recent
/// accuracy-like metric (validation first: a model that memorizes shuffled labels is still
/// at chance on new data) less than [`CHANCE_ACCURACY_SHARE`] of the way from chance (1/K)
/// to perfect.
pub fn stuck_at_chance(ctx: &Context<'_>, late_loss: f64) -> bool {
    let Some(k) = ctx.chance_classes(late_loss) else {
        return false;
    };
    let ln = f64::from(k).ln();
    let loss_at_chance = ((late_loss - ln) / ln).abs() <= 0.15;
    let metric = [
        crate::roles::Role::ValMetric,
        crate::roles::Role::TrainMetric,
    ]
    .into_iter()
    .map(|r| ctx.clean(r))
    .find(|p| super::is_fraction(p));
    // Without an accuracy, a loss near ln K proves nothing: every value is near ln K for
    // some K. The "barely moving" rule covers those runs.
    let chance = 1.0 / f64::from(k);
    match metric {
        Some(m) => {
            loss_at_chance
                && stats::tail_median(&values(&m), 0.3, 2)
                    .is_some_and(|acc| (acc - chance) / (1.0 - chance) < CHANCE_ACCURACY_SHARE)
        }
        None => false,
    }
}

fn late(ctx: &Context<'_>, name: &str, pts: &[(i64, f64)], vals: &[f64]) -> Option<Event> {
    let smooth = stats::rolling_median(vals, 9);
    let initial = stats::head_median(vals, 0.05, 3)?;
    let mut run_min = f64::INFINITY;
    let mut min_idx = 0;
    for (i, v) in smooth.iter().enumerate() {
        if *v < run_min {
            run_min = *v;
            min_idx = i;
        }
    }
    let end = *smooth.last()?;
    let rise = end - run_min;
    let diverged = run_min.is_finite() && end > 2.0 * run_min && rise > 0.25 * initial.abs();
    if !diverged || min_idx + 3 >= smooth.len() {
        return None;
    }
    let (min_step, _) = *pts.get(min_idx)?;
    let (end_step, _) = *pts.last()?;
    let start = smooth
        .iter()
        .enumerate()
        .skip(min_idx)
        .find(|(_, v)| **v > run_min + 0.5 * rise)
        .and_then(|(i, _)| pts.get(i))
        .map(|p| p.0)
        .unwrap_or(min_step);
    let mut event = Event::new(
        CODE,
        "divergence",
        Severity::Error,
        format!(
            "The loss diverged: smoothed {name} rose from its minimum {} at step {min_step} to {} at the end and did not recover",
            fmt(run_min),
            fmt(end)
        ),
    )
    .steps(start, end_step);
    event.evidence.push(format!(
        "rolling median (9 points) of {name}: minimum {} at step {min_step}{}, {} at step {end_step} ({:.1}x the minimum)",
        fmt(run_min),
        ctx.epoch_note(min_step),
        fmt(end),
        end / run_min
    ));
    if let Some(lr) = ctx.lr_at(start) {
        event
            .evidence
            .push(format!("learning rate when it turned: {}", fmt(lr)));
    }
    if let Some((_, line)) = ctx.configured_lr() {
        event.evidence.push(line);
    }
    event.causes.push(
        "learning rate too high for this stage of training (or a schedule that raises it)".into(),
    );
    event
        .causes
        .push("exploding gradients without clipping".into());
    event
        .causes
        .push("a data problem that starts mid-run (corrupt shard, label shift)".into());
    event
        .fixes
        .push("resume from the checkpoint before the turn with a 2-10x lower learning rate".into());
    event.fixes.push("clip gradients at 1.0 (TRN001)".into());
    event.related = vec!["TRN001", "TRN009", "TRN022"];
    event.markers.push(Marker {
        step: start,
        kind: MarkerKind::Event,
        label: "divergence".into(),
    });
    Some(event)
}
