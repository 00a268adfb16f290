//! Finds runs under the paths given on the command line and merges the files of each run.
//! A run's root is the file's folder with logger-specific sub-folders stripped (`tb/`,
//! `csv/`, `version_0/`, `checkpoint-500/`, Keras' `train/`/`validation/`), so a Lightning
//! run's CSV and TensorBoard logs, or a script's `metrics.jsonl` and `tb/`, become one run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Result, RunsError};
use crate::readers::{self, mlflow, Format};
use crate::series::{ReadNote, Run, SourceData};

const MAX_DEPTH: u32 = 16;

/// Folder names that belong to a logger, not to the run.
fn is_logger_dir(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let numbered = |prefix: &str| {
        lower
            .strip_prefix(prefix)
            .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit()))
    };
    matches!(
        lower.as_str(),
        "tb" | "csv"
            | "logs"
            | "tensorboard"
            | "tb_logs"
            | "lightning_logs"
            | "csv_logs"
            | "train"
            | "training"
            | "validation"
            | "val"
            | "eval"
            | "valid"
            | "metrics"
    ) || numbered("version_")
        || numbered("checkpoint-")
}

fn run_root(file: &Path) -> PathBuf {
    // `events.out.tfevents.x` given without a folder lives in the current one.
    let mut dir = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    while let Some(name) = dir.file_name().and_then(|n| n.to_str()) {
        if !is_logger_dir(name) {
            break;
        }
        match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => dir = p.to_path_buf(),
            _ => break,
        }
    }
    dir
}

struct Found {
    path: PathBuf,
    format: Format,
    explicit: bool,
}

fn walk(dir: &Path, depth: u32, out: &mut Vec<Found>) {
    if depth > MAX_DEPTH {
        return;
    }
    if mlflow::is_file_store_run(dir) {
        out.push(Found {
            path: dir.to_path_buf(),
            format: Format::MlflowFileRun,
            explicit: false,
        });
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        // file_type() does not follow symlinks: no loops through linked folders.
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() && !hidden {
            walk(&path, depth + 1, out);
        } else if kind.is_file() {
            if let Some(format) = readers::format_by_name(&path) {
                out.push(Found {
                    path,
                    format,
                    explicit: false,
                });
            }
        }
    }
}

/// Reads every run under `paths`. Files named on the command line must parse; files met
/// while walking a folder that turn out not to be logs (a data CSV, an unrelated database)
/// are skipped silently.
pub fn load_runs(paths: &[PathBuf]) -> Result<Vec<Run>> {
    let mut found = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| RunsError::io(path, e))?;
        let mlflow_run =
            path.ancestors().skip(1).take(10).find(|dir| {
                mlflow::is_file_store_run(dir) && path.starts_with(dir.join("metrics"))
            });
        if meta.is_dir() {
            let start = found.len();
            walk(path, 0, &mut found);
            drop_summaries_beside_logs(&mut found, start);
        } else if let Some(run_dir) = mlflow_run {
            // One metric file of an MLflow run: read the whole run.
            found.push(Found {
                path: run_dir.to_path_buf(),
                format: Format::MlflowFileRun,
                explicit: true,
            });
        } else {
            let mut head = [0u8; 4096];
            let n = read_head(path, &mut head)?;
            let format = readers::format_by_content(path, head.get(..n).unwrap_or(&[]));
            found.push(Found {
                path: path.clone(),
                format,
                explicit: true,
            });
        }
    }
    let mut runs: BTreeMap<(PathBuf, String), Run> = BTreeMap::new();
    for item in found {
        let results = match readers::read(&item.path, item.format) {
            Ok(r) => r,
            Err(e) if item.explicit => return Err(e),
            Err(e) => {
                if matches!(
                    item.format,
                    Format::TensorBoard
                        | Format::HfTrainerState
                        | Format::Wandb
                        | Format::WandbSummary
                ) {
                    // A named log format that fails is worth saying; a stray CSV is not.
                    let root = run_root(&item.path);
                    let run = runs
                        .entry((root.clone(), String::new()))
                        .or_insert_with(|| empty_run(&root, None));
                    run.notes.push(ReadNote {
                        path: item.path.clone(),
                        offset: None,
                        line: None,
                        message: e.to_string(),
                        serious: true,
                    });
                }
                continue;
            }
        };
        let root = match item.format {
            Format::MlflowFileRun => item.path.clone(),
            Format::WandbSummary => readers::wandb_run_dir(&item.path),
            _ => run_root(&item.path),
        };
        for (name, mut data) in results {
            // A file named on the command line that reads but holds nothing is worth saying:
            // "no training logs found" would send the user looking in the wrong place.
            if item.explicit && data.series.is_empty() && data.notes.is_empty() {
                data.notes.push(ReadNote {
                    path: item.path.clone(),
                    offset: None,
                    line: None,
                    message: "read, but it holds no numeric metric values (only a header, or no \
                              column of numbers next to a step column)"
                        .into(),
                    serious: true,
                });
            }
            let key = match item.format {
                Format::MlflowSqlite => (root.clone(), name.clone().unwrap_or_default()),
                _ => (root.clone(), String::new()),
            };
            let run = runs
                .entry(key)
                .or_insert_with(|| empty_run(&root, name.as_deref()));
            merge(run, &item.path, data);
        }
    }
    let runs: Vec<Run> = runs
        .into_values()
        .filter(|r| !r.series.is_empty() || !r.notes.is_empty())
        .collect();
    if runs.is_empty() {
        return Err(RunsError::Usage(format!(
            "no training logs found under {} (looked for events.out.tfevents.*, *.jsonl, \
             metrics.csv/results.csv/*.csv, trainer_state.json, W&B run-*.wandb, MLflow mlruns/ and *.db)",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(runs)
}

/// A W&B run folder with a transaction log is read from the log (which reads the summary
/// beside it); its `files/wandb-summary.json` alone is read only where there is no log.
fn drop_summaries_beside_logs(found: &mut Vec<Found>, start: usize) {
    let logs: Vec<PathBuf> = found[start..]
        .iter()
        .filter(|f| f.format == Format::Wandb)
        .filter_map(|f| f.path.parent().map(Path::to_path_buf))
        .collect();
    let mut i = start;
    while i < found.len() {
        if found[i].format == Format::WandbSummary
            && logs.contains(&readers::wandb_run_dir(&found[i].path))
        {
            found.remove(i);
        } else {
            i += 1;
        }
    }
}

fn read_head(path: &Path, buf: &mut [u8]) -> Result<usize> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|e| RunsError::io(path, e))?;
    let mut n = 0;
    while n < buf.len() {
        let Some(rest) = buf.get_mut(n..) else { break };
        match file.read(rest) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) => return Err(RunsError::io(path, e)),
        }
    }
    Ok(n)
}

