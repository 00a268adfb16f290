//! MLflow runs. File store: `mlruns/<experiment>/<run>/metrics/<key>` with lines
//! `timestamp value step` (older versions: `timestamp value`), keys containing `/` become
//! sub-folders; `meta.yaml` holds `run_name`. SQLite store (MLflow's default since 3.x):
//! table `metrics(key, value, timestamp, run_uuid, step, is_nan)`, run names in `runs.name`.
//! MLflow stores +/-inf as +/-1.7976931348623157e308 and NaN as `is_nan = 1`.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use super::csv_table::parse_cell;
use crate::error::{Result, RunsError};
use crate::series::{ReadNote, SourceData};

fn unclamp(v: f64) -> f64 {
    if v >= f64::MAX {
        f64::INFINITY
    } else if v <= -f64::MAX {
        f64::NEG_INFINITY
    } else {
        v
    }
}

/// True when `dir` looks like an MLflow file-store run folder.
pub fn is_file_store_run(dir: &Path) -> bool {
    dir.join("meta.yaml").is_file() && dir.join("metrics").is_dir()
}

pub fn read_file_store_run(dir: &Path) -> Result<SourceData> {
    let mut out = SourceData {
        run_name: std::fs::read_to_string(dir.join("meta.yaml"))
            .ok()
            .and_then(|meta| {
                meta.lines()
                    .find_map(|l| l.strip_prefix("run_name:"))
                    .map(|v| v.trim().trim_matches('\'').trim_matches('"').to_string())
            })
            .filter(|n| !n.is_empty()),
        ..SourceData::default()
    };
    let metrics = dir.join("metrics");
    let mut files: Vec<PathBuf> = Vec::new();
    collect_files(&metrics, &mut files, 0);
    files.sort();
    for file in files {
        let key = file
            .strip_prefix(&metrics)
            .map(|k| k.to_string_lossy().replace('\\', "/"))
            .unwrap_or_default();
        let text = std::fs::read(&file).map_err(|e| RunsError::io(&file, e))?;
        let text = String::from_utf8_lossy(&text);
        let mut bad = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let parsed = match fields.as_slice() {
                [ts, v, step] => parse_cell(ts)
                    .zip(parse_cell(v))
                    .zip(step.parse::<i64>().ok())
                    .map(|((t, v), s)| (t, v, s)),
                [ts, v] => parse_cell(ts)
                    .zip(parse_cell(v))
                    .map(|(t, v)| (t, v, i as i64)),
                [] => continue,
                _ => None,
            };
            match parsed {
                Some((ts, v, step)) => {
                    out.series_mut(&key, &file)
                        .push(step, unclamp(v), Some(ts / 1000.0))
                }
                None => bad.push(i as u64 + 1),
            }
        }
        if let Some(&first) = bad.first() {
            out.notes.push(ReadNote {
                path: file.clone(),
                offset: None,
                line: Some(first),
                message: format!(
                    "{} line(s) are not `timestamp value step`; skipped",
                    bad.len()
                ),
                serious: true,
            });
        }
    }
    Ok(out)
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>, depth: u32) {
    if depth > 8 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            collect_files(&entry.path(), out, depth + 1);
        } else if kind.is_file() {
            out.push(entry.path());
        }
    }
}

pub const SQLITE_MAGIC: &[u8] = b"SQLite format 3\0";

/// One SQLite database holds many runs: returns `(run name, data)` per run.
pub fn read_sqlite(path: &Path) -> Result<Vec<(String, SourceData)>> {
    let sql_err = |source| RunsError::Sqlite {
        path: path.to_path_buf(),
        source,
    };
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sql_err)?;
    let has_metrics: bool = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'metrics'",
            [],
            |row| row.get::<_, i64>(0),
        )
        .map_err(sql_err)?
        > 0;
    if !has_metrics {
        return Err(RunsError::format(
            path,
            "SQLite database without a `metrics` table; not an MLflow tracking store",
        ));
    }
    let mut names = std::collections::HashMap::new();
    if let Ok(mut stmt) = conn.prepare("SELECT run_uuid, name FROM runs") {
        let rows = stmt.query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, Option<String>>(1)?))
        });
        if let Ok(rows) = rows {
            for (id, name) in rows.flatten() {
                if let Some(name) = name.filter(|n| !n.is_empty()) {
                    names.insert(id, name);
                }
            }
        }
    }
    let mut stmt = conn
        .prepare(
            "SELECT run_uuid, key, value, timestamp, step, is_nan FROM metrics \
             ORDER BY run_uuid, key, step, timestamp",
        )
        .map_err(sql_err)?;
    let rows = stmt
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, Option<f64>>(2)?,
                row.get::<_, Option<i64>>(3)?,
                row.get::<_, Option<i64>>(4)?,
                row.get::<_, Option<bool>>(5)?,
            ))
        })
        .map_err(sql_err)?;
    let mut runs: Vec<(String, SourceData)> = Vec::new();
    for row in rows {
        let (run, key, value, ts, step, is_nan) = row.map_err(sql_err)?;
        let value = if is_nan.unwrap_or(false) {
            f64::NAN
        } else {
            unclamp(value.unwrap_or(f64::NAN))
        };
        if runs.last().map(|(id, _)| id != &run).unwrap_or(true) {
            runs.push((run.clone(), SourceData::default()));
        }
        if let Some((_, data)) = runs.last_mut() {
            data.series_mut(&key, path).push(
                step.unwrap_or(0),
                value,
                ts.map(|t| t as f64 / 1000.0),
            );
        }
    }
    Ok(runs
        .into_iter()
        .map(|(id, mut data)| {
            let name = names.get(&id).cloned().unwrap_or_else(|| id.clone());
            data.run_name = Some(name.clone());
            (name, data)
        })
        .collect())
}
