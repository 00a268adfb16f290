//! RUN012 throughput stalls. From a logged throughput (samples/s, it/s): points below 20%
//! of the median after the first 5% of the run. Otherwise from wall-clock times (TensorBoard
//! and MLflow record them): gaps between consecutive training-loss points longer than 10x
//! the median gap and longer than 10 s (evaluation and checkpointing make shorter gaps).
//! Info, or warning when the stalls cost more than 10% of the run's time.

use mleng_diagnostics::Severity;

use super::{values, Context, Event};
use crate::roles::Role;
use crate::stats::{self, fmt};

pub const CODE: &str = "RUN012";

pub fn detect(ctx: &Context<'_>) -> Option<Event> {
    from_throughput(ctx).or_else(|| from_wall_time(ctx))
}

fn from_throughput(ctx: &Context<'_>) -> Option<Event> {
    let pts = ctx.clean(Role::Throughput);
    if pts.len() < 10 {
        return None;
    }
    let med = stats::median(&values(&pts))?;
    let skip = pts.len() / 20;
    let slow: Vec<&(i64, f64)> = pts.iter().skip(skip).filter(|p| p.1 < 0.2 * med).collect();
    let first = slow.first()?;
    let name = ctx.series_name(Role::Throughput);
    let sev = if slow.len() * 10 > pts.len() {
        Severity::Warning
    } else {
        Severity::Info
    };
    let mut e = Event::new(
        CODE,
        "throughput-stall",
        sev,
        format!("Throughput stalls: {name} drops below 20% of its median ({}) at {} point(s), first at step {}", fmt(med), slow.len(), first.0),
    )
    .steps(first.0, slow.last().map(|p| p.0).unwrap_or(first.0));
    e.evidence.push(format!(
        "{name} at step {}: {} vs median {}",
        first.0,
        fmt(first.1),
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
    let stalls: Vec<&(i64, f64)> = gaps
        .iter()
        .filter(|g| g.1 > 10.0 * med && g.1 > 10.0)
        .collect();
    let first = stalls.first()?;
    let total = times.last()?.1 - times.first()?.1;
    let lost: f64 = stalls.iter().map(|g| g.1 - med).sum();
    let sev = if total > 0.0 && lost > 0.1 * total {
        Severity::Warning
    } else {
        Severity::Info
    };
    let mut e = Event::new(
        CODE,
        "throughput-stall",
        sev,
        format!(
            "Training stalled {} time(s), losing about {:.0} s; the first stall is before step {}",
            stalls.len(),
            lost,
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
