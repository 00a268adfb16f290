//! RUN006 not learning / plateau: the loss barely moves (median of the last 20% less than
//! 2% below the median of the first 10%, and no accuracy-like metric gained 5 points), or
//! accuracy ends at chance (the loss within 15% of ln K and the accuracy less than a quarter
//! of the way from 1/K to 1, see [`divergence::CHANCE_ACCURACY_SHARE`]; K from `--classes`
//! or from the loss level ln K). Reports the learning rate
//! and ranks causes with the other detectors' findings (vanishing gradients, an early
//! blow-up, a tiny learning rate). Starting points: AUTOTRAINER's "slow convergence" and
//! TheDeepChecker's "loss not decreasing" rules.

use mleng_diagnostics::Severity;

use super::{divergence, is_fraction, values, Context, Event};
use crate::roles::Role;
use crate::stats::{self, fmt};

pub const CODE: &str = "RUN006";
/// A learning rate at or above this is far outside the usual range for any optimizer.
pub const HIGH_LR: f64 = 0.5;
/// Fine-tuning from a good checkpoint can improve the loss by only a few percent, so the
/// bar is low: the stuck fixtures move 0.3-0.5%.
pub const MIN_IMPROVEMENT: f64 = 0.02;

/// The share of the chance-level cross-entropy ln K that the end of the run removed:
/// `1 - end / ln K` for the larger of the train and val losses' last-20% medians (the one
/// closer to chance). 0 is a uniform guess; a classifier that learned its task removes most.
pub fn chance_entropy_removed(ctx: &Context<'_>, k: u32) -> Option<f64> {
    let ln = f64::from(k).ln();
    [Role::TrainLoss, Role::ValLoss]
        .into_iter()
        .filter_map(|r| stats::tail_median(&values(&ctx.clean(r)), 0.2, 3))
        .reduce(f64::max)
        .map(|end| 1.0 - end / ln)
}

/// The recent accuracy-like metric above chance on a 0-1 scale, `(acc - 1/K) / (1 - 1/K)`:
/// the larger of val and train (last-30% medians).
pub fn accuracy_over_chance(ctx: &Context<'_>, k: u32) -> Option<f64> {
    let chance = 1.0 / f64::from(k);
    [Role::ValMetric, Role::TrainMetric]
        .into_iter()
        .map(|r| ctx.clean(r))
        .filter(|m| is_fraction(m))
        .filter_map(|m| stats::tail_median(&values(&m), 0.3, 2))
        .reduce(f64::max)
        .map(|acc| (acc - chance) / (1.0 - chance))
}

