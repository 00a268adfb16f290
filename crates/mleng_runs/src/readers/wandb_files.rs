//! The files W&B keeps beside a run's transaction log, in `<run folder>/files/`:
//! - `config.yaml`: the run's `wandb.config`, one top-level key per entry, each
//!   `key: {value: ...}` (older SDKs add `desc: null`), plus `_wandb` (the SDK's own
//!   bookkeeping, skipped). Read for the hyperparameters a diagnosis can use
//!   ([`crate::config::RunConfig`]).
//! - `wandb-summary.json`: the run's final values (by default the last value logged for each
//!   key, `_step`, `_runtime`, `_timestamp`; `run.summary[...] = v` can set others). Used
//!   when the log is missing, unreadable or empty, and to tell that a log was cut short.
//!
//! Online runs write both while they run; offline runs write them when `wandb sync` uploads
//! them (its sender writes them into the same `files/` folder); an offline run that was never
//! synced has neither (its log's config records still give the hyperparameters, see
//! [`super::wandb`]; `config.yaml` wins where both exist).

use std::path::{Path, PathBuf};

use serde_json::Value;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};
use yaml_rust2::Yaml;

use super::json_nonfinite::sanitize;
use super::jsonl::flatten;
use crate::config::{Leaf, RunConfig};
use crate::error::{Result, RunsError};
use crate::series::{ReadNote, SourceData};

pub const FILES_DIR: &str = "files";
pub const SUMMARY: &str = "wandb-summary.json";
pub const CONFIG: &str = "config.yaml";
/// Larger than any real config or summary by orders of magnitude (they are a few KiB); a
/// bigger file is not one of these.
const MAX_BYTES: u64 = 16 * 1024 * 1024;
/// Keys nested deeper than this are not hyperparameters a diagnosis could use.
const MAX_DEPTH: usize = 12;

/// Reads a side file as text; `Ok(None)` when it does not exist.
pub fn read_text(path: &Path) -> Result<Option<String>> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(RunsError::io(path, e)),
    };
    if meta.len() > MAX_BYTES {
        return Err(RunsError::format(
            path,
            format!(
                "{} bytes: far larger than any W&B {} (a few KiB); not read",
                meta.len(),
                path.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ),
        ));
    }
    super::read_text(path).map(Some)
}

/// The final values in `wandb-summary.json`, one point per numeric key (nested objects
/// flattened as `a/b`), at the summary's step (`trainer/global_step` or `_step`).
pub fn parse_summary(path: &Path, text: &str) -> Result<SourceData> {
    let value: Value = serde_json::from_str(&sanitize(text)).map_err(|e| {
        RunsError::format(
            path,
            format!(
                "not valid JSON at line {} column {}: {e}",
                e.line(),
                e.column()
            ),
        )
    })?;
    let Value::Object(mut map) = value else {
        return Err(RunsError::format(
            path,
            "not a W&B summary: the top level is not a JSON object",
        ));
    };
    // `_wandb` is the SDK's bookkeeping; objects with a `_type` are media, tables and
    // histograms, not scalars.
    map.retain(|k, v| k != "_wandb" && !v.get("_type").is_some_and(Value::is_string));
    let mut row = Vec::new();
    flatten("", &map, &mut row, 0);
    let mut out = SourceData::default();
    super::wandb::push_row(&mut out, path, row, 0);
    Ok(out)
}

/// Columns of block nesting above which a file is refused: the YAML parser recurses once
/// per block level (a 2 MiB thread stack overflows near 1,000), while W&B indents 4 columns
/// per level and real configs nest a few levels.
const MAX_BLOCK_COLUMNS: usize = 256;

/// An upper bound of a line's block nesting: its indentation plus the `- `/`? ` indicators
/// that open a nested block on the same line (`- - - x`).
fn block_columns(line: &str) -> usize {
    let rest = line.trim_start_matches(' ');
    let mut cols = line.len() - rest.len();
    let mut rest = rest.as_bytes();
    while let [b'-' | b'?', b' ' | b'\t', tail @ ..] = rest {
        cols += 2;
        rest = tail;
        while let [b' ' | b'\t', tail @ ..] = rest {
            rest = tail;
        }
    }
    cols
}

