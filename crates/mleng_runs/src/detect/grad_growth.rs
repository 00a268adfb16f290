//! RUN014 gradients accumulating: the total gradient norm grows steadily through the run
//! while the loss does not settle. When `optimizer.zero_grad()` is never called, each
//! `backward()` adds to the gradients of every earlier batch: the norm climbs roughly with
//! the step count (SGD momentum and Adam then follow a stale sum) and the loss wanders.
//! Healthy runs' gradient norms shrink or stay level as the loss falls.
//!
//! Thresholds: >= 30 points; the median of the last 10% >= 20x that of the first 5%; the
//! medians of the run's ten stretches rise at >= 7 of the 9 steps between them (a steady
//! climb, not one jump: that is RUN002); the loss's last-20% median above 10% of its
//! initial level (not converged). The 20x comes from the corpus's tune part: its runs without
//! `zero_grad` grow 36-51x, its healthy runs at most 2.5x (`examples/corpus_stats.rs`).

use mleng_diagnostics::Severity;

use super::{values, Context, Event};
use crate::roles::Role;
use crate::stats::{self, fmt};

pub const CODE: &str = "RUN014";
const GROWTH: f64 = 20.0;
const RISING: usize = 7;

pub fn detect(ctx: &Context<'_>) -> Option<Event> {
    let gn = ctx.clean(Role::GradNorm);
    if gn.len() < 30 {
        return None;
    }
    let v = values(&gn);
    let tenth = v.len() / 10;
    let head = stats::median(v.get(..(v.len() / 20).max(3))?)?;
    let tail = stats::median(v.get(v.len() - tenth..)?)?;
    if !(head > 0.0 && tail >= GROWTH * head) {
        return None;
    }
    let deciles: Vec<f64> = (0..10)
        .filter_map(|i| stats::median(v.get(i * v.len() / 10..(i + 1) * v.len() / 10)?))
        .collect();
    let rising = deciles.windows(2).filter(|w| w[1] > w[0]).count();
    if rising < RISING {
        return None;
    }
    let (role, loss) = ctx.loss();
    let lv = values(&loss);
    let l0 = stats::head_median(&lv, 0.05, 3)?;
    let l1 = stats::tail_median(&lv, 0.2, 3)?;
    if l1 <= 0.1 * l0 {
        return None;
    }
    let name = ctx.series_name(Role::GradNorm);
    let (s0, s1) = (gn.first()?.0, gn.last()?.0);
    let mut e = Event::new(
        CODE,
        "gradients-accumulating",
        Severity::Warning,
        format!(
            "The gradient norm climbs steadily, {} → {} ({:.0}x), while the loss does not settle: gradients are accumulating across steps",
            fmt(head),
            fmt(tail),
            tail / head
        ),
    )
    .steps(s0, s1);
    e.evidence.push(format!(
        "{name}: median {} over the first 5% of points, {} over the last 10%; it rose in {rising} of the 9 steps between the run's tenths",
        fmt(head),
        fmt(tail)
    ));
    e.evidence.push(format!(
        "{}: {} at the start, {} over the last 20%",
        ctx.series_name(role),
        fmt(l0),
        fmt(l1)
    ));
    e.causes.push("optimizer.zero_grad() is never called (or only once, outside the loop): every backward() adds to the gradients of all earlier batches (TRN004)".into());
    e.causes.push(
        "zero_grad() called between backward() and step(), or gradient accumulation that never resets (TRN005, TRN006)"
            .into(),
    );
    e.fixes.push(
        "call optimizer.zero_grad(set_to_none=True) once per optimizer step, before backward()"
            .into(),
    );
    e.related = vec!["TRN004", "TRN005", "TRN006"];
    Some(e)
}
