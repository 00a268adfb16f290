//! RUN011 AMP-scaled gradient norms: with `torch.cuda.amp.GradScaler` the gradients are
//! multiplied by the loss scale (2^16 at start, halved on overflow, doubled every 2000 good
//! steps) until `scaler.unscale_(optimizer)`. A gradient norm read before unscaling is the
//! true norm times a power of two. Flagged when the median norm is >= 2^10 while the loss is
//! finite and trains normally, and either the norm is inf/NaN at isolated steps (skipped
//! steps, loss still finite) or its level changes in exact factors of 2.

use mleng_diagnostics::Severity;

use super::{values, Context, Event};
use crate::roles::Role;
use crate::stats::{self, fmt};

pub const CODE: &str = "RUN011";

pub fn detect(ctx: &Context<'_>) -> Option<Event> {
    if ctx.first_nonfinite.is_some() {
        return None;
    }
    let series = ctx.get(Role::GradNorm)?;
    let finite: Vec<(i64, f64)> = series
        .points
        .iter()
        .filter(|p| p.value.is_finite())
        .map(|p| (p.step, p.value))
        .collect();
    if finite.len() < 10 {
        return None;
    }
    let med = stats::median(&values(&finite))?;
    let skipped: Vec<i64> = series
        .points
        .iter()
        .filter(|p| !p.value.is_finite())
        .map(|p| p.step)
        .collect();
    let halvings = power_of_two_shifts(&values(&finite));
    if med < 1024.0 || (skipped.is_empty() && halvings < 2) {
        return None;
    }
    let k = med.log2().floor();
    let (s0, s1) = (finite.first()?.0, finite.last()?.0);
    let mut e = Event::new(
        CODE,
        "amp-scaled-grad-norm",
        Severity::Warning,
        format!(
            "{} looks AMP-scaled: median {} (about 2^{k:.0}) with a finite, normal loss",
            series.name,
            fmt(med)
        ),
    )
    .steps(s0, s1);
    e.evidence.push(format!(
        "{}: median {} over steps {s0}-{s1}",
        series.name,
        fmt(med)
    ));
    if let Some(first) = skipped.first() {
        e.evidence.push(format!(
            "{} step(s) with an inf/NaN gradient norm while the loss stayed finite (first at step {first}): GradScaler skipping overflowed steps",
            skipped.len()
        ));
    }
    if halvings >= 2 {
        e.evidence.push(format!("{halvings} level changes by a factor of ~2 between consecutive steps: the loss scale being halved/doubled"));
    }
    // The recorded precision backs the reading (or weakens it) but never decides it.
    if let Some(p) = ctx
        .config
        .and_then(|c| c.precision.as_ref().map(|p| (c, p)))
    {
        let (c, p) = p;
        let v = p.value.to_ascii_lowercase();
        let scaled = v.contains("16") && !v.contains("bf16") || v == "amp" || v == "native";
        e.evidence.push(format!(
            "precision `{}` in {} (`{}`): {}",
            p.value,
            c.source.display(),
            p.key,
            if scaled {
                "float16 mixed precision, which trains with a GradScaler"
            } else {
                "not float16 mixed precision, where a GradScaler is usual; check whether one is used anyway"
            }
        ));
    }
    e.causes.push("the gradient norm is computed (or clipped) before scaler.unscale_(optimizer), so it is multiplied by the loss scale".into());
    e.fixes.push("call scaler.unscale_(optimizer) before clip_grad_norm_ and before logging the norm (TRN002)".into());
    e.related = vec!["TRN002", "TRN010"];
    Some(e)
}

/// Counts consecutive-step ratios within 3% of 2 or 1/2 with no such change between
/// neighbours (a one-step level shift, not noise).
fn power_of_two_shifts(v: &[f64]) -> usize {
    v.windows(2)
        .filter(|w| match w {
            [a, b] if *a > 0.0 => {
                let r = b / a;
                (r - 2.0).abs() < 0.06 || (r - 0.5).abs() < 0.015
            }
            _ => false,
        })
        .count()
}
