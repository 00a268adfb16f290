//! RUN010 learning-rate schedule anomalies:
//! * LR 0 before the last 5% of the run (cosine/linear decay reaching 0 at the very end is
//!   normal), warning;
//! * an upward jump of >= 3x after the first 10% of steps (warmup rises gradually): a
//!   restart, deliberate with SGDR, accidental when a resumed run rebuilt its scheduler;
//!   warning when the step counter also went backwards (a resume), info otherwise;
//! * no warmup where one is usual: the LR starts at its maximum and the run blew up or went
//!   NaN in its first 10% (info; the fix belongs with that finding).

use mleng_diagnostics::Severity;

use super::{divergence, nonfinite, spikes, Context, Event, Marker, MarkerKind};
use crate::roles::Role;
use crate::stats::fmt;

pub const CODE: &str = "RUN010";

pub fn detect(ctx: &Context<'_>, earlier: &[Event]) -> Vec<Event> {
    let Some(series) = ctx.get(Role::LearningRate) else {
        return Vec::new();
    };
    let pts: Vec<(i64, f64)> = series
        .points
        .iter()
        .filter(|p| p.value.is_finite())
        .map(|p| (p.step, p.value))
        .collect();
    if pts.len() < 5 {
        return Vec::new();
    }
    let mut out = Vec::new();
    let n = pts.len();
    let name = &series.name;
    let max_lr = pts.iter().map(|p| p.1).fold(0.0, f64::max);
    // LR 0 mid-run.
    let cutoff = (n as f64 * 0.95) as usize;
    if max_lr > 0.0 {
        if let Some((idx, &(step, _))) = pts
            .iter()
            .enumerate()
            .find(|(i, p)| *i > 0 && *i < cutoff && p.1 <= max_lr * 1e-9)
        {
            let zeros = pts.iter().filter(|p| p.1 <= max_lr * 1e-9).count();
            let resumes = pts.iter().skip(idx).any(|p| p.1 > max_lr * 1e-9);
            let mut e = Event::new(
                CODE,
                "lr-zero-mid-run",
                Severity::Warning,
                format!(
                    "The learning rate is 0 from step {step}, {:.0}% into the run",
                    100.0 * idx as f64 / n as f64
                ),
            )
            .steps(step, pts.last().map(|p| p.0).unwrap_or(step));
            e.evidence.push(format!(
                "{name}: max {}, 0 at {zeros} of {n} logged steps{}",
                fmt(max_lr),
                if resumes { ", nonzero again later" } else { "" }
            ));
            e.causes.push("the schedule's total steps are shorter than the run (e.g. OneCycle/linear decay sized for fewer epochs or without gradient accumulation)".into());
            e.causes.push(
                "scheduler.step() called per batch when the schedule was sized in epochs".into(),
            );
            e.fixes.push("size the schedule with the real number of optimizer steps: epochs × ceil(batches / accumulation)".into());
            e.related = vec!["TRN009"];
            e.markers.push(Marker {
                step,
                kind: MarkerKind::Event,
                label: "lr = 0".into(),
            });
            out.push(e);
        }
    }
    // Upward jumps after warmup, and step counters that go backwards (resume).
    let warm_end = (n as f64 * 0.1) as usize;
    let backwards = series
        .points
        .windows(2)
        .find(|w| matches!(w, [a, b] if b.step < a.step))
        .and_then(|w| w.get(1))
        .map(|p| p.step);
    let jumps: Vec<(i64, f64, f64)> = pts
        .windows(2)
        .enumerate()
        .filter(|(i, _)| *i + 1 > warm_end)
        .filter_map(|(_, w)| match w {
            [a, b] if a.1 > 0.0 && b.1 >= 3.0 * a.1 => Some((b.0, a.1, b.1)),
            _ => None,
        })
        .collect();
    if let Some(&(step, from, to)) = jumps.first() {
        let sev = if backwards.is_some() {
            Severity::Warning
        } else {
            Severity::Info
        };
        let mut e = Event::new(
            CODE,
            "lr-restart",
            sev,
            format!(
                "The learning rate jumps up {:.0}x at step {step} ({} → {})",
                to / from,
                fmt(from),
                fmt(to)
            ),
        )
        .steps(step, step);
        e.evidence.push(format!(
            "{} upward jump(s) of >= 3x after the first 10% of the run",
            jumps.len()
        ));
        if let Some(b) = backwards {
            e.evidence.push(format!(
                "the step counter goes backwards at step {b}: the run was resumed"
            ));
            e.causes.push("the run was resumed without restoring the scheduler state (scheduler.load_state_dict), so the schedule restarted at its peak".into());
            e.related = vec!["EXP008"];
            e.fixes.push("save and restore optimizer and scheduler state_dicts with the model; Lightning: resume with ckpt_path=".into());
        } else {
            e.causes.push(
                "a warm-restart schedule (SGDR / CosineAnnealingWarmRestarts): deliberate".into(),
            );
            e.causes
                .push("a resumed run whose scheduler started over".into());
        }
        e.markers.push(Marker {
            step,
            kind: MarkerKind::Event,
            label: "lr restart".into(),
        });
        out.push(e);
    }
    // No warmup, when the run failed early.
    // "Early": the first 10% of the run or its first 100 steps, whichever is longer.
    let first_steps = pts
        .get(n / 10)
        .map(|p| p.0)
        .unwrap_or(i64::MAX)
        .max(pts.first().map(|p| p.0.saturating_add(100)).unwrap_or(0));
    let early_failure = earlier.iter().find(|e| {
        (e.code == nonfinite::CODE || e.code == divergence::CODE || e.code == spikes::CODE)
            && e.first_step.is_some_and(|s| s <= first_steps)
    });
    let starts_at_max = pts
        .first()
        .is_some_and(|p| p.1 >= 0.9 * max_lr && max_lr > 0.0);
    if let (Some(fail), true) = (early_failure, starts_at_max) {
        let mut e = Event::new(
            CODE,
            "lr-no-warmup",
            Severity::Info,
            format!("No warmup: the learning rate starts at its maximum ({}) and the run failed early ({})", fmt(max_lr), fail.code),
        )
        .steps(pts.first().map(|p| p.0).unwrap_or_default(), fail.first_step.unwrap_or_default());
        e.evidence.push(format!(
            "{name} at the first step: {}",
            fmt(pts.first().map(|p| p.1).unwrap_or_default())
        ));
        e.fixes.push("warm the learning rate up linearly over the first 1-5% of steps (torch.optim.lr_scheduler.LinearLR(start_factor=0.01) chained before the main schedule)".into());
        out.push(e);
    }
    out
}
