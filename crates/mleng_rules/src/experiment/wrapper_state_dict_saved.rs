use mleng_diagnostics::{Applicability, Area, Fix, Severity};
use mleng_python::index::literals::dotted;
use ruff_python_ast::Expr;
use ruff_text_size::Ranged;

use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "EXP014",
    name: "wrapper-state-dict-saved",
    area: Area::Experiment,
    severity: Severity::Warning,
    fix: Some(Applicability::Unsafe),
    summary: "The state_dict of a DataParallel/DistributedDataParallel wrapper is saved: every key gets a `module.` prefix that the bare model does not load.",
    docs: r#"## What it does
Finds `torch.save(model.state_dict(), ...)` where `model` is a `torch.nn.DataParallel` or
`DistributedDataParallel` wrapper: bound to one in the same function (also under `if n_gpu > 1:`),
or a parameter that every caller in the project passes a wrapper for. Saving
`model.module.state_dict()`, or code that checks for the wrapper (`hasattr(model, "module")`,
`isinstance(model, DataParallel)`, `accelerator.unwrap_model(model)`), is not reported.

## Why is this bad?
The wrapper registers the model as its submodule `module`, so its state dict names every
parameter `module.<name>`. The checkpoint then loads only into the same wrapper:
`load_state_dict` on the bare model (for inference, export, fine-tuning, or a run on one GPU)
fails with "Missing key(s) ... Unexpected key(s) module.conv1.weight ...", and users work around
it by renaming keys by hand. PyTorch's DDP tutorial saves `ddp_model.module.state_dict()` for
this reason (or loads with `consume_prefix_in_state_dict_if_present`).

## Example
```python
if torch.cuda.device_count() > 1:
    model = torch.nn.DataParallel(model)
...
torch.save(model.state_dict(), "checkpoint.pth")
```

## Use instead
```python
to_save = model.module if isinstance(model, torch.nn.DataParallel) else model
torch.save(to_save.state_dict(), "checkpoint.pth")
```

## Fix
Unsafe: `--unsafe-fixes` saves `model.module.state_dict()`. Right when the model is always
wrapped there; when the wrapper is conditional (`if n_gpu > 1:`), `.module` does not exist on
the bare model, so write the conditional form above instead.

## References
- PyTorch DDP tutorial, "Save and Load Checkpoints" (`ddp_model.module.state_dict()`): <https://pytorch.org/tutorials/intermediate/ddp_tutorial.html#save-and-load-checkpoints>
- `torch.nn.modules.utils.consume_prefix_in_state_dict_if_present`: <https://pytorch.org/docs/stable/generated/torch.nn.modules.utils.consume_prefix_in_state_dict_if_present.html>
"#,
    check,
};

/// The wrappers that put the model under a `module` attribute.
const WRAPPERS: &[&str] = &[
    "torch.nn.DataParallel",
    "torch.nn.parallel.DataParallel",
    "torch.nn.parallel.DistributedDataParallel",
    "torch.nn.parallel.distributed.DistributedDataParallel",
];

fn check(ctx: &mut Context) {
    let index = ctx.index;
    for save in index.calls_resolving(|q| q == "torch.save") {
        let Some(Expr::Call(state_dict)) = save.arg_or_keyword(0, "obj") else {
            continue;
        };
        let Expr::Attribute(attr) = state_dict.func.as_ref() else {
            continue;
        };
        if attr.attr.as_str() != "state_dict" {
            continue;
        }
        let Some(model) = dotted(&attr.value) else {
            continue;
        };
        if model.ends_with(".module") || model.contains('(') {
            continue;
        }
        let Some(wrapper) = wrapper_of(ctx, save, &attr.value, &model) else {
            continue;
        };
        let (wrapper, bound) = wrapper;
        let short = wrapper.rsplit('.').next().unwrap_or(&wrapper);
        let message = format!(
            "`{model}` holds a {short} wrapper ({bound}), so `{model}.state_dict()` names every parameter `module.<name>`: the checkpoint does not load into the bare model (missing keys / unexpected `module.` keys)"
        );
        let fix = Fix::new(format!(
            "Save the wrapped model's weights: `{model}.module.state_dict()` (or `{model}.module if isinstance({model}, {short}) else {model}` when the wrapper is conditional)"
        ))
        .with_replacement(format!("{model}.module.state_dict()"));
        ctx.report(state_dict.range(), message, Some(fix));
    }
}

/// The wrapper `model` holds at the save: bound to one in the same function, or passed as one
/// by every caller in the project (a parameter). A name that the function also unwraps
/// (`model.module` anywhere in it, `hasattr(model, "module")`) is left alone.
fn wrapper_of(
    ctx: &Context,
    save: &mleng_python::index::Call,
    value: &Expr,
    model: &str,
) -> Option<(String, String)> {
    let index = ctx.index;
    // The code around the save: its function, or a script's top-level statements.
    let scope_text: String = match save.function {
        Some(f) => ctx.text(index.functions[f].def.range).to_string(),
        None => index
            .module
            .body
            .iter()
            .filter(|s| {
                !matches!(
                    s,
                    ruff_python_ast::Stmt::FunctionDef(_) | ruff_python_ast::Stmt::ClassDef(_)
                )
            })
            .map(|s| ctx.text(s.range()))
            .collect::<Vec<_>>()
            .join("\n"),
    };
    // Code that checks for the wrapper handles both cases (`model.module if hasattr(model,
    // "module") else model`); a bare `model.module` elsewhere only confirms the wrapper.
    let compact: String = scope_text.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.contains(&format!("hasattr({model},"))
        || compact.contains(&format!("isinstance({model},"))
        || compact.contains(&format!("unwrap_model({model}"))
    {
        return None;
    }
    if let Some(id) = index.producer(save.function, value, save.start()) {
        let call = &index.calls[id];
        return call
            .qualified
            .as_deref()
            .filter(|q| WRAPPERS.contains(q))
            .map(|q| {
                (
                    q.to_string(),
                    format!("wrapped {}", ctx.where_is(call.range())),
                )
            });
    }
    // A parameter: what the project's callers pass.
    let function = save.function?;
    let def = index.functions[function].def;
    if !def
        .parameters
        .iter_non_variadic_params()
        .any(|p| p.parameter.name.as_str() == model)
    {
        return None;
    }
    let symbol = ctx.project_function(function)?;
    let passed = ctx.project.argument_type(symbol, model)?;
    let qualified = ctx.project.qualify_in(passed.module, &passed.text);
    WRAPPERS
        .contains(&qualified.as_str())
        .then(|| (qualified, format!("what the project passes as `{model}`")))
}
