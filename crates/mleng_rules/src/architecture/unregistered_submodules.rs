use mleng_diagnostics::{Applicability, Area, Fix, Severity};
use mleng_knowledge::layers::{kind, LayerKind};
use mleng_python::index::literals::{boolean, dotted};
use mleng_python::SemanticIndex;
use ruff_python_ast::{Expr, ExprCall};
use ruff_text_size::{Ranged, TextRange};

use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "ARC004",
    name: "unregistered-submodules",
    area: Area::Architecture,
    severity: Severity::Error,
    fix: Some(Applicability::Unsafe),
    summary: "Layers kept in a plain list/dict (or a tensor with requires_grad=True) on an nn.Module are not registered: no .parameters(), .to(), state_dict.",
    docs: r#"## What it does
Finds, in an `nn.Module` subclass:
- layers stored in a plain Python container attribute: `self.blocks = [nn.Linear(...) for _ in
  range(4)]`, `self.heads = {"a": nn.Linear(...)}`, `self.convs = (conv1, conv2)` with layer
  constructors inside, or `self.layers = []` followed by `self.layers.append(nn.Conv2d(...))`;
- a tensor created with `requires_grad=True` and stored as an attribute
  (`self.w = torch.randn(3, 3, requires_grad=True)`) instead of an `nn.Parameter`.

Not reported when the class registers them another way: wraps the attribute later
(`nn.ModuleList(self.blocks)`, `nn.Sequential(*self.blocks)`), or calls `add_module`,
`register_module`, `register_parameter` or `setattr`.

## Why is this bad?
`nn.Module.__setattr__` registers only `nn.Module`, `nn.Parameter` and buffer values. Layers
inside a list or dict are invisible to the module: `model.parameters()` does not return them
(the optimizer never updates them), `model.to("cuda")` and `.half()` leave them on the CPU in
float32 (a device-mismatch error, or silently wrong dtype), `state_dict()` does not save them
(a reloaded model has random weights there) and `model.eval()` does not switch their Dropout
or BatchNorm. A plain tensor with `requires_grad=True` has the same problem: it gets
gradients but no optimizer step, is not saved, and does not move with the model.

## Example
```python
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = [nn.Linear(64, 64) for _ in range(4)]
        self.scale = torch.ones(64, requires_grad=True)
```

## Use instead
```python
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([nn.Linear(64, 64) for _ in range(4)])
        self.scale = nn.Parameter(torch.ones(64))
```

## Fix
Unsafe: the list or dict is wrapped in `nn.ModuleList`/`nn.ModuleDict` (a tensor in
`nn.Parameter`). The parameters then train, move with `.to()` and appear in the state dict:
intended, but old checkpoints lack them.

## References
- `torch.nn.ModuleList` / `torch.nn.ModuleDict`: "holds submodules in a list ... properly registered, and will be visible by all Module methods": <https://pytorch.org/docs/stable/generated/torch.nn.ModuleList.html>
- `torch.nn.Parameter`: "Parameters are Tensor subclasses that ... are automatically added to the list of its parameters": <https://pytorch.org/docs/stable/generated/torch.nn.parameter.Parameter.html>
- PyTorch tutorial, "What is torch.nn really?" (registration of submodules and parameters): <https://pytorch.org/tutorials/beginner/nn_tutorial.html>
"#,
    check,
};

/// Methods that register submodules or parameters by name: a class using them is assumed to
/// register its containers itself.
const REGISTERING: &[&str] = &[
    "add_module",
    "register_module",
    "register_parameter",
    "register_buffer",
    "setattr",
];

/// Containers that register what they hold.
const WRAPPERS: &[&str] = &[
    "ModuleList",
    "ModuleDict",
    "Sequential",
    "ParameterList",
    "ParameterDict",
];

#[derive(Clone, Copy, PartialEq)]
enum Held {
    Modules,
    Parameters,
}

