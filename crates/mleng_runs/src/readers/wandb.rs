//! Weights & Biases transaction logs (`wandb/run-*/run-<id>.wandb`,
//! `wandb/offline-run-*/run-<id>.wandb`): what `wandb` writes locally for every run, online
//! or offline (`WANDB_MODE=offline`), and what `wandb sync` uploads.
//!
//! Framing (LevelDB's log format with a file header, as the `wandb` package writes it):
//! - a 7-byte file header: `":W&B"`, the magic `0xBEE1` as u16 little-endian, version `0`;
//! - then 32 KiB blocks (the first block includes the file header); each record starts with
//!   a 7-byte header `u32le crc | u16le length | u8 type`, where `crc` is the plain CRC-32
//!   (IEEE, not masked) of the type byte followed by the data, and `type` is 1 full,
//!   2 first, 3 middle or 4 last: a record longer than what is left of a block is split
//!   into fragments. Fewer than 7 bytes left in a block are zero padding.
//!
//! Each assembled record is a `wandb_internal.proto` `Record`; we declare only what we read
//! (`num`, `history`, `config`, `run`): `ConfigRecord`s and `RunRecord.config` hold
//! `wandb.config`, read for the hyperparameters ([`crate::config::RunConfig`]). A
//! `HistoryRecord` holds `HistoryItem { key | nested_key, value_json }` items: one row of
//! `wandb.log`, with `_step`, `_runtime` and `_timestamp`
//! added by the SDK. `value_json` is JSON as Python writes it (`NaN`, `Infinity`).
//!
//! Damage is handled as for TensorBoard: a file that ends inside a record (a run still
//! writing) is read up to the last whole record with an info note; a record whose CRC does
//! not match, or a fragment out of sequence, is reported with its byte offset and reading
//! resumes at the next block, as LevelDB's reader does; a record that does not decode is
//! skipped with a note. Only a file without the header is an error.

use std::path::Path;

use super::json_nonfinite::sanitize;
use crate::config::{json_leaves, RunConfig};
use crate::error::{Result, RunsError};
use crate::series::{ReadNote, SourceData};

pub const MAGIC: &[u8; 7] = b":W&B\xe1\xbe\x00";
pub const BLOCK: usize = 32 * 1024;
const HEADER: usize = 7;

const FULL: u8 = 1;
const FIRST: u8 = 2;
const MIDDLE: u8 = 3;
const LAST: u8 = 4;

#[derive(Clone, PartialEq, prost::Message)]
pub struct Record {
    #[prost(int64, tag = "1")]
    pub num: i64,
    #[prost(message, optional, tag = "2")]
    pub history: Option<HistoryRecord>,
    #[prost(message, optional, tag = "5")]
    pub config: Option<ConfigRecord>,
    #[prost(message, optional, tag = "17")]
    pub run: Option<RunRecord>,
}

/// `wandb.config` as the log records it: the initial config in the `RunRecord`, then one
/// `ConfigRecord` per `config.update` (items set, items removed).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ConfigRecord {
    #[prost(message, repeated, tag = "1")]
    pub update: Vec<ConfigItem>,
    #[prost(message, repeated, tag = "2")]
    pub remove: Vec<ConfigItem>,
}

/// `ConfigItem` has `HistoryItem`'s fields and tags in `wandb_internal.proto`.
pub type ConfigItem = HistoryItem;

#[derive(Clone, PartialEq, prost::Message)]
pub struct HistoryRecord {
    #[prost(message, repeated, tag = "1")]
    pub item: Vec<HistoryItem>,
    #[prost(message, optional, tag = "2")]
    pub step: Option<HistoryStep>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct HistoryItem {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(string, repeated, tag = "2")]
    pub nested_key: Vec<String>,
    #[prost(string, tag = "16")]
    pub value_json: String,
}

