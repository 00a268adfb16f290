//! Property tests: reviewing mangled Python and notebooks never panics. Inputs are the rule
//! fixtures with random byte edits (flips, insertions, deletions, truncations: half-typed code,
//! broken indentation, cut strings) and notebooks assembled from random lines, magics and
//! IPython help. Every rule runs (`ALL`), per file and through the project pass, and `mleng
//! arch`'s model map is built from each mutated file. A panic would
//! otherwise surface as an INP900 finding; here it fails the test. Case counts multiply with
//! `MLENG_FUZZ_SCALE`.

use std::path::{Path, PathBuf};

use mleng_python::{ParsedFile, SemanticIndex, SourceFile};
use mleng_rules::{review_files, review_source, Settings};
use proptest::prelude::*;

fn cases(n: u32) -> ProptestConfig {
    let scale: u32 = std::env::var("MLENG_FUZZ_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    ProptestConfig {
        cases: n * scale,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn all_rules() -> Settings {
    Settings::from_selection(Some(&["ALL".to_string()]), &[], &[]).expect("ALL selects")
}

/// Every `.py` fixture, read once.
fn fixtures() -> &'static [(PathBuf, String)] {
    static FILES: std::sync::OnceLock<Vec<(PathBuf, String)>> = std::sync::OnceLock::new();
    FILES.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut out = Vec::new();
        let mut stack = vec![root];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("fixture dir").flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "py") {
                    let text = std::fs::read_to_string(&path).expect("fixture reads");
                    out.push((path, text));
                }
            }
        }
        out.sort();
        out
    })
}

fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8, u8)]) -> Vec<u8> {
    for &(pos, kind, byte) in edits {
        if bytes.is_empty() {
            bytes.push(byte);
            continue;
        }
        let at = pos % bytes.len();
        match kind % 4 {
            0 => bytes[at] = byte,
            1 => bytes.insert(at, byte),
            2 => {
                bytes.remove(at);
            }
            _ => bytes.truncate(at),
        }
    }
    bytes
}

/// Bytes that make Python interesting to break: brackets, quotes, indentation, operators.
fn python_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        Just(b'('),
        Just(b')'),
        Just(b'['),
        Just(b'"'),
        Just(b'\''),
        Just(b':'),
        Just(b'\n'),
        Just(b' '),
        Just(b'\t'),
        Just(b'#'),
        Just(b'='),
        Just(b'.'),
        Just(b','),
        Just(b'*'),
        Just(b'@'),
        any::<u8>(),
    ]
}

fn review_text(path: &Path, text: String) {
    let source = SourceFile::python(path, text);
    let findings = review_source(&source, &all_rules());
    assert!(
        findings.iter().all(|f| f.code != "INP900"),
        "internal error on {}",
        path.display()
    );
    // `mleng arch` reads the same index (parameter counts from literal arguments).
    let parsed = ParsedFile::parse(&source);
    let index = SemanticIndex::build(&source, parsed.module());
    let _ = mleng_rules::arch::model_maps(&index, None);
}

proptest! {
    #![proptest_config(cases(150))]

    #[test]
    fn mutated_fixtures_never_panic(
        pick in any::<usize>(),
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), python_byte()), 1..8),
    ) {
        let files = fixtures();
        let (path, text) = &files[pick % files.len()];
        let bytes = mutate(text.clone().into_bytes(), &edits);
        let text = String::from_utf8_lossy(&bytes).into_owned();
        review_text(path, text);
    }

    #[test]
    fn random_notebooks_never_panic(
        cells in prop::collection::vec(
            prop::collection::vec(
                prop_oneof![
                    Just("import torch".to_string()),
                    Just("%matplotlib inline".to_string()),
                    Just("!pip install timm".to_string()),
                    Just("torch.*Tensor?".to_string()),
                    Just("model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5), nn.BatchNorm1d(4))".to_string()),
                    Just("for x, y in loader:".to_string()),
                    Just("    loss = criterion(model(x), y)".to_string()),
                    Just("    loss.backward()".to_string()),
                    Just("    optimizer.step()".to_string()),
                    "[ -~]{0,40}",
                ],
                0..6,
            ),
            0..6,
        ),
    ) {
        let cells: Vec<serde_json::Value> = cells
            .iter()
            .map(|lines| serde_json::json!({
                "cell_type": "code", "execution_count": null, "metadata": {}, "outputs": [],
                "source": lines.iter().map(|l| format!("{l}\n")).collect::<Vec<_>>(),
            }))
            .collect();
        let nb = serde_json::json!({
            "cells": cells,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
            "nbformat": 4, "nbformat_minor": 5,
        });
        let path = Path::new("fuzz.ipynb");
        if let Ok(source) = SourceFile::from_notebook_bytes(path, nb.to_string().as_bytes()) {
            let findings = review_source(&source, &all_rules());
            prop_assert!(findings.iter().all(|f| f.code != "INP900"));
        }
    }
}

proptest! {
    #![proptest_config(cases(100))]

    /// Layers with literal sizes of any magnitude (parameter counts must not overflow, loop or
    /// panic): `nn.LSTM(2**40, 7, num_layers=10**18)`.
    #[test]
    fn layers_with_any_sizes_never_panic(
        layers in prop::collection::vec(
            (
                prop::sample::select(vec![
                    "Linear", "Bilinear", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose2d",
                    "BatchNorm2d", "LayerNorm", "GroupNorm", "Embedding", "PReLU", "LSTM", "GRU",
                    "RNN", "MultiheadAttention",
                ]),
                prop::collection::vec(
                    prop_oneof![
                        (0u64..64).prop_map(|v| v.to_string()),
                        any::<u64>().prop_map(|v| v.to_string()),
                        (0u32..80).prop_map(|e| format!("2**{e}")),
                        Just("-1".to_string()),
                        Just("(3, 3)".to_string()),
                        Just("num_layers=1000000000000".to_string()),
                        Just("bidirectional=True".to_string()),
                        Just("groups=0".to_string()),
                    ],
                    0..5,
                ),
            ),
            1..5,
        ),
    ) {
        let mut code = String::from("import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n");
        for (i, (layer, args)) in layers.iter().enumerate() {
            code.push_str(&format!("        self.l{i} = nn.{layer}({})\n", args.join(", ")));
        }
        code.push_str("\n    def forward(self, x):\n");
        for i in 0..layers.len() {
            code.push_str(&format!("        x = self.l{i}(x)\n"));
        }
        code.push_str("        return x\n");
        review_text(Path::new("sizes.py"), code);
    }
}

proptest! {
    #![proptest_config(cases(20))]

    /// The project pass over several mutated files written to disk together.
    #[test]
    fn mutated_projects_never_panic(
        picks in prop::collection::vec(any::<usize>(), 1..5),
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), python_byte()), 0..6),
    ) {
        let dir = tempfile::tempdir().expect("temp dir");
        let files = fixtures();
        let mut paths = Vec::new();
        for (i, pick) in picks.iter().enumerate() {
            let (_, text) = &files[pick % files.len()];
            let bytes = mutate(text.clone().into_bytes(), &edits);
            let path = dir.path().join(format!("m{i}.py"));
            std::fs::write(&path, bytes).expect("write");
            paths.push(path);
        }
        let outcomes = review_files(&paths, &all_rules());
        prop_assert!(outcomes.iter().flat_map(|o| &o.findings).all(|f| f.code != "INP900"));
    }
}
