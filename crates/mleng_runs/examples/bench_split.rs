//! Splits the TensorBoard parse time into framing+CRC and decoding (profiling aid).
use std::time::Instant;

use mleng_runs::readers::{tb_wire, tfrecord};

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "/tmp/mleng-bench/events.out.tfevents.bench".into());
    let Ok(bytes) = std::fs::read(&path) else {
        return;
    };
    let mb = bytes.len() as f64 / 1_048_576.0;
    for _ in 0..3 {
        let t = Instant::now();
        let n = tfrecord::records(&bytes).count();
        let crc = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let mut k = 0usize;
        for item in tfrecord::records(&bytes) {
            if let tfrecord::Item::Record { data, .. } = item {
                if let Some(e) = tb_wire::event(data) {
                    if let Some(s) = e.summary {
                        let _ = tb_wire::summary_values(s, |v| k += v.tag.len());
                    }
                }
            }
        }
        let both = t.elapsed().as_secs_f64();
        println!(
            "{n} records: framing+CRC {:.0} MiB/s, +wire decode {:.0} MiB/s ({k})",
            mb / crc,
            mb / both
        );
    }
}
