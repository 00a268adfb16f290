//! RUN005 oscillation: in the second half of the run the loss swings widely around its
//! trend without improving. Residuals from a rolling median (window 9) have a MAD > 30% of
//! the loss level and > 5% of the initial loss, and the last quarter is not >= 10% below
//! the third. AUTOTRAINER calls this "oscillating loss"; its rule compares the loss
//! variance inside a window to a threshold, we use robust statistics instead.

use mleng_diagnostics::Severity;

use super::{values, Context, Event};
use crate::stats::{self, fmt};

pub const CODE: &str = "RUN005";
/// Robust amplitude, as a fraction of the loss level, above which the loss "oscillates".
pub const AMPLITUDE: f64 = 0.3;

pub fn detect(ctx: &Context<'_>) -> Option<Event> {
    let (role, pts) = ctx.loss();
    if pts.len() < 40 {
        return None;
    }
    let vals = values(&pts);
    let half = vals.get(vals.len() / 2..)?;
    let smooth = stats::rolling_median(half, 9);
    let resid: Vec<f64> = half.iter().zip(&smooth).map(|(v, m)| v - m).collect();
    let amp = stats::mad(&resid)?;
    let level = stats::median(half)?.abs();
    let initial = stats::head_median(&vals, 0.05, 3)?.abs();
    let q = half.len() / 2;
    let third = stats::median(half.get(..q)?)?;
    let fourth = stats::median(half.get(q..)?)?;
    let improving = fourth < 0.9 * third;
    if amp <= AMPLITUDE * level || amp <= 0.05 * initial || improving {
        return None;
    }
    let name = ctx.series_name(role);
    let first_step = pts.get(vals.len() / 2)?.0;
    let last_step = pts.last()?.0;
    let mut event = Event::new(
        CODE,
        "oscillating-loss",
        Severity::Warning,
        format!(
            "{name} oscillates by about ±{} around {} in the second half without improving",
            fmt(amp),
            fmt(level)
        ),
    )
    .steps(first_step, last_step);
    event.evidence.push(format!(
        "steps {first_step}-{last_step}: robust amplitude {} ({:.0}% of the level); third-quarter median {}, last-quarter median {}",
        fmt(amp),
        100.0 * amp / level.max(1e-12),
        fmt(third),
        fmt(fourth)
    ));
    event.causes.push(
        "learning rate too high for this phase: the optimizer bounces across a valley".into(),
    );
    event
        .causes
        .push("batch size too small for the learning rate (noisy gradients)".into());
    event
        .fixes
        .push("decay the learning rate (cosine or step schedule), or halve it".into());
    event
        .fixes
        .push("increase the batch size or use gradient accumulation".into());
    event.related = vec!["TRN009", "TRN022"];
    Some(event)
}
