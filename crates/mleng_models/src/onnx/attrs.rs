//! Typed access to a node's attributes.

use super::proto::{AttributeProto, NodeProto, TensorProto};

fn find<'a>(node: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    node.attribute
        .iter()
        .find(|a| a.name.as_deref() == Some(name))
}

pub fn int(node: &NodeProto, name: &str) -> Option<i64> {
    find(node, name).and_then(|a| a.i)
}

pub fn ints(node: &NodeProto, name: &str) -> Option<Vec<i64>> {
    find(node, name).map(|a| a.ints.clone())
}

pub fn float(node: &NodeProto, name: &str) -> Option<f32> {
    find(node, name).and_then(|a| a.f)
}

pub fn string(node: &NodeProto, name: &str) -> Option<String> {
    find(node, name)
        .and_then(|a| a.s.as_ref())
        .map(|s| String::from_utf8_lossy(s).into_owned())
}

pub fn tensor<'a>(node: &'a NodeProto, name: &str) -> Option<&'a TensorProto> {
    find(node, name).and_then(|a| a.t.as_ref())
}
