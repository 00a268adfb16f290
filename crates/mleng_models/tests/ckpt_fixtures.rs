//! Checkpoint readers against the real files in `shared/fixtures/ckpt`: the safetensors and
//! the torch.save zip of the same state dict must give the same tensors, bit for bit.

use std::path::PathBuf;

use mleng_models::ckpt::{self, diff, review};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures/ckpt"
    ))
    .join(name)
}

#[test]
fn pt_and_safetensors_agree() {
    let st = ckpt::load(&fixture("smallcnn_healthy.safetensors")).unwrap();
    let pt = ckpt::load(&fixture("smallcnn_healthy.pt")).unwrap();
    assert_eq!(st.tensors.len(), pt.tensors.len());
    let rs = review::analyze(&st).unwrap();
    let rp = review::analyze(&pt).unwrap();
    assert_eq!(rs.parameter_elements, rp.parameter_elements);
    for t in &rp.tensors {
        let s = rs.tensors.iter().find(|s| s.name == t.name).unwrap();
        assert_eq!(
            (s.dtype, &s.shape, s.zeros),
            (t.dtype, &t.shape, t.zeros),
            "{}",
            t.name
        );
        assert_eq!(s.mean.to_bits(), t.mean.to_bits(), "{}", t.name);
        assert_eq!(s.l2.to_bits(), t.l2.to_bits(), "{}", t.name);
    }
    let d = diff::diff(&st, &pt).unwrap();
    assert_eq!(
        d.matched,
        st.tensors.iter().filter(|t| t.dtype.is_float()).count()
    );
    assert!(d.layers.iter().all(|l| l.relative_drift == 0.0));
    // The same SmallCNN as the ONNX fixtures, whose truth files say params = 151658.
    assert_eq!(rp.parameter_elements, 151_658);
    println!(
        "{} tensors, {} weight elements",
        rp.tensor_count, rp.parameter_elements
    );
    for f in &rp.findings {
        println!("{} {} {}", f.code, f.severity, f.message);
    }
    // A converged, healthy model: nothing alarming.
    assert!(rp
        .findings
        .iter()
        .all(|f| f.severity < mleng_diagnostics::Severity::Error));
}

#[test]
fn bf16_file_reads_as_bfloat16() {
    let r = review::inspect_path(&fixture("tiny_bf16.safetensors")).unwrap();
    assert_eq!(r.tensor_count, 6);
    assert!(r.tensors.iter().all(|t| t.dtype == ckpt::DType::BF16));
    assert_eq!(r.parameter_elements, 64 + 64 * 64 + 64 + 64 + 10 + 640);
    assert!(r
        .tensors
        .iter()
        .all(|t| t.non_finite() == 0 && t.std.is_finite()));
}
