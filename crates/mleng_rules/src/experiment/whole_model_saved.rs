use mleng_diagnostics::{Applicability, Area, Fix, Severity};
use mleng_python::index::literals;
use mleng_python::SemanticIndex;
use ruff_python_ast::Expr;
use ruff_text_size::Ranged;

use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "EXP001",
    name: "whole-model-saved",
    area: Area::Experiment,
    severity: Severity::Warning,
    fix: Some(Applicability::Unsafe),
    summary: "`torch.save(model, ...)` pickles the module object instead of its `state_dict()`.",
    docs: r#"## What it does
Finds `torch.save(model, path)` where `model` is an `nn.Module`: an instance of a module
class defined in the file, a `torchvision`/`timm`/`torch.nn` model, `self` inside a module,
or a variable named `model`/`net` that is not bound to a state dict.

## Why is this bad?
`torch.save` on a module pickles the object, and a pickle stores the *import path* of every
class it contains, not its code. Loading it needs the same classes at the same module paths:
moving `Net` into another file, renaming an attribute, or upgrading the library that defines a
layer breaks every saved model (`AttributeError: Can't get attribute 'Net' on <module
'__main__'>`). It also forces `torch.load(weights_only=False)`, which runs arbitrary code from
the file (see `SEC001`), and it is refused by the safe loader that is PyTorch's default since
2.6. The PyTorch tutorial on saving models recommends saving the `state_dict()` (a dict of
tensors) and rebuilding the model in code.

## Example
```python
model = Net()
train(model)
torch.save(model, "model.pt")
```

## Use instead
```python
model = Net()
train(model)
torch.save(model.state_dict(), "model.pt")

# later
model = Net()
model.load_state_dict(torch.load("model.pt", weights_only=True))
```

## Known problems
Checkpoint dicts that embed the module (`torch.save({"model": model, ...})`, as YOLOv5 does on
purpose) are not reported. Saving a `torch.jit`/`torch.export` program is a different API and is
not reported.

## Fix
Unsafe: `torch.save(model, ...)` becomes `torch.save(model.state_dict(), ...)`. The code that
loads the file must build the model and call `load_state_dict`: change it with the fix.

## References
- PyTorch tutorial, "Saving and Loading Models": <https://pytorch.org/tutorials/beginner/saving_loading_models.html#save-load-entire-model>
- PyTorch serialization notes, "Saving and loading torch.nn.Modules": <https://pytorch.org/docs/stable/notes/serialization.html#saving-and-loading-torch-nn-modules>
- `torch.load` and `weights_only`: <https://pytorch.org/docs/stable/generated/torch.load.html>
"#,
    check,
};

/// Constructors (qualified-name prefixes) that build `nn.Module`s.
const MODEL_CONSTRUCTOR_PREFIXES: &[&str] = &[
    "torchvision.models.",
    "timm.create_model",
    "timm.models.",
    "segmentation_models_pytorch.",
    "transformers.AutoModel",
];

/// `torch.nn` names that are not modules.
const NN_NOT_MODULES: &[&str] = &["Parameter", "parameter", "utils", "functional", "init"];

/// Method calls and wrappers that return the same module (`model.cpu()`, `deepcopy(model)`).
const SAME_MODULE_METHODS: &[&str] = &["cpu", "cuda", "half", "float", "double", "eval", "to"];

fn check(ctx: &mut Context) {
    let index = ctx.index;
    for call in index.calls_resolving(|q| q == "torch.save") {
        let Some(arg) = call.arg_or_keyword(0, "obj") else {
            continue;
        };
        let Some(model) = module_expr(index, arg, call) else {
            continue;
        };
        let model_text = ctx.text(model.range()).to_string();
        let arg_text = ctx.text(arg.range()).to_string();
        let message = format!(
            "`torch.save({arg_text}, ...)` pickles the whole module `{model_text}`: loading it needs the same class at the same import path and `weights_only=False`; save `{model_text}.state_dict()` instead"
        );
        let fix = Fix::new(format!(
            "Save the weights: `torch.save({model_text}.state_dict(), ...)`, and rebuild the model before `load_state_dict` when loading"
        ))
        .with_replacement(format!("{arg_text}.state_dict()"));
        ctx.report(arg.range(), message, Some(fix));
    }
}

