//! The hyperparameters a diagnosis can use (learning rate, optimizer, batch size, epochs,
//! precision), picked out of a run's recorded configuration (W&B's `files/config.yaml`).
//!
//! They only ever add to what the history shows: a detector uses the configured learning
//! rate where no learning rate was logged per step, and says it came from the config.

use std::path::PathBuf;

use serde::Serialize;

/// One value and the configuration key it was read from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Setting<T> {
    pub key: String,
    pub value: T,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunConfig {
    /// The file the settings were read from.
    pub source: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub learning_rate: Option<Setting<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optimizer: Option<Setting<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<Setting<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epochs: Option<Setting<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub precision: Option<Setting<String>>,
}

/// A configuration leaf, flattened to an `a/b` key.
#[derive(Debug, Clone, PartialEq)]
pub enum Leaf {
    Number(f64),
    Text(String),
    Bool(bool),
}

impl Leaf {
    fn number(&self) -> Option<f64> {
        match self {
            Leaf::Number(v) => Some(*v).filter(|v| v.is_finite()),
            // `lr: "1e-3"` (a string in YAML 1.1, which has no exponent-only floats).
            Leaf::Text(t) => t.trim().parse::<f64>().ok().filter(|v| v.is_finite()),
            Leaf::Bool(_) => None,
        }
    }

    fn text(&self) -> Option<String> {
        match self {
            Leaf::Text(t) if !t.trim().is_empty() => Some(t.trim().to_string()),
            Leaf::Number(v) if v.is_finite() => Some(crate::stats::fmt(*v)),
            _ => None,
        }
    }
}

/// Flattens a JSON config value into `a/b` leaves (numbers, strings, booleans; arrays and
/// nulls are not hyperparameters a diagnosis uses), depth-limited.
pub fn json_leaves(
    key: &str,
    value: &serde_json::Value,
    out: &mut Vec<(String, Leaf)>,
    depth: u32,
) {
    use serde_json::Value;
    match value {
        Value::Object(map) if depth < 12 => {
            for (k, v) in map {
                json_leaves(&format!("{key}/{k}"), v, out, depth + 1);
            }
        }
        Value::Number(n) => {
            if let Some(v) = n.as_f64() {
                out.push((key.to_string(), Leaf::Number(v)));
            }
        }
        Value::String(t) => out.push((
            key.to_string(),
            crate::readers::json_nonfinite::number(value)
                .map_or_else(|| Leaf::Text(t.clone()), Leaf::Number),
        )),
        Value::Bool(b) => out.push((key.to_string(), Leaf::Bool(*b))),
        _ => {}
    }
}

// Key spellings, most specific first: the corpus's scripts, Lightning (`max_epochs`,
// `precision`), Hugging Face `TrainingArguments` (`learning_rate`, `optim`,
// `per_device_train_batch_size`, `num_train_epochs`, `fp16`, `bf16`), Accelerate
// (`mixed_precision`), Hydra (`optimizer/_target_`, `optimizer/lr`).
const LR_KEYS: [&str; 7] = [
    "lr",
    "learning_rate",
    "learning-rate",
    "base_lr",
    "max_lr",
    "init_lr",
    "initial_lr",
];
const OPTIMIZER_KEYS: [&str; 6] = [
    "optimizer",
    "optim",
    "opt",
    "optimizer_name",
    "optimizer/name",
    "optimizer/_target_",
];
const BATCH_KEYS: [&str; 6] = [
    "batch_size",
    "bs",
    "per_device_train_batch_size",
    "train_batch_size",
    "batch-size",
    "total_batch_size",
];
const EPOCH_KEYS: [&str; 5] = [
    "epochs",
    "num_epochs",
    "num_train_epochs",
    "max_epochs",
    "n_epochs",
];
const PRECISION_KEYS: [&str; 2] = ["precision", "mixed_precision"];
/// Boolean switches that name a precision when true.
const PRECISION_FLAGS: [(&str, &str); 3] = [("bf16", "bf16"), ("fp16", "fp16"), ("amp", "amp")];

/// Where `key` (a flattened `a/b` path) matches `want`: the whole path, or its last part(s).
/// Returns the nesting depth, so a top-level `lr` wins over `scheduler/lr`.
fn matches(key: &str, want: &str) -> Option<usize> {
    let lower = key.to_ascii_lowercase();
    if lower == want {
        return Some(0);
    }
    lower
        .strip_suffix(want)
        .filter(|head| head.ends_with('/'))
        .map(|head| head.matches('/').count())
}

/// The best leaf for a list of spellings: shallower keys first (a top-level `lr` over
/// `scheduler/lr`), then keys under an optimizer block, then earlier spellings.
fn pick<'a, T>(
    leaves: &'a [(String, Leaf)],
    keys: &[&str],
    read: impl Fn(&'a Leaf) -> Option<T>,
) -> Option<Setting<T>> {
    let mut best: Option<((usize, bool, usize), Setting<T>)> = None;
    for (key, leaf) in leaves {
        for (rank, want) in keys.iter().enumerate() {
            let Some(depth) = matches(key, want) else {
                continue;
            };
            let Some(value) = read(leaf) else {
                continue;
            };
            let outside_optimizer = depth > 0 && !key.to_ascii_lowercase().starts_with("optim");
            let order = (depth, outside_optimizer, rank);
            if best.as_ref().is_none_or(|b| order < b.0) {
                best = Some((
                    order,
                    Setting {
                        key: key.clone(),
                        value,
                    },
                ));
            }
        }
    }
    best.map(|b| b.1)
}

