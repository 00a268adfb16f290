use std::collections::HashSet;

use mleng_diagnostics::{Area, Fix, Severity};
use mleng_python::index::literals::dotted;
use mleng_python::SemanticIndex;
use ruff_python_ast::Expr;
use ruff_text_size::{Ranged, TextSize};

use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "ARC009",
    name: "non-torch-op-in-forward",
    area: Area::Architecture,
    severity: Severity::Warning,
    fix: None,
    summary: "NumPy, `.item()`, `.tolist()`, `.cpu()` or Python `float()`/`int()` on a layer output inside `forward`: cuts the autograd graph and/or forces a GPU->CPU sync.",
    docs: r#"## What it does
Finds, inside the `forward` method of an `nn.Module`, the output of one of the module's own
layers (or a value computed from it with `torch` functions or tensor methods) turned into
NumPy: `h.detach().cpu().numpy()`, or a NumPy function applied to it (`np.exp(h)`).
Conversions of `forward`'s input (inference wrappers feeding an ONNX/TensorFlow backend, size
tensors) are not reported: they cut no path to the module's parameters.

It also finds a layer output turned into Python values on the training path: `.item()`,
`.tolist()`, `float(h)` / `int(h)`, and a standalone `.cpu()` copy. Shapes are not tensors
(`h.size(0)`, `int(h.shape[1])`, `int(self.num_heads)` are fine), nor are indices (`argmax`,
`topk`, `nonzero` results carry no gradient). Code that runs only when not training is left
alone: a branch under `if not self.training:`, `torch.jit.is_scripting()`, `is_tracing()`,
`torch.onnx.is_in_onnx_export()` or an export flag, code after an `if self.training: return`,
and, for these scalar conversions, a `forward` decorated `@torch.no_grad()` /
`@torch.inference_mode()` or code under `with torch.no_grad():` (logging statistics).

NumPy conversions under `with torch.no_grad():` in `forward` are still reported: the conversion
cuts the graph there too.

## Why is this bad?
NumPy arrays are outside autograd. A tensor that requires grad raises
`RuntimeError: Can't call numpy() on Tensor that requires grad`; after `.detach()` it works but
no gradient flows back through that path, so every layer before it stops learning from that
branch, silently. A CUDA tensor must first be copied to the host (`.cpu()`), which synchronizes
the device every forward pass, and `torch.compile` / CUDA graphs break the graph there. The
PyTorch equivalents (`torch.exp`, `x.mean()`) run on the tensor's device and are
differentiable. `.item()` and `float()` are the same in smaller form: the value becomes a Python
constant, so whatever it scales gets no gradient with respect to it, and each call blocks the
CPU until the GPU has finished all queued work (PyTorch's tuning guide lists `.item()`,
`.tolist()` and `.cpu()` among the calls that synchronize).

## Example
```python
def forward(self, x):
    h = self.encoder(x)
    w = np.exp(h.detach().cpu().numpy())
    return self.head(torch.from_numpy(w).to(x.device))
```

```python
def forward(self, x):
    g = torch.sigmoid(self.gate(x)).mean()
    return self.head(x) * g.item()
```

## Use instead
```python
def forward(self, x):
    h = self.encoder(x)
    return self.head(torch.exp(h))
```
```python
def forward(self, x):
    g = torch.sigmoid(self.gate(x)).mean()
    return self.head(x) * g  # stays a tensor: differentiable, no sync
```