/// The hyperparameters in `config.yaml`.
pub fn parse_config(path: &Path, text: &str) -> Result<RunConfig> {
    if let Some((n, _)) = text
        .lines()
        .enumerate()
        .find(|(_, l)| block_columns(l) > MAX_BLOCK_COLUMNS)
    {
        return Err(RunsError::format(
            path,
            format!(
                "line {}: nested deeper than {MAX_BLOCK_COLUMNS} columns; not a W&B config, not read",
                n + 1
            ),
        ));
    }
    let mut leaves = Leaves::default();
    let mut parser = Parser::new_from_str(text);
    parser
        .load(&mut leaves, false)
        .map_err(|e| RunsError::format(path, format!("not valid YAML: {e}")))?;
    if let Some(mark) = leaves.alias {
        return Err(RunsError::format(
            path,
            format!(
                "YAML alias at line {} column {}: W&B never writes anchors or aliases; not read",
                mark.line(),
                mark.col() + 1
            ),
        ));
    }
    if !leaves.top_mapping {
        return Err(RunsError::format(
            path,
            "not a W&B config: the top level is not a mapping of `key: {value: ...}`",
        ));
    }
    // W&B wraps each entry as `key: {value: v}`: `lr/value` is `lr`. A config written by
    // hand without the wrapper is read as it is.
    let unwrapped: Vec<(String, Leaf)> = leaves
        .out
        .into_iter()
        .filter(|(k, _)| !(k == "_wandb" || k.starts_with("_wandb/")))
        .filter_map(|(k, v)| {
            let key = match k.split_once('/') {
                Some((head, "value")) => head.to_string(),
                Some((head, rest)) => match rest.strip_prefix("value/") {
                    Some(inner) => format!("{head}/{inner}"),
                    None if rest == "desc" || rest.starts_with("desc/") => return None,
                    None => k,
                },
                None => k,
            };
            Some((key, v))
        })
        .collect();
    Ok(RunConfig::from_leaves(path, &unwrapped))
}

/// Flattens a YAML stream's first document into `a/b` leaves, from the parser's events:
/// no tree is built and aliases are never expanded (a "billion laughs" file costs nothing).
#[derive(Default)]
struct Leaves {
    out: Vec<(String, Leaf)>,
    /// One entry per open collection: `Some(key being filled)` for a mapping (`None` while
    /// its next key is awaited), or a sequence (whose items are not read).
    stack: Vec<Frame>,
    alias: Option<Marker>,
    top_mapping: bool,
    done: bool,
}

enum Frame {
    Mapping { key: Option<String> },
    Sequence,
}

impl Leaves {
    /// The path of the value that is about to arrive, if it is one we keep (inside mappings
    /// only, at most `MAX_DEPTH` deep).
    fn value_path(&self) -> Option<String> {
        if self.stack.len() > MAX_DEPTH {
            return None;
        }
        let mut parts = Vec::with_capacity(self.stack.len());
        for frame in &self.stack {
            match frame {
                Frame::Mapping { key: Some(k) } => parts.push(k.as_str()),
                _ => return None,
            }
        }
        Some(parts.join("/"))
    }

    /// A value arrived in the innermost collection: a mapping waits for its next key.
    fn value_done(&mut self) {
        if let Some(Frame::Mapping { key }) = self.stack.last_mut() {
            *key = None;
        }
    }
}

impl MarkedEventReceiver for Leaves {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.done {
            return;
        }
        match ev {
            Event::MappingStart(..) => {
                if self.stack.is_empty() {
                    self.top_mapping = true;
                }
                self.stack.push(Frame::Mapping { key: None });
            }
            Event::SequenceStart(..) => self.stack.push(Frame::Sequence),
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
                if self.stack.is_empty() {
                    self.done = true;
                } else {
                    self.value_done();
                }
            }
            Event::Scalar(text, style, _, _) => {
                if let Some(Frame::Mapping { key: key @ None }) = self.stack.last_mut() {
                    *key = Some(text);
                    return;
                }
                if let Some(path) = self.value_path() {
                    let leaf = if style == TScalarStyle::Plain {
                        match Yaml::from_str(&text) {
                            Yaml::Integer(i) => Some(Leaf::Number(i as f64)),
                            Yaml::Real(r) => r.parse::<f64>().ok().map(Leaf::Number),
                            Yaml::Boolean(b) => Some(Leaf::Bool(b)),
                            Yaml::Null => None,
                            _ => Some(Leaf::Text(text)),
                        }
                    } else {
                        Some(Leaf::Text(text))
                    };
                    if let Some(leaf) = leaf {
                        self.out.push((path, leaf));
                    }
                }
                if self.stack.is_empty() {
                    self.done = true;
                }
                self.value_done();
            }
            Event::Alias(_) => {
                self.alias.get_or_insert(mark);
                self.value_done();
            }
            Event::DocumentEnd => self.done = true,
            _ => {}
        }
    }
}

