use std::collections::HashSet;

use mleng_diagnostics::{Area, Fix, Severity};
use mleng_python::index::literals::dotted;
use mleng_python::SemanticIndex;
use ruff_python_ast::Expr;
use ruff_text_size::Ranged;

use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "ARC009",
    name: "non-torch-op-in-forward",
    area: Area::Architecture,
    severity: Severity::Warning,
    fixable: false,
    summary: "NumPy on tensors (`.numpy()`, `np.*(x)`) inside `forward` cuts the autograd graph and forces a GPU->CPU copy.",
    docs: r#"## What it does
Finds, inside the `forward` method of an `nn.Module`, the output of one of the module's own
layers (or a value computed from it with `torch` functions or tensor methods) turned into
NumPy: `h.detach().cpu().numpy()`, or a NumPy function applied to it (`np.exp(h)`).
Conversions of `forward`'s input (inference wrappers feeding an ONNX/TensorFlow backend, size
tensors) are not reported: they cut no path to the module's parameters.

Code under `with torch.no_grad():` in `forward` is still reported: the conversion cuts the
graph there too.

## Why is this bad?
NumPy arrays are outside autograd. A tensor that requires grad raises
`RuntimeError: Can't call numpy() on Tensor that requires grad`; after `.detach()` it works but
no gradient flows back through that path, so every layer before it stops learning from that
branch, silently. A CUDA tensor must first be copied to the host (`.cpu()`), which synchronizes
the device every forward pass, and `torch.compile` / CUDA graphs break the graph there. The
PyTorch equivalents (`torch.exp`, `x.mean()`) run on the tensor's device and are
differentiable.

## Example
```python
def forward(self, x):
    h = self.encoder(x)
    w = np.exp(h.detach().cpu().numpy())
    return self.head(torch.from_numpy(w).to(x.device))
```

## Use instead
```python
def forward(self, x):
    h = self.encoder(x)
    return self.head(torch.exp(h))
```

## References
- `torch.Tensor.numpy` ("tensors that require grad must be detached"; shares memory, CPU only): <https://pytorch.org/docs/stable/generated/torch.Tensor.numpy.html>
- PyTorch autograd mechanics (operations outside torch are not recorded): <https://pytorch.org/docs/stable/notes/autograd.html>
- PyTorch performance tuning guide, "Avoid unnecessary CPU-GPU synchronization": <https://pytorch.org/tutorials/recipes/recipes/tuning_guide.html#avoid-unnecessary-cpu-gpu-synchronization>
"#,
    check,
};

fn check(ctx: &mut Context) {
    let index = ctx.index;
    for (class_id, class) in index.classes.iter().enumerate() {
        if !class.is_module {
            continue;
        }
        let Some(forward) = index.method(class_id, "forward") else {
            continue;
        };
        let tensors = layer_outputs(index, class_id, forward);
        let mut reported = HashSet::new();
        for (_, call) in index.calls_in_function(forward) {
            let numpy_on_output = call.method == Some("numpy")
                && call.expr.arguments.is_empty()
                && matches!(call.expr.func.as_ref(), Expr::Attribute(a) if derived(index, class_id, &tensors, &a.value));
            if numpy_on_output {
                let text = ctx.text(call.range()).to_string();
                if !reported.insert(call.range()) {
                    continue;
                }
                let message = format!(
                    "`{text}` in `{}.forward` turns a tensor into a NumPy array: no gradient flows back through it (a tensor that requires grad raises), and a CUDA tensor is copied to the host every forward pass",
                    class.name
                );
                let fix = Fix::new("Keep the computation in torch (torch.* functions and tensor methods run on the device and are differentiable)");
                ctx.report(call.range(), message, Some(fix));
                continue;
            }
            let Some(q) = call.qualified.as_deref() else {
                continue;
            };
            let Some(func) = q.strip_prefix("numpy.") else {
                continue;
            };
            let on_tensor = call
                .expr
                .arguments
                .args
                .iter()
                .find(|a| derived(index, class_id, &tensors, a));
            let Some(arg) = on_tensor else {
                continue;
            };
            // `np.exp(h.cpu().numpy())`: the `.numpy()` inside is the finding.
            if matches!(arg, Expr::Call(inner) if matches!(inner.func.as_ref(), Expr::Attribute(a) if a.attr.as_str() == "numpy"))
            {
                continue;
            }
            if !reported.insert(call.range()) {
                continue;
            }
            let arg_text = ctx.text(arg.range()).to_string();
            let call_text = ctx.text(call.range()).to_string();
            let func_text = ctx.text(call.expr.func.range()).to_string();
            let message = format!(
                "`{call_text}` in `{}.forward` applies NumPy to the tensor `{arg_text}`: autograd does not record it (no gradient flows back; a tensor that requires grad raises) and a CUDA tensor is copied to the host",
                class.name
            );
            let torch_name = match func {
                "concatenate" => "cat".to_string(),
                "power" => "pow".to_string(),
                "absolute" => "abs".to_string(),
                other => other.to_string(),
            };
            let example = call_text.replacen(&func_text, &format!("torch.{torch_name}"), 1);
            let fix = Fix::new(format!("Use the torch function: `torch.{torch_name}`"))
                .with_example(example);
            ctx.report(call.range(), message, Some(fix));
        }
    }
}

/// Names in `forward` that hold the output of one of the module's layers: assigned from
/// `self.<layer>(...)`, or from a `torch.*` call or a tensor method on such a name (in order).
/// The module's own input is left out: converting it (an inference wrapper feeding an ONNX or
/// TensorFlow backend, a size tensor) cuts no path to this module's parameters.
fn layer_outputs(index: &SemanticIndex, class: usize, forward: usize) -> HashSet<String> {
    let mut names: HashSet<String> = HashSet::new();
    let mut bindings: Vec<_> = index
        .bindings
        .iter()
        .filter(|b| b.function == Some(forward))
        .collect();
    bindings.sort_by_key(|b| b.range.start());
    for binding in bindings {
        if derived(index, class, &names, binding.value) {
            names.insert(binding.target.clone());
        }
    }
    names
}

/// Whether `expr` is a layer output: `self.<layer>(...)`, a name holding one, a method chain,
/// subscript or `torch.*` call on one.
fn derived(index: &SemanticIndex, class: usize, names: &HashSet<String>, expr: &Expr) -> bool {
    match expr {
        Expr::Name(name) => names.contains(name.id.as_str()),
        Expr::Attribute(attr) => derived(index, class, names, &attr.value),
        Expr::Subscript(sub) => derived(index, class, names, &sub.value),
        Expr::Call(call) => {
            let layer = dotted(&call.func)
                .as_deref()
                .and_then(|d| d.strip_prefix("self."))
                .is_some_and(|attr| index.layer(class, attr).is_some());
            if layer {
                return true;
            }
            if let Expr::Attribute(attr) = call.func.as_ref() {
                if derived(index, class, names, &attr.value) {
                    return true;
                }
            }
            index
                .qualified_name(&call.func)
                .is_some_and(|q| q.starts_with("torch."))
                && call
                    .arguments
                    .args
                    .iter()
                    .any(|a| derived(index, class, names, a))
        }
        Expr::BinOp(op) => {
            derived(index, class, names, &op.left) || derived(index, class, names, &op.right)
        }
        _ => false,
    }
}
