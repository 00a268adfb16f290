//! Hugging Face `trainer_state.json` (`Trainer.save_state()`): `log_history` is a list of
//! dicts, train entries (`loss`, `grad_norm`, `learning_rate`), eval entries (`eval_*`),
//! and a final summary entry (`train_runtime`, mean `train_loss`) that is not a point.

use std::path::Path;

use serde_json::Value;

use super::json_nonfinite::{number, sanitize};
use crate::error::{Result, RunsError};
use crate::series::SourceData;

/// Per-run aggregates in the summary entry; plotting them as points would mislead.
const SUMMARY_KEYS: [&str; 5] = [
    "train_runtime",
    "train_samples_per_second",
    "train_steps_per_second",
    "total_flos",
    "train_loss",
];

pub fn parse(path: &Path, text: &str) -> Result<SourceData> {
    let root: Value = serde_json::from_str(&sanitize(text))
        .map_err(|e| RunsError::format(path, format!("not valid JSON: {e}")))?;
    let history = root
        .get("log_history")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            RunsError::format(path, "no `log_history` list; not a trainer_state.json")
        })?;
    let mut out = SourceData::default();
    for (idx, entry) in history.iter().enumerate() {
        let Some(map) = entry.as_object() else {
            continue;
        };
        if map.contains_key("train_runtime") {
            continue;
        }
        let step = map
            .get("step")
            .and_then(number)
            .filter(|s| s.is_finite())
            .map(|s| s as i64)
            .unwrap_or(idx as i64);
        for (key, value) in map {
            if key == "step" || SUMMARY_KEYS.contains(&key.as_str()) {
                continue;
            }
            if let Some(v) = number(value) {
                out.series_mut(key, path).push(step, v, None);
            }
        }
    }
    Ok(out)
}