pub fn detect(ctx: &Context<'_>, earlier: &[Event], vanishing: Option<&Event>) -> Option<Event> {
    if ctx.first_nonfinite.is_some() {
        return None;
    }
    let (role, pts) = ctx.loss();
    if pts.len() < 10 {
        return None;
    }
    let vals = values(&pts);
    let start = stats::head_median(&vals, 0.1, 3)?;
    let end = stats::tail_median(&vals, 0.2, 3)?;
    let improvement = (start - end) / start.abs().max(1e-12);
    // A validation metric that clearly improved means it is learning, whatever the loss does.
    let metric_improved = [Role::ValMetric, Role::TrainMetric].into_iter().any(|r| {
        let m = ctx.clean(r);
        is_fraction(&m)
            && match (m.first(), m.iter().map(|p| p.1).max_by(f64::total_cmp)) {
                (Some(first), Some(best)) => best - first.1 >= 0.05,
                _ => false,
            }
    });
    let barely_moving = improvement < MIN_IMPROVEMENT && !metric_improved;
    let at_chance = divergence::stuck_at_chance(ctx, end);
    if !barely_moving && !at_chance {
        return None;
    }
    let name = ctx.series_name(role);
    let k = ctx.chance_classes(end);
    let (first_step, last_step) = (pts.first()?.0, pts.last()?.0);
    let title = if at_chance {
        format!(
            "Not learning: the model ends at chance level ({name} {}{})",
            fmt(end),
            k.map(|k| format!(" ≈ ln({k}) = {}", fmt(f64::from(k).ln())))
                .unwrap_or_default()
        )
    } else {
        format!(
            "Not learning: {name} barely moved, {} → {} ({:+.1}%) over {} steps",
            fmt(start),
            fmt(end),
            -100.0 * improvement,
            last_step.saturating_sub(first_step)
        )
    };
    // Where no learning rate was logged, the configured one (W&B's config.yaml) stands in.
    let configured = ctx.configured_lr();
    // The median over the run, not the last value: a cosine schedule ends near 0, which
    // would read as "learning rate far too low".
    let lr_now =
        stats::median(&values(&ctx.clean(Role::LearningRate))).or(configured.as_ref().map(|c| c.0));
    let lr_peak = values(&ctx.clean(Role::LearningRate))
        .into_iter()
        .fold(configured.as_ref().map_or(f64::NAN, |c| c.0), f64::max);
    let set = if configured.is_some() { " set" } else { "" };
    let title = match lr_now {
        Some(_) if lr_peak >= HIGH_LR => {
            format!(
                "{title}, learning rate{set} {} (far too high)",
                fmt(lr_peak)
            )
        }
        Some(l) => format!("{title}, learning rate{set} {}", fmt(l)),
        None => title,
    };
    let severity = if at_chance {
        Severity::Error
    } else {
        Severity::Warning
    };
    let mut event = Event::new(CODE, "not-learning", severity, title).steps(first_step, last_step);
    event.evidence.push(format!(
        "{name}: median of the first 10% {}, of the last 20% {} ({:+.1}%)",
        fmt(start),
        fmt(end),
        -100.0 * improvement
    ));
    for role in [Role::ValMetric, Role::TrainMetric] {
        let m = ctx.clean(role);
        if is_fraction(&m) {
            if let (Some(best), Some(last)) = (
                m.iter().map(|p| p.1).max_by(f64::total_cmp),
                stats::tail_median(&values(&m), 0.3, 2),
            ) {
                let chance = k
                    .map(|k| format!(" (chance for {k} classes: {})", fmt(1.0 / f64::from(k))))
                    .unwrap_or_default();
                event.evidence.push(format!(
                    "{}: best {}, recent {}{chance}",
                    ctx.series_name(role),
                    fmt(best),
                    fmt(last)
                ));
            }
        }
    }
    if let (Some(k), true) = (k, at_chance) {
        event.levels.push(super::Level {
            value: f64::from(k).ln(),
            label: format!("chance: ln({k})"),
        });
    }
    if let Some(k) = k {
        event.evidence.push(format!(
            "ln({k}) = {} is the cross-entropy of a uniform guess over {k} classes (pass --classes to set K)",
            fmt(f64::from(k).ln())
        ));
    }
    let lr = ctx.clean(Role::LearningRate);
    let lr_med = stats::median(&values(&lr)).or(configured.as_ref().map(|c| c.0));
    let gn_med = stats::median(&values(&ctx.clean(Role::GradNorm)));
    if let Some((_, line)) = &configured {
        event.evidence.push(line.clone());
    } else if let Some(l) = lr_med {
        event.evidence.push(format!(
            "learning rate during the run: {}{}",
            fmt(l),
            gn_med
                .map(|g| format!(
                    ", gradient norm median {} (a step moves the weights by about lr × ‖g‖ = {})",
                    fmt(g),
                    fmt(l * g)
                ))
                .unwrap_or_default()
        ));
    }
    // Rank causes by what the evidence supports.
    if let Some(v) = vanishing {
        event.causes.push(format!(
            "{} (see {})",
            v.title
                .replacen("Vanishing gradients:", "vanishing gradients:", 1),
            v.code
        ));
        event.fixes.push("use ReLU/GELU instead of sigmoid/tanh in hidden layers, Kaiming init, and BatchNorm/LayerNorm or residual connections".into());
    }
    if earlier.iter().any(|e| e.code == divergence::CODE) {
        event.causes.push("the loss blew up early (see RUN003): a too-high learning rate wrecked the network, which then collapsed to predicting the class prior".into());
        event.fixes.push(
            "lower the learning rate 10-100x and add warmup, then retrain from scratch".into(),
        );
    }
    // A learning rate this high throws the weights, in the first steps, where the ReLUs are
    // dead or the sigmoids saturated; the network then predicts the class prior. The corpus's
    // healthy runs peak at 0.1 (SGD) and 5e-3 (Adam); its broken ones at 2-8.
    if lr_peak >= HIGH_LR {
        let dead = ctx
            .clean(Role::GradNormFirstLayer)
            .last()
            .is_some_and(|p| p.1 == 0.0);
        event.causes.insert(
            0,
            format!(
                "learning rate {} is far too high: the first steps threw the weights where the units are dead or saturated{}, and the network fell back to predicting the class prior",
                fmt(lr_peak),
                if dead { " (the first layer's gradient is exactly 0: dead ReLUs)" } else { "" }
            ),
        );
        event.fixes.insert(
            0,
            "lower the learning rate 10-100x (SGD 0.01-0.1, Adam 1e-4-1e-3), add warmup and gradient clipping, and retrain from scratch".into(),
        );
    }
    if let Some(l) = lr_med {
        if l == 0.0 {
            event.causes.insert(0, "the learning rate is 0".into());
        } else if l <= 1e-5 {
            event.causes.push(format!(
                "learning rate {} is far too low: the weights hardly change",
                fmt(l)
            ));
            event.fixes.push(format!(
                "raise the learning rate to 1e-2..1e-1 for SGD or 1e-4..1e-3 for Adam (now {}); an LR range test finds it",
                fmt(l)
            ));
        }
    }
    event.causes.push("parameters not being updated: optimizer built over the wrong parameters, requires_grad=False, or a missing optimizer.step()/zero_grad()".into());
    event.causes.push(
        "labels not aligned with inputs (shuffled separately) or a wrong target format".into(),
    );
    event.causes.push("an activation before a loss that applies it again (softmax into CrossEntropyLoss, sigmoid into BCEWithLogitsLoss, TRN007/TRN008) flattens the gradients; saturated, the model stays at chance".into());
    event.fixes.push("overfit a single batch first: if the loss cannot reach ~0 on 1 batch, the bug is in the model or the loop, not the data".into());
    // Code-level causes of "nothing is updated" and LR-range problems.
    event.related = vec![
        "TRN004", "TRN005", "TRN006", "TRN007", "TRN008", "TRN011", "TRN012", "TRN022",
    ];
    if vanishing.is_some() {
        event.related.push("ARC014");
    }
    Some(event)
}
