//! Graph findings on small graphs built from the ONNX spec.

mod common;

use common::*;
use mleng_models::onnx::proto::{AttributeProto, GraphProto};
use mleng_models::onnx::{self, GraphOptions};

fn run(graph: GraphProto, opts: &GraphOptions) -> onnx::GraphReport {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("g.onnx");
    std::fs::write(&p, model(graph)).unwrap();
    onnx::inspect_path(&p, opts).unwrap()
}

fn codes(r: &onnx::GraphReport) -> Vec<&str> {
    r.findings.iter().map(|f| f.code.as_str()).collect()
}

#[test]
fn dropout_then_batchnorm_and_linear_chain() {
    let g = GraphProto {
        node: vec![
            node("Gemm", "fc1", &["x", "w1"], &["h"]),
            node("Dropout", "drop", &["h"], &["d"]),
            node(
                "BatchNormalization",
                "bn",
                &["d", "g", "b", "m", "v"],
                &["n"],
            ),
            node("Gemm", "fc2", &["n", "w2"], &["y"]),
        ],
        initializer: vec![
            tensor("w1", &[8, 16], &[0.1; 128]),
            tensor("w2", &[16, 16], &[0.1; 256]),
            tensor("g", &[16], &[1.0; 16]),
            tensor("b", &[16], &[0.0; 16]),
            tensor("m", &[16], &[0.0; 16]),
            tensor("v", &[16], &[1.0; 16]),
        ],
        input: vec![input("x", &[2, 8])],
        ..Default::default()
    };
    let r = run(g, &GraphOptions::default());
    let c = codes(&r);
    assert!(
        c.contains(&"ONX004") && c.contains(&"ONX013") && c.contains(&"ONX006"),
        "{c:?}"
    );
    // Gemm 2x8 @ 8x16 and 2x16 @ 16x16 (transB=0 reads B as KxN).
    assert_eq!(r.total_macs, 2 * 8 * 16 + 2 * 16 * 16);
    assert_eq!(r.weights.stored_float_elements, 128 + 256 + 64);
}

#[test]
fn dynamic_input_needs_a_shape_and_gets_one() {
    let mut conv = node("Conv", "conv", &["x", "w"], &["y"]);
    conv.attribute.push(AttributeProto {
        name: Some("pads".into()),
        ints: vec![1, 1, 1, 1],
        ..Default::default()
    });
    let g = GraphProto {
        node: vec![conv, node("Loop", "loop", &["y"], &["z"])],
        initializer: vec![tensor("w", &[4, 3, 3, 3], &[0.0; 108])],
        input: vec![input("x", &[-1, 3, 32, -1])],
        ..Default::default()
    };
    let r = run(g.clone(), &GraphOptions::default());
    assert!(
        codes(&r).contains(&"ONX012")
            && codes(&r).contains(&"ONX009")
            && codes(&r).contains(&"ONX014")
    );
    assert_eq!(r.total_macs, 0);
    let r = run(
        g,
        &GraphOptions {
            input_shape: Some(vec![2, 3, 32, 32]),
            ..Default::default()
        },
    );
    assert_eq!(r.total_macs, 2 * 4 * 32 * 32 * 3 * 9);
    assert!(!codes(&r).contains(&"ONX012"));
}

#[test]
fn very_large_initializer_is_reported_from_dims_alone() {
    let g = GraphProto {
        node: vec![node("Gather", "emb", &["table", "ids"], &["e"])],
        initializer: vec![external_tensor(
            "table",
            &[1_000_000, 1024],
            "absent.data",
            4_096_000_000,
        )],
        input: vec![input("ids", &[1, 16])],
        ..Default::default()
    };
    let r = run(g, &GraphOptions::default());
    assert!(
        codes(&r).contains(&"ONX010") && codes(&r).contains(&"ONX001"),
        "{:?}",
        codes(&r)
    );
    assert_eq!(r.weights.stored_float_elements, 1_024_000_000);
}

#[test]
fn resize_by_scales_feeds_the_next_conv() {
    // x 1x4x8x8 -> Resize(scales 1,1,2,2) -> 1x4x16x16 -> Conv 3x3 pad 1 (8 filters).
    let mut conv = node("Conv", "conv", &["up", "w"], &["y"]);
    conv.attribute.push(AttributeProto {
        name: Some("pads".into()),
        ints: vec![1, 1, 1, 1],
        ..Default::default()
    });
    let g = GraphProto {
        node: vec![node("Resize", "up", &["x", "", "scales"], &["up"]), conv],
        initializer: vec![
            tensor("scales", &[4], &[1.0, 1.0, 2.0, 2.0]),
            tensor("w", &[8, 4, 3, 3], &[0.0; 288]),
        ],
        input: vec![input("x", &[1, 4, 8, 8])],
        ..Default::default()
    };
    let r = run(
        g,
        &GraphOptions {
            batch: Some(2),
            ..Default::default()
        },
    );
    assert_eq!(r.total_macs, 2 * 8 * 16 * 16 * 4 * 9);
}

#[test]
fn calls_to_local_functions_are_named_not_called_slow() {
    use mleng_models::onnx::proto::{FunctionProto, ModelProto};
    use prost::Message;
    let mut call = node("Block", "b", &["x"], &["y"]);
    call.domain = Some("pkg.local".into());
    let m = ModelProto {
        graph: Some(GraphProto {
            node: vec![call],
            input: vec![input("x", &[1, 4])],
            ..Default::default()
        }),
        functions: vec![FunctionProto {
            name: Some("Block".into()),
            domain: Some("pkg.local".into()),
        }],
        ..Default::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("f.onnx");
    std::fs::write(&p, m.encode_to_vec()).unwrap();
    let r = onnx::inspect_path(&p, &GraphOptions::default()).unwrap();
    let c = codes(&r);
    assert!(c.contains(&"ONX015") && !c.contains(&"ONX014"), "{c:?}");
}
