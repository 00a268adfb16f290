//! TensorBoard event files (`events.out.tfevents.*`): TFRecord-framed `Event` protos.
//! Scalars come as `simple_value` (PyTorch `add_scalar`, TF1), or as a one-element tensor
//! (`float_val`/`double_val`, or raw little-endian `tensor_content` in TF2/Keras).

use std::collections::HashSet;
use std::path::Path;

use prost::Message;

use super::tb_proto::Event;
use super::tfrecord::{self, Damage, Item};
use crate::series::{ReadNote, SourceData};

/// Plugins whose one-element tensors are still not scalars (text, images, histograms...).
fn is_scalar_plugin(name: &str) -> bool {
    name.is_empty() || name == "scalars" || name == "hparams_scalars"
}

/// Reads every scalar in `buf`; `prefix` is prepended to tags (Keras writes `train/` and
/// `validation/` folders with the same tag names).
pub fn parse(path: &Path, buf: &[u8], prefix: &str) -> SourceData {
    let mut out = SourceData::default();
    // TF2 writes the plugin metadata only with a tag's first value; remember non-scalar tags.
    let mut non_scalar_tags: HashSet<String> = HashSet::new();
    let mut bad_events = 0u64;
    let mut first_bad_event: Option<u64> = None;
    for item in tfrecord::records(buf) {
        match item {
            Item::Record { offset, data } => {
                let event = match Event::decode(data) {
                    Ok(e) => e,
                    Err(_) => {
                        bad_events += 1;
                        first_bad_event.get_or_insert(offset);
                        continue;
                    }
                };
                let Some(summary) = event.summary else {
                    continue;
                };
                let wall = (event.wall_time.is_finite() && event.wall_time > 0.0)
                    .then_some(event.wall_time);
                for value in summary.value {
                    if let Some(plugin) =
                        value.metadata.as_ref().and_then(|m| m.plugin_data.as_ref())
                    {
                        if !is_scalar_plugin(&plugin.plugin_name) {
                            non_scalar_tags.insert(value.tag.clone());
                        }
                    }
                    let scalar = match (value.simple_value, &value.tensor) {
                        (Some(v), _) => Some(f64::from(v)),
                        (None, Some(t)) if !non_scalar_tags.contains(&value.tag) => t.scalar(),
                        _ => None,
                    };
                    if let Some(v) = scalar {
                        let name = format!("{prefix}{}", value.tag);
                        out.series_mut(&name, path).push(event.step, v, wall);
                    }
                }
            }
            Item::Damaged(damage) => out.notes.push(note(path, damage)),
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