/// The module expression inside `arg` when `arg` is an `nn.Module`, looking through
/// `deepcopy(...)`, `.cpu()`-style calls and `.module` of wrappers.
fn module_expr<'e>(
    index: &SemanticIndex,
    arg: &'e Expr,
    save: &mleng_python::index::Call,
) -> Option<&'e Expr> {
    let class = save.class;
    let mut expr = arg;
    while let Expr::Call(call) = expr {
        expr = match &*call.func {
            Expr::Attribute(attr) if SAME_MODULE_METHODS.contains(&attr.attr.as_str()) => {
                &attr.value
            }
            func if index
                .qualified_name(func)
                .is_some_and(|q| q == "copy.deepcopy") =>
            {
                call.arguments.args.first()?
            }
            _ => return None,
        };
    }
    let dotted = literals::dotted(expr)?;
    if matches!(expr, Expr::Subscript(_)) {
        return None;
    }
    if dotted == "self" {
        let class = class?;
        return index.classes[class].is_module.then_some(expr);
    }
    let dotted_name = dotted.strip_suffix(".module").unwrap_or(&dotted);
    match binding_constructor(index, dotted_name, save) {
        Some(Some(ctor)) => return is_module_constructor(index, &ctor).then_some(expr),
        // Bound to something else (a dict, a loaded object, an unknown call).
        Some(None) => return None,
        None => {}
    }
    // Never bound in this file (a parameter): only a name that says "model".
    let last = dotted_name.rsplit('.').next().unwrap_or(dotted_name);
    let named_model = matches!(last, "model" | "net" | "network") || last.ends_with("_model");
    named_model.then_some(expr)
}

/// For the last binding of `name` that is not `name = name.to(...)`-style: `Some(Some(ctor))`
/// when it is a call (the callee qualified through imports, or a local class name),
/// `Some(None)` when it is anything else, `None` when `name` is never bound.
/// What the name was last bound to before the save, in the save's own function when it binds
/// the name there, else at module level: `Some(Some(ctor))` for a call, `Some(None)` for
/// anything else (a dict, a literal), `None` when this file never binds it there.
fn binding_constructor(
    index: &SemanticIndex,
    name: &str,
    save: &mleng_python::index::Call,
) -> Option<Option<String>> {
    let candidates = |function: Option<usize>| {
        index.bindings.iter().rev().filter(move |b| {
            b.target == name
                && b.function == function
                && (function.is_none() || b.range.start() < save.start())
                && !matches!(b.value, Expr::Call(call) if matches!(&*call.func, Expr::Attribute(attr)
                    if SAME_MODULE_METHODS.contains(&attr.attr.as_str())
                        && literals::dotted(&attr.value).as_deref() == Some(name)))
        })
    };
    let binding = save
        .function
        .and_then(|f| candidates(Some(f)).next())
        .or_else(|| candidates(None).next())?;
    Some(match binding.value {
        Expr::Call(call) => index
            .qualified_name(&call.func)
            .or_else(|| literals::dotted(&call.func)),
        _ => None,
    })
}

fn is_module_constructor(index: &SemanticIndex, ctor: &str) -> bool {
    if index.classes.iter().any(|c| c.is_module && c.name == ctor) {
        return true;
    }
    if let Some(rest) = ctor.strip_prefix("torch.nn.") {
        let head = rest.split('.').next().unwrap_or(rest);
        return !NN_NOT_MODULES.contains(&head);
    }
    // Library helpers next to the constructors load or fetch things, not build models:
    // `timm.models._hub.load_state_dict_from_path`, `torchvision.models.get_weight`.
    let helper = ctor.split('.').any(|part| part.starts_with('_'))
        || ctor
            .rsplit('.')
            .next()
            .is_some_and(|last| last.starts_with("load") || last.starts_with("get_"));
    !helper
        && MODEL_CONSTRUCTOR_PREFIXES
            .iter()
            .any(|p| ctor.starts_with(p))
}
