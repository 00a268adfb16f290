//! Fuzzing the three readers: mutated real files (bit flips, interesting values, truncation,
//! duplicated and deleted chunks) and, through proptest, arbitrary bytes. Every input must
//! give `Ok` or `Err`, never a panic. `MLENG_FUZZ_ITERS` sets the mutations per seed
//! (default 300 so `cargo test` stays quick; the README's figures come from a long run).

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use mleng_models::ckpt::{self, pickle, review};
use mleng_models::onnx::{self, GraphOptions};
use proptest::prelude::*;

fn fixtures() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures"
    ))
}

fn iterations() -> u64 {
    std::env::var("MLENG_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..=rng.below(8) {
        let len = b.len();
        match rng.below(6) {
            0 if len > 0 => {
                let i = rng.below(len);
                b[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                b[i] = [0u8, 0xff, 0x7f, 0x80, 0x01][rng.below(5)];
            }
            2 if len >= 8 => {
                let i = rng.below(len - 7);
                let v = [0u64, u64::MAX, i64::MAX as u64, 1 << 32, 1 << 62][rng.below(5)];
                b[i..i + 8].copy_from_slice(&v.to_le_bytes());
            }
            3 => b.truncate(rng.below(len + 1)),
            4 if len > 0 => {
                let i = rng.below(len);
                let n = rng.below((len - i).min(256) + 1);
                let chunk = b[i..i + n].to_vec();
                let at = rng.below(b.len() + 1);
                b.splice(at..at, chunk);
            }
            _ if len > 0 => {
                let i = rng.below(len);
                let n = rng.below((len - i).min(64) + 1);
                b.drain(i..i + n);
            }
            _ => {}
        }
    }
    b
}

/// Run `check` on `iters` mutations of `seed`; a panic fails the test with the iteration.
fn fuzz(label: &str, seed: &[u8], iters: u64, check: impl Fn(&[u8])) -> u64 {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ seed.len() as u64);
    for i in 0..iters {
        let input = mutate(seed, &mut rng);
        let r = catch_unwind(AssertUnwindSafe(|| check(&input)));
        if r.is_err() {
            let dump = std::env::temp_dir().join(format!("mleng-fuzz-{label}-{i}.bin"));
            let _ = std::fs::write(&dump, &input);
            panic!(
                "{label}: iteration {i} panicked; input saved to {}",
                dump.display()
            );
        }
    }
    iters
}

fn onnx_check(dir: &Path) -> impl Fn(&[u8]) + '_ {
    move |bytes: &[u8]| {
        let p = dir.join("fuzz.onnx");
        if let Ok(m) = onnx::load::decode(&p, bytes) {
            let _ = onnx::analyze(&m, &GraphOptions::default());
            let _ = onnx::analyze(
                &m,
                &GraphOptions {
                    input_shape: Some(vec![2, 3, 64, 64]),
                    batch: Some(3),
                    top: 5,
                    training: mleng_models::memory::TrainingSetup::parse(Some(3), "adamw", "bf16")
                        .ok(),
                },
            );
        }
    }
}

fn ckpt_check<'a>(dir: &'a Path, name: &'static str) -> impl Fn(&[u8]) + 'a {
    move |bytes: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        if let Ok(c) = ckpt::load(&p) {
            let _ = review::analyze(&c);
        }
    }
}

#[test]
fn mutated_onnx_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let n = iterations();
    let mut total = 0;
    // Small seeds covering both exporters, shape subgraphs (ViT legacy) and ConvTranspose.
    for f in [
        "tv_resnet18.legacy.onnx",
        "tv_resnet18.dynamo.onnx",
        "timm_vit_tiny_patch16_224.legacy.onnx",
        "tv_mobilenet_v3_small.legacy.onnx",
    ] {
        let seed = std::fs::read(fixtures().join("onnx").join(f)).unwrap();
        total += fuzz(f, &seed, n, onnx_check(dir.path()));
    }
    println!("onnx: {total} mutated inputs");
}

#[test]
fn mutated_safetensors_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let seed = std::fs::read(fixtures().join("ckpt/tiny_bf16.safetensors")).unwrap();
    let n = fuzz(
        "safetensors",
        &seed,
        iterations() * 4,
        ckpt_check(dir.path(), "f.safetensors"),
    );
    println!("safetensors: {n} mutated inputs");
}

#[test]
fn mutated_pickles_and_torch_zips_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    // The real data.pkl of a torch.save state dict, fuzzed alone...
    let pt = std::fs::read(fixtures().join("ckpt/smallcnn_healthy.pt")).unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(&pt)).unwrap();
    let mut pkl = Vec::new();
    std::io::Read::read_to_end(
        &mut zip.by_name("smallcnn_healthy/data.pkl").unwrap(),
        &mut pkl,
    )
    .unwrap();
    let a = fuzz("pickle", &pkl, iterations() * 4, |b| {
        let _ = pickle::parse(b);
    });
    // ...and a small whole checkpoint (zip + pickle + storage) through the full reader.
    let small = common::torch_zip(
        &common::state_dict_pickle("layer.weight", "0", 4),
        &[("0", common::f32s(&[1.0, -2.0, 0.5, 3.0]))],
    );
    let b = fuzz(
        "torchzip",
        &small,
        iterations() * 4,
        ckpt_check(dir.path(), "f.pt"),
    );
    println!("pickle: {a} mutated inputs, torch zip: {b} mutated inputs");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_onnx(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let dir = std::env::temp_dir();
        onnx_check(&dir)(&bytes);
    }

    #[test]
    fn arbitrary_bytes_pickle(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = pickle::parse(&bytes);
    }

    #[test]
    fn arbitrary_safetensors_headers(header in "\\{[ -~]{0,200}\\}", data in proptest::collection::vec(any::<u8>(), 0..64)) {
        let dir = tempfile::tempdir().unwrap();
        ckpt_check(dir.path(), "p.safetensors")(&common::raw_safetensors(&header, &data));
    }
}
