use mleng_diagnostics::{Applicability, Area, Fix, Severity};
use mleng_python::index::literals::dotted;
use mleng_python::SemanticIndex;
use ruff_python_ast::Expr;
use ruff_text_size::{Ranged, TextSize};

use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "ARC003",
    name: "forward-called-directly",
    area: Area::Architecture,
    severity: Severity::Warning,
    fix: Some(Applicability::Safe),
    summary: "`module.forward(x)` bypasses the module's hooks: call the module, `module(x)`.",
    docs: r#"## What it does
Finds `.forward(...)` called on an object we know is an `nn.Module`: a layer the class created
in `__init__` (`self.encoder.forward(x)`), or a variable assigned from a `torch.nn` layer, a
`torchvision`/`timm` model or a module class defined in the file (`model.forward(x)`).
`super().forward(x)`, `Base.forward(self, x)` and `self.forward(x)` inside the module itself are
not reported. A module created in the same function and never passed anywhere or given a hook
there is reported as info: nothing is lost yet, but the code breaks as soon as a hook, a
wrapper or `torch.compile` is added.

## Why is this bad?
`nn.Module.__call__` does more than call `forward`: it runs forward pre-hooks and hooks,
backward hooks, and is what wrappers such as `torch.compile`, DDP/FSDP, quantization
observers, pruning masks, `torch.utils.checkpoint` integrations and libraries like
`torchinfo` or Grad-CAM hook into. `layer.forward(x)` skips all of that: a hook-based feature
(weight norm, spectral norm, pruning, activation capture) silently has no effect, and
`register_forward_hook` users get no output. The PyTorch docs say to call the module instance
instead of `forward`.

## Example
```python
def forward(self, x):
    x = self.backbone.forward(x)
    return self.head.forward(x)
```

## Use instead
```python
def forward(self, x):
    x = self.backbone(x)
    return self.head(x)
```

## Fix
Safe: `module.forward(x)` becomes `module(x)`, which runs the same forward plus the registered
hooks.

## References
- `torch.nn.Module.forward`: "one should call the Module instance afterwards instead of this since the former takes care of running the registered hooks while the latter silently ignores them." <https://pytorch.org/docs/stable/generated/torch.nn.Module.html#torch.nn.Module.forward>
- `torch.nn.Module.register_forward_hook`: <https://pytorch.org/docs/stable/generated/torch.nn.Module.html#torch.nn.Module.register_forward_hook>
"#,
    check,
};

fn check(ctx: &mut Context) {
    let index = ctx.index;
    for call in &index.calls {
        if call.method != Some("forward") {
            continue;
        }
        let Some(receiver) = call.receiver.as_deref() else {
            continue; // super().forward(x), f().forward(x)
        };
        let Expr::Attribute(func) = call.expr.func.as_ref() else {
            continue;
        };
        // `x[i].forward(...)`: we only fix plain names and attribute chains.
        if dotted(&func.value).as_deref() != Some(ctx.text(func.value.range())) {
            continue;
        }
        let Some(what) = module_kind(index, call.class, call.function, call.start(), receiver)
        else {
            continue;
        };
        let message = format!(
            "`{receiver}.forward(...)` calls {what} without `nn.Module.__call__`: its forward/backward hooks (and anything built on them) are skipped; call `{receiver}(...)`"
        );
        let fix = Fix::new(format!("Call the module: `{receiver}(...)`"))
            .with_replacement(receiver.to_string());
        // A module created in this same function, with nothing registered on it or compiling
        // it, has no hooks to skip yet: a convention issue (info) rather than a lost feature.
        let fresh = !receiver.contains('.')
            && call.function.is_some()
            && !index.calls.iter().any(|c| {
                c.function == call.function
                    && (c.receiver.as_deref() == Some(receiver)
                        && c.method.is_some_and(|m| m.starts_with("register_"))
                        || c.expr
                            .arguments
                            .args
                            .iter()
                            .any(|a| dotted(a).as_deref() == Some(receiver)))
            });
        let severity = if fresh { Severity::Info } else { RULE.severity };
        ctx.report_with_severity(call.expr.func.range(), severity, message, Some(fix));
    }
}

/// Why we believe `receiver` is an `nn.Module`, or `None` when we do not know.
fn module_kind(
    index: &SemanticIndex,
    class: Option<usize>,
    function: Option<usize>,
    at: TextSize,
    receiver: &str,
) -> Option<String> {
    if receiver == "self" || receiver == "cls" || receiver == "super" {
        return None;
    }
    if let Some(attr) = receiver.strip_prefix("self.") {
        let class_id = class?;
        if attr.contains('.') || !index.classes[class_id].is_module {
            return None;
        }
        let layer = index.layer(class_id, attr)?;
        let ctor = layer.constructor.as_deref()?;
        return is_module_constructor(index, ctor).then(|| format!("the layer `{receiver}`"));
    }
    if receiver.contains('.') {
        return None;
    }
    // A class name: `Base.forward(self, x)` is an explicit parent call.
    if index.classes.iter().any(|c| c.name == receiver) || index.imports.contains_key(receiver) {
        return None;
    }
    // The variable's last assignment before the call in the same function.
    let binding = index
        .bindings
        .iter()
        .filter(|b| b.target == receiver && b.function == function && b.range.end() <= at)
        .max_by_key(|b| b.range.start())?;
    let Expr::Call(ctor_call) = binding.value else {
        return None;
    };
    let ctor = index
        .qualified_name(&ctor_call.func)
        .or_else(|| dotted(&ctor_call.func))?;
    is_module_constructor(index, &ctor).then(|| format!("the module `{receiver}`"))
}

fn is_module_constructor(index: &SemanticIndex, ctor: &str) -> bool {
    let short = ctor.rsplit('.').next().unwrap_or(ctor);
    let capitalized = short.chars().next().is_some_and(|c| c.is_ascii_uppercase());
    if let Some(rest) = ctor.strip_prefix("torch.nn.") {
        // Layers and containers, not functional ops or utilities.
        return capitalized
            && !rest.starts_with("functional")
            && !rest.starts_with("utils")
            && !rest.starts_with("init")
            && short != "Parameter";
    }
    if ctor.starts_with("torchvision.models.") {
        return !capitalized || short.ends_with("Net") || short.starts_with("ResNet");
    }
    if ctor == "timm.create_model" {
        return true;
    }
    // A module class defined in this file.
    index.classes.iter().any(|c| c.is_module && c.name == ctor)
}