/// A run folder's side files, read as far as they are whole.
#[derive(Debug, Default)]
pub struct SideFiles {
    pub config: Option<RunConfig>,
    /// The final values, when `wandb-summary.json` holds any number.
    pub summary: Option<SourceData>,
    pub summary_path: PathBuf,
    /// A side file that exists but cannot be read (each error names its file).
    pub errors: Vec<RunsError>,
}

/// Reads `files/config.yaml` and `files/wandb-summary.json` of the run folder `run_dir`.
pub fn read_side_files(run_dir: &Path) -> SideFiles {
    let files = run_dir.join(FILES_DIR);
    let mut side = SideFiles {
        summary_path: files.join(SUMMARY),
        ..SideFiles::default()
    };
    let config_path = files.join(CONFIG);
    match read_text(&config_path)
        .and_then(|t| t.map(|t| parse_config(&config_path, &t)).transpose())
    {
        Ok(c) => side.config = c.filter(|c| !c.is_empty()),
        Err(e) => side.errors.push(e),
    }
    let summary_path = side.summary_path.clone();
    match read_text(&summary_path)
        .and_then(|t| t.map(|t| parse_summary(&summary_path, &t)).transpose())
    {
        Ok(s) => side.summary = s.filter(|s| !s.series.is_empty()),
        Err(e) => side.errors.push(e),
    }
    side
}

/// Reads a W&B run from its transaction log `log`, with the side files beside it: the
/// config's hyperparameters always; the summary's final values in place of a history that is
/// missing from the log (unreadable or empty), with an info note saying so.
pub fn read_run(log: &Path) -> Result<SourceData> {
    let run_dir = log.parent().unwrap_or_else(|| Path::new("."));
    let side = read_side_files(run_dir);
    let history = std::fs::read(log)
        .map_err(|e| RunsError::io(log, e))
        .and_then(|bytes| super::wandb::parse(log, &bytes));
    match history {
        Ok(mut data) if data.series.iter().any(|s| !s.points.is_empty()) => {
            data.notes.extend(side_notes(&side.errors));
            if let Some(summary) = &side.summary {
                data.notes
                    .extend(compare_with_summary(&data, summary, &side.summary_path));
            }
            // `config.yaml` is what the SDK wrote from the same records; it wins when both
            // are there.
            data.config = side.config.or(data.config);
            Ok(data)
        }
        Ok(data) => fall_back(
            side,
            data,
            "no history row could be read from the log (nothing logged yet, or lost to damage)",
        ),
        Err(e) if side.summary.is_some() => {
            let mut data = SourceData::default();
            data.notes.push(note(log, e.to_string(), true));
            fall_back(side, data, "the log cannot be read (see the note above)")
        }
        Err(e) => Err(e),
    }
}

/// Reads a W&B run folder from its side files: from its transaction log if it has one after
/// all (a summary named on the command line), else the summary alone.
pub fn read_run_without_log(run_dir: &Path) -> Result<SourceData> {
    let log = std::fs::read_dir(run_dir).ok().and_then(|entries| {
        entries
            .flatten()
            .map(|e| e.path())
            .find(|p| p.is_file() && p.extension().is_some_and(|x| x == "wandb"))
    });
    if let Some(log) = log {
        return read_run(&log);
    }
    let mut side = read_side_files(run_dir);
    if side.summary.is_none() && !side.errors.is_empty() {
        return Err(side.errors.remove(0));
    }
    fall_back(
        side,
        SourceData::default(),
        "the run folder has no W&B transaction log (run-<id>.wandb)",
    )
}

fn fall_back(side: SideFiles, mut data: SourceData, why: &str) -> Result<SourceData> {
    data.notes.extend(side_notes(&side.errors));
    data.config = side.config.or(data.config);
    if let Some(summary) = side.summary {
        data.notes.push(note(
            &side.summary_path,
            format!(
                "{why}: only the run's final values were read, from this summary (one point per metric); the detectors that need the curves could not run"
            ),
            false,
        ));
        data.series = summary.series;
        data.final_values_only = true;
    }
    Ok(data)
}

fn note(path: &Path, message: String, serious: bool) -> ReadNote {
    ReadNote {
        path: path.to_path_buf(),
        offset: None,
        line: None,
        message,
        serious,
    }
}

