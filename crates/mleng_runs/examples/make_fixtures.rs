//! Writes the synthetic fixtures in `tests/data/` (see its README for the spec each one
//! follows). Deterministic: rerunning produces the same bytes.
//! `cargo run -p mleng_runs --example make_fixtures` (run from anywhere).

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use mleng_runs::readers::tb_proto::{
    Event, PluginData, Summary, SummaryMetadata, SummaryValue, TensorProto, TensorShape, DT_DOUBLE,
    DT_FLOAT,
};
use mleng_runs::readers::tfrecord::frame;
use prost::Message;

/// A tiny LCG so the noise is the same on every machine.
struct Noise(u64);
impl Noise {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64) - 0.5
    }
}

fn out() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn write(rel: &str, bytes: impl AsRef<[u8]>) {
    let p = out().join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, bytes).unwrap();
}

fn version_record() -> Vec<u8> {
    // file_version is field 3 (string); we encode it by hand since our Event omits it.
    let mut data = Vec::new();
    data.push(0x09); // field 1, fixed64: wall_time
    data.extend_from_slice(&1.7e9f64.to_le_bytes());
    let v = b"brain.Event:2";
    data.push(0x1a); // field 3, length-delimited
    data.push(v.len() as u8);
    data.extend_from_slice(v);
    frame(&data)
}

fn simple(step: i64, wall: f64, tag: &str, v: f32) -> Vec<u8> {
    let e = Event {
        wall_time: wall,
        step,
        summary: Some(Summary {
            value: vec![SummaryValue {
                tag: tag.into(),
                simple_value: Some(v),
                tensor: None,
                metadata: None,
            }],
        }),
    };
    frame(&e.encode_to_vec())
}

fn tensor(step: i64, tag: &str, t: TensorProto, plugin: Option<&str>) -> Vec<u8> {
    let e = Event {
        wall_time: 1.7e9 + step as f64,
        step,
        summary: Some(Summary {
            value: vec![SummaryValue {
                tag: tag.into(),
                simple_value: None,
                tensor: Some(t),
                metadata: plugin.map(|p| SummaryMetadata {
                    plugin_data: Some(PluginData {
                        plugin_name: p.into(),
                    }),
                }),
            }],
        }),
    };
    frame(&e.encode_to_vec())
}

fn scalar_shape() -> Option<TensorShape> {
    Some(TensorShape { dim: vec![] })
}

/// Keras `TensorBoard` callback layout: train/ and validation/ folders, tags `epoch_loss`
/// and `epoch_accuracy` as float tensors with raw `tensor_content`, plugin metadata only on
/// the first value, plus a `double_val` and a `float_val` tag and an image summary to skip.
fn tf2_keras() {
    let mut noise = Noise(7);
    for (split, offset) in [("train", 0.0), ("validation", 0.05)] {
        let mut file = version_record();
        for epoch in 0..20i64 {
            let loss = 2.3 * (-0.25 * epoch as f64).exp() + 0.05 + offset + 0.01 * noise.next();
            let acc = 1.0 - 0.9 * (-0.3 * epoch as f64).exp() - offset;
            let first = epoch == 0;
            file.extend(tensor(
                epoch,
                "epoch_loss",
                TensorProto {
                    dtype: DT_FLOAT,
                    tensor_shape: scalar_shape(),
                    tensor_content: (loss as f32).to_le_bytes().to_vec(),
                    ..Default::default()
                },
                first.then_some("scalars"),
            ));
            file.extend(tensor(
                epoch,
                "epoch_accuracy",
                TensorProto {
                    dtype: DT_FLOAT,
                    tensor_shape: scalar_shape(),
                    float_val: vec![acc as f32],
                    ..Default::default()
                },
                first.then_some("scalars"),
            ));
            if split == "train" {
                file.extend(tensor(
                    epoch,
                    "epoch_learning_rate",
                    TensorProto {
                        dtype: DT_DOUBLE,
                        tensor_shape: scalar_shape(),
                        double_val: vec![1e-3],
                        ..Default::default()
                    },
                    first.then_some("scalars"),
                ));
                // A one-element string tensor from the images plugin must not become a scalar.
                file.extend(tensor(
                    epoch,
                    "sample_image",
                    TensorProto {
                        dtype: 7,
                        tensor_shape: Some(TensorShape { dim: vec![] }),
                        tensor_content: vec![1, 2, 3, 4],
                        ..Default::default()
                    },
                    first.then_some("images"),
                ));
            }
        }
        write(
            &format!("tf2_keras/{split}/events.out.tfevents.1700000000.host.1.v2"),
            file,
        );
    }
}

