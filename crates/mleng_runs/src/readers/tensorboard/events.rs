//! Turns the Event records of one stretch of an event file into series. The parallel
//! reader runs one [`Events`] per region and merges them; the sequential one runs one over
//! the whole file.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use prost::Message;

use super::super::tb_proto::{SummaryMetadata, TensorProto};
use super::super::tb_wire;
use super::super::tfrecord::{self, Damage, Item};
use crate::series::{ReadNote, Series, SourceData};

/// Plugins whose one-element tensors are still not scalars (text, images, histograms...).
fn is_scalar_plugin(name: &str) -> bool {
    name.is_empty() || name == "scalars" || name == "hparams_scalars"
}

/// FNV-1a: tags are short and trusted to be few; SipHash's DoS resistance buys nothing
/// here and costs a fifth of the parse time.
#[derive(Default)]
pub(super) struct Fnv(u64);

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

pub(super) type BuildFnv = std::hash::BuildHasherDefault<Fnv>;

/// What one stretch of records gave, with what the parallel merge needs to know.
pub(super) struct Chunk {
    pub data: SourceData,
    /// Raw tag bytes of each series in `data.series` (two tags may share a lossy name).
    pub tags: Vec<Vec<u8>>,
    /// No damage note and no undecodable Event: the stretch was whole, valid records.
    pub clean: bool,
    /// Some tag carried non-scalar plugin metadata.
    pub non_scalar: bool,
    /// Some value without `simple_value` went down the tensor path.
    pub saw_tensor: bool,
}

/// Accumulates the scalars of consecutive records.
pub(super) struct Events<'p> {
    path: &'p Path,
    prefix: &'p str,
    out: SourceData,
    saw_tensor: bool,
    /// TF2 writes the plugin metadata only with a tag's first value; remember non-scalar tags.
    non_scalar_tags: HashSet<Vec<u8>>,
    /// Tag bytes -> index in out.series, so the hot path neither allocates nor scans.
    index: HashMap<Vec<u8>, usize, BuildFnv>,
    tags: Vec<Vec<u8>>,
    last: usize,
    bad_events: u64,
    first_bad_event: Option<u64>,
    /// Bytes of records this accumulator will see in all, when known, and seen so far.
    expected_bytes: u64,
    seen_bytes: u64,
    records: u32,
}

/// After this many records each series is grown once to its projected final length, so
/// millions of points are not copied by repeated doubling.
const PROJECT_AFTER: u32 = 4096;

