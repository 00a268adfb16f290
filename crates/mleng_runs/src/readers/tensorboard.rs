//! TensorBoard event files (`events.out.tfevents.*`): TFRecord-framed `Event` protos.
//! Scalars come as `simple_value` (PyTorch `add_scalar`, TF1), or as a one-element tensor
//! (`float_val`/`double_val`, or raw little-endian `tensor_content` in TF2/Keras).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use prost::Message;

use super::tb_proto::{SummaryMetadata, TensorProto};
use super::tb_wire;
use super::tfrecord::{self, Damage, Item};
use crate::series::{ReadNote, Series, SourceData};

/// Plugins whose one-element tensors are still not scalars (text, images, histograms...).
fn is_scalar_plugin(name: &str) -> bool {
    name.is_empty() || name == "scalars" || name == "hparams_scalars"
}

/// FNV-1a: tags are short and trusted to be few; SipHash's DoS resistance buys nothing
/// here and costs a fifth of the parse time.
#[derive(Default)]
struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

type BuildFnv = std::hash::BuildHasherDefault<Fnv>;

/// Reads every scalar in `buf`; `prefix` is prepended to tags (Keras writes `train/` and
/// `validation/` folders with the same tag names).
pub fn parse(path: &Path, buf: &[u8], prefix: &str) -> SourceData {
    let mut out = SourceData::default();
    // TF2 writes the plugin metadata only with a tag's first value; remember non-scalar tags.
    let mut non_scalar_tags: HashSet<Vec<u8>> = HashSet::new();
    // Tag bytes -> index in out.series, so the hot path neither allocates nor scans.
    let mut index: HashMap<Vec<u8>, usize, BuildFnv> = HashMap::default();
    let mut tags: Vec<Vec<u8>> = Vec::new();
    let mut last = usize::MAX;
    let mut bad_events = 0u64;
    let mut first_bad_event: Option<u64> = None;
    for item in tfrecord::records(buf) {
        let (offset, data) = match item {
            Item::Record { offset, data } => (offset, data),
            Item::Damaged(damage) => {
                out.notes.push(note(path, damage));
                continue;
            }
        };
        let ok = tb_wire::event(data).and_then(|event| {
            let summary = event.summary?;
            let wall =
                (event.wall_time.is_finite() && event.wall_time > 0.0).then_some(event.wall_time);
            let step = event.step;
            tb_wire::summary_values(summary, |v| {
                if let Some(meta) = v.metadata.and_then(|m| SummaryMetadata::decode(m).ok()) {
                    if meta
                        .plugin_data
                        .is_some_and(|p| !is_scalar_plugin(&p.plugin_name))
                    {
                        non_scalar_tags.insert(v.tag.to_vec());
                    }
                }
                let scalar = match (v.simple_value, v.tensor) {
                    (Some(x), _) => Some(f64::from(x)),
                    (None, Some(t)) if !non_scalar_tags.contains(v.tag) => {
                        TensorProto::decode(t).ok().and_then(|t| t.scalar())
                    }
                    _ => None,
                };
                let Some(x) = scalar else { return };
                // Writers log the same tags in the same order every step, so the tag after
                // the previous one is usually the next series: check it before hashing.
                let predicted = last.wrapping_add(1) % tags.len().max(1);
                let idx = if tags.get(predicted).is_some_and(|t| t.as_slice() == v.tag) {
                    predicted
                } else {
                    match index.get(v.tag) {
                        Some(&i) => i,
                        None => {
                            let name = format!("{prefix}{}", String::from_utf8_lossy(v.tag));
                            out.series.push(Series::new(name, path));
                            tags.push(v.tag.to_vec());
                            index.insert(v.tag.to_vec(), out.series.len() - 1);
                            out.series.len() - 1
                        }
                    }
                };
                last = idx;
                if let Some(s) = out.series.get_mut(idx) {
                    s.push(step, x, wall);
                }
            })
        });
        // An Event without a summary is fine (file_version, graphs); only garbage counts.
        if ok.is_none() && tb_wire::event(data).is_none_or(|e| e.summary.is_some()) {
            bad_events += 1;
            first_bad_event.get_or_insert(offset);
        }
    }
    if bad_events > 0 {
        out.notes.push(ReadNote {
            path: path.to_path_buf(),
            offset: first_bad_event,
            line: None,
            message: format!(
                "{bad_events} record(s) with a valid CRC did not decode as an Event protobuf; skipped"
            ),
            serious: true,
        });
    }
    out
}

fn note(path: &Path, damage: Damage) -> ReadNote {
    let (offset, message, serious) = match damage {
        Damage::Truncated { offset } => (
            offset,
            "file ends inside a record (a run still writing?); read up to the last whole record"
                .to_string(),
            false,
        ),
        Damage::BadLengthCrc { offset, resumed_at } => (
            offset,
            match resumed_at {
                Some(at) => format!(
                    "bad length CRC at byte {offset}; skipped to the next valid record at byte {at}"
                ),
                None => format!(
                    "bad length CRC at byte {offset}; no valid record after it, rest of file ignored"
                ),
            },
            true,
        ),
        Damage::BadDataCrc { offset } => (
            offset,
            format!("bad data CRC in the record at byte {offset}; record skipped"),
            true,
        ),
    };
    ReadNote {
        path: path.to_path_buf(),
        offset: Some(offset),
        line: None,
        message,
        serious,
    }
}

/// True when `buf` starts with a TFRecord header whose length CRC checks out.
pub fn sniff(buf: &[u8]) -> bool {
    match (buf.get(..8), buf.get(8..12)) {
        (Some(len), Some(crc)) => {
            let stored = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
            tfrecord::masked_crc(len) == stored
        }
        _ => false,
    }
}
