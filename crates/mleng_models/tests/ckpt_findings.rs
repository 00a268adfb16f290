//! Each checkpoint finding fires on a state dict built to show it, and `--diff` measures drift.

mod common;

use common::*;
use mleng_models::ckpt::{self, diff, review};

fn codes(bytes: &[u8]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.safetensors");
    std::fs::write(&p, bytes).unwrap();
    let r = review::inspect_path(&p).unwrap();
    r.findings.iter().map(|f| f.code.clone()).collect()
}

/// A plausible 2-layer MLP: `fc1` 8->4, `fc2` 4->2, weights around PyTorch's init scale.
fn healthy() -> Vec<(&'static str, &'static str, Vec<u64>, Vec<u8>)> {
    let w1: Vec<f32> = (0..32)
        .map(|i| ((i * 7 % 11) as f32 - 5.0) * 0.05)
        .collect();
    let w2: Vec<f32> = (0..8).map(|i| ((i * 3 % 5) as f32 - 2.0) * 0.1).collect();
    vec![
        ("fc1.weight", "F32", vec![4, 8], f32s(&w1)),
        ("fc1.bias", "F32", vec![4], f32s(&[0.1, -0.1, 0.05, 0.0])),
        ("fc2.weight", "F32", vec![2, 4], f32s(&w2)),
        ("fc2.bias", "F32", vec![2], f32s(&[0.01, 0.02])),
    ]
}

#[test]
fn healthy_state_dict_has_no_findings() {
    assert!(codes(&safetensors(&healthy())).is_empty());
}

#[test]
fn each_finding_fires() {
    let with = |name: &str, dtype: &'static str, shape: Vec<u64>, data: Vec<u8>| {
        let mut t = healthy();
        t.retain(|x| x.0 != name);
        let name: &'static str = Box::leak(name.to_string().into_boxed_str());
        t.push((name, dtype, shape, data));
        safetensors(&t)
    };
    // Non-finite.
    let mut w = vec![0.01f32; 8];
    w[3] = f32::NAN;
    assert!(codes(&with("fc2.weight", "F32", vec![2, 4], f32s(&w))).contains(&"CKP001".into()));
    // Exploded: std ~ 50 against He std sqrt(2/4) = 0.7.
    let w: Vec<f32> = (0..8)
        .map(|i| if i % 2 == 0 { 50.0 } else { -50.0 })
        .collect();
    assert!(codes(&with("fc2.weight", "F32", vec![2, 4], f32s(&w))).contains(&"CKP002".into()));
    // All zeros.
    assert!(
        codes(&with("fc2.weight", "F32", vec![2, 4], f32s(&[0.0; 8]))).contains(&"CKP004".into())
    );
    // Dead filter: one output row of fc1 with ~0 norm.
    let mut w1: Vec<f32> = (0..32)
        .map(|i| ((i * 7 % 11) as f32 - 5.0) * 0.05 + 0.01)
        .collect();
    for x in &mut w1[8..16] {
        *x = 0.0;
    }
    assert!(codes(&with("fc1.weight", "F32", vec![4, 8], f32s(&w1))).contains(&"CKP005".into()));
    // Dead ReLU unit in fc2 (not the first layer): row 0 all <= 0 with bias <= 0.
    let w2 = [-0.1f32, -0.2, -0.3, -0.1, 0.2, -0.1, 0.3, 0.1];
    let mut t = healthy();
    t.retain(|x| !x.0.starts_with("fc2"));
    t.push(("fc2.weight", "F32", vec![2, 4], f32s(&w2)));
    t.push(("fc2.bias", "F32", vec![2], f32s(&[-0.5, 0.1])));
    assert!(codes(&safetensors(&t)).contains(&"CKP006".into()));
    // Mixed dtypes and float16 at its limit.
    let c = codes(&with(
        "fc2.weight",
        "F16",
        vec![2, 4],
        f16s(&[65504.0, 0.1, -0.2, 0.3, 0.1, 0.2, -0.1, 0.05]),
    ));
    assert!(
        c.contains(&"CKP007".into()) && c.contains(&"CKP008".into()),
        "{c:?}"
    );
}

#[test]
fn batchnorm_statistics_and_gamma() {
    let mut t = healthy();
    t.push(("bn.weight", "F32", vec![4], f32s(&[1.0, 0.0, 0.9, 1.1])));
    t.push(("bn.bias", "F32", vec![4], f32s(&[0.0; 4])));
    t.push((
        "bn.running_mean",
        "F32",
        vec![4],
        f32s(&[0.1, 0.2, 5e4, 0.0]),
    ));
    t.push((
        "bn.running_var",
        "F32",
        vec![4],
        f32s(&[1.0, 2e7, 1.0, 1.0]),
    ));
    let c = codes(&safetensors(&t));
    assert!(
        c.contains(&"CKP003".into()) && c.contains(&"CKP005".into()),
        "{c:?}"
    );
}

#[test]
fn diff_finds_the_layer_that_trained() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.safetensors");
    let b = dir.path().join("b.safetensors");
    std::fs::write(&a, safetensors(&healthy())).unwrap();
    let mut t = healthy();
    // Fine-tune only fc2, with a "module." prefix as DDP writes it.
    let renamed: Vec<(&str, &str, Vec<u64>, Vec<u8>)> = t
        .drain(..)
        .map(|(n, d, s, mut v)| {
            if n.starts_with("fc2.weight") {
                v = f32s(&[0.3, -0.1, 0.2, 0.0, 0.1, 0.2, -0.2, 0.1]);
            }
            let n: &'static str = Box::leak(format!("module.{n}").into_boxed_str());
            (n, d, s, v)
        })
        .collect();
    std::fs::write(&b, safetensors(&renamed)).unwrap();
    let r = diff::diff(&ckpt::load(&a).unwrap(), &ckpt::load(&b).unwrap()).unwrap();
    assert_eq!(r.matched, 4);
    assert_eq!(r.layers[0].name, "fc2");
    assert!(r.layers[0].relative_drift > 0.1);
    let fc1 = r.layers.iter().find(|l| l.name == "fc1").unwrap();
    assert!(fc1.frozen && fc1.relative_drift == 0.0);
    assert_eq!(r.frozen_params, 36);
}

#[test]
fn embedding_tables_at_unit_scale_are_not_exploded() {
    // nn.Embedding's default init is N(0, 1); a 4096 x 256 table at std 1 is healthy,
    // although a Linear of that shape at std 1 would be 11x its He scale.
    let n = 4096 * 256;
    let v: Vec<f32> = (0..n)
        .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    let mut t = healthy();
    t.push(("tok.weight", "F32", vec![4096, 256], f32s(&v)));
    assert!(!codes(&safetensors(&t)).contains(&"CKP002".into()));
    let mut t = healthy();
    t.push(("proj.weight", "F32", vec![256, 4096], f32s(&v)));
    assert!(codes(&safetensors(&t)).contains(&"CKP002".into()));
}
