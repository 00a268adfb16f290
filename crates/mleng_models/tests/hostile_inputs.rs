//! Corrupt and adversarial files: each must give a clear error (or a refusal finding) naming
//! the problem, never a panic, and never read outside the model's folder or run a pickle.

mod common;

use std::path::Path;

use common::*;
use mleng_models::ckpt::{self, review};
use mleng_models::onnx::proto::GraphProto;
use mleng_models::onnx::{self, GraphOptions, Storage};
use mleng_models::ModelError;

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn graph_with_external(location: &str) -> Vec<u8> {
    model(GraphProto {
        node: vec![node("MatMul", "mm", &["x", "w"], &["y"])],
        initializer: vec![external_tensor("w", &[4, 2], location, 32)],
        input: vec![input("x", &[1, 4])],
        ..Default::default()
    })
}

#[test]
fn external_data_escaping_the_folder_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let model_dir = root.path().join("model");
    std::fs::create_dir(&model_dir).unwrap();
    // A secret beside the model folder, reachable by `..` and by a symlink.
    std::fs::write(root.path().join("secret.bin"), [7u8; 64]).unwrap();
    std::os::unix::fs::symlink(root.path().join("secret.bin"), model_dir.join("link.bin")).unwrap();
    std::fs::write(model_dir.join("ok.bin"), [0u8; 32]).unwrap();
    let cases = [
        ("dotdot.onnx", "../secret.bin", true),
        ("nested.onnx", "sub/../../secret.bin", true),
        ("absolute.onnx", "/etc/passwd", true),
        ("symlink.onnx", "link.bin", true),
        ("ok.onnx", "ok.bin", false),
        ("missing.onnx", "absent.bin", false),
    ];
    for (file, location, refused) in cases {
        let p = write(&model_dir, file, &graph_with_external(location));
        let r = onnx::inspect_path(&p, &GraphOptions::default()).unwrap();
        let m = onnx::load(&p).unwrap();
        let storage = &m.initializers[0].storage;
        assert_eq!(
            matches!(storage, Storage::Refused { .. }),
            refused,
            "{file}: {storage:?}"
        );
        let has = |code: &str| r.findings.iter().any(|f| f.code == code);
        assert_eq!(has("ONX002"), refused, "{file}");
        // Counts still come from the dims whatever happened to the data.
        assert_eq!(r.weights.stored_float_elements, 8, "{file}");
        assert_eq!(r.total_macs, 8, "{file}");
        if file == "missing.onnx" {
            assert!(has("ONX001"));
            assert!(matches!(storage, Storage::Missing { .. }));
        }
        if file == "ok.onnx" {
            assert!(matches!(storage, Storage::External { .. }));
        }
    }
}

#[test]
fn external_data_past_the_end_is_broken_not_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("short.bin"), [0u8; 8]).unwrap();
    let p = write(dir.path(), "m.onnx", &graph_with_external("short.bin"));
    let r = onnx::inspect_path(&p, &GraphOptions::default()).unwrap();
    assert!(
        r.findings.iter().any(|f| f.code == "ONX003"),
        "{:?}",
        r.findings
    );
}

#[test]
fn corrupt_onnx_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = graph_with_external("x.bin");
    for (i, bytes) in [
        b"not a protobuf at all \xff\xff\xff".to_vec(),
        good[..good.len() / 2].to_vec(),
        vec![0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f], // a field claiming 4 GB
    ]
    .iter()
    .enumerate()
    {
        let p = write(dir.path(), &format!("bad{i}.onnx"), bytes);
        match onnx::inspect_path(&p, &GraphOptions::default()) {
            Err(e) => assert!(e.to_string().contains(&format!("bad{i}.onnx")), "{e}"),
            Ok(r) => assert!(r.nodes <= 1),
        }
    }
    // Absurd dims overflow u64: an error, not a wrap-around.
    let huge = model(GraphProto {
        initializer: vec![tensor("w", &[i64::MAX, i64::MAX], &[])],
        ..Default::default()
    });
    let p = write(dir.path(), "huge.onnx", &huge);
    let e = onnx::inspect_path(&p, &GraphOptions::default())
        .err()
        .unwrap();
    assert!(e.to_string().contains("invalid dims"), "{e}");
}

