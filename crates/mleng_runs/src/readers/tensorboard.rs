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

/// Files smaller than this are parsed on one thread: starting threads would cost more.
const PARALLEL_MIN_CHUNK: usize = 4 << 20;

/// Reads every scalar in `buf`; `prefix` is prepended to tags (Keras writes `train/` and
/// `validation/` folders with the same tag names).
///
/// Large files are cut at record boundaries into one chunk per core and parsed in
/// parallel, then each tag's points are concatenated in file order. The result is the
/// sequential one exactly, or the fast path is thrown away and the file parsed again
/// sequentially: whenever any chunk is not made of whole, valid records (a damaged record,
/// a bad CRC, a truncated tail, an Event that does not decode, or a cut that was not a
/// record boundary), and whenever TF2 plugin metadata seen in one chunk could decide how a
/// later chunk's tensors are read.
pub fn parse(path: &Path, buf: &[u8], prefix: &str) -> SourceData {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let chunks = cores.min(buf.len() / PARALLEL_MIN_CHUNK).min(16);
    if chunks >= 2 {
        if let Some(out) = parse_parallel(path, buf, prefix, chunks) {
            return out;
        }
    }
    parse_chunk(path, buf, prefix).data
}

/// Reads a whole event file. Files large enough to be parsed in parallel are also read in
/// parallel, one positioned read per core into its own part of one buffer, which spreads
/// the page-cache copy and the page faults of the fresh buffer over the cores. The length
/// is the one at open time (a run still writing may append meanwhile: its tail is read
/// the next time, as with a truncated last record); anything unexpected, such as a file
/// that shrank, falls back to `std::fs::read`.
pub fn read_file(path: &Path) -> std::io::Result<Vec<u8>> {
    #[cfg(unix)]
    if let Some(buf) = read_parallel(path) {
        return Ok(buf);
    }
    std::fs::read(path)
}

#[cfg(unix)]
fn read_parallel(path: &Path) -> Option<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let file = std::fs::File::open(path).ok()?;
    let len = usize::try_from(file.metadata().ok()?.len()).ok()?;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let chunks = cores.min(len / PARALLEL_MIN_CHUNK).min(16);
    if chunks < 2 {
        return None;
    }
    let per = len.div_ceil(chunks);
    let mut buf = vec![0u8; len];
    let file = &file;
    let ok = std::thread::scope(|scope| {
        let handles: Vec<_> = buf
            .chunks_mut(per)
            .enumerate()
            .map(|(k, part)| scope.spawn(move || file.read_exact_at(part, (k * per) as u64)))
            .collect();
        handles.into_iter().all(|h| matches!(h.join(), Ok(Ok(()))))
    });
    ok.then_some(buf)
}

/// Start of the first record header at or after `from` whose length CRC checks out.
fn next_header(buf: &[u8], from: usize) -> Option<usize> {
    (from..buf.len().saturating_sub(11)).find(|&at| sniff(buf.get(at..).unwrap_or(&[])))
}

