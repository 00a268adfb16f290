use std::collections::HashSet;

use mleng_diagnostics::{Area, Fix, Severity};
use mleng_knowledge::performance::{DEVICE_SYNCHRONIZE, HOST_COPY_METHODS};
use mleng_python::index::device::root_name;
use mleng_python::index::{CallId, CallKind, LoopId, TrainingScope};
use ruff_python_ast::visitor::{walk_expr, Visitor};
use ruff_python_ast::{CmpOp, Expr};
use ruff_text_size::{Ranged, TextRange};

use super::hot_path::{every_step, every_step_calls, training_steps, Step};
use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "PRF014",
    name: "host-sync-every-step",
    area: Area::Performance,
    severity: Severity::Info,
    fix: None,
    summary: "The loss or an output is read on the host (`.item()`, `.cpu()`, `print(loss)`) on every training step: each read makes the CPU wait for the GPU.",
    docs: r#"## What it does
Finds a training loop (the batch loop in which `backward()` and an optimizer step run, and
which moves its batch to a device) that reads a tensor it computes on every step back to the
host on **every** iteration: `loss.item()`, `outputs.argmax(1).cpu()`, `.numpy()`,
`.tolist()`, `float(loss)`, `int(...)`, `print(loss)`, on the loss or on a value computed
from the model's output in the same iteration. The classic shape is
`running_loss += loss.item()` or `pbar.set_postfix(loss=loss.item())` after
`optimizer.step()`. One finding per loop, at its first such read, with the others as related
locations.

It stays silent:
- where the read is under any condition (`if step % log_interval == 0:`), in an `except`
  handler, in the epoch loop outside the batch loop, or in a helper function the loop calls;
- in evaluation loops and in step functions such as Lightning's `training_step` (the
  framework logs a tensor without reading it every step);
- where the loop needs the value on the host in the same iteration, which makes one
  synchronization unavoidable and the others nearly free: an `if`, `while` or `assert` that
  tests the loss or a value read from it (`if not math.isfinite(loss.item()): sys.exit(1)`,
  `if torch.isnan(loss): continue`), or a scheduler stepped with it
  (`scheduler.step(loss.item())`);
- where the loop calls `torch.cuda.synchronize()` on every step (to time it): it waits for
  the GPU anyway;
- on values that are not computed on the device in the loop (the batch as the loader gives
  it, sizes, shapes).

## Why is this bad?
CUDA work is asynchronous: the CPU queues a step's kernels and moves on to load and queue
the next step while the GPU computes. Reading a value computed on the GPU (`.item()`,
`.cpu()`, `.numpy()`, `.tolist()`, `float(t)`, printing `t`) makes the CPU wait until every
kernel queued before it has finished, so the next step's host work and kernel launches no
longer overlap with GPU work. The PyTorch performance tuning guide lists these calls under
"Avoid unnecessary CPU-GPU synchronization". The result is correct either way; the cost
depends on how much host work a step has (largest for small models and short steps, small
for long GPU-bound steps), which is why this is advice (`info`), not a warning.

The effect is documented (the tuning guide); it was not measured here (no GPU).

