//! JSON lines: one object per line, numeric fields are series, `step` (or `global_step`,
//! `iteration`, `_step`) is the x axis. Nested objects are flattened with `/`.
//! A last line cut short (a run still writing) is dropped with a note, not an error.

use std::path::Path;

use serde_json::{Map, Value};

use super::json_nonfinite::{number, sanitize};
use crate::error::{Result, RunsError};
use crate::series::{ReadNote, SourceData};

pub const STEP_KEYS: [&str; 6] = [
    "step",
    "global_step",
    "trainer/global_step",
    "_step",
    "iteration",
    "iter",
];

pub fn parse(path: &Path, text: &str) -> Result<SourceData> {
    let mut out = SourceData::default();
    let lines: Vec<&str> = text.lines().collect();
    let last_nonempty = lines.iter().rposition(|l| !l.trim().is_empty());
    let mut parsed = 0usize;
    let mut bad: Vec<u64> = Vec::new();
    for (idx, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = match serde_json::from_str(&sanitize(line)) {
            Ok(v) => v,
            Err(_) => {
                if Some(idx) == last_nonempty && !text.ends_with('\n') {
                    out.notes.push(ReadNote {
                        path: path.to_path_buf(),
                        offset: None,
                        line: Some(idx as u64 + 1),
                        message: "last line is cut short (a run still writing?); ignored"
                            .to_string(),
                        serious: false,
                    });
                } else {
                    bad.push(idx as u64 + 1);
                }
                continue;
            }
        };
        let Value::Object(map) = value else {
            bad.push(idx as u64 + 1);
            continue;
        };
        parsed += 1;
        let step = STEP_KEYS
            .iter()
            .find_map(|k| map.get(*k).and_then(number))
            .filter(|s| s.is_finite())
            .map(|s| s as i64)
            .unwrap_or(idx as i64);
        let wall = ["timestamp", "_timestamp", "time", "wall_time"]
            .iter()
            .find_map(|k| map.get(*k).and_then(number))
            .filter(|t| t.is_finite() && *t > 1e8);
        let mut fields = Vec::new();
        flatten("", &map, &mut fields, 0);
        for (name, v) in fields {
            if STEP_KEYS.contains(&name.as_str()) {
                continue;
            }
            out.series_mut(&name, path).push(step, v, wall);
        }
    }
    if parsed == 0 {
        return Err(RunsError::format(
            path,
            "no line is a JSON object; not a JSON-lines metrics log",
        ));
    }
    if let Some(&first) = bad.first() {
        out.notes.push(ReadNote {
            path: path.to_path_buf(),
            offset: None,
            line: Some(first),
            message: format!(
                "{} line(s) are not JSON objects (first: line {first}); skipped",
                bad.len()
            ),
            serious: true,
        });
    }
    Ok(out)
}

/// Collects numeric leaves as `a/b` names; depth-limited against adversarial nesting.
pub fn flatten(prefix: &str, map: &Map<String, Value>, out: &mut Vec<(String, f64)>, depth: u32) {
    if depth > 8 {
        return;
    }
    for (key, value) in map {
        let name = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}/{key}")
        };
        match value {
            Value::Object(inner) => flatten(&name, inner, out, depth + 1),
            other => {
                if let Some(v) = number(other) {
                    out.push((name, v));
                }
            }
        }
    }
}
