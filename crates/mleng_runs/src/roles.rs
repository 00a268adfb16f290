//! Maps metric names to the roles detectors reason about. Loggers spell the same thing many
//! ways (`loss`, `train/loss`, `train_loss_step`, `eval_loss`, `val/loss`, `lr-Adam`,
//! `learning_rate`, `grad_norm`, `grad_2.0_norm_total`...); `--metric role=name` overrides.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::series::{Run, Series};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    TrainLoss,
    ValLoss,
    TrainMetric,
    ValMetric,
    LearningRate,
    GradNorm,
    GradNormFirstLayer,
    Throughput,
    Epoch,
}

impl Role {
    pub const ALL: [Role; 9] = [
        Role::TrainLoss,
        Role::ValLoss,
        Role::TrainMetric,
        Role::ValMetric,
        Role::LearningRate,
        Role::GradNorm,
        Role::GradNormFirstLayer,
        Role::Throughput,
        Role::Epoch,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::TrainLoss => "train_loss",
            Role::ValLoss => "val_loss",
            Role::TrainMetric => "train_metric",
            Role::ValMetric => "val_metric",
            Role::LearningRate => "lr",
            Role::GradNorm => "grad_norm",
            Role::GradNormFirstLayer => "grad_norm_first_layer",
            Role::Throughput => "throughput",
            Role::Epoch => "epoch",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        let t = text.trim().to_ascii_lowercase().replace('-', "_");
        match t.as_str() {
            "learning_rate" => Some(Role::LearningRate),
            "val_acc" | "val_accuracy" => Some(Role::ValMetric),
            "train_acc" | "train_accuracy" => Some(Role::TrainMetric),
            _ => Role::ALL.into_iter().find(|r| r.as_str() == t),
        }
    }
}

fn is_val(n: &str) -> bool {
    ["val", "valid", "validation", "eval", "test", "dev"]
        .iter()
        .any(|p| has_token(n, p))
}

/// Tokens split on `/`, `_`, `-`, `.`, space: `val/loss` and `loss_val` both hold `val`.
fn has_token(name: &str, token: &str) -> bool {
    name.split(['/', '_', '-', '.', ' ', '(', ')'])
        .any(|t| t == token)
}

const METRIC_TOKENS: [&str; 14] = [
    "acc",
    "accuracy",
    "top1",
    "f1",
    "auc",
    "auroc",
    "map",
    "map50",
    "iou",
    "miou",
    "dice",
    "precision",
    "recall",
    "bleu",
];

/// (role, rank) for a series name; lower rank is a better match.
pub fn classify(name: &str) -> Option<(Role, u8)> {
    let n = name.to_ascii_lowercase();
    if n == "epoch" {
        return Some((Role::Epoch, 0));
    }
    if n.contains("grad") && n.contains("norm") {
        let first = ["first", "layer0", "layer_0", "layers.0", "input"]
            .iter()
            .any(|t| n.contains(t));
        return Some(if first {
            (Role::GradNormFirstLayer, 0)
        } else if n.contains("total") || matches!(n.as_str(), "grad_norm" | "train/grad_norm") {
            (Role::GradNorm, 0)
        } else {
            (Role::GradNorm, 2)
        });
    }
    if n == "lr"
        || n.contains("learning_rate")
        || n.contains("learning-rate")
        || has_token(&n, "lr")
    {
        // `lr/pg0` and `lr-Adam/pg1`: the first parameter group is the base LR.
        let rank = if n.ends_with("pg1") || n.ends_with("pg2") {
            3
        } else {
            0
        };
        return Some((Role::LearningRate, rank));
    }
    if [
        "samples_per_second",
        "steps_per_second",
        "it/s",
        "throughput",
        "tokens_per_second",
        "samples/s",
        "img/s",
    ]
    .iter()
    .any(|t| n.contains(t))
    {
        return (!is_val(&n)).then_some((Role::Throughput, 0));
    }
    if n.contains("loss") {
        // Lightning's `train_loss_epoch` is a per-epoch mean of `train_loss_step`.
        let rank = if n.ends_with("_epoch") {
            2
        } else if n.ends_with("_step") {
            1
        } else {
            0
        };
        let component = n.contains("box_loss") || n.contains("cls_loss") || n.contains("dfl_loss");
        let rank = rank + if component { 4 } else { 0 };
        return Some(if is_val(&n) {
            (Role::ValLoss, rank)
        } else {
            (Role::TrainLoss, rank)
        });
    }
    let metric = METRIC_TOKENS.iter().position(|t| {
        has_token(&n, t) || n.contains(&format!("{t}50")) || n.starts_with("metrics/")
    });
    if let Some(pos) = metric {
        // Accuracy before the others; mAP50-95 before mAP50 (Ultralytics' fitness).
        let rank = if n.contains("map50-95") {
            0
        } else {
            (pos as u8).min(9) + 1
        };
        if n.contains("runtime") {
            return None;
        }
        return Some(if is_val(&n) || n.starts_with("metrics/") {
            (Role::ValMetric, rank)
        } else if has_token(&n, "train") {
            (Role::TrainMetric, rank)
        } else {
            (Role::ValMetric, rank + 1)
        });
    }
    None
}

