//! TensorBoard event files (`events.out.tfevents.*`): TFRecord-framed `Event` protos.
//! Scalars come as `simple_value` (PyTorch `add_scalar`, TF1), or as a one-element tensor
//! (`float_val`/`double_val`, or raw little-endian `tensor_content` in TF2/Keras).
//!
//! [`events`] decodes records into series; [`parallel`] streams large files through one
//! thread per core. The sequential parse of the whole file is the reference: the parallel
//! one is used only when it gives exactly the same result.

mod events;
mod parallel;

use std::path::Path;

use super::tfrecord;
use crate::series::SourceData;

/// Regions smaller than this are not worth a thread of their own.
const PARALLEL_MIN_CHUNK: u64 = 4 << 20;

/// How a `len`-byte file is cut up: one region per thread, each a contiguous stretch.
/// (Measured: more, smaller stripes taken in file order, and asking the kernel to prefetch
/// the whole file, were both slower on a cold page cache than one sequential stream per
/// thread with the kernel's own readahead.) `None`: too small to be worth threads.
fn plan(len: u64) -> Option<parallel::Plan> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let threads = cores
        .min(usize::try_from(len / PARALLEL_MIN_CHUNK).unwrap_or(usize::MAX))
        .min(16);
    (threads >= 2).then_some(parallel::Plan {
        regions: threads,
        threads,
    })
}

/// Reads every scalar of the event file at `path`; `prefix` is prepended to tags (Keras
/// writes `train/` and `validation/` folders with the same tag names).
///
/// Large files are read and parsed in parallel regions without loading the whole file
/// (see [`parallel`]); if that is not exact (damage, a truncated tail, TF2 metadata that
/// crosses regions) the file is read whole and parsed sequentially. The length is the one
/// at open time: a run still writing may append meanwhile, and its tail is read next time.
pub fn read(path: &Path, prefix: &str) -> std::io::Result<SourceData> {
    #[cfg(unix)]
    {
        let len = std::fs::metadata(path)?.len();
        if let Some(plan) = plan(len) {
            let open = || {
                std::fs::File::open(path).map(|f| parallel::Window::new(f, len, parallel::BLOCK))
            };
            if let Some(out) = parallel::parse(open, len, path, prefix, plan) {
                return Ok(out);
            }
        }
    }
    let bytes = std::fs::read(path)?;
    Ok(events::parse_sequential(path, &bytes, prefix).data)
}

/// [`read`] for an event file already in memory.
pub fn parse(path: &Path, buf: &[u8], prefix: &str) -> SourceData {
    if let Some(plan) = plan(buf.len() as u64) {
        let open = || Ok(buf);
        if let Some(out) = parallel::parse(open, buf.len() as u64, path, prefix, plan) {
            return out;
        }
    }
    events::parse_sequential(path, buf, prefix).data
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
        Event, PluginData, Summary, SummaryMetadata, SummaryValue, TensorProto, DT_FLOAT,
    };
    use prost::Message;

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

    /// What the parallel parse gives at `regions`, next to the sequential result; Debug
    /// text compares NaN wall times and notes too. Tiny blocks make every region refill
    /// and grow its window many times.
    fn both(buf: &[u8], regions: usize) -> (String, String, bool) {
        let path = Path::new("events.out.tfevents.test");
        let seq = events::parse_sequential(path, buf, "p/").data;
        let mut results = Vec::new();
        let len = buf.len() as u64;
        for (block, threads) in [(7, 1), (100, 3), (parallel::BLOCK, 2)] {
            let plan = parallel::Plan { regions, threads };
            let open = || Ok(parallel::Window::new(buf, len, block));
            results.push(parallel::parse(open, len, path, "p/", plan));
        }
        let plan = parallel::Plan {
            regions,
            threads: 2,
        };
        results.push(parallel::parse(|| Ok(buf), len, path, "p/", plan));
        let used = results[0].is_some();
        let text = |d: &SourceData| format!("{:?}{:?}", d.series, d.notes);
        let fast: Vec<String> = results
            .iter()
            .map(|r| r.as_ref().map_or_else(|| text(&seq), text))
            .collect();
        assert!(
            fast.windows(2).all(|w| w[0] == w[1]),
            "block sizes disagree"
        );
        assert!(results.iter().all(|r| r.is_some() == used));
        (fast[0].clone(), text(&seq), used)
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
        while buf.len() < 2 * PARALLEL_MIN_CHUNK as usize + 1000 {
            buf.extend(pytorch(10_000));
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.out.tfevents.big");
        std::fs::write(&path, &buf).unwrap();
        let fast = read(&path, "").unwrap();
        let seq = events::parse_sequential(&path, &buf, "").data;
        let text = |d: &SourceData| format!("{:?}{:?}", d.series, d.notes);
        assert_eq!(text(&fast), text(&seq));
        assert_eq!(text(&parse(&path, &buf, "")), text(&seq));
        // One bad byte in the middle: the result is still the sequential one, note included.
        let mut bad = buf;
        let mid = bad.len() / 2;
        bad[mid] ^= 0x5a;
        std::fs::write(&path, &bad).unwrap();
        let seq = events::parse_sequential(&path, &bad, "").data;
        assert!(!seq.notes.is_empty());
        assert_eq!(text(&read(&path, "").unwrap()), text(&seq));
        // A run still writing: the last record is cut short.
        std::fs::write(&path, &bad[..bad.len() - 3]).unwrap();
        let seq = events::parse_sequential(&path, &bad[..bad.len() - 3], "").data;
        assert_eq!(text(&read(&path, "").unwrap()), text(&seq));
    }

    #[test]
    fn a_record_spanning_a_whole_region_falls_back() {
        let mut buf = pytorch(200);
        let big = Event {
            wall_time: 1.0,
            step: 1,
            summary: Some(Summary {
                value: vec![SummaryValue {
                    tag: "image".into(),
                    metadata: Some(SummaryMetadata::default()),
                    ..Default::default()
                }],
            }),
        };
        let mut encoded = big.encode_to_vec();
        encoded.extend(std::iter::repeat_n(0u8, buf.len() * 3));
        buf.extend(tfrecord::frame(&encoded));
        buf.extend(pytorch(50));
        let (fast, seq, used) = both(&buf, 4);
        assert!(!used);
        assert_eq!(fast, seq);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 64 * std::env::var("MLENG_FUZZ_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1),
            failure_persistence: None,
            ..Default::default()
        })]

        /// Whatever damage a file has, the parallel path gives the sequential result or
        /// steps aside; it never panics.
        #[test]
        fn parallel_is_sequential_or_nothing(
            edits in proptest::collection::vec((0usize..usize::MAX, 0u8..4, proptest::prelude::any::<u8>()), 0..4),
            regions in 2usize..6,
        ) {
            let mut buf = pytorch(120);
            for (pos, kind, byte) in edits {
                let at = pos % buf.len().max(1);
                match kind {
                    0 => buf[at] ^= byte | 1,
                    1 => buf.insert(at, byte),
                    2 => { buf.remove(at); }
                    _ => buf.truncate(at.max(1)),
                }
            }
            let (fast, seq, _) = both(&buf, regions);
            proptest::prop_assert_eq!(fast, seq);
        }
    }
}
