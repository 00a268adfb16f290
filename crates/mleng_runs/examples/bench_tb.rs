//! Benchmark: reads a large TensorBoard event file and reports MB/s.
//! `cargo run --release -p mleng_runs --example bench_tb -- [FILE] [MB]`
//! Without FILE (or when it does not exist) it writes one of MB megabytes (default 100)
//! with 16 scalar tags per step, the way PyTorch's SummaryWriter writes `add_scalar`
//! (one Event per scalar).

use std::path::PathBuf;
use std::time::Instant;

use mleng_runs::readers::tb_proto::{Event, Summary, SummaryValue};
use mleng_runs::readers::{tensorboard, tfrecord};
use prost::Message;

// The allocator the `mleng` binary uses, so the figures are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn generate(path: &PathBuf, mb: usize) -> std::io::Result<()> {
    let tags: Vec<String> = (0..16)
        .map(|i| match i {
            0 => "train/loss".to_string(),
            1 => "train/lr".to_string(),
            2 => "train/grad_norm".to_string(),
            _ => format!("train/metric_{i:02}"),
        })
        .collect();
    let mut out = Vec::with_capacity(mb * 1_048_576 + 1024);
    let mut step = 0i64;
    while out.len() < mb * 1_048_576 {
        for (i, tag) in tags.iter().enumerate() {
            let v =
                2.3 * (-(step as f64) / 1e5).exp() + 0.01 * ((step as f64 + i as f64) * 0.37).sin();
            let e = Event {
                wall_time: 1.7e9 + step as f64 * 0.05,
                step,
                summary: Some(Summary {
                    value: vec![SummaryValue {
                        tag: tag.clone(),
                        simple_value: Some(v as f32),
                        tensor: None,
                        metadata: None,
                    }],
                }),
            };
            out.extend(tfrecord::frame(&e.encode_to_vec()));
        }
        step += 1;
    }
    std::fs::write(path, out)
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mb: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(100);
    let path = match args.first() {
        Some(p) => PathBuf::from(p),
        None => std::env::temp_dir().join("mleng-bench/events.out.tfevents.bench"),
    };
    if !path.exists() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let t = Instant::now();
        generate(&path, mb)?;
        eprintln!("generated {} in {:.1?}", path.display(), t.elapsed());
    }
    let size = std::fs::metadata(&path)?.len() as f64 / 1_048_576.0;
    if args.iter().any(|a| a == "--once") {
        // One read + parse, for the caller to time with a cold page cache.
        let t = Instant::now();
        let data = tensorboard::read(&path, "")?;
        let secs = t.elapsed().as_secs_f64();
        let points: usize = data.series.iter().map(|s| s.points.len()).sum();
        println!(
            "read + parse, once: {secs:.3} s = {:.0} MiB/s ({points} scalars)",
            size / secs
        );
        return Ok(());
    }
    let bytes = std::fs::read(&path)?;
    let mut best_parse = f64::MAX;
    let mut best_read = f64::MAX;
    let mut points = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let data = tensorboard::parse(&path, &bytes, "");
        best_parse = best_parse.min(t.elapsed().as_secs_f64());
        points = data.series.iter().map(|s| s.points.len()).sum();
        let t = Instant::now();
        let data = tensorboard::read(&path, "")?;
        best_read = best_read.min(t.elapsed().as_secs_f64());
        assert_eq!(
            points,
            data.series.iter().map(|s| s.points.len()).sum::<usize>()
        );
    }
    println!(
        "{size:.1} MiB, {points} scalars (best of 5): parse from memory {:.0} MiB/s, read + parse from the file (page cache) {:.0} MiB/s",
        size / best_parse,
        size / best_read,
    );
    // Best of 3, like read and parse above (page cache warm).
    let (mut load, mut diag) = (f64::MAX, f64::MAX);
    let mut verdicts = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let runs = mleng_runs::discover::load_runs(std::slice::from_ref(&path))
            .map_err(std::io::Error::other)?;
        let l = t.elapsed().as_secs_f64();
        let t = Instant::now();
        verdicts = runs
            .iter()
            .map(|run| mleng_runs::diagnosis::diagnose(run, &[], None).verdict)
            .collect();
        let d = t.elapsed().as_secs_f64();
        if l + d < load + diag {
            (load, diag) = (l, d);
        }
    }
    for v in &verdicts {
        println!("verdict: {v}");
    }
    println!(
        "end to end (discover + read + all detectors, best of 3): {:.2} s = {:.0} MiB/s (load {:.2} s, detectors {:.2} s)",
        load + diag,
        size / (load + diag),
        load,
        diag
    );
    Ok(())
}
