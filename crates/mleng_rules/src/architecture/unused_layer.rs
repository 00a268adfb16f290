use std::collections::HashSet;

use mleng_diagnostics::{Area, Fix, Severity};
use ruff_text_size::{Ranged, TextRange};

use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "ARC008",
    name: "unused-layer",
    area: Area::Architecture,
    severity: Severity::Warning,
    fix: None,
    summary:
        "A layer with parameters is created in the module but never used anywhere in the file.",
    docs: r#"## What it does
Finds a layer with parameters (`Linear`, convolutions, norms, `Embedding`, RNNs, attention,
Transformer layers) assigned to `self.<name>` in an `nn.Module` that nothing in the file ever
reads: no `self.<name>` outside its assignments in any method of the class, no `.<name>`
anywhere else in the file, and no `"<name>"` string.

To stay quiet on layers reached indirectly, a class that uses `getattr(self, ...)`,
`self.children()`, `self.modules()`, `self.named_children()`, `self.named_modules()`,
`self._modules`, `self.__dict__` or `vars(self)` is skipped, as are classes whose subclasses in
the same file could use the layer, and classes that derive from anything but `nn.Module` or a
`LightningModule` (a parent's `forward`, or `nn.Sequential`'s, may use the layer).

## Why is this bad?
The layer's parameters are allocated, saved in every checkpoint, given optimizer state
(twice their size with Adam) and counted in the model size, but never trained: they get no
gradient. Under `DistributedDataParallel` this is an error: DDP expects a gradient for every
parameter and fails with "Expected to have finished reduction in the prior iteration before
starting a new one" unless `find_unused_parameters=True`, which costs an extra traversal of
the autograd graph every step. An unused layer is also often a sign of a bug: a block that
was meant to be applied (`self.dropout`, `self.norm2`) and was forgotten in `forward`.

## Example
```python
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 256)
        self.bn1 = nn.BatchNorm1d(256)
        self.fc2 = nn.Linear(256, 10)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))
```

## Use instead
```python
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 256)
        self.bn1 = nn.BatchNorm1d(256)
        self.fc2 = nn.Linear(256, 10)

    def forward(self, x):
        return self.fc2(torch.relu(self.bn1(self.fc1(x))))
```

## Known problems
A layer used only by code in another file (a subclass, or a training script reading
`model.<name>`) is reported; suppress it there with `# mleng: ignore[ARC008]`.

## References
- PyTorch `DistributedDataParallel`, `find_unused_parameters` and the "unused parameters" error: <https://pytorch.org/docs/stable/generated/torch.nn.parallel.DistributedDataParallel.html>
- PyTorch DDP notes, "Internal design" (every parameter's gradient is expected by the reducer): <https://pytorch.org/docs/stable/notes/ddp.html>
"#,
    check,
};

/// torch.nn layers that hold parameters.
const PARAMETRIZED: &[&str] = &[
    "Linear",
    "Bilinear",
    "Conv1d",
    "Conv2d",
    "Conv3d",
    "ConvTranspose1d",
    "ConvTranspose2d",
    "ConvTranspose3d",
    "BatchNorm1d",
    "BatchNorm2d",
    "BatchNorm3d",
    "LayerNorm",
    "GroupNorm",
    "Embedding",
    "EmbeddingBag",
    "LSTM",
    "GRU",
    "RNN",
    "MultiheadAttention",
    "TransformerEncoderLayer",
    "TransformerDecoderLayer",
    "TransformerEncoder",
    "TransformerDecoder",
    "Transformer",
];

/// Signs that a class reaches its layers by name or by iteration.
const DYNAMIC: &[&str] = &[
    "getattr(self",
    "self.children(",
    "self.modules(",
    "self.named_children(",
    "self.named_modules(",
    "self.parameters(",
    "self.named_parameters(",
    "self._modules",
    "self.__dict__",
    "vars(self)",
    "self.state_dict(",
];

fn check(ctx: &mut Context) {
    let index = ctx.index;
    let text = index.source.text.as_str();
    for class in &index.classes {
        if !class.is_module {
            continue;
        }
        let class_range = class.def.range();
        let class_text = ctx.text(class_range);
        if DYNAMIC.iter().any(|d| class_text.contains(d)) {
            continue;
        }
        // Only direct `nn.Module` / LightningModule subclasses: a parent class defined
        // elsewhere (or `nn.Sequential`, which applies its attributes in order) may use the
        // layer in code we do not see.
        if !class.bases.iter().all(|b| {
            matches!(
                b.as_str(),
                "torch.nn.Module" | "torch.nn.modules.module.Module"
            ) || b.ends_with("LightningModule")
        }) {
            continue;
        }
        // A subclass in this file may use the layer in its own forward.
        if index.classes.iter().any(|c| {
            c.bases
                .iter()
                .any(|b| b == class.name || b.ends_with(&format!(".{}", class.name)))
        }) {
            continue;
        }
        let mut seen: HashSet<&str> = HashSet::new();
        for layer in &class.layers {
            if !seen.insert(layer.attr.as_str()) {
                continue;
            }
            let Some(ctor) = layer.constructor.as_deref() else {
                continue;
            };
            let Some(short) = ctor.strip_prefix("torch.nn.") else {
                continue;
            };
            if !PARAMETRIZED.contains(&short) {
                continue;
            }
            let attr = layer.attr.as_str();
            if read_in_class(class_text, attr) || read_outside(text, class_range, attr) {
                continue;
            }
            let quoted = [format!("\"{attr}\""), format!("'{attr}'")];
            if quoted.iter().any(|q| text.contains(q.as_str())) {
                continue;
            }
            let message = format!(
                "`self.{attr}` (`{}`) is created in `{}` but never used: its parameters get no gradient, take memory and optimizer state, and make DistributedDataParallel fail unless `find_unused_parameters=True`",
                ctx.text(layer.call.range()),
                class.name
            );
            let fix = Fix::new(format!(
                "Apply `self.{attr}` in `forward`, or delete it if it is not needed"
            ));
            ctx.report(layer.call.range(), message, Some(fix));
        }
    }
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Any `self.<attr>` in the class that is not the target of a plain assignment.
fn read_in_class(class_text: &str, attr: &str) -> bool {
    let needle = format!("self.{attr}");
    let mut from = 0;
    while let Some(pos) = class_text[from..].find(&needle) {
        let start = from + pos;
        let end = start + needle.len();
        from = end;
        let before_ok = class_text[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !is_ident(c) && c != '.');
        let after = &class_text[end..];
        if !before_ok || after.chars().next().is_some_and(is_ident) {
            continue;
        }
        let rest = after.trim_start_matches([' ', '\t']);
        let assigned = (rest.starts_with('=') && !rest.starts_with("=="))
            || (rest.starts_with(':') && !rest.starts_with(":="));
        if !assigned {
            return true;
        }
    }
    false
}

/// `.<attr>` anywhere outside the class (a script reading `model.<attr>`, another class).
fn read_outside(text: &str, class_range: TextRange, attr: &str) -> bool {
    let needle = format!(".{attr}");
    let start = usize::from(class_range.start());
    let end = usize::from(class_range.end()).min(text.len());
    [&text[..start], &text[end..]].iter().any(|part| {
        let mut from = 0;
        while let Some(pos) = part[from..].find(&needle) {
            let after = from + pos + needle.len();
            from = after;
            if !part[after..].chars().next().is_some_and(is_ident) {
                return true;
            }
        }
        false
    })
}