/// A side file that cannot be read is worth a warning, not the run.
fn side_notes(errors: &[RunsError]) -> Vec<ReadNote> {
    errors
        .iter()
        .map(|e| {
            let path = match e {
                RunsError::Io { path, .. } | RunsError::Format { path, .. } => path.clone(),
                _ => PathBuf::new(),
            };
            note(&path, format!("{e}; ignored"), true)
        })
        .collect()
}

/// The one disagreement worth a note: the summary was written at a later step than the
/// log's last row, so the log misses the end of the run. Other differences are expected
/// (`run.summary[...]` and `define_metric(summary="min")` replace the last value).
fn compare_with_summary(
    history: &SourceData,
    summary: &SourceData,
    path: &Path,
) -> Option<ReadNote> {
    let last = |d: &SourceData| {
        d.series
            .iter()
            .filter_map(|s| s.last())
            .map(|p| p.step)
            .max()
    };
    let (h, s) = (last(history)?, last(summary)?);
    (s > h).then(|| {
        note(
            path,
            format!(
                "the summary was written at step {s}, but the log's last row is at step {h}: the log misses the end of the run (copied while the run was writing, or cut); the diagnosis covers the steps up to {h}"
            ),
            false,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_values_are_unwrapped() {
        let text = "_wandb:\n  value:\n    cli_version: 0.31.0\n    t:\n      \"1\": [1, 5]\nlr:\n  desc: null\n  value: 0.05\noptimizer:\n  value: sgd\nbatch_size:\n  value: 64\nsched:\n  value:\n    name: cosine\n    lr: 9.0\nbf16:\n  value: true\n";
        let c = parse_config(Path::new("files/config.yaml"), text).expect("parses");
        assert_eq!(
            c.learning_rate.as_ref().map(|s| (s.key.as_str(), s.value)),
            Some(("lr", 0.05))
        );
        assert_eq!(c.optimizer.as_ref().map(|s| s.value.as_str()), Some("sgd"));
        assert_eq!(c.batch_size.as_ref().map(|s| s.value), Some(64));
        assert_eq!(c.precision.as_ref().map(|s| s.value.as_str()), Some("bf16"));
    }

    #[test]
    fn damaged_files_are_errors_naming_them() {
        let p = Path::new("run/files/config.yaml");
        for bad in [
            "lr: [1, 2",
            "- 1\n- 2\n",
            "a: &x [1]\nb: *x\n",
            "\"unterminated",
        ] {
            let err = parse_config(p, bad).expect_err(bad).to_string();
            assert!(err.starts_with("run/files/config.yaml: "), "{err}");
        }
        // Deep nesting and a "billion laughs" alias bomb finish at once.
        let deep = format!("a: {}", "[".repeat(100_000));
        assert!(parse_config(p, &deep).is_err());
        let deep = (0..2000)
            .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
            .collect::<String>();
        assert!(parse_config(p, &deep).is_err());
        assert!(parse_config(p, &format!("{}x\n", "- ".repeat(10_000))).is_err());
        let deep = (0..60)
            .map(|i| format!("{}k{i}:\n", "    ".repeat(i)))
            .collect::<String>();
        assert!(parse_config(p, &deep).expect("60 levels parse").is_empty());
        let laughs = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nh: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\ni: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]\n";
        let err = parse_config(p, laughs).expect_err("aliases").to_string();
        assert!(err.contains("alias at line 2"), "{err}");
        let p = Path::new("run/files/wandb-summary.json");
        for bad in ["{\"a\": 1", "[1, 2]", ""] {
            let err = parse_summary(p, bad).expect_err(bad).to_string();
            assert!(err.starts_with("run/files/wandb-summary.json: "), "{err}");
        }
    }

    #[test]
    fn summary_is_one_point_per_number_at_its_step() {
        let text = r#"{"train/loss": 1.35, "val": {"acc": 0.9}, "bad": NaN, "img": {"_type": "image-file", "width": 3}, "_step": 19, "_runtime": 2, "_timestamp": 1.7e9, "_wandb": {"runtime": 0}, "note": "x"}"#;
        let d = parse_summary(Path::new("s.json"), text).expect("parses");
        let names: Vec<&str> = d.series.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["bad", "train/loss", "val/acc"]);
        assert!(d
            .series
            .iter()
            .all(|s| s.points.len() == 1 && s.points[0].step == 19));
        assert!(d.series[0].points[0].value.is_nan());
    }
}