## Known problems
Only values computed from the module's own layers are followed, within `forward`; a
conversion in a helper method, or of a tensor that came in as an argument, is not reported.
A `.cpu()` that moves work to an operator without a GPU kernel is deliberate; suppress it there.
A standalone `.cpu()` in a file that uses `torch.distributed.rpc` is not reported: RPC sends CPU
tensors unless TensorPipe device maps are configured (PyTorch RPC docs), so model shards copy
their outputs to the host on purpose.

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
        let no_grad_forward = decorated_no_grad(index, forward);
        let forward_range = index.functions[forward].def.range();
        // Receivers of `.numpy()`/`.item()`/`.tolist()`: a `.cpu()` inside one is part of that
        // conversion and reported with it.
        let converted: Vec<_> = index
            .calls_in_function(forward)
            .filter(|(_, c)| matches!(c.method, Some("numpy" | "item" | "tolist")))
            .filter_map(|(_, c)| match c.expr.func.as_ref() {
                Expr::Attribute(a) => Some(a.value.range()),
                _ => None,
            })
            .collect();
        for (_, call) in index.calls_in_function(forward) {
            if outside_training_path(ctx, forward_range, call.range()) {
                continue;
            }
            let before: HashSet<String> = tensors
                .iter()
                .filter(|name| first_bound_before(index, forward, name, call.start()))
                .cloned()
                .collect();
            if let Some(what) = scalar_conversion(index, class_id, &before, call, &converted) {
                if no_grad_forward || under_no_grad(index, call.range()) {
                    continue;
                }
                // Over `torch.distributed.rpc` a module shard hands its output to the next
                // worker, and RPC sends CPU tensors unless device maps are set up: the copy is
                // the protocol, not an accident.
                if matches!(what, Conversion::Cpu) && uses_rpc(index) {
                    continue;
                }
                if !reported.insert(call.range()) {
                    continue;
                }
                let text = ctx.text(call.range()).to_string();
                let (message, fix) = scalar_message(&text, class.name, what);
                ctx.report(call.range(), message, Some(fix));
                continue;
            }
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

/// What a call does to a layer output that leaves the device or the graph.
/// The file imports `torch.distributed.rpc` (or names from it).
fn uses_rpc(index: &SemanticIndex) -> bool {
    index.imports.values().any(|q| {
        q.starts_with("torch.distributed.rpc") || q.starts_with("torch.distributed.autograd")
    })
}

#[derive(Debug, Clone, Copy)]
enum Conversion {
    /// `.item()`, `float(t)`, `int(t)`: a Python number.
    Scalar,
    /// `.tolist()`: Python lists.
    List,
    /// `.cpu()` on its own: a host copy.
    Cpu,
}

/// `.item()`, `.tolist()`, a standalone `.cpu()`, or `float(...)`/`int(...)` applied to a layer
/// output (not to its shape: `h.size(0)`, `h.shape[-1]` are Python ints already).
fn scalar_conversion(
    index: &SemanticIndex,
    class: usize,
    tensors: &HashSet<String>,
    call: &mleng_python::index::Call,
    converted: &[ruff_text_size::TextRange],
) -> Option<Conversion> {
    let receiver_derived = || matches!(call.expr.func.as_ref(), Expr::Attribute(a) if derived(index, class, tensors, &a.value));
    match call.method {
        Some("item") if call.expr.arguments.is_empty() && receiver_derived() => {
            Some(Conversion::Scalar)
        }
        Some("tolist") if call.expr.arguments.is_empty() && receiver_derived() => {
            Some(Conversion::List)
        }
        Some("cpu")
            if receiver_derived() && !converted.iter().any(|r| r.contains_range(call.range())) =>
        {
            Some(Conversion::Cpu)
        }
        _ => {
            let Expr::Name(func) = call.expr.func.as_ref() else {
                return None;
            };
            if !matches!(func.id.as_str(), "float" | "int") || call.expr.arguments.len() != 1 {
                return None;
            }
            let arg = call.arg(0)?;
            // `float(h.item())`: the `.item()` is the finding.
            let on_item = matches!(arg, Expr::Call(c) if matches!(c.func.as_ref(), Expr::Attribute(a) if matches!(a.attr.as_str(), "item" | "tolist")));
            (!on_item && derived(index, class, tensors, arg)).then_some(Conversion::Scalar)
        }
    }
}

fn scalar_message(text: &str, class: &str, what: Conversion) -> (String, Fix) {
    match what {
        Conversion::Scalar => (
            format!(
                "`{text}` in `{class}.forward` turns a layer output into a Python number: autograd stops there (the value becomes a constant for everything after it) and a CUDA tensor forces a device sync every forward pass"
            ),
            Fix::new("Keep it a tensor (index or reduce with torch ops: `h[..., 0]`, `h.mean()`); call `.item()` outside `forward`, e.g. for logging"),
        ),
        Conversion::List => (
            format!(
                "`{text}` in `{class}.forward` turns a layer output into Python lists: no gradient flows back through it and a CUDA tensor is copied to the host every forward pass"
            ),
            Fix::new("Keep the values as a tensor inside `forward`; convert to lists in post-processing"),
        ),
        Conversion::Cpu => (
            format!(
                "`{text}` in `{class}.forward` copies a layer output to the host every forward pass: a device sync that stalls the GPU (and breaks `torch.compile`/CUDA graphs)"
            ),
            Fix::new("Keep the computation on the tensor's device; move results to the CPU after `forward`"),
        ),
    }
}

/// `name` is bound in `forward` before `at` (the name set of [`layer_outputs`] ignores order;
/// a later `y = self.model(x)` must not make an earlier `y` a layer output).
fn first_bound_before(index: &SemanticIndex, forward: usize, name: &str, at: TextSize) -> bool {
    index
        .bindings
        .iter()
        .any(|b| b.function == Some(forward) && b.target == name && b.range.end() <= at)
}

/// `forward` decorated `@torch.no_grad()` / `@torch.inference_mode()`: nothing to cut.
fn decorated_no_grad(index: &SemanticIndex, forward: usize) -> bool {
    index.functions[forward].def.decorator_list.iter().any(|d| {
        let func = match &d.expression {
            Expr::Call(c) => c.func.as_ref(),
            other => other,
        };
        index
            .qualified_name(func)
            .is_some_and(|q| matches!(q.as_str(), "torch.no_grad" | "torch.inference_mode"))
    })
}

/// Inside `with torch.no_grad():` / `torch.inference_mode()`.
fn under_no_grad(index: &SemanticIndex, at: ruff_text_size::TextRange) -> bool {
    index.withs.iter().any(|w| {
        w.stmt.range.contains_range(at)
            && w.contexts
                .iter()
                .any(|q| matches!(q.as_deref(), Some("torch.no_grad" | "torch.inference_mode")))
    })
}

/// Whether `test` being `true` means a path that is not training: `not self.training`,
/// `torch.jit.is_scripting()`/`is_tracing()`, `torch.onnx.is_in_onnx_export()`, an export
/// flag (`self.export`); `Some(false)` for `self.training`; `None` for anything else.
fn non_training_when(ctx: &Context, test: &Expr) -> Option<bool> {
    match test {
        Expr::UnaryOp(u) if u.op == ruff_python_ast::UnaryOp::Not => {
            non_training_when(ctx, &u.operand).map(|b| !b)
        }
        Expr::BoolOp(b) if b.op == ruff_python_ast::BoolOp::And => b
            .values
            .iter()
            .any(|v| non_training_when(ctx, v) == Some(true))
            .then_some(true),
        Expr::BoolOp(b) if b.op == ruff_python_ast::BoolOp::Or => b
            .values
            .iter()
            .any(|v| non_training_when(ctx, v) == Some(false))
            .then_some(false),
        _ => {
            let text = ctx.text(test.range());
            if text == "self.training" || text.ends_with(".training") {
                return Some(false);
            }
            let special = [
                "is_scripting",
                "is_tracing",
                "is_in_onnx_export",
                "is_exporting",
                "is_compiling",
                "export",
            ];
            special.iter().any(|s| text.contains(s)).then_some(true)
        }
    }
}

/// `at` runs only when not training: inside an `if` branch taken when evaluating, scripting or
/// exporting, or after an earlier `if self.training: ... return` in `forward`.
fn outside_training_path(
    ctx: &Context,
    forward: ruff_text_size::TextRange,
    at: ruff_text_size::TextRange,
) -> bool {
    let flow = &ctx.index.flow;
    if flow
        .guards(at)
        .any(|(block, in_body)| non_training_when(ctx, block.test) == Some(in_body))
    {
        return true;
    }
    flow.ifs.iter().any(|block| {
        forward.contains_range(block.range)
            && block.range.end() <= at.start()
            && flow.exit_blocks.contains(&block.body)
            && non_training_when(ctx, block.test) == Some(false)
    })
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
        Expr::Attribute(attr) => {
            !NOT_TENSOR.contains(&attr.attr.as_str()) && derived(index, class, names, &attr.value)
        }
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
                if NOT_TENSOR.contains(&attr.attr.as_str()) {
                    return false;
                }
                if derived(index, class, names, &attr.value) {
                    return true;
                }
            }
            index.qualified_name(&call.func).is_some_and(|q| {
                q.starts_with("torch.")
                    && !NOT_TENSOR.contains(&q.rsplit('.').next().unwrap_or(q.as_str()))
            }) && call
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

/// Attributes and methods of a tensor that give Python values (shapes, metadata, scalars), not
/// tensors: `h.size(0)`, `h.shape[-1]`, `h.dtype`.
const NOT_TENSOR: &[&str] = &[
    "shape",
    "size",
    "dim",
    "ndim",
    "ndimension",
    "numel",
    "nelement",
    "dtype",
    "device",
    "is_cuda",
    "requires_grad",
    "stride",
    "is_contiguous",
    "element_size",
    "get_device",
    "data_ptr",
    "item",
    "tolist",
    // Index-valued results carry no gradient; turning them into Python ints for indexing or
    // choosing a branch is deliberate.
    "argmax",
    "argmin",
    "argsort",
    "topk",
    "nonzero",
];