/// A run with each role resolved to at most one series.
pub struct RunView<'a> {
    pub run: &'a Run,
    pub roles: BTreeMap<Role, &'a Series>,
    /// Per-task hint: number of classes, for the chance level of the loss.
    pub classes: Option<u32>,
}

impl<'a> RunView<'a> {
    /// `overrides` are `(role, series name)` pairs from `--metric`; unknown names are ignored
    /// here (the CLI checks them against the run and warns).
    pub fn new(run: &'a Run, overrides: &[(Role, String)], classes: Option<u32>) -> RunView<'a> {
        let mut best: BTreeMap<Role, (u8, usize, &'a Series)> = BTreeMap::new();
        for series in &run.series {
            let Some((role, rank)) = classify(&series.name) else {
                continue;
            };
            let n = series.points.len();
            let better = match best.get(&role) {
                None => true,
                Some(&(r, count, _)) => rank < r || (rank == r && n > count),
            };
            if better {
                best.insert(role, (rank, n, series));
            }
        }
        let mut roles: BTreeMap<Role, &'a Series> = best
            .into_iter()
            .map(|(role, (_, _, s))| (role, s))
            .collect();
        for (role, name) in overrides {
            if let Some(s) = run.series(name) {
                roles.insert(*role, s);
            }
        }
        RunView {
            run,
            roles,
            classes,
        }
    }

    pub fn get(&self, role: Role) -> Option<&'a Series> {
        self.roles
            .get(&role)
            .copied()
            .filter(|s| !s.points.is_empty())
    }

    /// Epoch number at `step`, from a logged epoch series when there is one.
    pub fn epoch_at(&self, step: i64) -> Option<f64> {
        // The first point at `step`: a validation row logged at the last step of epoch N
        // shares its step with the first training row of epoch N+1.
        let e = self.get(Role::Epoch)?;
        e.points
            .iter()
            .find(|p| p.step == step)
            .copied()
            .or_else(|| e.at_or_before(step))
            .map(|p| p.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_spellings() {
        let cases = [
            ("loss", Role::TrainLoss),
            ("train/loss", Role::TrainLoss),
            ("train_loss_step", Role::TrainLoss),
            ("eval_loss", Role::ValLoss),
            ("val/loss", Role::ValLoss),
            ("validation_loss", Role::ValLoss),
            ("lr", Role::LearningRate),
            ("learning_rate", Role::LearningRate),
            ("lr-Adam", Role::LearningRate),
            ("train/lr", Role::LearningRate),
            ("lr/pg0", Role::LearningRate),
            ("grad_norm", Role::GradNorm),
            ("grad_2.0_norm_total", Role::GradNorm),
            ("train/grad_norm_first_layer", Role::GradNormFirstLayer),
            ("val_acc", Role::ValMetric),
            ("val/acc", Role::ValMetric),
            ("train_acc", Role::TrainMetric),
            ("metrics/mAP50-95(B)", Role::ValMetric),
            ("train_samples_per_second", Role::Throughput),
            ("epoch", Role::Epoch),
        ];
        for (name, role) in cases {
            assert_eq!(classify(name).map(|c| c.0), Some(role), "{name}");
        }
        assert_eq!(classify("eval_runtime"), None);
    }
}