impl RunConfig {
    /// Picks the settings out of flattened configuration leaves.
    pub fn from_leaves(source: impl Into<PathBuf>, leaves: &[(String, Leaf)]) -> RunConfig {
        let precision = pick(leaves, &PRECISION_KEYS, Leaf::text).or_else(|| {
            PRECISION_FLAGS.iter().find_map(|(flag, name)| {
                leaves.iter().find_map(|(key, leaf)| {
                    (matches(key, flag).is_some() && *leaf == Leaf::Bool(true)).then(|| Setting {
                        key: key.clone(),
                        value: (*name).to_string(),
                    })
                })
            })
        });
        RunConfig {
            source: source.into(),
            learning_rate: pick(leaves, &LR_KEYS, Leaf::number).filter(|s| s.value >= 0.0),
            optimizer: pick(leaves, &OPTIMIZER_KEYS, |l| match l {
                Leaf::Text(t) if !t.trim().is_empty() => Some(t.trim().to_string()),
                _ => None,
            }),
            batch_size: pick(leaves, &BATCH_KEYS, |l| {
                l.number()
                    .filter(|v| *v >= 1.0 && v.fract() == 0.0 && *v < 1e12)
                    .map(|v| v as u64)
            }),
            epochs: pick(leaves, &EPOCH_KEYS, Leaf::number).filter(|s| s.value > 0.0),
            precision,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.learning_rate.is_none()
            && self.optimizer.is_none()
            && self.batch_size.is_none()
            && self.epochs.is_none()
            && self.precision.is_none()
    }

    /// `optimizer sgd, learning rate 0.05, batch size 64, 30 epochs, precision bf16`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(s) = &self.optimizer {
            parts.push(format!("optimizer {}", s.value));
        }
        if let Some(s) = &self.learning_rate {
            parts.push(format!("learning rate {}", crate::stats::fmt(s.value)));
        }
        if let Some(s) = &self.batch_size {
            parts.push(format!("batch size {}", s.value));
        }
        if let Some(s) = &self.epochs {
            parts.push(format!("{} epochs", crate::stats::fmt(s.value)));
        }
        if let Some(s) = &self.precision {
            parts.push(format!("precision {}", s.value));
        }
        parts.join(", ")
    }

    /// An evidence line for the configured learning rate, used where none was logged.
    pub fn lr_evidence(&self) -> Option<String> {
        self.learning_rate.as_ref().map(|s| {
            format!(
                "learning rate {} set in {} (`{}`); it was not logged during the run, so a schedule may have changed it",
                crate::stats::fmt(s.value),
                self.source.display(),
                s.key
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(items: &[(&str, Leaf)]) -> Vec<(String, Leaf)> {
        items
            .iter()
            .map(|(k, v)| ((*k).to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn common_spellings() {
        let c = RunConfig::from_leaves(
            "config.yaml",
            &leaves(&[
                ("scheduler/lr", Leaf::Number(0.5)),
                ("learning_rate", Leaf::Text("1e-3".into())),
                ("optim", Leaf::Text("adamw_torch".into())),
                ("per_device_train_batch_size", Leaf::Number(16.0)),
                ("num_train_epochs", Leaf::Number(3.0)),
                ("fp16", Leaf::Bool(false)),
                ("bf16", Leaf::Bool(true)),
            ]),
        );
        assert_eq!(c.learning_rate.as_ref().map(|s| s.value), Some(1e-3));
        assert_eq!(
            c.optimizer.as_ref().map(|s| s.value.as_str()),
            Some("adamw_torch")
        );
        assert_eq!(c.batch_size.as_ref().map(|s| s.value), Some(16));
        assert_eq!(c.epochs.as_ref().map(|s| s.value), Some(3.0));
        assert_eq!(c.precision.as_ref().map(|s| s.value.as_str()), Some("bf16"));
        // A nested optimizer block (Hydra) and Lightning's precision.
        let c = RunConfig::from_leaves(
            "config.yaml",
            &leaves(&[
                ("optimizer/_target_", Leaf::Text("torch.optim.SGD".into())),
                ("optimizer/lr", Leaf::Number(0.1)),
                ("trainer/precision", Leaf::Text("bf16-mixed".into())),
                ("data/batch_size", Leaf::Number(-3.0)),
            ]),
        );
        assert_eq!(
            c.learning_rate.as_ref().map(|s| s.key.as_str()),
            Some("optimizer/lr")
        );
        assert_eq!(
            c.optimizer.as_ref().map(|s| s.value.as_str()),
            Some("torch.optim.SGD")
        );
        assert_eq!(
            c.precision.as_ref().map(|s| s.value.as_str()),
            Some("bf16-mixed")
        );
        assert_eq!(c.batch_size, None);
        assert!(RunConfig::from_leaves("c", &[]).is_empty());
    }
}
