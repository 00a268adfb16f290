//! RUN012 throughput stalls. From a logged throughput (samples/s, it/s), else from wall-clock
//! times (TensorBoard, MLflow, W&B and JSON lines with a time field record them): the time
//! per step of each logged point against the run's median.
//! - a stall is a stretch of consecutive points at least 5x slower than the median
//!   (throughput below 20% of it), as long as 5 points and 2% of the run's points; single
//!   slow points are scheduling jitter (on a shared CPU, a quarter of the steps of a tiny MLP
//!   are that slow, scattered; the corpus's healthy runs have no stretch of 10);
//! - or one gap between two points longer than 10x the median and longer than 10 s
//!   (evaluation and checkpointing make shorter gaps).
//!
//! Info, or warning when the stalls cost more than 25% of the run's time (the time the slow
//! points took beyond the median pace, over the whole run's time). From the corpus: healthy
//! runs on a shared 2-core machine lost up to 13% to other jobs in stretches; its runs whose
//! loader stalls lost 62-89%.

use mleng_diagnostics::Severity;

use super::{values, Context, Event};
use crate::roles::Role;
use crate::stats::{self, fmt};

pub const CODE: &str = "RUN012";

pub fn detect(ctx: &Context<'_>) -> Option<Event> {
    from_throughput(ctx).or_else(|| from_wall_time(ctx))
}

/// Slowdown factor that makes a point slow (throughput below 20% of the median).
const SLOW: f64 = 5.0;
/// A stall's length in points: at least this many, and 2% of the points.
const MIN_STRETCH: usize = 5;
const STRETCH_SHARE: f64 = 0.02;
/// Share of the run's time lost that makes a stall a warning.
const LOST_SHARE: f64 = 0.25;

/// Stretches `(first index, last index)` of consecutive points whose time per unit of work
/// `cost` exceeds `SLOW` x `med`, long enough to be a stall rather than jitter.
fn stretches(cost: &[f64], med: f64) -> Vec<(usize, usize)> {
    let min_len = MIN_STRETCH.max((STRETCH_SHARE * cost.len() as f64).ceil() as usize);
    let mut out = Vec::new();
    let mut start = None;
    for (i, &c) in cost.iter().chain(std::iter::once(&0.0)).enumerate() {
        let slow = i < cost.len() && c > SLOW * med;
        match (slow, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                if i - s >= min_len {
                    out.push((s, i - 1));
                }
                start = None;
            }
            _ => {}
        }
    }
    out
}

fn from_throughput(ctx: &Context<'_>) -> Option<Event> {
    let pts = ctx.clean(Role::Throughput);
    if pts.len() < 10 || pts.iter().any(|p| p.1 <= 0.0) {
        return None;
    }
    let med = stats::median(&values(&pts))?;
    // Time per sample: equal work per logged point.
    let cost: Vec<f64> = pts.iter().map(|p| 1.0 / p.1).collect();
    let unit = 1.0 / med;
    let found = stretches(&cost, unit);
    let (&(a, _), &(_, b)) = (found.first()?, found.last()?);
    let total: f64 = cost.iter().sum();
    let lost: f64 = found
        .iter()
        .flat_map(|&(s, e)| cost.get(s..=e).unwrap_or(&[]).iter())
        .map(|c| c - unit)
        .sum();
    let share = lost / total.max(f64::MIN_POSITIVE);
    let name = ctx.series_name(Role::Throughput);
    let sev = if share > LOST_SHARE {
        Severity::Warning
    } else {
        Severity::Info
    };
    let (first, last) = (pts.get(a)?, pts.get(b)?);
    let points: usize = found.iter().map(|(s, e)| e - s + 1).sum();
    let mut e = Event::new(
        CODE,
        "throughput-stall",
        sev,
        format!(
            "Throughput stalls: {name} stays below 20% of its median ({}) for {points} consecutive logged point(s) in {} stretch(es), steps {}-{}, costing about {:.0}% of the run's time",
            fmt(med),
            found.len(),
            first.0,
            last.0,
            100.0 * share
        ),
    )
    .steps(first.0, last.0);
    let slowest = found
        .iter()
        .flat_map(|&(s, e)| pts.get(s..=e).unwrap_or(&[]).iter())
        .min_by(|x, y| x.1.total_cmp(&y.1))?;
    e.evidence.push(format!(
        "{name} from step {} to {}: as low as {} (step {}) vs median {}",
        first.0,
        last.0,
        fmt(slowest.1),
        slowest.0,
        fmt(med)
    ));
    add_advice(&mut e);
    Some(e)
}

fn from_wall_time(ctx: &Context<'_>) -> Option<Event> {
    let s = ctx.get(Role::TrainLoss)?;
    let times: Vec<(i64, f64)> = s
        .points
        .iter()
        .filter_map(|p| p.wall().map(|t| (p.step, t)))
        .collect();
    if times.len() < 20 {
        return None;
    }
    let gaps: Vec<(i64, f64)> = times
        .windows(2)
        .filter_map(|w| match w {
            [a, b] if b.0 > a.0 => Some((b.0, (b.1 - a.1) / (b.0 as f64 - a.0 as f64))),
            _ => None,
        })
        .collect();
    let med = stats::median(&values(&gaps))?;
    let cost = values(&gaps);
    let mut slow = vec![false; gaps.len()];
    for (s, e) in stretches(&cost, med) {
        for flag in slow.get_mut(s..=e).unwrap_or(&mut []) {
            *flag = true;
        }
    }
    for (flag, g) in slow.iter_mut().zip(&gaps) {
        *flag |= g.1 > 10.0 * med && g.1 > 10.0;
    }
    let stalls: Vec<&(i64, f64)> = gaps
        .iter()
        .zip(&slow)
        .filter(|(_, s)| **s)
        .map(|(g, _)| g)
        .collect();
    let first = stalls.first()?;
    let total = times.last()?.1 - times.first()?.1;
    // Each gap is a time per step: weigh it by the steps it covers.
    let span = |g: &(i64, f64)| {
        let before = times.iter().rev().find(|t| t.0 < g.0).map_or(g.0, |t| t.0);
        (g.0 as f64 - before as f64).max(1.0)
    };
    let lost: f64 = stalls.iter().map(|g| (g.1 - med) * span(g)).sum();
    let sev = if total > 0.0 && lost > LOST_SHARE * total {
        Severity::Warning
    } else {
        Severity::Info
    };
    let mut e = Event::new(
        CODE,
        "throughput-stall",
        sev,
        format!(
            "Training stalled at {} logged point(s), losing about {:.0} s ({:.0}% of the run's time); the first stall is before step {}",
            stalls.len(),
            lost,
            100.0 * lost / total.max(f64::MIN_POSITIVE),
            first.0
        ),
    )
    .steps(first.0, stalls.last().map(|g| g.0).unwrap_or(first.0));
    e.evidence.push(format!(
        "median time per step {} s; the stall before step {} took {} s per step",
        fmt(med),
        first.0,
        fmt(first.1)
    ));
    add_advice(&mut e);
    Some(e)
}

fn add_advice(e: &mut Event) {
    e.causes.push("the data loader cannot keep up (too few workers, slow storage, heavy augmentation on the main process)".into());
    e.causes
        .push("synchronous checkpointing or evaluation inside the training loop".into());
    e.causes
        .push("a shared machine: another job took the GPU or the disk".into());
    e.fixes.push("DataLoader(num_workers>0, pin_memory=True, persistent_workers=True); profile with torch.profiler".into());
}
