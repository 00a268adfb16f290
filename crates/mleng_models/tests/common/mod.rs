//! Builders for small model files written by following the format specs, so the hostile and
//! finding tests do not depend on Python.
#![allow(dead_code)]

use std::io::Write;

use mleng_models::onnx::proto::{
    GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto, TensorProto,
};
use prost::Message;

/// safetensors bytes: 8-byte LE header length, JSON header, data (tensors in order).
pub fn safetensors(tensors: &[(&str, &str, Vec<u64>, Vec<u8>)]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (name, dtype, shape, bytes) in tensors {
        let begin = data.len();
        data.extend_from_slice(bytes);
        header.insert(
            name.to_string(),
            serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [begin, data.len()]}),
        );
    }
    raw_safetensors(&serde_json::Value::Object(header).to_string(), &data)
}

pub fn raw_safetensors(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

pub fn f32s(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub fn f16s(v: &[f32]) -> Vec<u8> {
    v.iter()
        .flat_map(|x| half::f16::from_f32(*x).to_le_bytes())
        .collect()
}

/// A PyTorch-style zip checkpoint with the given pickle and storages, entries stored
/// uncompressed under `archive/` as `torch.save` writes them.
pub fn torch_zip(pickle: &[u8], storages: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        z.start_file("archive/data.pkl", opts).unwrap();
        z.write_all(pickle).unwrap();
        for (key, data) in storages {
            z.start_file(format!("archive/data/{key}"), opts).unwrap();
            z.write_all(data).unwrap();
        }
        z.start_file("archive/version", opts).unwrap();
        z.write_all(b"3\n").unwrap();
        z.finish().unwrap();
    }
    buf.into_inner()
}

/// Protocol-2 pickle of `{name: _rebuild_tensor_v2(storage(key, FloatStorage, n), 0, (n,), (1,), False, OrderedDict())}`.
pub fn state_dict_pickle(name: &str, key: &str, n: u8) -> Vec<u8> {
    let mut p = b"\x80\x02}q\x00(".to_vec();
    p.push(b'X');
    p.extend((name.len() as u32).to_le_bytes());
    p.extend(name.as_bytes());
    p.extend(
        b"ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\n",
    );
    p.push(b'X');
    p.extend((key.len() as u32).to_le_bytes());
    p.extend(key.as_bytes());
    p.extend(b"X\x03\x00\x00\x00cpuK");
    p.push(n);
    p.extend(b"tQK\x00K");
    p.push(n);
    p.extend(b"\x85K\x01\x85\x89ccollections\nOrderedDict\n)RtRu.");
    p
}

pub fn tensor(name: &str, dims: &[i64], floats: &[f32]) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(1),
        float_data: floats.to_vec(),
        ..Default::default()
    }
}

pub fn external_tensor(name: &str, dims: &[i64], location: &str, length: u64) -> TensorProto {
    let kv = |k: &str, v: &str| StringStringEntryProto {
        key: Some(k.into()),
        value: Some(v.into()),
    };
    TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(1),
        data_location: Some(1),
        external_data: vec![
            kv("location", location),
            kv("offset", "0"),
            kv("length", &length.to_string()),
        ],
        ..Default::default()
    }
}

pub fn node(op: &str, name: &str, inputs: &[&str], outputs: &[&str]) -> NodeProto {
    NodeProto {
        op_type: Some(op.into()),
        name: Some(name.into()),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

pub fn model(graph: GraphProto) -> Vec<u8> {
    ModelProto {
        ir_version: Some(8),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(18),
        }],
        producer_name: Some("mleng-tests".into()),
        graph: Some(graph),
        ..Default::default()
    }
    .encode_to_vec()
}

pub fn input(name: &str, dims: &[i64]) -> mleng_models::onnx::proto::ValueInfoProto {
    use mleng_models::onnx::proto::*;
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor {
                elem_type: Some(1),
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|&d| Dimension {
                            dim_value: (d >= 0).then_some(d),
                            dim_param: (d < 0).then(|| "batch".to_string()),
                        })
                        .collect(),
                }),
            }),
        }),
    }
}

/// `{"model": <state dict with one tensor>, "optimizer": {"state": {}, "lr": 0.1}, "epoch": 7}`
/// at protocol 2, the shape of a training checkpoint.
pub fn nested_checkpoint_pickle() -> Vec<u8> {
    let inner = state_dict_pickle("fc.weight", "0", 4);
    // Strip the inner pickle's PROTO header and STOP to embed its dict as a value.
    let body = &inner[2..inner.len() - 1];
    let mut p = b"\x80\x02}(X\x05\x00\x00\x00model".to_vec();
    p.extend_from_slice(body);
    p.extend(b"X\x09\x00\x00\x00optimizer}(X\x05\x00\x00\x00state}X\x02\x00\x00\x00lrG?\xb9\x99\x99\x99\x99\x99\x9auX\x05\x00\x00\x00epochK\x07u.");
    p
}