impl HistoryItem {
    /// `key`, or the `nested_key` parts joined by `/`.
    pub fn name(&self) -> String {
        if self.nested_key.is_empty() {
            self.key.clone()
        } else {
            self.nested_key.join("/")
        }
    }
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct HistoryStep {
    #[prost(int64, tag = "1")]
    pub num: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RunRecord {
    #[prost(string, tag = "1")]
    pub run_id: String,
    #[prost(string, tag = "3")]
    pub project: String,
    #[prost(message, optional, tag = "4")]
    pub config: Option<ConfigRecord>,
    #[prost(string, tag = "8")]
    pub display_name: String,
}

/// Appends one framed record (split into fragments across blocks as the writer does) to a
/// log that starts with [`MAGIC`]; used by tests to build damaged logs.
pub fn append_record(log: &mut Vec<u8>, data: &[u8]) {
    let mut rest = data;
    let mut first = true;
    loop {
        let left = BLOCK - log.len() % BLOCK;
        if left < HEADER {
            log.resize(log.len() + left, 0);
            continue;
        }
        let room = left - HEADER;
        let take = rest.len().min(room);
        let last = take == rest.len();
        let kind = match (first, last) {
            (true, true) => FULL,
            (true, false) => FIRST,
            (false, true) => LAST,
            (false, false) => MIDDLE,
        };
        let (chunk, tail) = rest.split_at(take);
        let mut h = crc32fast::Hasher::new();
        h.update(&[kind]);
        h.update(chunk);
        log.extend_from_slice(&h.finalize().to_le_bytes());
        log.extend_from_slice(&(take as u16).to_le_bytes());
        log.push(kind);
        log.extend_from_slice(chunk);
        rest = tail;
        first = false;
        if last {
            return;
        }
    }
}

/// Whole records of a log: the byte offset of each one's first fragment, and its bytes.
pub type Records = Vec<(u64, Vec<u8>)>;

/// The records of a log, plus notes about damage.
pub fn records(path: &Path, buf: &[u8]) -> Result<(Records, Vec<ReadNote>)> {
    if buf.get(..4) != Some(b":W&B") {
        return Err(RunsError::format(
            path,
            "byte offset 0: not a W&B transaction log (no \":W&B\" header)",
        ));
    }
    if buf.get(..HEADER) != Some(&MAGIC[..]) {
        return Err(RunsError::format(
            path,
            "byte offset 4: unknown W&B log magic or version (expected 0xBEE1, version 0)",
        ));
    }
    let mut out = Vec::new();
    let mut notes = Vec::new();
    let note = |offset: usize, message: String, serious: bool| ReadNote {
        path: path.to_path_buf(),
        offset: Some(offset as u64),
        line: None,
        message,
        serious,
    };
    let mut pos = HEADER;
    // A record being assembled from fragments: (offset of its first fragment, bytes).
    let mut partial: Option<(usize, Vec<u8>)> = None;
    while pos < buf.len() {
        let block_end = (pos / BLOCK + 1) * BLOCK;
        if block_end - pos < HEADER {
            pos = block_end;
            continue;
        }
        let Some(head) = buf.get(pos..pos + HEADER) else {
            notes.push(note(
                pos,
                "the log ends inside a record header (a run still writing?); read up to the last whole record".into(),
                false,
            ));
            return Ok((out, notes));
        };
        let crc = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let len = usize::from(u16::from_le_bytes([head[4], head[5]]));
        let kind = head[6];
        if crc == 0 && len == 0 && kind == 0 {
            // Zero bytes: the rest of a block the writer padded, or a preallocated tail.
            pos = block_end;
            continue;
        }
        let data_start = pos + HEADER;
        let data_end = data_start + len;
        if data_end > block_end {
            notes.push(note(
                pos,
                format!("record header claims {len} bytes, past the end of its 32 KiB block: damaged; skipped to the next block"),
                true,
            ));
            partial = None;
            pos = block_end;
            continue;
        }
        let Some(data) = buf.get(data_start..data_end) else {
            notes.push(note(
                pos,
                "the log ends inside a record (a run still writing?); read up to the last whole record".into(),
                false,
            ));
            return Ok((out, notes));
        };
        let mut h = crc32fast::Hasher::new();
        h.update(&[kind]);
        h.update(data);
        if h.finalize() != crc || !(FULL..=LAST).contains(&kind) {
            notes.push(note(
                pos,
                format!("record checksum mismatch (type {kind}, {len} bytes): damaged; skipped to the next block"),
                true,
            ));
            partial = None;
            pos = block_end;
            continue;
        }
        pos = data_end;
        match kind {
            FULL => {
                if let Some((at, _)) = partial.take() {
                    notes.push(note(
                        at,
                        "a record split across blocks was never finished; dropped".into(),
                        true,
                    ));
                }
                out.push((pos_of(data_start), data.to_vec()));
            }
            FIRST => {
                if let Some((at, _)) = partial.take() {
                    notes.push(note(
                        at,
                        "a record split across blocks was never finished; dropped".into(),
                        true,
                    ));
                }
                partial = Some((data_start - HEADER, data.to_vec()));
            }
            _ => match partial.as_mut() {
                Some((_, bytes)) => {
                    bytes.extend_from_slice(data);
                    if kind == LAST {
                        if let Some((at, bytes)) = partial.take() {
                            out.push((at as u64, bytes));
                        }
                    }
                }
                None => notes.push(note(
                    data_start - HEADER,
                    "a record fragment without its first part; skipped".into(),
                    true,
                )),
            },
        }
    }
    if let Some((at, _)) = partial {
        notes.push(note(
            at,
            "the log ends inside a record split across blocks (a run still writing?); read up to the last whole record".into(),
            false,
        ));
    }
    Ok((out, notes))
}

fn pos_of(data_start: usize) -> u64 {
    (data_start - HEADER) as u64
}

/// A `value_json` as a number: JSON numbers and Python's `NaN`/`Infinity`; anything else
/// (strings, tables, histograms, media) is not a scalar.
fn scalar(json: &str) -> Option<f64> {
    match json.trim() {
        "NaN" | "nan" => Some(f64::NAN),
        "Infinity" | "inf" => Some(f64::INFINITY),
        "-Infinity" | "-inf" => Some(f64::NEG_INFINITY),
        "true" | "false" => None,
        t => t.parse::<f64>().ok(),
    }
}

/// The run's config as the log's records leave it: `key` (or `nested_key` joined by `/`)
/// to its `value_json`, in first-set order.
#[derive(Default)]
struct LoggedConfig(Vec<(String, String)>);

impl LoggedConfig {
    fn apply(&mut self, record: Option<ConfigRecord>) {
        let Some(record) = record else { return };
        for item in &record.remove {
            let k = item.name();
            self.0.retain(|(have, _)| *have != k);
        }
        for item in record.update {
            let k = item.name();
            match self.0.iter_mut().find(|(have, _)| *have == k) {
                Some(slot) => slot.1 = item.value_json,
                None => self.0.push((k, item.value_json)),
            }
        }
    }

    /// The hyperparameters a diagnosis can use; `None` when the config names none.
    fn settings(&self, path: &Path) -> Option<RunConfig> {
        let mut leaves = Vec::new();
        for (key, json) in &self.0 {
            if key == "_wandb" || key.starts_with("_wandb/") {
                continue;
            }
            if let Ok(value) = serde_json::from_str::<serde_json::Value>(&sanitize(json)) {
                json_leaves(key, &value, &mut leaves, 0);
            }
        }
        Some(RunConfig::from_leaves(path, &leaves)).filter(|c| !c.is_empty())
    }
}

/// Keys the SDK adds to every row, and step counters: the x axis, not metrics.
const STEP_KEYS: [&str; 3] = ["trainer/global_step", "global_step", "train/global_step"];

/// Adds one logged row (a history record, or the summary) to `out`: the step is
/// `trainer/global_step` (or `global_step`) when logged, else `_step`, else `fallback`;
/// `_timestamp` is the wall-clock time; keys starting with `_` and the step keys are axes,
/// not metrics.
pub(super) fn push_row(out: &mut SourceData, path: &Path, row: Vec<(String, f64)>, fallback: i64) {
    let get = |k: &str| row.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
    let step = STEP_KEYS
        .iter()
        .find_map(|k| get(k))
        .or_else(|| get("_step"))
        .filter(|s| s.is_finite() && s.abs() < 9.0e18)
        .map_or(fallback, |s| s as i64);
    let wall = get("_timestamp").filter(|t| t.is_finite() && *t > 1e8);
    for (name, v) in row {
        if name.starts_with('_') || STEP_KEYS.contains(&name.as_str()) {
            continue;
        }
        out.series_mut(&name, path).push(step, v, wall);
    }
}

pub fn parse(path: &Path, buf: &[u8]) -> Result<SourceData> {
    let (records, notes) = records(path, buf)?;
    let mut out = SourceData {
        notes,
        ..SourceData::default()
    };
    let mut undecodable: Option<(u64, usize)> = None;
    let mut config = LoggedConfig::default();
    for (offset, bytes) in records {
        let record = match <Record as prost::Message>::decode(bytes.as_slice()) {
            Ok(r) => r,
            Err(_) => {
                let e = undecodable.get_or_insert((offset, 0));
                e.1 += 1;
                continue;
            }
        };
        if let Some(run) = record.run {
            if !run.display_name.is_empty() {
                out.run_name = Some(run.display_name);
            }
            config.apply(run.config);
        }
        config.apply(record.config);
        let Some(history) = record.history else {
            continue;
        };
        let mut row: Vec<(String, f64)> = Vec::with_capacity(history.item.len());
        for item in &history.item {
            let name = item.name();
            if name.is_empty() || name.starts_with("_wandb") {
                continue;
            }
            if let Some(v) = scalar(&item.value_json) {
                row.push((name, v));
            }
        }
        let fallback = history.step.as_ref().map_or(record.num, |s| s.num);
        push_row(&mut out, path, row, fallback);
    }
    out.config = config.settings(path);
    if let Some((offset, n)) = undecodable {
        out.notes.push(ReadNote {
            path: path.to_path_buf(),
            offset: Some(offset),
            line: None,
            message: format!("{n} record(s) with a valid checksum do not decode as W&B records (first at this offset); skipped"),
            serious: true,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    fn history(step: i64, items: &[(&str, &str)]) -> Vec<u8> {
        Record {
            num: step,
            history: Some(HistoryRecord {
                item: items
                    .iter()
                    .map(|(k, v)| HistoryItem {
                        key: String::new(),
                        nested_key: vec![(*k).to_string()],
                        value_json: (*v).to_string(),
                    })
                    .collect(),
                step: Some(HistoryStep { num: step }),
            }),
            config: None,
            run: None,
        }
        .encode_to_vec()
    }

    #[test]
    fn fragments_across_blocks_are_joined() {
        let mut log = MAGIC.to_vec();
        let long = "x".repeat(70_000);
        for i in 0..40 {
            append_record(
                &mut log,
                &history(i, &[("train/loss", "0.5"), ("_step", &i.to_string())]),
            );
        }
        // One record of 70 kB spans three blocks: first, middle, last.
        append_record(
            &mut log,
            &history(
                40,
                &[
                    ("note", &format!("\"{long}\"")),
                    ("train/loss", "NaN"),
                    ("_step", "40"),
                ],
            ),
        );
        let data = parse(Path::new("x.wandb"), &log).expect("parses");
        assert!(data.notes.is_empty(), "{:?}", data.notes);
        let loss = &data.series[0];
        assert_eq!(loss.points.len(), 41);
        assert!(loss.points[40].value.is_nan());
        assert_eq!(loss.points[40].step, 40);
    }

    #[test]
    fn config_records_are_applied_in_order() {
        let item = |k: &str, v: &str| ConfigItem {
            key: k.to_string(),
            nested_key: Vec::new(),
            value_json: v.to_string(),
        };
        let mut log = MAGIC.to_vec();
        let run = Record {
            num: 0,
            history: None,
            config: None,
            run: Some(RunRecord {
                run_id: "x".into(),
                project: "p".into(),
                config: Some(ConfigRecord {
                    update: vec![
                        item("lr", "0.1"),
                        item("optimizer", "{\"name\": \"adamw\", \"betas\": [0.9, 0.99]}"),
                        item("bs", "64"),
                        item("_wandb", "{\"lr\": 9}"),
                    ],
                    remove: Vec::new(),
                }),
                display_name: "r".into(),
            }),
        };
        append_record(&mut log, &run.encode_to_vec());
        let update = Record {
            num: 1,
            history: None,
            config: Some(ConfigRecord {
                update: vec![item("lr", "NaN"), item("epochs", "30")],
                remove: vec![item("bs", "")],
            }),
            run: None,
        };
        append_record(&mut log, &update.encode_to_vec());
        append_record(&mut log, &history(0, &[("loss", "1.0")]));
        let data = parse(Path::new("x.wandb"), &log).expect("parses");
        let c = data.config.expect("a config");
        // NaN is not a learning rate; the removed batch size is gone.
        assert_eq!(c.learning_rate, None);
        assert_eq!(c.batch_size, None);
        assert_eq!(
            c.optimizer.map(|s| (s.key, s.value)),
            Some(("optimizer/name".into(), "adamw".into()))
        );
        assert_eq!(c.epochs.map(|s| s.value), Some(30.0));
        assert_eq!(c.source, Path::new("x.wandb"));
    }

    #[test]
    fn damage_is_reported_with_its_offset() {
        let mut log = MAGIC.to_vec();
        for i in 0..2000 {
            append_record(
                &mut log,
                &history(i, &[("loss", "1.0"), ("_step", &i.to_string())]),
            );
        }
        let flip = BLOCK + 100;
        log[flip] ^= 0xff;
        let data = parse(Path::new("x.wandb"), &log).expect("parses");
        let note = data.notes.iter().find(|n| n.serious).expect("a note");
        assert!(note
            .offset
            .is_some_and(|o| o >= BLOCK as u64 && o <= flip as u64));
        let n = data.series[0].points.len();
        // One block's records are lost (each record here is over 40 bytes), no more.
        assert!((2000 - BLOCK / 40..2000).contains(&n), "{n}");
        // A cut tail is an info note, and everything before it is read.
        log[flip] ^= 0xff;
        let cut = &log[..log.len() - 3];
        let data = parse(Path::new("x.wandb"), cut).expect("parses");
        assert!(data.notes.iter().all(|n| !n.serious));
        assert_eq!(data.series[0].points.len(), 1999);
        // No header: an error naming the offset.
        let err = parse(Path::new("x.wandb"), b"hello world").expect_err("not a log");
        assert!(err.to_string().contains("offset 0"), "{err}");
    }
}