/// PyTorch `SummaryWriter` style (`simple_value`), healthy, with wall times; then a copy
/// cut mid-record (a run still writing) and a copy with one flipped data byte.
fn pytorch_tb() -> Vec<u8> {
    let mut noise = Noise(11);
    let mut file = version_record();
    for step in 0..300i64 {
        let loss = 2.3 * (-(step as f64) / 60.0).exp() + 0.05 * (1.0 + noise.next());
        file.extend(simple(
            step,
            1.7e9 + 0.1 * step as f64,
            "train/loss",
            loss as f32,
        ));
        file.extend(simple(step, 1.7e9 + 0.1 * step as f64, "train/lr", 0.01));
    }
    file
}

fn damaged_tb() {
    let file = pytorch_tb();
    write(
        "tb_truncated/events.out.tfevents.1700000000.host.2.0",
        &file[..file.len() - 7],
    );
    let mut bad = file.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x55;
    write("tb_bad_crc/events.out.tfevents.1700000000.host.3.0", &bad);
}

/// Ultralytics YOLOv8 `results.csv`: headers right-aligned with spaces (older versions) or
/// plain (8.1+); loss split into box/cls/dfl components; one row per epoch (1-based).
fn ultralytics() {
    let cols = [
        "epoch",
        "train/box_loss",
        "train/cls_loss",
        "train/dfl_loss",
        "metrics/precision(B)",
        "metrics/recall(B)",
        "metrics/mAP50(B)",
        "metrics/mAP50-95(B)",
        "val/box_loss",
        "val/cls_loss",
        "val/dfl_loss",
        "lr/pg0",
        "lr/pg1",
        "lr/pg2",
    ];
    let mut padded = cols
        .iter()
        .map(|c| format!("{c:>25}"))
        .collect::<Vec<_>>()
        .join(",");
    let mut plain = cols.join(",");
    padded.push('\n');
    plain.push('\n');
    let mut noise = Noise(3);
    for epoch in 1..=30 {
        let e = epoch as f64;
        let t = (-e / 8.0).exp();
        let row = [
            e,
            1.2 * t + 0.6,
            2.5 * t + 0.5,
            1.3 * t + 0.9,
            0.9 - 0.5 * t,
            0.85 - 0.5 * t,
            0.8 - 0.6 * t,
            0.55 - 0.45 * t,
            1.1 * t + 0.7 + 0.01 * noise.next(),
            2.0 * t + 0.6,
            1.2 * t + 0.95,
            0.01 * (1.0 - e / 31.0),
            0.01 * (1.0 - e / 31.0),
            0.01 * (1.0 - e / 31.0),
        ];
        let cells: Vec<String> = row.iter().map(|v| format!("{v:.5}")).collect();
        let _ = writeln!(
            padded,
            "{}",
            cells
                .iter()
                .map(|c| format!("{c:>25}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        let _ = writeln!(plain, "{}", cells.join(","));
    }
    write("ultralytics_padded/results.csv", padded);
    write("ultralytics_plain/results.csv", plain);
}

/// MLflow file store: `mlruns/<exp>/<run>/meta.yaml` and `metrics/<key>` files of
/// `timestamp value step` lines; a key with `/` is a sub-folder. This run overfits.
fn mlflow_file() {
    let run = "mlflow_file/mlruns/1/3f2c9a7e5b6d4e0f8a1b2c3d4e5f6a7b";
    write(&format!("{run}/meta.yaml"), "artifact_uri: file:///tmp/mlruns/1/3f2c/artifacts\nend_time: 1700000900000\nexperiment_id: '1'\nlifecycle_stage: active\nrun_id: 3f2c9a7e5b6d4e0f8a1b2c3d4e5f6a7b\nrun_name: overfit-resnet\nstart_time: 1700000000000\nstatus: 3\n");
    let mut train = String::new();
    let mut val = String::new();
    let mut acc = String::new();
    for epoch in 0..40i64 {
        let e = epoch as f64;
        let ts = 1_700_000_000_000 + epoch * 20_000;
        let _ = writeln!(train, "{ts} {} {epoch}", 2.0 * (-e / 6.0).exp() + 0.001);
        let v = 0.5 + 1.5 * (-e / 5.0).exp() + 0.02 * (e - 12.0).max(0.0);
        let _ = writeln!(val, "{ts} {v} {epoch}");
        let _ = writeln!(acc, "{ts} {} {epoch}", 0.8 - 0.6 * (-e / 5.0).exp());
    }
    write(&format!("{run}/metrics/train/loss"), train);
    write(&format!("{run}/metrics/val_loss"), val);
    write(&format!("{run}/metrics/val_accuracy"), acc);
    write(&format!("{run}/params/lr"), "0.001");
}

/// A generic CSV with an `iteration` column: a model ending in Softmax trained with
/// CrossEntropyLoss over 10 classes, so the loss floors at ln((e+9)/e) = 1.4612 while the
/// training accuracy reaches 1.0.
fn softmax_floor() {
    let mut s = String::from("iteration,loss,train_acc,lr\n");
    let floor = ((std::f64::consts::E + 9.0) / std::f64::consts::E).ln();
    let mut noise = Noise(5);
    for it in 0..200 {
        let t = (-(it as f64) / 25.0).exp();
        let loss = floor + (std::f64::consts::LN_10 - floor) * t + 0.0005 * noise.next() * t;
        let acc = (1.0 - 0.9 * t * 1.5).clamp(0.1, 1.0);
        let _ = writeln!(s, "{it},{loss:.6},{acc:.4},0.001");
    }
    write("softmax_floor/train_log.csv", s);
}

/// JSON lines (wandb/`json.dumps` style) exercising the remaining detectors.
fn jsonl_cases() {
    let mut n = Noise(9);
    // AMP: grad norm logged before unscale_: ~65536x the real norm, halved on overflow,
    // inf on skipped steps, the loss itself healthy.
    let mut s = String::new();
    let mut scale = 65536.0;
    for step in 0..400i64 {
        let loss = 2.0 * (-(step as f64) / 100.0).exp() + 0.1 + 0.01 * n.next();
        let skipped = step % 97 == 50;
        if skipped {
            scale /= 2.0;
        }
        let g = if skipped {
            "Infinity".to_string()
        } else {
            format!("{}", scale * (0.5 + 0.05 * n.next()))
        };
        let _ = writeln!(
            s,
            "{{\"step\": {step}, \"loss\": {loss}, \"grad_norm\": {g}, \"lr\": 0.0003}}"
        );
    }
    write("amp_scaled/metrics.jsonl", s);

    // Loss spikes at steps 300 and 600 in an otherwise healthy run, LR restarted on a resume
    // at step 500 (the step counter goes back to 480), and a 5-minute stall at step 700.
    let mut s = String::new();
    let mut t = 1.7e9;
    let mut steps: Vec<i64> = (0..500).collect();
    steps.extend(480..900);
    for (i, &step) in steps.iter().enumerate() {
        t += if step == 700 && i > 500 { 300.0 } else { 0.5 };
        let resumed = i >= 500;
        let base = 2.5 * (-(step as f64) / 150.0).exp() + 0.3 + 0.02 * n.next();
        let spike = if step == 300 && !resumed {
            3.0
        } else if step == 600 {
            2.5
        } else {
            0.0
        };
        let lr = if resumed {
            1e-3 * (1.0 - (step - 480) as f64 / 1000.0)
        } else {
            1e-3 * (1.0 - step as f64 / 1000.0).powi(4)
        };
        let _ = writeln!(
            s,
            "{{\"step\": {step}, \"train/loss\": {}, \"train/lr\": {lr}, \"timestamp\": {t}}}",
            base + spike
        );
    }
    write("spikes_resume_stall/metrics.jsonl", s);

    // LR schedule sized for fewer steps: the LR reaches 0 at 60% of the run.
    let mut s = String::new();
    for step in 0..500i64 {
        let lr = (1e-3 * (1.0 - step as f64 / 300.0)).max(0.0);
        let loss = 1.0 + 1.5 * (-(step.min(300) as f64) / 80.0).exp() + 0.02 * n.next();
        let _ = writeln!(
            s,
            "{{\"step\": {step}, \"loss\": {loss}, \"learning_rate\": {lr}}}"
        );
    }
    write("lr_zero/metrics.jsonl", s);

    // Validation accuracy above training accuracy at every evaluation, by ~15 points.
    let mut s = String::new();
    for epoch in 0..15i64 {
        let step = (epoch + 1) * 100;
        let tr = 0.5 + 0.3 * (1.0 - (-(epoch as f64) / 4.0).exp());
        let _ = writeln!(s, "{{\"step\": {step}, \"epoch\": {epoch}, \"train_loss\": {}, \"train_acc\": {tr}, \"val_acc\": {}, \"val_loss\": {}}}", 1.5 - tr, tr + 0.15, 1.3 - tr);
    }
    write("val_better/metrics.jsonl", s);

    // Oscillation: after a first drop the loss swings between ~0.5 and ~2.5.
    let mut s = String::new();
    for step in 0..400i64 {
        let loss = if step < 100 {
            3.0 - step as f64 / 60.0
        } else {
            1.5 + 1.0 * ((step as f64) * 0.9).sin() + 0.1 * n.next()
        };
        let _ = writeln!(s, "{{\"step\": {step}, \"loss\": {loss}}}");
    }
    write("oscillating/metrics.jsonl", s);

    // A run still writing: the last line is cut mid-object and has no newline; NaN tokens.
    let mut s = String::new();
    for step in 0..50i64 {
        let _ = writeln!(
            s,
            "{{\"step\": {step}, \"loss\": {}}}",
            2.0 - step as f64 / 50.0
        );
    }
    s.push_str("{\"step\": 50, \"loss\": NaN}\n{\"step\": 51, \"lo");
    write("jsonl_truncated/metrics.jsonl", s);
}

fn main() {
    tf2_keras();
    damaged_tb();
    ultralytics();
    mlflow_file();
    softmax_floor();
    jsonl_cases();
    let data = out();
    println!("wrote fixtures under {}", Path::new(&data).display());
}
