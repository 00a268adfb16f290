//! RUN004 loss spikes: points far above the trailing rolling median, by a robust z-score
//! (median/MAD, window 21) > 6, at least 1.5x the median, and undoing at least 30% of the
//! progress made so far (initial loss minus median), so mini-batch noise at tiny late
//! losses stays quiet (healthy_sgd_cosine has 4-10x "spikes" at losses of 0.005). Each spike
//! reports its recovery time (steps until the loss is back under median + 3 MAD).
//! Rule adapted from the robust outlier test (Iglewicz & Hoaglin's modified z-score) and
//! the "loss spike" discussion in the PaLM and OPT training logs.

use mleng_diagnostics::Severity;

use super::{values, Context, Event, Marker, MarkerKind};
use crate::stats::{self, fmt};

pub const CODE: &str = "RUN004";
const WINDOW: usize = 21;
const Z: f64 = 6.0;
const UNDO: f64 = 0.3;

pub struct Spike {
    pub step: i64,
    pub value: f64,
    pub baseline: f64,
    pub recovered_after: Option<i64>,
}

pub fn find(pts: &[(i64, f64)]) -> Vec<Spike> {
    let vals = values(pts);
    if vals.len() < 30 {
        return Vec::new();
    }
    let initial = stats::head_median(&vals, 0.05, 3).unwrap_or(0.0);
    let mut spikes: Vec<Spike> = Vec::new();
    // Points since the step counter last went back (a restarted run in the same log):
    // the baseline must not mix the two runs.
    let mut segment_start = Vec::with_capacity(pts.len());
    let mut current = 0;
    for (i, w) in std::iter::once(None)
        .chain(pts.windows(2).map(Some))
        .enumerate()
    {
        if matches!(w, Some([a, b]) if b.0 <= a.0) {
            current = i;
        }
        segment_start.push(current);
    }
    let mut window = stats::SlidingWindow::new(&vals);
    let mut i = 1;
    while i < vals.len() {
        let segment = segment_start.get(i).copied().unwrap_or(0);
        let lo = i.saturating_sub(WINDOW).max(segment);
        if i - lo < 10 {
            i += 1;
            continue;
        }
        window.set(lo, i);
        let Some((m, s)) = window.median_mad() else {
            i += 1;
            continue;
        };
        let x = vals.get(i).copied().unwrap_or(f64::NAN);
        let s = s.max(1e-12).max(0.01 * m.abs());
        let z = (x - m) / s;
        // A spike must undo >= 30% of the progress made so far: at tiny late losses,
        // mini-batch noise is large relative to the median but irrelevant.
        let progress = (initial - m).abs();
        if z > Z && x > 1.5 * m && (x - m) > UNDO * progress {
            let limit = m + 3.0 * s;
            let back = (i + 1..vals.len()).find(|&j| vals.get(j).is_some_and(|v| *v <= limit));
            let step = pts.get(i).map(|p| p.0).unwrap_or_default();
            spikes.push(Spike {
                step,
                value: x,
                baseline: m,
                recovered_after: back
                    .and_then(|j| pts.get(j))
                    .map(|p| p.0.saturating_sub(step)),
            });
            // Skip the rest of this spike so one excursion is one spike.
            i = back.unwrap_or(vals.len()).max(i + 1);
        } else {
            i += 1;
        }
    }
    spikes
}

pub fn detect(ctx: &Context<'_>) -> Option<Event> {
    let (role, pts) = ctx.loss();
    let mut spikes = find(&pts);
    // An excursion that never comes back before the loss goes NaN is the divergence
    // (RUN001/RUN003), not a spike.
    if ctx.first_nonfinite.is_some() {
        spikes.retain(|s| s.recovered_after.is_some());
    }
    let first = spikes.first()?;
    let name = ctx.series_name(role);
    let unrecovered = spikes
        .iter()
        .filter(|s| s.recovered_after.is_none())
        .count();
    let severity = if spikes.len() >= 2 || unrecovered > 0 {
        Severity::Warning
    } else {
        Severity::Info
    };
    let last = spikes.last().map(|s| s.step).unwrap_or(first.step);
    let mut event = Event::new(
        CODE,
        "loss-spike",
        severity,
        format!(
            "{} loss spike{} in {name}, the first at step {} ({} against a running median of {})",
            spikes.len(),
            if spikes.len() == 1 { "" } else { "s" },
            first.step,
            fmt(first.value),
            fmt(first.baseline)
        ),
    )
    .steps(first.step, last);
    for s in spikes.iter().take(5) {
        let rec = match s.recovered_after {
            Some(d) => format!("back to normal after {d} steps"),
            None => "never recovered".to_string(),
        };
        let lr = ctx
            .lr_at(s.step)
            .map(|l| format!(", lr {}", fmt(l)))
            .unwrap_or_default();
        event.evidence.push(format!(
            "step {}{}: {} vs median {} ({:.1}x){lr}, {rec}",
            s.step,
            ctx.epoch_note(s.step),
            fmt(s.value),
            fmt(s.baseline),
            s.value / s.baseline.max(1e-12)
        ));
        event.markers.push(Marker {
            step: s.step,
            kind: MarkerKind::Spike,
            label: "spike".into(),
        });
    }
    if spikes.len() > 5 {
        event
            .evidence
            .push(format!("... and {} more", spikes.len() - 5));
    }
    event
        .causes
        .push("learning rate at the edge of stability: one large gradient step overshoots".into());
    event
        .causes
        .push("a few bad or mislabeled batches, or an unshuffled loader that serves similar samples together (TRN019)".into());
    event.causes.push(
        "Adam's second-moment estimate lagging after a quiet stretch (epsilon too small)".into(),
    );
    event.fixes.push("clip gradients at 1.0 (TRN001)".into());
    event
        .fixes
        .push("lower the peak learning rate or lengthen warmup".into());
    event
        .fixes
        .push("log the batch indices at the spike steps and inspect those samples".into());
    event.related = vec!["TRN001", "TRN019"];
    Some(event)
}
