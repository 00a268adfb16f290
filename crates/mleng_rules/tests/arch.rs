//! The static model map (`mleng arch`) against parameter counts from PyTorch itself
//! (`../shared/fixtures/onnx/*.truth.json`, `params`) and counts computed by hand in the
//! models' docstrings (`tests/arch_models/`).

use std::path::Path;

use mleng_python::{ParsedFile, SemanticIndex, SourceFile};
use mleng_rules::arch::{model_maps, ModelMap};

fn maps(file: &str) -> Vec<ModelMap> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/arch_models")
        .join(file);
    let source = SourceFile::load(&path).expect("fixture loads");
    let parsed = ParsedFile::parse(&source);
    let index = SemanticIndex::build(&source, parsed.module());
    model_maps(&index, None)
}

fn params_of(map: &ModelMap, layer: &str) -> Option<u64> {
    map.layers
        .iter()
        .find(|l| l.name == layer)
        .unwrap_or_else(|| panic!("no layer {layer} in {}", map.name))
        .params
}

#[test]
fn smallcnn_matches_pytorch_count() {
    let maps = maps("smallcnn.py");
    assert_eq!(maps.len(), 1);
    let m = &maps[0];
    // smallcnn_ok.legacy.truth.json: "params": 151658
    assert_eq!(m.total(), Some(151_658));
    assert_eq!(params_of(m, "features.0"), Some(288));
    assert_eq!(params_of(m, "head.0"), Some(131_200));
    let bottlenecks: Vec<_> = m
        .layers
        .iter()
        .filter(|l| l.bottleneck)
        .map(|l| l.name.as_str())
        .collect();
    assert_eq!(bottlenecks, ["head.0"]);
    assert_eq!(m.defaults, ["num_classes=10"]);
}

#[test]
fn unet_small_matches_pytorch_count() {
    let maps = maps("unet_small.py");
    let m = &maps[0];
    // unet_small.legacy.truth.json: "params": 117395
    assert_eq!(m.name, "UNet");
    assert_eq!(m.total(), Some(117_395));
    assert_eq!(params_of(m, "e3"), Some(55_552));
    assert_eq!(params_of(m, "u2"), Some(8_224));
    assert_eq!(params_of(m, "out"), Some(51));
    assert!(m.layers.iter().all(|l| !l.bottleneck));
}

#[test]
fn recurrent_attention_and_unknown_counts() {
    let maps = maps("counts.py");
    let text = maps
        .iter()
        .find(|m| m.name == "TextModel")
        .expect("TextModel");
    assert_eq!(params_of(text, "embed"), Some(64_000));
    assert_eq!(params_of(text, "rnn"), Some(593_920));
    assert_eq!(params_of(text, "attn"), Some(263_168));
    assert_eq!(params_of(text, "norm"), Some(512));
    assert_eq!(params_of(text, "proj"), None);
    assert_eq!(text.total(), None);
    assert_eq!(text.known_params, 921_664);
    assert_eq!(text.unknown_layers, 1);
    let gn = text.layers.iter().find(|l| l.name == "gn").expect("gn");
    assert!(!gn.used_in_forward);
    let tagger = maps.iter().find(|m| m.name == "tagger").expect("tagger");
    assert_eq!(tagger.kind, "sequential");
    assert_eq!(tagger.total(), Some(2_437));
}
