//! RUN009 vanishing gradients, when a first-layer (or per-layer) gradient norm is logged:
//! the first layer's gradient is < 1e-3 of the total gradient norm (median over the run),
//! so early layers learn about a thousand times slower than late ones. AUTOTRAINER's
//! vanishing-gradient rule compares the gradients of the first and last layers with a
//! ratio threshold of the same order; DeepDiagnosis flags tiny gradient magnitudes.

use mleng_diagnostics::Severity;

use super::{values, Context, Event};
use crate::roles::Role;
use crate::stats::{self, fmt};

pub const CODE: &str = "RUN009";
pub const RATIO: f64 = 1e-3;

pub struct Ratio {
    pub first: f64,
    pub total: f64,
}

pub fn detect(ctx: &Context<'_>) -> Option<Event> {
    let first = ctx.clean(Role::GradNormFirstLayer);
    let total = ctx.clean(Role::GradNorm);
    if first.len() < 5 {
        return None;
    }
    let r = Ratio {
        first: stats::median(&values(&first))?,
        total: stats::median(&values(&total)).unwrap_or(f64::NAN),
    };
    let ratio = r.first / r.total;
    let tiny_ratio = ratio.is_finite() && ratio < RATIO;
    let tiny_abs = !ratio.is_finite() && r.first < 1e-7;
    if !(tiny_ratio || tiny_abs) {
        return None;
    }
    let first_name = ctx.series_name(Role::GradNormFirstLayer);
    let (s0, s1) = (first.first()?.0, first.last()?.0);
    let mut event = Event::new(
        CODE,
        "vanishing-gradients",
        Severity::Warning,
        if ratio.is_finite() {
            format!(
                "Vanishing gradients: the first layer's gradient norm ({}) is {} of the total ({})",
                fmt(r.first),
                fmt(ratio),
                fmt(r.total)
            )
        } else {
            format!(
                "Vanishing gradients: the first layer's gradient norm is {}",
                fmt(r.first)
            )
        },
    )
    .steps(s0, s1);
    event.evidence.push(format!(
        "{first_name}: median {} over steps {s0}-{s1}; {}: median {}",
        fmt(r.first),
        ctx.series_name(Role::GradNorm),
        fmt(r.total)
    ));
    if let (Some(a), Some(b)) = (first.first(), first.last()) {
        event.evidence.push(format!(
            "{first_name} at step {}: {}, at step {}: {}",
            a.0,
            fmt(a.1),
            b.0,
            fmt(b.1)
        ));
    }
    event.causes.push("saturating activations (sigmoid/tanh) stacked deep: each layer multiplies the gradient by at most 0.25".into());
    event
        .causes
        .push("no normalization or residual connections in a deep stack".into());
    event
        .causes
        .push("initialization too small for the depth".into());
    event
        .fixes
        .push("switch hidden activations to ReLU/GELU and use Kaiming (He) initialization".into());
    event.fixes.push(
        "add BatchNorm/LayerNorm or residual (skip) connections, or make the network shallower"
            .into(),
    );
    event.related = vec!["ARC014"];
    Some(event)
}