fn check(ctx: &mut Context) {
    let index = ctx.index;
    let nn = nn_alias(index);
    for (class_id, class) in index.classes.iter().enumerate() {
        if !class.is_module {
            continue;
        }
        let registers_itself = index.calls.iter().any(|c| {
            c.class == Some(class_id)
                && (c.method.is_some_and(|m| REGISTERING.contains(&m))
                    || matches!(c.expr.func.as_ref(), Expr::Name(n) if n.id.as_str() == "setattr"))
        });
        if registers_itself {
            continue;
        }
        let bindings: Vec<_> = index
            .bindings
            .iter()
            .filter(|b| b.class == Some(class_id) && b.function.is_some())
            .filter(|b| {
                b.target
                    .strip_prefix("self.")
                    .is_some_and(|a| !a.contains('.'))
            })
            .collect();
        for binding in &bindings {
            let target = binding.target.as_str();
            let statement = ctx.text(binding.range);
            if !statement.starts_with(target)
                || statement[target.len()..].trim_start().starts_with('[')
            {
                continue; // tuple targets, item assignments
            }
            if wrapped_later(index, class_id, target) {
                continue;
            }
            // Other plain assignments of a call to the same attribute (a later
            // `self.blocks = nn.ModuleList(self.blocks)`) make the container registered.
            let rebound = bindings.iter().any(|b| {
                b.target == target
                    && b.range != binding.range
                    && matches!(b.value, Expr::Call(_))
                    && !is_item_assignment(ctx.text(b.range), target)
            });
            match binding.value {
                Expr::List(_)
                | Expr::Tuple(_)
                | Expr::Dict(_)
                | Expr::ListComp(_)
                | Expr::DictComp(_) => {
                    if rebound {
                        continue;
                    }
                    let (held, example) = match contained_module(index, binding.value) {
                        Some(found) => found,
                        None => match appended_module(index, ctx, class_id, target) {
                            Some(found) => found,
                            None => continue,
                        },
                    };
                    report_container(ctx, binding.value, target, held, example, &nn);
                }
                Expr::Call(call) if creates_grad_tensor(index, call) => {
                    if rebound {
                        continue;
                    }
                    let value_text = ctx.text(call.range()).replace(", requires_grad=True", "");
                    let message = format!(
                        "`{target}` is a plain tensor with requires_grad=True: it is not an nn.Parameter, so `parameters()` (and the optimizer), `.to()` and `state_dict()` do not see it"
                    );
                    let fix =
                        Fix::new("Wrap it in `nn.Parameter` (requires_grad is then the default)")
                            .with_replacement(format!("{nn}.Parameter({value_text})"));
                    ctx.report(call.range(), message, Some(fix));
                }
                _ => {}
            }
        }
    }
}

fn report_container(
    ctx: &mut Context,
    value: &Expr,
    target: &str,
    held: Held,
    example: TextRange,
    nn: &str,
) {
    let is_dict = matches!(value, Expr::Dict(_) | Expr::DictComp(_));
    let container = match (held, is_dict) {
        (Held::Modules, false) => "ModuleList",
        (Held::Modules, true) => "ModuleDict",
        (Held::Parameters, false) => "ParameterList",
        (Held::Parameters, true) => "ParameterDict",
    };
    let kind = if is_dict { "dict" } else { "list" };
    let what = match held {
        Held::Modules => "layers",
        Held::Parameters => "parameters",
    };
    let example_text = ctx.text(example).to_string();
    let short_example: String = if example_text.len() > 60 {
        format!(
            "{}...",
            &example_text[..example_text.floor_char_boundary(57)]
        )
    } else {
        example_text
    };
    let message = format!(
        "`{target}` keeps {what} (`{short_example}`) in a plain Python {kind}: nn.Module does not register them, so `parameters()` (and the optimizer), `.to()`, `state_dict()` and `eval()` miss them"
    );
    let value_text = ctx.text(value.range());
    // ModuleDict keys must be strings: only rewrite dict literals with string keys.
    let mechanical = match value {
        Expr::Dict(dict) => dict
            .items
            .iter()
            .all(|item| matches!(item.key, Some(Expr::StringLiteral(_)))),
        Expr::DictComp(_) => false,
        _ => true,
    };
    let wrapped = match value {
        Expr::Tuple(_) if !value_text.starts_with('(') => {
            format!("{nn}.{container}([{value_text}])")
        }
        _ => format!("{nn}.{container}({value_text})"),
    };
    let fix = Fix::new(format!("Use `{nn}.{container}`"));
    let fix = if mechanical {
        fix.with_replacement(wrapped)
    } else {
        fix.with_example(format!("{target} = {wrapped}"))
    };
    ctx.report(value.range(), message, Some(fix));
}

/// `self.x[k] = ...`: the statement assigns an item of `target`, not `target` itself.
fn is_item_assignment(statement: &str, target: &str) -> bool {
    statement
        .strip_prefix(target)
        .is_some_and(|rest| rest.trim_start().starts_with('['))
}

/// The local spelling of `torch.nn` in this file.
fn nn_alias(index: &SemanticIndex) -> String {
    if let Some((local, _)) = index.imports.iter().find(|(_, q)| q.as_str() == "torch.nn") {
        return local.clone();
    }
    if index.imports.get("torch").is_some_and(|q| q == "torch") {
        return "torch.nn".to_string();
    }
    "nn".to_string()
}