#[test]
fn safetensors_headers_are_validated_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let data = f32s(&[1.0, 2.0]);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("short", vec![1, 2, 3], "too short"),
        (
            "huge_header",
            {
                let mut b = (200_000_000u64).to_le_bytes().to_vec();
                b.extend(b"{}");
                b
            },
            "exceeds",
        ),
        (
            "past_eof",
            {
                let mut b = (1000u64).to_le_bytes().to_vec();
                b.extend(b"{}");
                b
            },
            "past the end",
        ),
        ("not_json", raw_safetensors("{nope", &[]), "JSON"),
        (
            "bad_dtype",
            raw_safetensors(
                r#"{"a":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}}"#,
                &data,
            ),
            "unknown dtype",
        ),
        (
            "lying_length",
            raw_safetensors(
                r#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#,
                &data,
            ),
            "needs 12",
        ),
        (
            "past_data",
            raw_safetensors(
                r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#,
                &data,
            ),
            "past the",
        ),
        (
            "trailing",
            raw_safetensors(
                r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
                &data,
            ),
            "cover",
        ),
        (
            "gap",
            raw_safetensors(
                r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                &data,
            ),
            "contiguous",
        ),
        (
            "overlap",
            raw_safetensors(
                r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                &data,
            ),
            "contiguous",
        ),
        (
            "backwards",
            raw_safetensors(
                r#"{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#,
                &data,
            ),
            "expected",
        ),
        (
            "overflow",
            raw_safetensors(
                r#"{"a":{"dtype":"F32","shape":[18446744073709551615,4],"data_offsets":[0,8]}}"#,
                &data,
            ),
            "overflows",
        ),
        (
            "bad_metadata",
            raw_safetensors(r#"{"__metadata__":{"a":1}}"#, &[]),
            "__metadata__",
        ),
    ];
    for (name, bytes, want) in cases {
        let p = write(dir.path(), &format!("{name}.safetensors"), &bytes);
        let e = ckpt::load(&p)
            .err()
            .unwrap_or_else(|| panic!("{name} was accepted"));
        let msg = e.to_string();
        assert!(
            msg.contains(&format!("{name}.safetensors")) && msg.contains(want),
            "{name}: {msg}"
        );
    }
}

#[test]
fn pickle_calling_os_system_is_refused_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("pwned");
    // protocol 2: os.system("touch <marker>") via GLOBAL + REDUCE, the classic payload.
    let cmd = format!("touch {}", marker.display());
    let mut pkl = b"\x80\x02cos\nsystem\nq\x00X".to_vec();
    pkl.extend((cmd.len() as u32).to_le_bytes());
    pkl.extend(cmd.as_bytes());
    pkl.extend(b"\x85R.");
    let p = write(dir.path(), "evil.pt", &torch_zip(&pkl, &[]));
    let e = ckpt::load(&p).err().unwrap();
    assert!(matches!(e, ModelError::Refused { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("os.system") && msg.contains("evil.pt"),
        "{msg}"
    );
    assert!(!marker.exists(), "the payload ran");

    // Other ways to reach code: builtins.eval through STACK_GLOBAL, and NEWOBJ / INST.
    for (name, pkl, want) in [
        (
            "eval",
            b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93\x8c\x011\x85R.".to_vec(),
            "builtins.eval",
        ),
        ("inst", b"(S'x'\nios\nsystem\n.".to_vec(), "INST"),
        (
            "subprocess",
            b"csubprocess\nPopen\n.".to_vec(),
            "subprocess.Popen",
        ),
        ("torch_load", b"ctorch\nload\n.".to_vec(), "torch.load"),
    ] {
        let p = write(dir.path(), &format!("{name}.pt"), &torch_zip(&pkl, &[]));
        let msg = ckpt::load(&p).err().unwrap().to_string();
        assert!(msg.contains(want), "{name}: {msg}");
    }
}

#[test]
fn torch_zip_with_lying_storage_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    // The pickle claims 8 floats but the storage holds 2.
    let pkl = state_dict_pickle("w", "0", 8);
    let p = write(
        dir.path(),
        "short.pt",
        &torch_zip(&pkl, &[("0", f32s(&[1.0, 2.0]))]),
    );
    let msg = ckpt::load(&p).err().unwrap().to_string();
    assert!(msg.contains("smaller"), "{msg}");
    // Missing storage entry.
    let p = write(dir.path(), "nostorage.pt", &torch_zip(&pkl, &[]));
    assert!(ckpt::load(&p).is_err());
    // A valid one built the same way reads back.
    let pkl = state_dict_pickle("layer.weight", "0", 4);
    let p = write(
        dir.path(),
        "ok.pt",
        &torch_zip(&pkl, &[("0", f32s(&[1.0, -2.0, 0.0, 3.0]))]),
    );
    let r = review::inspect_path(&p).unwrap();
    assert_eq!(r.tensors[0].name, "layer.weight");
    assert_eq!(
        (r.tensors[0].min, r.tensors[0].max, r.tensors[0].zeros),
        (-2.0, 3.0, 1)
    );
}

#[test]
fn nested_training_checkpoint_is_walked() {
    let dir = tempfile::tempdir().unwrap();
    let zip = torch_zip(
        &nested_checkpoint_pickle(),
        &[("0", f32s(&[0.1, -0.2, 0.3, 0.0]))],
    );
    let p = write(dir.path(), "train.pt", &zip);
    let r = review::inspect_path(&p).unwrap();
    assert_eq!(r.tensors.len(), 1);
    assert_eq!(r.tensors[0].name, "model.fc.weight");
    let meta: Vec<(&str, &str)> = r
        .metadata
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert!(
        meta.contains(&("epoch", "7")) && meta.contains(&("optimizer.lr", "0.1")),
        "{meta:?}"
    );
}
