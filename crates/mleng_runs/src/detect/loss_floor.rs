//! RUN008 loss floor: the training accuracy is high but the training loss stays flat at a
//! constant well above zero (last 20%: median >= 0.05, MAD < 5% of it). A cross-entropy with
//! perfect predictions goes to 0; a floor means the loss cannot reach it. Known signatures:
//! * softmax fed to `CrossEntropyLoss` (which applies log-softmax again): the best it can do
//!   with one-hot probabilities is ln((e + C - 1) / e);
//! * sigmoid fed to `BCEWithLogitsLoss`: ln(1 + e^-1) = 0.3133 for positives and ln 2 =
//!   0.6931 for negatives (sigmoid(p) >= 1/2 for any probability p), so a binary task with a
//!   share q of positives floors at q * 0.3133 + (1 - q) * 0.6931 (0.5032 when balanced);
//! * label smoothing eps: the entropy of the smoothed target (intended; info only).
//!
//! A model with accuracy a sits between the floor and the floor plus (1 - a) times the loss of
//! a confident error, so a signature matches a level from 2% below its floor up to that bound
//! (2% above it at a = 1). A signature is taken at a train accuracy >= 0.95 (the corpus's
//! softmax runs end at 0.97-0.999 as a running mean over the epoch); an unexplained floor
//! only at >= 0.999, where any cross-entropy is near 0. The number of classes is `--classes`,
//! else read from the initial loss (ln K): a binary model starts near ln 2, and label
//! smoothing with eps 0.1 over 10 classes (0.50) is then told from sigmoid into BCE (0.50).

use std::f64::consts::LN_2;

use mleng_diagnostics::Severity;

use super::{is_fraction, values, Context, Event};
use crate::roles::Role;
use crate::stats::{self, fmt};

pub const CODE: &str = "RUN008";
/// The train accuracy from which a known floor signature is looked for.
pub const MIN_ACC: f64 = 0.95;

pub enum Signature {
    SoftmaxIntoCe { classes: u32, floor: f64 },
    SigmoidIntoBce { floor: f64 },
    LabelSmoothing { classes: u32, eps: f64, floor: f64 },
}

pub fn softmax_ce_floor(classes: u32) -> f64 {
    let e = std::f64::consts::E;
    ((e + f64::from(classes) - 1.0) / e).ln()
}

pub fn label_smoothing_floor(classes: u32, eps: f64) -> f64 {
    let c = f64::from(classes);
    let hi = 1.0 - eps + eps / c;
    let lo = eps / c;
    -(hi * hi.ln()) - (c - 1.0) * lo * lo.ln()
}

/// `level` is the floor `lo..=hi` of a model that is right a share `acc` of the time and
/// loses `worst` on a confident error.
fn fits(level: f64, lo: f64, hi: f64, worst: f64, acc: f64) -> bool {
    let slack = (1.0 - acc).clamp(0.0, 1.0) * (worst - lo).max(0.0);
    level >= 0.98 * lo && level <= 1.02 * hi + slack
}

pub fn match_signature(level: f64, classes: Option<u32>) -> Option<Signature> {
    match_at(level, classes, 1.0)
}

/// [`match_signature`] for a model whose train accuracy is `acc`.
pub fn match_at(level: f64, classes: Option<u32>, acc: f64) -> Option<Signature> {
    let candidates: Vec<u32> = match classes {
        Some(k) => vec![k],
        None => (2..=1000).collect(),
    };
    let e = std::f64::consts::E;
    let bce_pos = (1.0 + (-1.0f64).exp()).ln();
    let bce_neg = 2f64.ln();
    if classes.is_none_or(|k| k == 2) && fits(level, bce_pos, bce_neg, (1.0 + e).ln(), acc) {
        return Some(Signature::SigmoidIntoBce {
            floor: level.clamp(bce_pos, bce_neg),
        });
    }
    // Prefer the class count nearest a common one when several fit.
    if let Some(&k) = candidates.iter().find(|&&k| {
        let floor = softmax_ce_floor(k);
        fits(level, floor, floor, (e + f64::from(k) - 1.0).ln(), acc)
    }) {
        return Some(Signature::SoftmaxIntoCe {
            classes: k,
            floor: softmax_ce_floor(k),
        });
    }
    for eps in [0.1, 0.05, 0.2] {
        if let Some(&k) = candidates.iter().find(|&&k| {
            let floor = label_smoothing_floor(k, eps);
            fits(level, floor, floor, floor + f64::from(k).ln(), acc)
        }) {
            return Some(Signature::LabelSmoothing {
                classes: k,
                eps,
                floor: label_smoothing_floor(k, eps),
            });
        }
    }
    None
}