fn parse_parallel(path: &Path, buf: &[u8], prefix: &str, chunks: usize) -> Option<SourceData> {
    let mut cuts = vec![0];
    for k in 1..chunks {
        let at = next_header(buf, buf.len() / chunks * k)?;
        if at > *cuts.last()? {
            cuts.push(at);
        }
    }
    cuts.push(buf.len());
    let slices: Vec<&[u8]> = cuts
        .windows(2)
        .map(|w| buf.get(w[0]..w[1]).unwrap_or(&[]))
        .collect();
    let parts: Vec<Chunk> = std::thread::scope(|scope| {
        let handles: Vec<_> = slices
            .iter()
            .skip(1)
            .map(|slice| scope.spawn(move || parse_chunk(path, slice, prefix)))
            .collect();
        let first = parse_chunk(path, slices.first().copied().unwrap_or(&[]), prefix);
        let mut parts = vec![first];
        for h in handles {
            match h.join() {
                Ok(part) => parts.push(part),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        parts
    });
    if parts.iter().any(|p| !p.clean) {
        return None;
    }
    // A non-scalar plugin tag marked in one chunk hides that tag's tensors in later ones.
    if parts.iter().any(|p| p.non_scalar) && parts.iter().skip(1).any(|p| p.saw_tensor) {
        return None;
    }
    let mut parts = parts.into_iter();
    let first = parts.next()?;
    let mut out = first.data;
    let mut tags = first.tags;
    let mut index: HashMap<Vec<u8>, usize, BuildFnv> = HashMap::default();
    for (i, t) in tags.iter().enumerate() {
        index.insert(t.clone(), i);
    }
    for part in parts {
        for (tag, series) in part.tags.into_iter().zip(part.data.series) {
            match index.get(&tag).and_then(|&i| out.series.get_mut(i)) {
                Some(existing) => existing.points.extend(series.points),
                None => {
                    index.insert(tag.clone(), out.series.len());
                    tags.push(tag);
                    out.series.push(series);
                }
            }
        }
    }
    Some(out)
}

/// What one chunk of records gave, with what [`parse_parallel`] needs to know to merge it.
struct Chunk {
    data: SourceData,
    /// Raw tag bytes of each series in `data.series` (two tags may share a lossy name).
    tags: Vec<Vec<u8>>,
    /// No damage note and no undecodable Event: the chunk was whole, valid records.
    clean: bool,
    /// Some tag carried non-scalar plugin metadata.
    non_scalar: bool,
    /// Some value without `simple_value` went down the tensor path.
    saw_tensor: bool,
}

fn parse_chunk(path: &Path, buf: &[u8], prefix: &str) -> Chunk {
    let mut out = SourceData::default();
    let mut saw_tensor = false;
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
                saw_tensor |= v.simple_value.is_none() && v.tensor.is_some();
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
    Chunk {
        clean: out.notes.is_empty(),
        non_scalar: !non_scalar_tags.is_empty(),
        saw_tensor,
        tags,
        data: out,
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::readers::tb_proto::{
        Event, PluginData, Summary, SummaryValue, TensorProto, DT_FLOAT,
    };

    fn event(
        step: i64,
        tag: &str,
        simple: Option<f32>,
        tensor: Option<f32>,
        plugin: &str,
    ) -> Vec<u8> {
        let e = Event {
            wall_time: 1.7e9 + step as f64,
            step,
            summary: Some(Summary {
                value: vec![SummaryValue {
                    tag: tag.to_string(),
                    simple_value: simple,
                    tensor: tensor.map(|x| TensorProto {
                        dtype: DT_FLOAT,
                        tensor_content: x.to_le_bytes().to_vec(),
                        ..Default::default()
                    }),
                    metadata: (!plugin.is_empty()).then(|| SummaryMetadata {
                        plugin_data: Some(PluginData {
                            plugin_name: plugin.to_string(),
                        }),
                    }),
                }],
            }),
        };
        tfrecord::frame(&e.encode_to_vec())
    }

    /// A PyTorch-style file: tags in a fixed order each step, one that starts late.
    fn pytorch(steps: i64) -> Vec<u8> {
        let mut out = tfrecord::frame(&Event::default().encode_to_vec());
        for step in 0..steps {
            for tag in ["loss", "lr", "grad_norm"] {
                out.extend(event(step, tag, Some(step as f32 * 0.5), None, ""));
            }
            if step > steps / 2 {
                out.extend(event(step, "late", Some(1.0), None, ""));
            }
        }
        out
    }

    /// What `parse` gives with the fast path forced at `chunks`, next to the sequential
    /// result; Debug text compares NaN wall times and notes too.
    fn both(buf: &[u8], chunks: usize) -> (String, String, bool) {
        let path = Path::new("events.out.tfevents.test");
        let seq = parse_chunk(path, buf, "p/").data;
        let fast = parse_parallel(path, buf, "p/", chunks);
        let used = fast.is_some();
        let fast = fast.unwrap_or_else(|| parse_chunk(path, buf, "p/").data);
        (
            format!("{:?}{:?}", fast.series, fast.notes),
            format!("{:?}{:?}", seq.series, seq.notes),
            used,
        )
    }

    #[test]
    fn parallel_equals_sequential_on_a_clean_file() {
        let buf = pytorch(500);
        for chunks in [2, 3, 7] {
            let (fast, seq, used) = both(&buf, chunks);
            assert!(
                used,
                "clean file should take the fast path with {chunks} chunks"
            );
            assert_eq!(fast, seq);
        }
    }

    #[test]
    fn parallel_falls_back_on_damage() {
        let clean = pytorch(300);
        let cuts = [
            clean.len() / 2,
            clean.len() / 2 + 9,
            clean.len() / 3 + 20,
            clean.len() - 6,
        ];
        for at in cuts {
            let mut bad = clean.clone();
            bad[at] ^= 0x5a;
            for chunks in [2, 3] {
                let (fast, seq, _) = both(&bad, chunks);
                assert_eq!(fast, seq, "flipped byte {at}, {chunks} chunks");
            }
        }
        let truncated = &clean[..clean.len() - 5];
        let (fast, seq, used) = both(truncated, 2);
        assert!(!used);
        assert_eq!(fast, seq);
    }

    #[test]
    fn parallel_keeps_tf2_first_value_metadata() {
        // A text-plugin tag declares itself with its first value only; its later one-element
        // tensors, in another chunk, must still not be read as scalars.
        let mut buf = event(0, "notes", None, Some(1.0), "text");
        buf.extend(event(0, "epoch_loss", None, Some(2.0), "scalars"));
        for step in 1..400 {
            buf.extend(event(step, "notes", None, Some(1.0), ""));
            buf.extend(event(step, "epoch_loss", None, Some(2.0 / step as f32), ""));
        }
        for chunks in [2, 4] {
            let (fast, seq, used) = both(&buf, chunks);
            assert!(!used);
            assert_eq!(fast, seq);
            assert!(!seq.contains("p/notes"));
        }
    }

    #[test]
    fn large_file_read_and_parse_match_the_plain_path() {
        // Over 2 * PARALLEL_MIN_CHUNK, so machines with 2+ cores take both parallel paths.
        let mut buf = pytorch(80_000);
        while buf.len() < 2 * PARALLEL_MIN_CHUNK + 1000 {
            buf.extend(pytorch(10_000));
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.out.tfevents.big");
        std::fs::write(&path, &buf).unwrap();
        let read = read_file(&path).unwrap();
        assert!(read == buf);
        let fast = parse(&path, &read, "");
        let seq = parse_chunk(&path, &read, "").data;
        assert_eq!(
            format!("{:?}{:?}", fast.series, fast.notes),
            format!("{:?}{:?}", seq.series, seq.notes)
        );
        // One bad byte in the middle: the result is still the sequential one, note included.
        let mut bad = read;
        let mid = bad.len() / 2;
        bad[mid] ^= 0x5a;
        let fast = parse(&path, &bad, "");
        let seq = parse_chunk(&path, &bad, "").data;
        assert!(!seq.notes.is_empty());
        assert_eq!(
            format!("{:?}{:?}", fast.series, fast.notes),
            format!("{:?}{:?}", seq.series, seq.notes)
        );
    }
}