This rule is off by default, although its findings were right wherever they were read (below):
a third of real training repositories read the loss on every step for a progress bar or a
running average (PyTorch's own examples do), the cost of one such read on a GPU-bound step is
small, and a finding on each of them would drown the others. Select it (`--select PRF014`)
when tuning a loop's throughput.

Precision: on the 139 real training repositories, 107 findings in 49 of them (169 reads); 72
read in the source, all 72 right (a value computed on the device read on every step for a
running average, a progress bar or a log line, which the step itself does not need); the others
are copies of the same loops in sibling notebooks. The first version's one false finding
(YOLOv3's `float(loss_components[0])`, a tensor its loss function had already copied to the host)
is why values a function returns next to the loss are not followed.

## Example
```python
for images, labels in loader:
    images, labels = images.cuda(), labels.cuda()
    loss = criterion(model(images), labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    running_loss += loss.item()
```

## Use instead
```python
running_loss = torch.zeros((), device="cuda")
for step, (images, labels) in enumerate(loader):
    images, labels = images.cuda(), labels.cuda()
    loss = criterion(model(images), labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    running_loss += loss.detach()
    if step % 100 == 0:
        print(running_loss.item() / (step + 1))
```

## Fix
None: where to read the value (every N steps, at the end of the epoch) and how the progress
display should change is the author's choice.

## References
- PyTorch Performance Tuning Guide, "Avoid unnecessary CPU-GPU synchronization": <https://pytorch.org/tutorials/recipes/recipes/tuning_guide.html>
- CUDA semantics, "Asynchronous execution": <https://pytorch.org/docs/stable/notes/cuda.html#asynchronous-execution>
"#,
    check,
};

/// Builtins that convert a tensor to a Python value (and so wait for it).
const CONVERTERS: &[&str] = &["float", "int", "print"];

/// Code whose value is a host number even when it starts from a tensor (`x.size(0)`,
/// `x.shape[0]`, `len(x)`): a name bound from it is not a device tensor.
fn host_sized(text: &str) -> bool {
    [".size(", ".shape", "len(", ".numel(", ".dim(", ".ndim"]
        .iter()
        .any(|w| text.contains(w))
}

/// The names an expression reads (also inside calls and f-strings).
fn names_in(expr: &Expr) -> HashSet<&str> {
    struct Names<'a>(HashSet<&'a str>);
    impl<'a> Visitor<'a> for Names<'a> {
        fn visit_expr(&mut self, expr: &'a Expr) {
            if let Expr::Name(n) = expr {
                self.0.insert(n.id.as_str());
            }
            walk_expr(self, expr);
        }
    }
    let mut v = Names(HashSet::new());
    v.visit_expr(expr);
    v.0
}

/// Does `expr` hand a device tensor to the enclosing conversion (`loss`, `f"{loss:.3f}"`,
/// `"%f" % loss`, `preds.eq(y).sum()`), not a value a function computed from one (whose result
/// may be on the host) or an attribute (`loss.shape`)?
fn passes_tensor(ctx: &Context, expr: &Expr, tensors: &HashSet<String>) -> bool {
    struct Finder<'c, 'i, 'a, 't> {
        ctx: &'c Context<'i, 'a>,
        tensors: &'t HashSet<String>,
        found: bool,
    }
    impl<'v> Visitor<'v> for Finder<'_, '_, '_, '_> {
        fn visit_expr(&mut self, expr: &'v Expr) {
            if tensor_expr(self.ctx, expr, self.tensors) {
                self.found = true;
                return;
            }
            match expr {
                Expr::Call(_) | Expr::Attribute(_) | Expr::Lambda(_) => {}
                other => walk_expr(self, other),
            }
        }
    }
    let mut finder = Finder {
        ctx,
        tensors,
        found: false,
    };
    finder.visit_expr(expr);
    finder.found
}

/// The names holding the value `backward()` runs from in this loop: `loss` in
/// `loss.backward()`, `scaler.scale(loss).backward()` and `accelerator.backward(loss)`, and
/// names bound from a helper call in which the backward happens (`loss = train_step(...)`).
fn loss_names(ctx: &Context, step: &Step, lid: LoopId) -> HashSet<String> {
    let index = ctx.index;
    let mut out = HashSet::new();
    for event in step.lp.events_of(|k| k == CallKind::Backward) {
        if let Some(via) = event.via {
            for b in loop_bindings(ctx, lid) {
                if matches!(b.value, Expr::Call(c) if c.range() == index.calls[via].range()) {
                    out.insert(b.target.clone());
                }
            }
            continue;
        }
        let call = &index.calls[event.call];
        let Expr::Attribute(attr) = call.expr.func.as_ref() else {
            continue;
        };
        let source = match attr.value.as_ref() {
            Expr::Call(inner) if call.expr.arguments.is_empty() => {
                inner.arguments.args.first().unwrap_or(attr.value.as_ref())
            }
            _ if !call.expr.arguments.args.is_empty() => &call.expr.arguments.args[0],
            receiver => receiver,
        };
        if let Some(root) = root_name(source) {
            out.insert(root.to_string());
        }
    }
    out
}