pub fn detect(ctx: &Context<'_>) -> Option<Event> {
    let acc = ctx.clean(Role::TrainMetric);
    if !is_fraction(&acc) {
        return None;
    }
    let acc_end = stats::tail_median(&values(&acc), 0.2, 2)?;
    let loss = ctx.clean(Role::TrainLoss);
    if acc_end < MIN_ACC || loss.len() < 10 {
        return None;
    }
    let tail_n = (loss.len() / 5).max(3);
    let tail = values(loss.get(loss.len() - tail_n..)?);
    let level = stats::median(&tail)?;
    let spread = stats::mad(&tail)?;
    if level < 0.05 || spread > 0.15 * level {
        return None;
    }
    // The untrained model's loss is ln K: the first logged points, not the first 5%.
    let initial = stats::median(&values(loss.get(..3)?))?;
    let classes = ctx.classes.or_else(|| ctx.chance_classes(initial));
    let sig = match_at(level, classes, acc_end).or_else(|| {
        // A wrong guess of K must not hide a softmax floor that fits another K (a binary
        // floor needs a binary start: the guess was not 2).
        ctx.classes
            .is_none()
            .then(|| match_at(level, None, acc_end))
            .flatten()
            .filter(|s| matches!(s, Signature::SoftmaxIntoCe { .. }))
    });
    // An unexplained floor must be flat (MAD < 5%); a known signature may wobble more (up to
    // 15%): a binary floor moves with each batch's share of positives (0.31 to 0.69).
    if sig.is_none() && (acc_end < 0.999 || spread > 0.05 * level) {
        return None;
    }
    let floor_label = match &sig {
        Some(Signature::SoftmaxIntoCe { classes, floor }) => {
            Some((*floor, format!("softmax→CE floor, C={classes}")))
        }
        Some(Signature::SigmoidIntoBce { floor }) => {
            Some((*floor, "sigmoid→BCEWithLogits floor".to_string()))
        }
        Some(Signature::LabelSmoothing { eps, floor, .. }) => {
            Some((*floor, format!("label smoothing {eps} floor")))
        }
        None => None,
    };
    let name = ctx.series_name(Role::TrainLoss);
    let (s0, s1) = (loss.get(loss.len() - tail_n)?.0, loss.last()?.0);
    let severity = match sig {
        Some(Signature::LabelSmoothing { .. }) => Severity::Info,
        _ => Severity::Warning,
    };
    let why = match &sig {
        Some(Signature::SoftmaxIntoCe { classes, floor }) => format!(
            "softmax fed to CrossEntropyLoss cannot go below ln((e + {})/e) = {}",
            classes - 1,
            fmt(*floor)
        ),
        Some(Signature::SigmoidIntoBce { .. }) => "sigmoid fed to BCEWithLogitsLoss cannot go below ln(1 + e^-1) = 0.3133 on positives and ln 2 = 0.6931 on negatives".into(),
        Some(Signature::LabelSmoothing { eps, floor, .. }) => {
            format!("label smoothing {eps} floors at {}", fmt(*floor))
        }
        None => "it cannot reach 0".into(),
    };
    let mut event = Event::new(
        CODE,
        "loss-floor-above-zero",
        severity,
        format!(
            "The training loss ({name}) floors at {} while the training accuracy is {}: {why}",
            fmt(level),
            fmt(acc_end)
        ),
    )
    .steps(s0, s1);
    if let Some((value, label)) = floor_label {
        event.levels.push(super::Level { value, label });
    }
    event.evidence.push(format!(
        "{name} over the last {tail_n} points: median {}, spread {} ({:.1}%)",
        fmt(level),
        fmt(spread),
        100.0 * spread / level
    ));
    event.related = match sig {
        Some(Signature::SoftmaxIntoCe { .. }) => vec!["TRN007", "ARC011"],
        Some(Signature::SigmoidIntoBce { .. }) => vec!["TRN008", "ARC011"],
        Some(Signature::LabelSmoothing { .. }) => vec![],
        None => vec!["TRN007", "TRN008", "ARC011"],
    };
    match sig {
        Some(Signature::SoftmaxIntoCe { classes, floor }) => {
            event.evidence.push(format!(
                "ln((e + C - 1)/e) for C = {classes} is {}: exactly the floor of CrossEntropyLoss fed probabilities from a softmax",
                fmt(floor)
            ));
            event.causes.push("the model ends in nn.Softmax and its output goes into nn.CrossEntropyLoss, which applies log-softmax itself".into());
            event.fixes.push(
                "remove the final Softmax (return logits) and apply softmax only at inference"
                    .into(),
            );
        }
        Some(Signature::SigmoidIntoBce { .. }) => {
            event.evidence.push(format!(
                "BCEWithLogitsLoss fed sigmoid outputs cannot go below ln(1 + e^-1) = 0.3133 on positives and ln 2 = 0.6931 on negatives; {} is that floor for {:.0}% positives",
                fmt(level),
                100.0 * ((LN_2 - level) / (LN_2 - (1.0 + (-1.0f64).exp()).ln())).clamp(0.0, 1.0)
            ));
            event.causes.push("the model ends in a sigmoid and its output goes into BCEWithLogitsLoss, which applies sigmoid itself".into());
            event
                .fixes
                .push("remove the final sigmoid, or use BCELoss on probabilities".into());
        }
        Some(Signature::LabelSmoothing {
            classes,
            eps,
            floor,
        }) => {
            event.evidence.push(format!(
                "the entropy of targets smoothed with eps = {eps} over {classes} classes is {}: the minimum of a label-smoothed cross-entropy",
                fmt(floor)
            ));
            event
                .causes
                .push("label smoothing: this floor is expected and harmless".into());
        }
        None => {
            event.causes.push(
                "a regularization term added to the loss (weight decay, auxiliary or KL terms)"
                    .into(),
            );
            event
                .causes
                .push("an activation applied before a loss that applies it again".into());
            event.causes.push("label smoothing or soft targets".into());
            event.fixes.push("log the data term of the loss separately; check the model's last layer against what the loss expects".into());
        }
    }
    Some(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floors() {
        assert!((softmax_ce_floor(10) - 1.4612).abs() < 1e-3);
        assert!(matches!(
            match_signature(1.4612, None),
            Some(Signature::SoftmaxIntoCe { classes: 10, .. })
        ));
        assert!(matches!(
            match_signature(label_smoothing_floor(10, 0.1), Some(10)),
            Some(Signature::LabelSmoothing { .. })
        ));
    }
}
