use mleng_diagnostics::{Applicability, Area, Fix, Severity};
use mleng_knowledge::performance::TENSOR_FACTORIES;
use mleng_python::index::literals::{dotted, unchain};
use mleng_python::index::FunctionId;
use ruff_python_ast::{Expr, ExprCall};
use ruff_text_size::{Ranged, TextSize};

use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "PRF010",
    name: "tensor-from-tensor",
    area: Area::Performance,
    severity: Severity::Info,
    fix: Some(Applicability::Safe),
    summary: "`torch.tensor(t)` on a value that is already a tensor: it copies the data and PyTorch warns; `t.detach().clone()` says the same, `torch.as_tensor(t)` avoids the copy.",
    docs: r#"## What it does
Finds `torch.tensor(x)` where `x` is known to be a tensor: the result of a tensor factory
(`torch.randn(...)`, `torch.from_numpy(...)`, `torch.stack(...)`, `torch.tensor(...)`, also
through `.to(device)` / `.float()`), written in the call itself or assigned to `x` earlier in
the same function on every path to the call, or a parameter annotated `torch.Tensor` without
a default (and not reassigned before). A call under a type check (`if not isinstance(x,
torch.Tensor):`, `torch.tensor(x) if isinstance(x, list) else x`) is not reported: the code
does not trust the annotation.

Off by default: its first version was wrong on 8 of its 10 findings on the 139 repositories
and the PyPI corpus (conversions guarded by `isinstance`); after excluding those one finding
was left, too few to measure its precision. Select it with `--select PRF010`.

## Why is this bad?
`torch.tensor()` always copies its data. Given a tensor it copies it, detaches the copy from
the autograd graph, and emits `UserWarning: To copy construct from a tensor, it is recommended
to use sourceTensor.clone().detach() or sourceTensor.clone().detach().requires_grad_(True),
rather than torch.tensor(sourceTensor)`. When a copy is not needed (converting a value that
may be a list or a tensor), the copy is wasted time and memory, once per call: in a data
pipeline or a training step that is every sample or every step. When the copy is meant,
`x.detach().clone()` says so without the warning.

The effect is documented (the `torch.tensor` reference); it was not measured here (no GPU).

## Example
```python
def normalize(x: torch.Tensor) -> torch.Tensor:
    x = torch.tensor(x, dtype=torch.float32)
    return (x - x.mean()) / x.std()
```

## Use instead
```python
def normalize(x: torch.Tensor) -> torch.Tensor:
    x = torch.as_tensor(x, dtype=torch.float32)  # no copy when it already is float32
    return (x - x.mean()) / x.std()
```

## Fix
Safe: `torch.tensor(x)` with no other argument becomes `x.detach().clone()`, which PyTorch
documents as the equivalent (same values, dtype and device, a new tensor outside the autograd
graph). With `dtype`, `device` or `requires_grad` the finding only suggests `torch.as_tensor`
(which shares memory when nothing changes: not the same behaviour when either side is then
modified in place) or `x.detach().clone().to(...)`.

## References
- `torch.tensor` ("When data is a tensor x, torch.tensor() reads out 'the data' from whatever it is passed, and constructs a leaf variable... `torch.tensor(x)` is equivalent to `x.clone().detach()`"): <https://pytorch.org/docs/stable/generated/torch.tensor.html>
- `torch.as_tensor` (no copy when the dtype and device already match): <https://pytorch.org/docs/stable/generated/torch.as_tensor.html>
"#,
    check,
};

/// A call that builds a tensor: a factory of the table, under `.to(...)`, `.float()`, ...
fn builds_tensor(ctx: &Context, call: &ExprCall) -> bool {
    ctx.index
        .qualified_name(&unchain(call).func)
        .is_some_and(|q| TENSOR_FACTORIES.contains(&q.as_str()))
}

/// `name` is a parameter of `function` annotated `torch.Tensor` (or `Tensor` imported from
/// torch) without a default (`x: torch.Tensor = None` says the value may be something else).
fn tensor_parameter(ctx: &Context, function: FunctionId, name: &str) -> bool {
    let params = &ctx.index.functions[function].def.parameters;
    params
        .posonlyargs
        .iter()
        .chain(&params.args)
        .chain(&params.kwonlyargs)
        .filter(|p| p.parameter.name.as_str() == name && p.default.is_none())
        .filter_map(|p| p.parameter.annotation.as_deref())
        .any(|a| ctx.index.qualified_name(a).as_deref() == Some("torch.Tensor"))
}

/// The call runs under a type check (`if not isinstance(x, torch.Tensor): x = torch.tensor(x)`,
/// `if torch.is_tensor(x)`): the code does not trust the annotation, nor should we.
fn type_checked(ctx: &Context, call: &ExprCall) -> bool {
    let checks = |text: &str| {
        text.contains("isinstance") || text.contains("is_tensor") || text.contains("type(")
    };
    let source = ctx.index.source;
    let line = source.lines.line_of(call.range().start());
    checks(source.lines.line_text(&source.text, line))
        || ctx
            .index
            .flow
            .guards(call.range())
            .any(|(block, _)| checks(ctx.text(block.test.range())))
}

/// `x` is known to be a tensor at `at` in `function`.
fn is_tensor(ctx: &Context, x: &Expr, function: Option<FunctionId>, at: TextSize) -> bool {
    let index = ctx.index;
    match x {
        Expr::Call(call) => builds_tensor(ctx, call),
        Expr::Name(name) => {
            // The assignment that reaches `at`, on every path to it (not one branch of an
            // `if` that converts only sometimes).
            let last = index.binding_before(function, name.id.as_str(), at);
            match last {
                Some(b) => {
                    index.flow.same_path(b.range, at)
                        && matches!(b.value, Expr::Call(c) if builds_tensor(ctx, c))
                }
                None => function.is_some_and(|f| tensor_parameter(ctx, f, name.id.as_str())),
            }
        }
        _ => false,
    }
}

fn check(ctx: &mut Context) {
    let index = ctx.index;
    if ctx.is_test_file() {
        return;
    }
    for call in &index.calls {
        if call.qualified.as_deref() != Some("torch.tensor") {
            continue;
        }
        let [x] = call.expr.arguments.args.as_ref() else {
            continue;
        };
        if type_checked(ctx, call.expr) || !is_tensor(ctx, x, call.function, call.start()) {
            continue;
        }
        let written = ctx.text(x.range());
        let message = format!(
            "`{written}` is already a tensor: `torch.tensor()` copies it (and PyTorch warns to use `.clone().detach()` instead)"
        );
        let simple = dotted(x).is_some();
        let fix = if call.expr.arguments.keywords.is_empty() {
            let receiver = if simple {
                written.to_string()
            } else {
                format!("({written})")
            };
            Fix::new("Copy it explicitly, or use `torch.as_tensor` if no copy is needed")
                .with_replacement(format!("{receiver}.detach().clone()"))
        } else {
            Fix::new(
                "Use `torch.as_tensor(...)` (no copy when dtype and device already match) or `.detach().clone().to(...)` when a copy is meant",
            )
        };
        ctx.report(call.range(), message, Some(fix));
    }
}