/// Plain-name bindings made in the loop (also in loops nested in it), in its function.
fn loop_bindings<'c, 'a>(
    ctx: &'c Context<'_, 'a>,
    lid: LoopId,
) -> impl Iterator<Item = &'c mleng_python::index::Binding<'a>> + 'c {
    let lp = &ctx.index.loops[lid];
    ctx.index.bindings.iter().filter(move |b| {
        b.function == lp.function && lp.range.contains_range(b.range) && !b.target.contains('.')
    })
}

/// Is `id` a call of the builtin `float`, `int` or `print` (not a function of the file)?
fn converter(ctx: &Context, id: CallId) -> bool {
    let c = &ctx.index.calls[id];
    matches!(c.expr.func.as_ref(), Expr::Name(n)
        if CONVERTERS.contains(&n.id.as_str())
            && c.qualified.is_none()
            && ctx.index.functions_named(n.id.as_str()).next().is_none())
}

/// Is `id` a method call that reads its receiver to the host (`.item()`, `.cpu()`, ...)?
fn host_read_method(ctx: &Context, id: CallId) -> bool {
    let c = &ctx.index.calls[id];
    c.qualified.is_none()
        && c.method
            .is_some_and(|m| m == "item" || HOST_COPY_METHODS.contains(&m))
}

/// The device tensors the loop computes each iteration: the loss, the names it is computed
/// from that the loop binds from a call (the model's output), and names computed from those;
/// not the batch as the loader gives it, sizes, or values already read to the host.
fn loop_tensors(ctx: &Context, step: &Step, lid: LoopId) -> HashSet<String> {
    let index = ctx.index;
    let batch: HashSet<String> = index.batch_names(lid).into_iter().collect();
    let mut tensors = loss_names(ctx, step, lid);
    let reads_host = |value: &Expr| {
        let range = value.range();
        index
            .calls
            .iter()
            .enumerate()
            .any(|(id, c)| range.contains_range(c.range()) && host_read_method(ctx, id))
    };
    let eligible = |b: &mleng_python::index::Binding| {
        !batch.contains(&b.target) && !host_sized(ctx.text(b.value.range())) && !reads_host(b.value)
    };
    // What the loss is computed from, when the loop computes it with a call.
    for _round in 0..2 {
        let mut more = Vec::new();
        for b in loop_bindings(ctx, lid).filter(|b| tensors.contains(&b.target)) {
            for name in names_in(b.value) {
                let from_call = loop_bindings(ctx, lid)
                    .any(|o| o.target == name && matches!(o.value, Expr::Call(_)) && eligible(o));
                if from_call && !batch.contains(name) {
                    more.push(name.to_string());
                }
            }
        }
        tensors.extend(more);
    }
    // What is computed from those with tensor operations (not with functions of unknown
    // result, such as `accuracy(outputs, labels)`, or values returned next to the loss).
    for _round in 0..4 {
        let more: Vec<String> = loop_bindings(ctx, lid)
            .filter(|b| !tensors.contains(&b.target) && eligible(b))
            .filter(|b| tensor_expr(ctx, b.value, &tensors))
            .map(|b| b.target.clone())
            .collect();
        if more.is_empty() {
            break;
        }
        tensors.extend(more);
    }
    tensors
}

/// Tensor methods whose result is a host value, not a tensor.
const HOST_RESULTS: &[&str] = &[
    "item",
    "cpu",
    "numpy",
    "tolist",
    "size",
    "dim",
    "numel",
    "nelement",
    "element_size",
    "get_device",
    "data_ptr",
    "is_contiguous",
    "type",
];

