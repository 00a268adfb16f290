//! RUN002 exploding gradients: the gradient norm grows by at least three orders of
//! magnitude over its early level (median of the first 5% of steps), or turns non-finite.
//! Starting point: AUTOTRAINER's exploding-gradient rule (gradient growth beyond a fixed
//! ratio) and DeepDiagnosis' "exploding tensor" check; the 1e3 factor is tuned so that
//! Adam's normal 10-30x growth on the fixtures (overfit_big_mlp_200: 0.3 -> 8.6) stays quiet.

use mleng_diagnostics::Severity;

use super::{Context, Event, Marker, MarkerKind};
use crate::roles::Role;
use crate::stats::{self, fmt};

pub const CODE: &str = "RUN002";
pub const GROWTH: f64 = 1e3;

pub fn detect(ctx: &Context<'_>) -> Option<Event> {
    let series = ctx.get(Role::GradNorm)?;
    let pts: Vec<(i64, f64)> = series
        .points
        .iter()
        .filter(|p| p.value.is_finite())
        .map(|p| (p.step, p.value))
        .collect();
    if pts.len() < 5 {
        return None;
    }
    let vals: Vec<f64> = pts.iter().map(|p| p.1).collect();
    let base = stats::head_median(&vals, 0.05, 3)?;
    if base <= 0.0 {
        return None;
    }
    let (peak_step, peak) = pts.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1))?;
    let first_nonfinite = series.points.iter().find(|p| !p.value.is_finite());
    // Non-finite grad norms with a finite loss are AMP skips, not an explosion.
    let nonfinite_with_loss = first_nonfinite.filter(|p| {
        ctx.first_nonfinite
            .is_some_and(|s| s <= p.step.saturating_add(1))
    });
    let ratio = peak / base;
    if ratio < GROWTH && nonfinite_with_loss.is_none() {
        return None;
    }
    if ratio < 10.0 {
        return None;
    }
    let start = pts
        .iter()
        .find(|p| p.1 > 10.0 * base)
        .map(|p| p.0)
        .unwrap_or(peak_step);
    let orders = ratio.log10();
    let span = peak_step.saturating_sub(start).max(1);
    let mut event = Event::new(
        CODE,
        "exploding-gradients",
        Severity::Error,
        format!(
            "Gradients exploded: the gradient norm grew {orders:.0} orders of magnitude, from {} to {} between steps {start} and {peak_step}",
            fmt(base),
            fmt(peak)
        ),
    )
    .steps(start, peak_step);
    event.evidence.push(format!(
        "{}: median of the first steps {}, first above 10x that at step {start}, peak {} at step {peak_step}{}",
        series.name,
        fmt(base),
        fmt(peak),
        ctx.epoch_note(peak_step)
    ));
    event.evidence.push(format!(
        "growth rate: about {:.1} orders of magnitude per 10 steps",
        orders * 10.0 / span as f64
    ));
    if let Some(p) = first_nonfinite {
        event.evidence.push(format!(
            "{} is {} from step {}",
            series.name,
            fmt(p.value),
            p.step
        ));
    }
    let configured = ctx.configured_lr();
    if let Some((_, line)) = &configured {
        event.evidence.push(line.clone());
    }
    let lr_at = ctx.lr_at(start);
    if let Some(lr) = lr_at.or(configured.map(|c| c.0)) {
        if lr_at.is_some() {
            event
                .evidence
                .push(format!("learning rate when it started: {}", fmt(lr)));
        }
        event.causes.push(format!(
            "learning rate {} too high for this model: each update overshoots and the next gradient is larger",
            fmt(lr)
        ));
    } else {
        event
            .causes
            .push("learning rate too high for this model".into());
    }
    event
        .causes
        .push("no gradient clipping, so one large gradient compounds".into());
    event.causes.push(
        "a deep network without normalization or residual connections, or a bad initialization"
            .into(),
    );
    event.fixes.push(
        "clip gradients at 1.0: torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0) after backward() (TRN001)"
            .into(),
    );
    match lr_at.or(ctx.configured_lr().map(|c| c.0)) {
        Some(lr) => event.fixes.push(format!(
            "lower the learning rate to {} (10x lower) and add a linear warmup over the first ~5% of steps",
            fmt(lr / 10.0)
        )),
        None => event.fixes.push("lower the learning rate 10x and add warmup".into()),
    }
    event.fixes.push(
        "add BatchNorm/LayerNorm or residual connections; use Kaiming init for ReLU nets".into(),
    );
    event.related = vec!["TRN001", "TRN003", "TRN022"];
    event.markers.push(Marker {
        step: start,
        kind: MarkerKind::Event,
        label: "grad norm takes off".into(),
    });
    Some(event)
}
