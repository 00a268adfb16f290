use mleng_diagnostics::{Area, Fix, Location, Severity, Span};
use mleng_knowledge::losses::{logit_loss, Activation};
use mleng_project::summary::sequential_ending;
use mleng_project::ModuleId;
use mleng_python::index::literals::dotted;
use ruff_python_ast::{Expr, ExprCall};
use ruff_text_size::Ranged;

use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "ARC011",
    name: "final-activation-vs-loss",
    area: Area::Architecture,
    severity: Severity::Error,
    fix: None,
    summary: "The model ends in softmax/sigmoid/ReLU but its output feeds a loss that expects raw logits.",
    docs: r#"## What it does
Finds a model whose output goes through a final `Softmax`, `Sigmoid` or `ReLU` (the last item of
an `nn.Sequential`, or the value `forward` returns) and whose output is passed to a loss that
expects unconstrained logits: `nn.CrossEntropyLoss` / `F.cross_entropy`, or
`nn.BCEWithLogitsLoss` / `F.binary_cross_entropy_with_logits` (`loss = criterion(model(x), y)`,
`out = self(x)` in a LightningModule, ...).

The model and the loop may live in different files: the model class is found through the
project's imports (`from models import Net`, a package `__init__` that re-exports it,
`import net as n; n.Net()`), through factories (`model = build_model(cfg)` whose body returns
`Net(...)`), through inheritance (a subclass that keeps its base's `forward`) and through
`.to(device)`; and in an engine helper (`def train_one_epoch(model, criterion, ...)`), the
model and the loss are those every caller in the project passes (when callers disagree,
nothing is claimed).

A `forward` that returns a tuple (`return torch.sigmoid(x), feature_map`) is judged by the
element that ends in the activation, where the loop unpacks or indexes it (`pred, aux =
model(x)`, `out[0]`), through value-keeping steps (`torch.squeeze(pred)`, `.float()`,
`.type(...)`, `.view(...)`). A project loss class whose `forward` hands its input to one of
those losses (a focal loss built on `F.binary_cross_entropy_with_logits(inputs, ...)`) counts
as that loss. Several losses fed by the same ending are one finding, the others its related
locations; the ending itself is a related location too.

A `forward` with more than one `return`, or that checks `self.training` (softmax only at
inference), is not judged.

## Why is this bad?
These losses apply the softmax (or sigmoid) themselves. A softmax before `CrossEntropyLoss`
computes `softmax(softmax(z))`: the inputs are squeezed into [0, 1], the second softmax is
nearly uniform, the gradients shrink and the model trains slowly to a worse optimum. A sigmoid
before `BCEWithLogitsLoss` confines predictions to (0.5, 0.73): the model can never predict a
negative. A final ReLU clips negative logits to zero. Nothing crashes; accuracy is just lower.

## Example
```python
model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10), nn.Softmax(dim=1))
criterion = nn.CrossEntropyLoss()
loss = criterion(model(x), y)
```

## Use instead
```python
model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
criterion = nn.CrossEntropyLoss()
loss = criterion(model(x), y)
probs = model(x).softmax(dim=1)  # only where probabilities are needed
```

## References
- `nn.CrossEntropyLoss`: "The input is expected to contain the unnormalized logits for each class": <https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html>
- `nn.BCEWithLogitsLoss`: "This loss combines a Sigmoid layer and the BCELoss in one single class": <https://pytorch.org/docs/stable/generated/torch.nn.BCEWithLogitsLoss.html>
"#,
    check,
};

/// A model that ends in an activation, and where it does.
struct Ending {
    /// Local class name, or the variable holding an `nn.Sequential`.
    model: String,
    activation: Activation,
    /// The code applying it (`F.softmax(x)`).
    text: String,
    /// Where it is (this file or another).
    at: Location,
    /// The element of a tuple `forward` returns that ends in it.
    element: Option<usize>,
}

