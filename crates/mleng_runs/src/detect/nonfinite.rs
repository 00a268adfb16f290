//! RUN001 non-finite values: the first step where a loss (or metric) becomes NaN or inf,
//! with the learning rate and gradient norm just before it. Any non-finite loss is an
//! error: every later update is garbage. (TheDeepChecker and DeepDiagnosis both flag
//! NaN loss/weights as a terminal symptom; see docs/diagnose.md.)
//! Non-finite gradient norms with a finite loss are left to `amp_scaled` (GradScaler skips).

use mleng_diagnostics::Severity;

use super::{Context, Event, Marker, MarkerKind};
use crate::roles::Role;
use crate::stats::{self, fmt};

pub const CODE: &str = "RUN001";

pub fn detect(ctx: &Context<'_>) -> Option<Event> {
    let first = ctx.first_nonfinite?;
    let roles = [
        Role::TrainLoss,
        Role::ValLoss,
        Role::TrainMetric,
        Role::ValMetric,
    ];
    let mut evidence = Vec::new();
    for role in roles {
        let Some(s) = ctx.get(role) else { continue };
        let bad: Vec<_> = s.points.iter().filter(|p| !p.value.is_finite()).collect();
        if let Some(p) = bad.first() {
            evidence.push(format!(
                "{} is {} from step {}{} ({} of {} points non-finite)",
                s.name,
                fmt(p.value),
                p.step,
                ctx.epoch_note(p.step),
                bad.len(),
                s.points.len()
            ));
        }
    }
    let lr = ctx
        .get(Role::LearningRate)
        .and_then(|s| s.finite_before(first.saturating_add(1)));
    let gn_series = ctx.get(Role::GradNorm);
    let gn = gn_series.and_then(|s| s.finite_before(first));
    let loss_before = ctx
        .get(Role::TrainLoss)
        .and_then(|s| s.finite_before(first));
    if let Some(p) = loss_before {
        evidence.push(format!(
            "last finite train loss: {} at step {}",
            fmt(p.value),
            p.step
        ));
    }
    if let Some(p) = lr {
        evidence.push(format!("learning rate at that time: {}", fmt(p.value)));
    }
    if let Some((_, line)) = ctx.configured_lr() {
        evidence.push(line);
    }
    let mut grad_exploded = false;
    if let (Some(p), Some(s)) = (gn, gn_series) {
        let early = stats::head_median(&s.values(), 0.05, 3).unwrap_or(p.value);
        grad_exploded = early > 0.0 && p.value / early >= 100.0;
        evidence.push(format!(
            "gradient norm just before: {} at step {} (median of the first steps: {})",
            fmt(p.value),
            p.step,
            fmt(early)
        ));
    }
    let title = format!(
        "Training produced NaN/inf at step {first}{}; every update after it is garbage",
        ctx.epoch_note(first)
    );
    let mut event = Event::new(CODE, "non-finite-values", Severity::Error, title);
    let last = ctx
        .view
        .run
        .series
        .iter()
        .filter_map(|s| s.last())
        .map(|p| p.step)
        .max()
        .unwrap_or(first);
    event = event.steps(first, last);
    event.evidence = evidence;
    if grad_exploded {
        event.causes.push(
            "exploding gradients: the gradient norm grew by orders of magnitude first (see RUN002), \
             so the weights overflowed"
                .into(),
        );
    }
    if lr.is_some_and(|p| p.value >= 0.5) {
        event.causes.push(format!(
            "a learning rate of {} is very high for most optimizers",
            fmt(lr.map(|p| p.value).unwrap_or_default())
        ));
    }
    event.causes.push(
        "a numerical bug: log(0) or log of a softmax output, division by zero, sqrt of a negative, \
         fp16 overflow without a GradScaler"
            .into(),
    );
    event
        .causes
        .push("a bad batch: NaN/inf in the inputs or labels out of range".into());
    if let Some(p) = lr {
        event.fixes.push(format!(
            "lower the learning rate 10x (to {}) and add warmup",
            fmt(p.value / 10.0)
        ));
    }
    event.fixes.push(
        "clip gradients: torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0) (TRN001)"
            .into(),
    );
    event.fixes.push(
        "find the op: torch.autograd.set_detect_anomaly(True) for a few steps, and assert \
         torch.isfinite(loss) before backward()"
            .into(),
    );
    event.related = vec!["TRN001", "TRN002", "TRN010", "TRN022"];
    event.markers.push(Marker {
        step: first,
        kind: MarkerKind::NonFinite,
        label: format!("first NaN/inf (step {first})"),
    });
    Some(event)
}