/// Is `expr` a tensor computed from `tensors` by tensor operations: arithmetic, comparisons,
/// indexing, tensor methods (`outputs.argmax(1)`, `loss.detach()`), `torch.*` functions and
/// `sum(...)`?
fn tensor_expr(ctx: &Context, expr: &Expr, tensors: &HashSet<String>) -> bool {
    let this = |e: &Expr| tensor_expr(ctx, e, tensors);
    match expr {
        Expr::Name(n) => tensors.contains(n.id.as_str()),
        Expr::Attribute(a) => {
            matches!(a.attr.as_str(), "data" | "T" | "mT" | "real") && this(&a.value)
        }
        Expr::Subscript(s) => this(&s.value),
        Expr::BinOp(b) => this(&b.left) || this(&b.right),
        Expr::UnaryOp(u) => this(&u.operand),
        Expr::Compare(c) => {
            !c.ops
                .iter()
                .any(|op| matches!(op, CmpOp::Is | CmpOp::IsNot | CmpOp::In | CmpOp::NotIn))
                && (this(&c.left) || c.comparators.iter().any(this))
        }
        Expr::Call(call) => match call.func.as_ref() {
            Expr::Attribute(a) if !HOST_RESULTS.contains(&a.attr.as_str()) && this(&a.value) => {
                true
            }
            Expr::Name(n) if n.id.as_str() == "sum" => call
                .arguments
                .args
                .iter()
                .any(|a| names_in(a).iter().any(|n| tensors.contains(*n))),
            func => {
                ctx.index
                    .qualified_name(func)
                    .is_some_and(|q| q.starts_with("torch."))
                    && call.arguments.args.iter().any(this)
            }
        },
        _ => false,
    }
}

/// The reads of `tensors` to the host that run on every step of the loop, outermost only
/// (`x.cpu().numpy()` is one read).
fn host_reads(ctx: &Context, step: &Step, tensors: &HashSet<String>) -> Vec<CallId> {
    let index = ctx.index;
    let mut reads: Vec<CallId> = (0..index.calls.len())
        .filter(|&id| every_step(ctx, step, id))
        .filter(|&id| {
            let c = &index.calls[id];
            if host_read_method(ctx, id) {
                let Expr::Attribute(attr) = c.expr.func.as_ref() else {
                    return false;
                };
                return tensor_expr(ctx, &attr.value, tensors);
            }
            converter(ctx, id)
                && c.expr
                    .arguments
                    .args
                    .iter()
                    .any(|a| passes_tensor(ctx, a, tensors))
        })
        .collect();
    reads.sort_by_key(|&id| index.calls[id].start());
    reads
        .iter()
        .copied()
        .filter(|&id| {
            let range = index.calls[id].range();
            !reads
                .iter()
                .any(|&o| o != id && index.calls[o].range().contains_range(range))
        })
        .collect()
}

/// Does a test read one of `names` as a value (not `x is None`, `isinstance(x, ...)`,
/// `len(x)`, `x.shape`)?
fn tests_value(test: &Expr, names: &HashSet<String>) -> bool {
    struct Finder<'t> {
        names: &'t HashSet<String>,
        found: bool,
    }
    impl<'a> Visitor<'a> for Finder<'_> {
        fn visit_expr(&mut self, expr: &'a Expr) {
            match expr {
                Expr::Name(n) => self.found |= self.names.contains(n.id.as_str()),
                Expr::Compare(c)
                    if c.ops
                        .iter()
                        .all(|op| matches!(op, CmpOp::Is | CmpOp::IsNot)) => {}
                Expr::Call(c)
                    if matches!(c.func.as_ref(), Expr::Name(n)
                        if matches!(n.id.as_str(), "isinstance" | "hasattr" | "len" | "type")) => {}
                Expr::Attribute(a)
                    if matches!(a.attr.as_str(), "shape" | "device" | "dtype" | "ndim") => {}
                other => walk_expr(self, other),
            }
        }
    }
    let mut finder = Finder {
        names,
        found: false,
    };
    finder.visit_expr(test);
    finder.found
}

/// Whole words of `text` (identifiers).
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
}