fn check(ctx: &mut Context) {
    let index = ctx.index;
    // Each reported ending, with its finding's index.
    let mut reported: Vec<(Location, usize)> = Vec::new();
    for call in &index.calls {
        // The loss: a `torch.nn` loss object or the functional form, built here or passed in.
        let loss_name = call
            .qualified
            .as_deref()
            .and_then(logit_loss)
            .map(|l| (l, None))
            .or_else(|| {
                let callee = dotted(&call.expr.func)?;
                let ctor = constructor(ctx, call.function, call.class, &callee)?;
                logit_loss(&ctor).map(|l| (l, None)).or_else(|| {
                    let (loss, class, wrapped) = wrapped_logit_loss(ctx, call.class, &callee)?;
                    let note = format!(
                        "`{callee}` is a `{class}`, whose `forward` hands its input to `{wrapped}`"
                    );
                    Some((loss, Some(note)))
                })
            });
        let Some((loss, wrapper)) = loss_name else {
            continue;
        };
        let Some(input) = call.arg(0) else {
            continue;
        };
        let Some((model_call, element)) = model_output(ctx, call.function, input, call.start())
        else {
            continue;
        };
        let Some(ending) = model_of(ctx, call.function, call.class, model_call) else {
            continue;
        };
        // A tuple-returning `forward`: only the element that ends in the activation counts.
        if ending.element != element {
            continue;
        }
        // Several losses fed by the same ending are one mistake: the first is reported, the
        // others are its related locations.
        if let Some(&(_, first)) = reported.iter().find(|(at, _)| *at == ending.at) {
            let also = ctx.location(call.range());
            let note = format!(
                "`{}` gets that output too",
                ctx.text(call.expr.func.range())
            );
            ctx.findings[first].relate(also, note);
            continue;
        }
        reported.push((ending.at.clone(), ctx.findings.len()));
        let Some(problem) = loss.problem(ending.activation) else {
            continue;
        };
        let loss_text = ctx.text(call.expr.func.range()).to_string();
        let message = format!(
            "`{}` passes the output of `{}`, which ends in {}, to `{loss_text}`: {}; {}",
            ctx.text(call.range()),
            ending.model,
            ending.activation.name(),
            loss.expects,
            problem
        );
        let fix = Fix::new(format!(
            "Remove the final {} from the model and return logits; apply it only where probabilities are needed (inference, metrics)",
            ending.activation.name()
        ));
        let note = format!(
            "`{}` ends in {} here: `{}`",
            ending.model,
            ending.activation.name(),
            ending.text
        );
        let finding = ctx.report(call.range(), message, Some(fix));
        finding.relate(ending.at, note);
        finding.evidence.extend(wrapper);
    }
}

/// Tensor methods that keep the values (shape, dtype and device only): a model's output read
/// through them is still that output (`pred.squeeze(1).float()`, `out.type(torch.cuda.FloatTensor)`).
const VALUE_KEEPING_METHODS: &[&str] = &[
    "squeeze",
    "unsqueeze",
    "view",
    "reshape",
    "flatten",
    "float",
    "double",
    "half",
    "type",
    "contiguous",
    "cuda",
    "to",
];

/// The model call whose output `expr` is, and which element of it when the call's result is
/// unpacked or indexed (`pred, aux = model(x)`: `pred` is element 0; `out[1]`), looking
/// through value-keeping methods and names bound earlier in the function.
fn model_output<'a>(
    ctx: &Context<'_, 'a>,
    function: Option<usize>,
    expr: &'a Expr,
    before: ruff_text_size::TextSize,
) -> Option<(&'a ExprCall, Option<usize>)> {
    let index = ctx.index;
    let mut expr = expr;
    let mut before = before;
    let mut element = None;
    for _ in 0..6 {
        match expr {
            Expr::Call(c) => {
                let keeps = |m: &str| VALUE_KEEPING_METHODS.contains(&m);
                match (index.qualified_name(&c.func).as_deref(), c.func.as_ref()) {
                    // `torch.squeeze(pred)`
                    (Some(q), _) if q.strip_prefix("torch.").is_some_and(keeps) => {
                        expr = c.arguments.args.first()?;
                    }
                    // `pred.squeeze(1)`
                    (None, Expr::Attribute(a)) if keeps(a.attr.as_str()) => expr = &a.value,
                    _ => return Some((c, element)),
                }
            }
            Expr::Subscript(sub) if element.is_none() => {
                let Expr::NumberLiteral(n) = sub.slice.as_ref() else {
                    return None;
                };
                element = Some(n.value.as_int()?.as_usize()?);
                expr = &sub.value;
            }
            Expr::Name(name) => {
                let binding = index.binding_before(function, name.id.as_str(), before)?;
                if binding.element.is_some() {
                    if element.is_some() {
                        return None;
                    }
                    element = binding.element;
                }
                expr = binding.value;
                before = binding.range.start();
            }
            _ => return None,
        }
    }
    None
}

/// The logit loss a project loss class applies to its input (`WeightedFocalLoss` whose
/// `forward` calls `F.binary_cross_entropy_with_logits(inputs, ...)`).
fn wrapped_logit_loss(
    ctx: &Context,
    class: Option<usize>,
    callee: &str,
) -> Option<(&'static mleng_knowledge::losses::LogitLoss, String, String)> {
    let index = ctx.index;
    // The constructor as written here (`FocalLoss`), which the project model resolves.
    let built = match callee.strip_prefix("self.") {
        Some(attr) => index.layer(class?, attr)?.call,
        None => index.constructor_call_of(callee)?,
    };
    let written = dotted(&built.func)?;
    let symbol = ctx.project.class_of(ctx.module, &written)?;
    let summary = ctx.project.class(symbol)?;
    let wrapped = summary.wraps_loss.as_deref()?;
    let short = wrapped.rsplit('.').next().unwrap_or(wrapped);
    Some((
        logit_loss(wrapped)?,
        summary.name.clone(),
        short.to_string(),
    ))
}

