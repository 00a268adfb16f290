//! CSV metric tables: Lightning `CSVLogger` `metrics.csv` (sparse rows, one per `log` call,
//! repeated steps), Ultralytics `results.csv` (headers padded with spaces, one row per
//! epoch, loss split into components) and generic CSV with a step or epoch column.
//! Cells `nan`, `inf`, `-inf` (Python's `str(float)`) are non-finite values, empty cells
//! are "not logged in this row".

use std::path::Path;

use crate::error::{Result, RunsError};
use crate::series::{ReadNote, Series, SourceData};

const STEP_COLUMNS: [&str; 7] = [
    "step",
    "global_step",
    "trainer/global_step",
    "_step",
    "iteration",
    "iter",
    "epoch",
];

pub fn parse_cell(cell: &str) -> Option<f64> {
    let t = cell.trim();
    if t.is_empty() {
        return None;
    }
    match t.to_ascii_lowercase().as_str() {
        "nan" | "-nan" => Some(f64::NAN),
        "inf" | "+inf" | "infinity" => Some(f64::INFINITY),
        "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
        _ => t.parse::<f64>().ok(),
    }
}

pub fn parse(path: &Path, text: &str) -> Result<SourceData> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| RunsError::format(path, format!("bad CSV header: {e}")))?
        .iter()
        .map(str::to_string)
        .collect();
    let step_col = STEP_COLUMNS
        .iter()
        .find_map(|name| headers.iter().position(|h| h.eq_ignore_ascii_case(name)))
        .ok_or_else(|| {
            RunsError::format(
                path,
                format!(
                    "no step column (looked for {}); columns are: {}",
                    STEP_COLUMNS.join(", "),
                    headers.join(", ")
                ),
            )
        })?;
    let mut out = SourceData::default();
    let mut columns: Vec<Series> = headers.iter().map(|h| Series::new(h, path)).collect();
    let mut bad_rows: Vec<u64> = Vec::new();
    let mut last_step: Option<i64> = None;
    for (row_idx, record) in reader.records().enumerate() {
        let line = row_idx as u64 + 2;
        let record = match record {
            Ok(r) => r,
            Err(_) => {
                bad_rows.push(line);
                continue;
            }
        };
        let step = match record.get(step_col).and_then(parse_cell) {
            Some(s) if s.is_finite() => s as i64,
            // Some loggers leave the step empty on epoch-level rows; reuse the last one.
            _ => match last_step {
                Some(s) => s,
                None => {
                    bad_rows.push(line);
                    continue;
                }
            },
        };
        last_step = Some(step);
        for (col, series) in columns.iter_mut().enumerate() {
            if col == step_col {
                continue;
            }
            if let Some(v) = record.get(col).and_then(parse_cell) {
                series.push(step, v, None);
            }
        }
    }
    if let Some(&first) = bad_rows.first() {
        out.notes.push(ReadNote {
            path: path.to_path_buf(),
            offset: None,
            line: Some(first),
            message: format!(
                "{} row(s) could not be read (first: line {first}); skipped",
                bad_rows.len()
            ),
            serious: true,
        });
    }
    let step_name = headers.get(step_col).cloned().unwrap_or_default();
    let mut series: Vec<Series> = columns
        .into_iter()
        .enumerate()
        .filter(|(i, s)| *i != step_col && !s.points.is_empty())
        .map(|(_, s)| s)
        .collect();
    // Keep an epoch axis when the table is indexed by epoch (Ultralytics): the role
    // resolver uses it to report the epoch of the best validation value.
    if step_name.eq_ignore_ascii_case("epoch") {
        let mut epoch = Series::new("epoch", path);
        for p in series.first().map(|s| s.points.as_slice()).unwrap_or(&[]) {
            epoch.push(p.step, p.step as f64, None);
        }
        series.push(epoch);
    }
    add_component_totals(&mut series, path);
    out.series = series;
    Ok(out)
}

/// Ultralytics logs `train/box_loss`, `train/cls_loss`, `train/dfl_loss`; a total loss is
/// what the detectors need, so sum the components of each split at each step.
fn add_component_totals(series: &mut Vec<Series>, path: &Path) {
    for split in ["train", "val"] {
        let prefix = format!("{split}/");
        let parts: Vec<&Series> = series
            .iter()
            .filter(|s| {
                s.name
                    .strip_prefix(&prefix)
                    .is_some_and(|rest| rest.ends_with("_loss"))
            })
            .collect();
        if parts.len() < 2 || series.iter().any(|s| s.name == format!("{split}/loss")) {
            continue;
        }
        let mut total = Series::new(format!("{split}/loss"), path);
        if let Some(first) = parts.first() {
            for (i, p) in first.points.iter().enumerate() {
                let sum: Option<f64> = parts.iter().try_fold(0.0, |acc, s| {
                    s.points
                        .get(i)
                        .filter(|q| q.step == p.step)
                        .map(|q| acc + q.value)
                });
                if let Some(v) = sum {
                    total.push(p.step, v, None);
                }
            }
        }
        series.push(total);
    }
}
