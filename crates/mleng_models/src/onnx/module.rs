//! The PyTorch module a node came from, so tables say `layer1.0.conv1` instead of
//! `node_Conv_295`: from the weight it reads (`layer1.0.conv1.weight`, both exporters keep
//! parameter names where they did not rewrite the tensor), else from the TorchScript
//! exporter's scope name (`/layer1/layer1.0/conv1/Conv`).

use std::collections::HashMap;

use super::load::{op, OnnxModel};
use super::proto::NodeProto;

/// Ops that only re-lay a weight out (dynamo transposes Linear weights before MatMul).
const WEIGHT_VIEWS: &[&str] = &["Identity", "Transpose", "Cast", "Reshape", "Unsqueeze"];

pub struct Namer<'a> {
    model: &'a OnnxModel,
    producer: HashMap<&'a str, &'a NodeProto>,
    consumers: HashMap<&'a str, Vec<&'a NodeProto>>,
}

impl<'a> Namer<'a> {
    pub fn new(model: &'a OnnxModel) -> Namer<'a> {
        let mut producer = HashMap::new();
        let mut consumers: HashMap<&str, Vec<&NodeProto>> = HashMap::new();
        for n in &model.graph.node {
            for o in &n.output {
                producer.insert(o.as_str(), n);
            }
            for i in &n.input {
                consumers.entry(i.as_str()).or_default().push(n);
            }
        }
        Namer {
            model,
            producer,
            consumers,
        }
    }

    /// The stored tensor behind `value`, looking through layout-only ops.
    fn weight_name(&self, value: &'a str) -> Option<&'a str> {
        let mut cur = value;
        for _ in 0..8 {
            // An Identity alias (TorchScript's deduplication of equal tensors) carries the
            // parameter's own name; the tensor it aliases belongs to another layer.
            let named =
                (cur.ends_with(".weight") || cur.ends_with(".bias")) && !cur.starts_with("onnx::");
            if named || self.model.initializer(cur).is_some() {
                return Some(cur);
            }
            let p = self.producer.get(cur)?;
            if !WEIGHT_VIEWS.contains(&op(p)) {
                return None;
            }
            cur = p.input.first()?;
        }
        None
    }

    pub fn module(&self, node: &'a NodeProto) -> Option<String> {
        for input in node.input.iter().skip(1) {
            if let Some(w) = self.weight_name(input) {
                if let Some(m) = w.strip_suffix(".weight") {
                    if !w.starts_with("onnx::") {
                        return Some(m.to_string());
                    }
                }
            }
        }
        // dynamo stores a Linear's weight pre-transposed under a generated name (`val_73`);
        // the bias added right after still carries the module's name.
        let out = node.output.first()?;
        for c in self.consumers.get(out.as_str()).into_iter().flatten() {
            if op(c) != "Add" {
                continue;
            }
            for i in &c.input {
                // A bias shared by several layers was deduplicated (identical values) and
                // names only the first of them.
                if self.consumers.get(i.as_str()).map_or(0, Vec::len) != 1 {
                    continue;
                }
                if let Some(m) = self.weight_name(i).and_then(|b| b.strip_suffix(".bias")) {
                    if !m.starts_with("onnx::") {
                        return Some(m.to_string());
                    }
                }
            }
        }
        node.name.as_deref().and_then(scope_path)
    }
}

/// `/layer1/layer1.0/downsample/downsample.0/Conv` -> `layer1.0.downsample.0`: each scope
/// segment is either a child attribute or the previous segment's name with `.index`.
pub fn scope_path(name: &str) -> Option<String> {
    let rest = name.strip_prefix('/')?;
    let mut segments: Vec<&str> = rest.split('/').collect();
    segments.pop()?; // the op-specific tail, e.g. `Conv` or `Conv_1`
    let mut path = String::new();
    let mut last = "";
    for s in segments {
        if s.is_empty() {
            return None;
        }
        match s.strip_prefix(last).and_then(|x| x.strip_prefix('.')) {
            Some(suffix) if !last.is_empty() => {
                path.push('.');
                path.push_str(suffix);
            }
            _ => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(s);
            }
        }
        last = s;
    }
    (!path.is_empty()).then_some(path)
}

#[cfg(test)]
mod tests {
    use super::scope_path;

    #[test]
    fn scope_paths() {
        let p = |s| scope_path(s);
        assert_eq!(
            p("/layer1/layer1.0/downsample/downsample.0/Conv").as_deref(),
            Some("layer1.0.downsample.0")
        );
        assert_eq!(
            p("/blocks/blocks.0/mlp/fc1/MatMul").as_deref(),
            Some("blocks.0.mlp.fc1")
        );
        assert_eq!(p("/conv1/Conv").as_deref(), Some("conv1"));
        assert_eq!(p("/Conv").as_deref(), None);
        assert_eq!(p("node_Conv_295"), None);
    }
}