/// The loop needs a device value on the host in the iteration: an `if`/`while`/`assert` that
/// tests the loss (or a value read from it), or a scheduler stepped with it. One
/// synchronization is then unavoidable and the other reads are nearly free.
fn needs_value_on_host(
    ctx: &Context,
    lid: LoopId,
    tensors: &HashSet<String>,
    reads: &[CallId],
) -> bool {
    let index = ctx.index;
    let lp = &index.loops[lid];
    // Names holding a value read to the host in the loop (`loss_value = loss.item()`).
    let mut watched = tensors.clone();
    for b in loop_bindings(ctx, lid) {
        let range = b.value.range();
        let reads_host = index.calls.iter().enumerate().any(|(id, c)| {
            range.contains_range(c.range()) && (host_read_method(ctx, id) || converter(ctx, id))
        });
        if reads_host && names_in(b.value).iter().any(|n| tensors.contains(*n)) {
            watched.insert(b.target.clone());
        }
    }
    let tested = index
        .flow
        .ifs
        .iter()
        .any(|block| lp.range.contains_range(block.range) && tests_value(block.test, &watched));
    let header = ctx.text(lp.header);
    let while_test =
        header.trim_start().starts_with("while") && words(header).any(|w| watched.contains(w));
    let source = index.source;
    let (first, last) = (
        source.lines.line_of(lp.range.start()),
        source.lines.line_of(lp.range.end()),
    );
    let asserted = (first..=last).any(|line| {
        let text = source.lines.line_text(&source.text, line).trim_start();
        (text.starts_with("assert ") || text.starts_with("raise "))
            && words(text).any(|w| watched.contains(w))
    });
    // `scheduler.step(loss.item())`: the value drives the learning rate.
    let steers = index.calls.iter().any(|c| {
        c.loops.contains(&lid)
            && c.method == Some("step")
            && c.argument_values()
                .any(|a| names_in(a).iter().any(|n| watched.contains(*n)))
    }) || reads.iter().any(|&r| {
        let range = index.calls[r].range();
        index.calls.iter().any(|c| {
            c.loops.contains(&lid)
                && c.method == Some("step")
                && c.argument_values().any(|a| a.range().contains_range(range))
        })
    });
    tested || while_test || asserted || steers
}

/// The loop runs on an accelerator: it copies data to a device, or an accelerator object runs
/// its backward pass (`accelerator.backward(loss)`), which places the batches itself.
fn on_device(ctx: &Context, step: &Step, lid: LoopId) -> bool {
    let index = ctx.index;
    index
        .calls
        .iter()
        .enumerate()
        .any(|(id, c)| c.loops.contains(&lid) && index.device_copy(id).is_some())
        || step.lp.events_of(|k| k == CallKind::Backward).any(|e| {
            index.calls[e.call]
                .receiver
                .as_deref()
                .is_some_and(|r| r.contains("accelerator") || r.contains("fabric"))
        })
}

/// The read with the calls chained onto it (`loss.detach().cpu().numpy()` for its `.cpu()`).
fn read_range(ctx: &Context, id: CallId) -> TextRange {
    let mut range = ctx.index.calls[id].range();
    while let Some(outer) =
        ctx.index.calls.iter().find(
            |c| matches!(c.expr.func.as_ref(), Expr::Attribute(a) if a.value.range() == range),
        )
    {
        range = outer.range();
    }
    range
}

fn check(ctx: &mut Context) {
    for step in training_steps(ctx) {
        let TrainingScope::Loop(lid) = step.lp.scope else {
            continue;
        };
        if !on_device(ctx, &step, lid) {
            continue;
        }
        let tensors = loop_tensors(ctx, &step, lid);
        let reads = host_reads(ctx, &step, &tensors);
        let Some(&first) = reads.first() else {
            continue;
        };
        // A loop that synchronizes on purpose every step (to time it) pays for the wait anyway.
        if needs_value_on_host(ctx, lid, &tensors, &reads)
            || !every_step_calls(ctx, &step, DEVICE_SYNCHRONIZE).is_empty()
        {
            continue;
        }
        let others = match reads.len() {
            1 => String::new(),
            2 => " (and 1 more read)".to_string(),
            n => format!(" (and {} more reads)", n - 1),
        };
        let message = format!(
            "`{}`{others} runs on every training step and reads a value computed on the GPU back to the host: the CPU waits for the step's kernels to finish before it can queue the next step",
            ctx.brief(read_range(ctx, first))
        );
        let fix = Fix::new(
            "Accumulate on the device (`running_loss += loss.detach()`) and read it with `.item()` every N steps or at the end of the epoch",
        );
        // The other reads of the loop, where the same change goes.
        let related: Vec<_> = reads
            .iter()
            .skip(1)
            .map(|&id| {
                let range = read_range(ctx, id);
                (
                    ctx.location(range),
                    format!("also read to the host here: `{}`", ctx.brief(range)),
                )
            })
            .collect();
        let finding = ctx.report(read_range(ctx, first), message, Some(fix));
        for (location, note) in related {
            finding.relate(location, note);
        }
    }
}