/// The qualified constructor of a loss object: `criterion` or `self.criterion` built in this
/// file, or a parameter whose callers in the project all pass the same loss.
fn constructor(
    ctx: &Context,
    function: Option<usize>,
    class: Option<usize>,
    callee: &str,
) -> Option<String> {
    let index = ctx.index;
    if let Some(attr) = callee.strip_prefix("self.") {
        return index.layer(class?, attr)?.constructor.clone();
    }
    index.constructor_of(callee).or_else(|| {
        let passed = passed_to(ctx, function?, callee)?;
        Some(ctx.project.qualify_in(passed.module, &passed.text))
    })
}

/// What the project's callers pass as parameter `param` of the indexed function `function`.
fn passed_to(ctx: &Context, function: usize, param: &str) -> Option<mleng_project::Written> {
    let symbol = ctx.project_function(function)?;
    ctx.project.argument_type(symbol, param)
}

/// The model a call runs, if it ends in an activation: a class of this file or of the
/// project (through imports, factories and inheritance), an `nn.Sequential` bound here, or a
/// parameter whose callers pass such a model.
fn model_of(
    ctx: &Context,
    function: Option<usize>,
    class: Option<usize>,
    call: &ExprCall,
) -> Option<Ending> {
    let index = ctx.index;
    let callee = dotted(&call.func)?;
    // `self(x)` / `self.forward(x)` inside the model class (LightningModule steps).
    if callee == "self" || callee == "self.forward" {
        let name = index.classes[class?].name;
        return class_ending(ctx, ctx.module, name);
    }
    if let Some(attr) = callee.strip_prefix("self.") {
        let layer = index.layer(class?, attr)?;
        return constructor_ending(ctx, ctx.module, &dotted(&layer.call.func)?);
    }
    if let Some(binding_call) = index.constructor_call_of(&callee) {
        if index.is_sequential(binding_call) {
            let (activation, at) = sequential_ending(index, binding_call)?;
            return Some(Ending {
                model: callee,
                activation,
                text: ctx.brief(at),
                at: ctx.location(at),
                element: None,
            });
        }
        // `model = mlp(sizes)` where the local factory returns an `nn.Sequential(...)`.
        if let Some(ending) = factory_sequential_ending(ctx, &callee, binding_call) {
            return Some(ending);
        }
        return constructor_ending(ctx, ctx.module, &dotted(&binding_call.func)?);
    }
    // A model passed in by the project's callers (`train_one_epoch(model, ...)`).
    let passed = passed_to(ctx, function?, &callee)?;
    constructor_ending(ctx, passed.module, &passed.text)
}

/// The ending of the `nn.Sequential` a local factory function returns.
fn factory_sequential_ending(ctx: &Context, model: &str, call: &ExprCall) -> Option<Ending> {
    let index = ctx.index;
    let name = dotted(&call.func)?;
    let factory = index
        .functions_named(&name)
        .find(|&f| index.functions[f].class.is_none())?;
    let [Expr::Call(ret)] = index.returns_of(factory).as_slice() else {
        return None;
    };
    if !index.is_sequential(ret) {
        return None;
    }
    let (activation, at) = sequential_ending(index, ret)?;
    Some(Ending {
        model: model.to_string(),
        activation,
        text: ctx.brief(at),
        at: ctx.location(at),
        element: None,
    })
}

/// The ending of the model a constructor (or factory) written in module `module` builds.
fn constructor_ending(ctx: &Context, module: ModuleId, written: &str) -> Option<Ending> {
    let symbol = ctx.project.class_of(module, written)?;
    let (defining, ending) = ctx.project.ending(symbol)?;
    let class = ctx.project.class(defining)?;
    let name = ctx.project.class(symbol).map_or(&class.name, |c| &c.name);
    let path = ctx.project.path_of(defining);
    let at = if path == ctx.index.source.path.as_path() {
        ctx.location(ending.range)
    } else {
        // Another file's text is not at hand: its line (a notebook's counts the whole text,
        // which a cell-less location would misplace, so it gets the file only).
        let mut at = Location::file(path.to_path_buf());
        if path.extension().is_none_or(|e| e != "ipynb") {
            at.span = Some(Span::point(ending.line, 1));
        }
        at
    };
    Some(Ending {
        model: name.clone(),
        activation: ending.activation,
        text: ending.text.clone(),
        at,
        element: ending.element,
    })
}

/// The ending of a class defined in (or imported into) module `module`, by name.
fn class_ending(ctx: &Context, module: ModuleId, name: &str) -> Option<Ending> {
    constructor_ending(ctx, module, name)
}