fn empty_run(root: &Path, name: Option<&str>) -> Run {
    let name = name.map(str::to_string).unwrap_or_else(|| {
        // `.` and `..` have no name of their own: use the folder they stand for.
        let own = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
        own(root)
            .or_else(|| std::fs::canonicalize(root).ok().and_then(|p| own(&p)))
            .unwrap_or_else(|| root.display().to_string())
    });
    Run {
        name,
        root: root.to_path_buf(),
        sources: Vec::new(),
        series: Vec::new(),
        notes: Vec::new(),
        config: None,
        final_values_only: false,
    }
}

/// Adds a file's series to its run. The same metric logged by two writers (TensorBoard and
/// a JSON log, or two checkpoints' cumulative `trainer_state.json`) is kept once: the copy
/// with more points wins. Several event files in one folder are one run written in pieces
/// (a resumed run starts a new file): their points are concatenated in file-name order,
/// which is creation-time order.
fn merge(run: &mut Run, path: &Path, data: SourceData) {
    // Only the final values when every source of the run had only those.
    run.final_values_only =
        data.final_values_only && (run.sources.is_empty() || run.final_values_only);
    if run.config.is_none() {
        run.config = data.config;
    }
    run.sources.push(path.to_path_buf());
    run.notes.extend(data.notes);
    for series in data.series {
        match run.series.iter_mut().find(|s| s.name == series.name) {
            Some(existing) if same_writer_pieces(&existing.source, &series.source) => {
                existing.points.extend(series.points);
            }
            Some(existing) if existing.points.len() >= series.points.len() => {}
            Some(existing) => *existing = series,
            None => run.series.push(series),
        }
    }
}

fn same_writer_pieces(a: &Path, b: &Path) -> bool {
    let is_tb = |p: &Path| readers::format_by_name(p) == Some(Format::TensorBoard);
    a != b && is_tb(a) && is_tb(b) && a.parent() == b.parent()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logger_folders_are_stripped() {
        assert_eq!(
            run_root(Path::new("runs/exp/csv/version_0/metrics.csv")),
            PathBuf::from("runs/exp")
        );
        assert_eq!(
            run_root(Path::new("out/checkpoint-500/trainer_state.json")),
            PathBuf::from("out")
        );
        assert_eq!(
            run_root(Path::new("tb/events.out.tfevents.1")),
            PathBuf::from("tb")
        );
    }
}
