//! Log readers, one module per format, and the detection that picks one for a file.

mod crc;
pub mod csv_table;
pub mod hf_state;
pub mod json_nonfinite;
pub mod jsonl;
pub mod mlflow;
pub mod tb_proto;
pub mod tb_wire;
pub mod tensorboard;
pub mod tfrecord;
pub mod wandb;
pub mod wandb_files;

use std::path::Path;

use crate::error::{Result, RunsError};
use crate::series::SourceData;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    TensorBoard,
    JsonLines,
    HfTrainerState,
    Csv,
    MlflowFileRun,
    MlflowSqlite,
    Wandb,
    /// A W&B run folder's `files/wandb-summary.json` with no transaction log beside it.
    WandbSummary,
}

impl Format {
    pub fn label(self) -> &'static str {
        match self {
            Format::TensorBoard => "TensorBoard event file",
            Format::JsonLines => "JSON lines",
            Format::HfTrainerState => "Hugging Face trainer_state.json",
            Format::Csv => "CSV metrics",
            Format::MlflowFileRun => "MLflow file-store run",
            Format::MlflowSqlite => "MLflow SQLite store",
            Format::Wandb => "W&B transaction log",
            Format::WandbSummary => "W&B run summary",
        }
    }
}

/// The format a file's name promises, if any. Directory walks only read files named so.
pub fn format_by_name(path: &Path) -> Option<Format> {
    let name = path.file_name()?.to_str()?;
    let lower = name.to_ascii_lowercase();
    if name.starts_with("events.out.tfevents") {
        Some(Format::TensorBoard)
    } else if lower == "trainer_state.json" {
        Some(Format::HfTrainerState)
    } else if lower.ends_with(".wandb") {
        Some(Format::Wandb)
    } else if lower == wandb_files::SUMMARY {
        Some(Format::WandbSummary)
    } else if lower.ends_with(".jsonl") || lower.ends_with(".ndjson") {
        Some(Format::JsonLines)
    } else if lower.ends_with(".csv") {
        Some(Format::Csv)
    } else if lower.ends_with(".db") || lower.ends_with(".sqlite") || lower.ends_with(".sqlite3") {
        Some(Format::MlflowSqlite)
    } else {
        None
    }
}

/// The format of a file given explicitly: its name first, else its first bytes.
pub fn format_by_content(path: &Path, head: &[u8]) -> Format {
    if let Some(f) = format_by_name(path) {
        return f;
    }
    if head.starts_with(mlflow::SQLITE_MAGIC) {
        return Format::MlflowSqlite;
    }
    if head.starts_with(b":W&B") {
        return Format::Wandb;
    }
    if tensorboard::sniff(head) {
        return Format::TensorBoard;
    }
    let text = String::from_utf8_lossy(head);
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        if text.contains("\"log_history\"") {
            Format::HfTrainerState
        } else {
            Format::JsonLines
        }
    } else {
        Format::Csv
    }
}

fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| RunsError::io(path, e))?;
    String::from_utf8(bytes).map_err(|e| {
        RunsError::format(
            path,
            format!(
                "not UTF-8 text (byte {}); wrong format?",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

/// Reads one source. SQLite stores hold many runs, so this returns a list of
/// `(run name the format records, data)`.
pub fn read(path: &Path, format: Format) -> Result<Vec<(Option<String>, SourceData)>> {
    let one = |data: SourceData| Ok(vec![(data.run_name.clone(), data)]);
    match format {
        Format::TensorBoard => {
            let data = tensorboard::read(path, &keras_prefix(path));
            one(data.map_err(|e| RunsError::io(path, e))?)
        }
        Format::JsonLines => one(jsonl::parse(path, &read_text(path)?)?),
        Format::HfTrainerState => one(hf_state::parse(path, &read_text(path)?)?),
        Format::Csv => one(csv_table::parse(path, &read_text(path)?)?),
        Format::MlflowFileRun => one(mlflow::read_file_store_run(path)?),
        Format::Wandb => one(wandb_files::read_run(path)?),
        Format::WandbSummary => one(wandb_files::read_run_without_log(&wandb_run_dir(path))?),
        Format::MlflowSqlite => Ok(mlflow::read_sqlite(path)?
            .into_iter()
            .map(|(name, data)| (Some(name), data))
            .collect()),
    }
}

/// The run folder of a W&B side file: `<run folder>/files/wandb-summary.json`.
pub fn wandb_run_dir(summary: &Path) -> std::path::PathBuf {
    summary
        .parent()
        .filter(|p| p.file_name().is_some_and(|n| n == wandb_files::FILES_DIR))
        .and_then(Path::parent)
        .or_else(|| summary.parent())
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| std::path::PathBuf::from("."), Path::to_path_buf)
}

/// Keras' TensorBoard callback writes `<logdir>/train/` and `<logdir>/validation/` with the
/// same tag names (`epoch_loss`); the folder says which split a tag belongs to.
fn keras_prefix(path: &Path) -> String {
    let parent = path
        .parent()
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match parent.as_str() {
        "validation" | "val" | "eval" | "valid" => "val/".to_string(),
        "train" | "training" => "train/".to_string(),
        _ => String::new(),
    }
}
