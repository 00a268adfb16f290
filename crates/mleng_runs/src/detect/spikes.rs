//! RUN004 loss spikes that cost something. A candidate is a point far above the trailing
//! rolling median by the run's own batch-to-batch noise: robust z-score (median/MAD, window
//! 21) > 6 and at least 1.5x the median (modified z-score, Iglewicz & Hoaglin 1993, made
//! stricter than its usual 3.5). Every real run has such batches: one batch at 5x the
//! median that is back to normal at the next logged step is mini-batch noise, not a finding.
//! A spike is reported only when it costs something:
//! - it undoes >= 30% of the progress made so far (initial loss minus the median), and
//! - it takes time to recover: the loss stays above median + 3 MAD for >= 3 logged points
//!   (or never comes back);
//! - or, without lasting, such progress-undoing blips recur (>= 3) and grow (the later half
//!   larger than the earlier half).
//!
//! Severity: one costly spike that recovered is info; two or more, one that never recovered,
//! or recurring growing blips are a warning. The 30% is the earlier rule's; the 3 points
//! come from the corpus (`tests/corpus`, `examples/corpus_stats.rs`): in its healthy runs,
//! every candidate that undoes >= 30% of the progress (up to 174% early in a run) is back to
//! normal within 2 logged points. Rule adapted from the "loss spike" discussion in the
//! PaLM and OPT training logs (a spike that matters is one the run has to climb back from).

use mleng_diagnostics::Severity;

use super::{values, Context, Event, Marker, MarkerKind};
use crate::stats::{self, fmt};

pub const CODE: &str = "RUN004";
const WINDOW: usize = 21;
const Z: f64 = 6.0;
const UNDO: f64 = 0.3;
/// Logged points a spike must stay elevated to count as costly (a blip recovers sooner).
const LASTING: usize = 3;
/// Progress-undoing blips that, recurring and growing, are worth a warning.
const RECURRING: usize = 3;

pub struct Spike {
    pub step: i64,
    pub value: f64,
    pub baseline: f64,
    pub recovered_after: Option<i64>,
    /// Logged points from the spike until the loss is back under median + 3 MAD (all the
    /// remaining points when it never is).
    pub elevated_points: usize,
    /// Share of the progress made so far (initial loss minus median) the spike undid.
    pub undone: f64,
}

impl Spike {
    /// Undoes progress and takes time to recover (or never does).
    pub fn costly(&self) -> bool {
        self.undone >= UNDO && (self.elevated_points >= LASTING || self.recovered_after.is_none())
    }
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
        // What a spike costs is judged in `detect`: how much progress it undid (at tiny late
        // losses mini-batch noise is large relative to the median but irrelevant) and how
        // long it took to recover.
        let progress = (initial - m).abs().max(1e-12);
        if z > Z && x > 1.5 * m {
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
                elevated_points: back.unwrap_or(vals.len()) - i,
                undone: (x - m) / progress,
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
    let mut candidates = find(&pts);
    // An excursion that never comes back before the loss goes NaN is the divergence
    // (RUN001/RUN003), not a spike.
    if ctx.first_nonfinite.is_some() {
        candidates.retain(|s| s.recovered_after.is_some());
    }
    let blips: Vec<&Spike> = candidates
        .iter()
        .filter(|s| !s.costly() && s.undone >= UNDO)
        .collect();
    let half = blips.len() / 2;
    let size = |v: &[&Spike]| stats::median(&v.iter().map(|s| s.undone).collect::<Vec<_>>());
    let growing = blips.len() >= RECURRING
        && matches!(
            (size(&blips[..half]), size(&blips[half..])),
            (Some(a), Some(b)) if b > a
        );
    let recurring = growing;
    let spikes: Vec<Spike> = candidates
        .into_iter()
        .filter(|s| s.costly() || (recurring && s.undone >= UNDO))
        .collect();
    let first = spikes.first()?;
    let name = ctx.series_name(role);
    let unrecovered = spikes
        .iter()
        .filter(|s| s.recovered_after.is_none())
        .count();
    let costly = spikes.iter().filter(|s| s.costly()).count();
    let severity = if costly >= 2 || unrecovered > 0 || recurring {
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
            "step {}{}: {} vs median {} ({:.1}x){lr}, undid {:.0}% of the progress so far, {rec} ({} logged points)",
            s.step,
            ctx.epoch_note(s.step),
            fmt(s.value),
            fmt(s.baseline),
            s.value / s.baseline.max(1e-12),
            100.0 * s.undone.min(99.99),
            s.elevated_points
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

#[cfg(test)]
mod tests {
    use super::*;

    fn run(extra: impl Fn(usize) -> f64) -> Vec<(i64, f64)> {
        (0..400)
            .map(|i| {
                let noise = 0.02 * ((i * 7919 % 13) as f64 / 13.0 - 0.5);
                (
                    i as i64,
                    0.3 + 2.0 * (-(i as f64) / 60.0).exp() + noise + extra(i),
                )
            })
            .collect()
    }

    #[test]
    fn a_blip_costs_nothing_a_lasting_spike_does() {
        let blip = find(&run(|i| if i == 250 { 1.5 } else { 0.0 }));
        assert_eq!(blip.len(), 1);
        assert!(!blip[0].costly(), "one batch back to normal next step");
        let lasting = find(&run(|i| {
            if (250..262).contains(&i) {
                1.5 * (1.0 - (i - 250) as f64 / 12.0)
            } else {
                0.0
            }
        }));
        assert_eq!(lasting.len(), 1);
        assert!(lasting[0].costly(), "{} points", lasting[0].elevated_points);
        assert!(lasting[0].undone > 0.3);
    }
}