/// `self.x` passed (also starred) to a registering container call in the class.
fn wrapped_later(index: &SemanticIndex, class: usize, target: &str) -> bool {
    index.calls.iter().any(|c| {
        c.class == Some(class)
            && c.short_name().is_some_and(|s| WRAPPERS.contains(&s))
            && c.expr.arguments.args.iter().any(|a| {
                let a = match a {
                    Expr::Starred(s) => s.value.as_ref(),
                    other => other,
                };
                mentions(a, target)
            })
    })
}

fn mentions(expr: &Expr, target: &str) -> bool {
    match expr {
        Expr::Call(call) => call.arguments.args.iter().any(|a| mentions(a, target)),
        Expr::Starred(s) => mentions(&s.value, target),
        other => dotted(other).is_some_and(|d| d == target),
    }
}

/// A module (or Parameter) constructor call directly inside a list/tuple/dict literal or as
/// the element of a comprehension.
fn contained_module(index: &SemanticIndex, value: &Expr) -> Option<(Held, TextRange)> {
    let elements: Vec<&Expr> = match value {
        Expr::List(list) => list.elts.iter().collect(),
        Expr::Tuple(tuple) => tuple.elts.iter().collect(),
        Expr::Dict(dict) => dict.items.iter().map(|item| &item.value).collect(),
        Expr::ListComp(comp) => vec![comp.elt.as_ref()],
        Expr::DictComp(comp) => vec![comp.value.as_ref()],
        _ => Vec::new(),
    };
    elements.into_iter().find_map(|e| match e {
        Expr::Call(call) => held_by(index, call).map(|h| (h, call.range())),
        _ => None,
    })
}

/// `self.x.append(Layer(...))` / `self.x[k] = Layer(...)` elsewhere in the class.
fn appended_module(
    index: &SemanticIndex,
    ctx: &Context,
    class: usize,
    target: &str,
) -> Option<(Held, TextRange)> {
    let appended = index.calls.iter().find_map(|c| {
        if c.class != Some(class)
            || c.receiver.as_deref() != Some(target)
            || !matches!(c.method, Some("append" | "extend" | "insert"))
        {
            return None;
        }
        c.expr.arguments.args.iter().find_map(|a| match a {
            Expr::Call(call) => held_by(index, call).map(|h| (h, call.range())),
            _ => None,
        })
    });
    appended.or_else(|| {
        index.bindings.iter().find_map(|b| {
            if b.class != Some(class) || b.target != target {
                return None;
            }
            let text = ctx.text(b.range);
            if !is_item_assignment(text, target) {
                return None;
            }
            match b.value {
                Expr::Call(call) => held_by(index, call).map(|h| (h, call.range())),
                _ => None,
            }
        })
    })
}

fn held_by(index: &SemanticIndex, call: &ExprCall) -> Option<Held> {
    let ctor = index
        .qualified_name(&call.func)
        .or_else(|| dotted(&call.func))?;
    let short = ctor.rsplit('.').next().unwrap_or(&ctor);
    if ctor == "torch.nn.Parameter" || ctor == "torch.nn.parameter.Parameter" {
        return Some(Held::Parameters);
    }
    let capitalized = short.chars().next().is_some_and(|c| c.is_ascii_uppercase());
    if let Some(rest) = ctor.strip_prefix("torch.nn.") {
        // Parameter-free layers (activations, pooling, reshapes) and losses lose nothing.
        let stateless = matches!(
            kind(&ctor),
            LayerKind::Activation | LayerKind::Pooling | LayerKind::Reshape
        ) || short.ends_with("Loss");
        let layer = capitalized
            && !stateless
            && !rest.starts_with("functional")
            && !rest.starts_with("utils")
            && !rest.starts_with("init");
        return layer.then_some(Held::Modules);
    }
    index
        .classes
        .iter()
        .any(|c| c.is_module && c.name == ctor)
        .then_some(Held::Modules)
}

/// `torch.randn(..., requires_grad=True)` and friends.
fn creates_grad_tensor(index: &SemanticIndex, call: &ExprCall) -> bool {
    let Some(q) = index.qualified_name(&call.func) else {
        return false;
    };
    let factory = matches!(
        q.as_str(),
        "torch.randn"
            | "torch.rand"
            | "torch.zeros"
            | "torch.ones"
            | "torch.empty"
            | "torch.full"
            | "torch.tensor"
            | "torch.eye"
            | "torch.arange"
            | "torch.linspace"
            | "torch.normal"
            | "torch.Tensor"
            | "torch.FloatTensor"
    );
    factory
        && call.arguments.keywords.iter().any(|kw| {
            kw.arg
                .as_ref()
                .is_some_and(|a| a.as_str() == "requires_grad")
                && boolean(&kw.value) == Some(true)
        })
}