impl<'p> Events<'p> {
    /// `expected_bytes`: how many bytes of records will come (0 if unknown); used only to
    /// size the series, so a wrong guess costs memory or copies, never correctness.
    pub fn new(path: &'p Path, prefix: &'p str, expected_bytes: u64) -> Events<'p> {
        Events {
            path,
            prefix,
            out: SourceData::default(),
            saw_tensor: false,
            non_scalar_tags: HashSet::new(),
            index: HashMap::default(),
            tags: Vec::new(),
            last: usize::MAX,
            bad_events: 0,
            first_bad_event: None,
            expected_bytes,
            seen_bytes: 0,
            records: 0,
        }
    }

    /// A damaged stretch of the file, as the framing reader reported it.
    pub fn damage(&mut self, damage: Damage) {
        self.out.notes.push(note(self.path, damage));
    }

    /// One record whose framing and CRCs checked out; `offset` is its header's position.
    pub fn record(&mut self, offset: u64, data: &[u8]) {
        self.seen_bytes += data.len() as u64 + 16;
        self.records += 1;
        if self.records == PROJECT_AFTER {
            self.reserve_projected();
        }
        if let Some(s) = tb_wire::simple_scalar(data) {
            let wall = wall_time(s.wall_time);
            self.push(s.step, wall, s.tag, f64::from(s.value));
            return;
        }
        let ok = tb_wire::event(data).and_then(|event| {
            let summary = event.summary?;
            let wall = wall_time(event.wall_time);
            tb_wire::summary_values(summary, |v| self.value(event.step, wall, v))
        });
        // An Event without a summary is fine (file_version, graphs); only garbage counts.
        if ok.is_none() && tb_wire::event(data).is_none_or(|e| e.summary.is_some()) {
            self.bad_events += 1;
            self.first_bad_event.get_or_insert(offset);
        }
    }

    fn reserve_projected(&mut self) {
        if self.expected_bytes <= self.seen_bytes {
            return;
        }
        let scale = self.expected_bytes as f64 / self.seen_bytes as f64 * 1.02;
        for s in &mut self.out.series {
            let projected = (s.points.len() as f64 * scale) as usize;
            s.points.reserve(projected.saturating_sub(s.points.len()));
        }
    }

    fn value(&mut self, step: i64, wall: Option<f64>, v: tb_wire::ValueView<'_>) {
        if let Some(meta) = v.metadata.and_then(|m| SummaryMetadata::decode(m).ok()) {
            if meta
                .plugin_data
                .is_some_and(|p| !is_scalar_plugin(&p.plugin_name))
            {
                self.non_scalar_tags.insert(v.tag.to_vec());
            }
        }
        self.saw_tensor |= v.simple_value.is_none() && v.tensor.is_some();
        let scalar = match (v.simple_value, v.tensor) {
            (Some(x), _) => Some(f64::from(x)),
            (None, Some(t)) if !self.non_scalar_tags.contains(v.tag) => {
                TensorProto::decode(t).ok().and_then(|t| t.scalar())
            }
            _ => None,
        };
        if let Some(x) = scalar {
            self.push(step, wall, v.tag, x);
        }
    }

    fn push(&mut self, step: i64, wall: Option<f64>, tag: &[u8], x: f64) {
        // Writers log the same tags in the same order every step, so the tag after the
        // previous one is usually the next series: check it before hashing.
        let predicted = match self.last.wrapping_add(1) {
            next if next < self.tags.len() => next,
            _ => 0,
        };
        let idx = if self.tags.get(predicted).is_some_and(|t| same_tag(t, tag)) {
            predicted
        } else {
            match self.index.get(tag) {
                Some(&i) => i,
                None => {
                    let name = format!("{}{}", self.prefix, String::from_utf8_lossy(tag));
                    self.out.series.push(Series::new(name, self.path));
                    self.tags.push(tag.to_vec());
                    self.index.insert(tag.to_vec(), self.out.series.len() - 1);
                    self.out.series.len() - 1
                }
            }
        };
        self.last = idx;
        if let Some(s) = self.out.series.get_mut(idx) {
            s.push(step, x, wall);
        }
    }

    pub fn finish(mut self) -> Chunk {
        if self.bad_events > 0 {
            self.out.notes.push(ReadNote {
                path: self.path.to_path_buf(),
                offset: self.first_bad_event,
                line: None,
                message: format!(
                    "{} record(s) with a valid CRC did not decode as an Event protobuf; skipped",
                    self.bad_events
                ),
                serious: true,
            });
        }
        Chunk {
            clean: self.out.notes.is_empty(),
            non_scalar: !self.non_scalar_tags.is_empty(),
            saw_tensor: self.saw_tensor,
            tags: self.tags,
            data: self.out,
        }
    }
}

/// Byte equality for short tags, checked once per scalar: libc's `memcmp` costs more than
/// the compare, and a byte loop mispredicts its exit; two overlapping 8-byte words cover
/// tags of 8 to 16 bytes.
#[inline]
fn same_tag(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n < 8 {
        return a == b;
    }
    let word = |s: &[u8], at: usize| {
        s.get(at..at + 8)
            .map(|w| w.iter().fold(0u64, |acc, &x| acc << 8 | u64::from(x)))
    };
    let mut at = 0;
    while at + 8 < n {
        if word(a, at) != word(b, at) {
            return false;
        }
        at += 8;
    }
    word(a, n - 8) == word(b, n - 8)
}

/// Wall times that are not a positive finite number of seconds are not times.
fn wall_time(seconds: f64) -> Option<f64> {
    (seconds.is_finite() && seconds > 0.0).then_some(seconds)
}

/// The whole of `buf` read in order, with every damage note: the reference semantics.
pub(super) fn parse_sequential(path: &Path, buf: &[u8], prefix: &str) -> Chunk {
    let mut events = Events::new(path, prefix, buf.len() as u64);
    for item in tfrecord::records(buf) {
        match item {
            Item::Record { offset, data } => events.record(offset, data),
            Item::Damaged(damage) => events.damage(damage),
        }
    }
    events.finish()
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
