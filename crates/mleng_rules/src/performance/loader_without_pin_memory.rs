use mleng_diagnostics::{Applicability, Area, Fix, Severity};
use ruff_text_size::Ranged;

use super::loaders::{
    argument, dataset_facts, dataset_of, framework_moves_batches, iterating_loops, loaders,
    mentions_cuda, passed_to, PIN_MEMORY_POSITION,
};
use crate::context::{with_keyword, Context};
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "PRF007",
    name: "loader-without-pin-memory",
    area: Area::Performance,
    severity: Severity::Info,
    fix: Some(Applicability::Unsafe),
    summary: "A DataLoader whose batches the loop copies to the GPU does not pin them (`pin_memory=True`): every copy is staged through a pinned buffer and cannot overlap with compute.",
    docs: r#"## What it does
Finds a `DataLoader` built in the project over a map-style dataset (a torchvision dataset,
`TensorDataset`, `Subset`, or a dataset class of the project with `__getitem__`; not the
small in-memory images of MNIST, CIFAR or SVHN, whose batches copy in microseconds) without a
`pin_memory` argument, whose batches a loop copies to a CUDA device: a loop of the same file
that iterates the loader and calls `.cuda()` or `.to(device)` on the batch, or a function of
the project that the loader is passed to and that does so (a `train_one_epoch(model, loader,
...)` in another file). A `pin_memory` argument of any value (`pin_memory=args.pin`) is a
decision and is not reported, nor is a call with `**kwargs`, nor code written for Lightning,
Accelerate, Ignite or the Hugging Face `Trainer`, which move the batches themselves (and the
`Trainer` pins them by default).

## Why is this bad?
A batch collated by the `DataLoader` lives in ordinary (pageable) host memory. The GPU can only
copy from page-locked ("pinned") memory, so the CUDA driver first copies the batch into a pinned
staging buffer and then to the device, and `.to(device, non_blocking=True)` cannot be
asynchronous for pageable memory. With `pin_memory=True` the loader's pinning thread puts each
batch in page-locked memory as it is collated, so the host-to-device copy runs at full bandwidth
and, with `non_blocking=True`, overlaps with the computation of the previous step. The PyTorch
performance tuning guide recommends `pin_memory=True` whenever batches are moved to a GPU.
How much it saves depends on the batch size and how long a step computes (most for large
inputs and short steps; little for small tabular or MNIST-sized batches).

The effect is documented (the tuning guide, the `torch.utils.data` docs and the CUDA semantics
notes); it was not measured here (no GPU).

## Example
```python
train_loader = DataLoader(train_set, batch_size=128, shuffle=True, num_workers=8)
for images, labels in train_loader:
    images, labels = images.to(device), labels.to(device)
    ...
```

## Use instead
```python
train_loader = DataLoader(train_set, batch_size=128, shuffle=True, num_workers=8,
                          pin_memory=True)
for images, labels in train_loader:
    images = images.to(device, non_blocking=True)
    labels = labels.to(device, non_blocking=True)
    ...
```

## Known problems
Pinned memory is taken from the host's RAM and cannot be swapped: on a machine short of RAM,
with very large batches or many workers and a high `prefetch_factor`, pinning can exhaust it.
A custom batch type is only pinned if it defines a `pin_memory()` method.

## Fix
Unsafe: `pin_memory=True` is added to the `DataLoader(...)` call. It reserves page-locked host
memory (see Known problems), and on a machine without a GPU it only warns and does nothing.

## References
- PyTorch Performance Tuning Guide, "Enable async data loading and augmentation" (use `pin_memory=True`): <https://pytorch.org/tutorials/recipes/recipes/tuning_guide.html>
- `torch.utils.data`, "Memory Pinning": <https://pytorch.org/docs/stable/data.html#memory-pinning>
- CUDA semantics, "Use pinned memory buffers": <https://pytorch.org/docs/stable/notes/cuda.html#use-pinned-memory-buffers>
- PyTorch tutorial, "A guide on good usage of non_blocking and pin_memory() in PyTorch": <https://pytorch.org/tutorials/intermediate/pinmem_nonblock.html>
"#,
    check,
};

fn check(ctx: &mut Context) {
    let index = ctx.index;
    if ctx.is_test_file() || framework_moves_batches(ctx) || !mentions_cuda(ctx) {
        return;
    }
    for loader in loaders(ctx) {
        let call = loader.call;
        if argument(call, "pin_memory", PIN_MEMORY_POSITION).is_some() {
            continue;
        }
        let Some(dataset) = dataset_of(&loader) else {
            continue;
        };
        // A map-style dataset, not of small in-memory images (a 28x28 MNIST batch copies in
        // microseconds either way).
        let worth_it = dataset_facts(ctx, dataset, loader.function, loader.range.start())
            .is_some_and(|facts| facts.map_style && !facts.small);
        if !worth_it {
            continue;
        }
        let target = loader.target;
        // Where the batches go to the GPU: a copy in a loop of this file, or a project
        // function the loader is passed to.
        let copy = iterating_loops(ctx, &loader)
            .into_iter()
            .find_map(|lid| index.batch_copies(lid).into_iter().find(|c| c.direct))
            .map(|c| {
                let copy = &index.calls[c.call];
                format!(
                    "`{}` ({})",
                    ctx.text(copy.range()),
                    ctx.where_is(copy.range())
                )
            })
            .or_else(|| {
                passed_to(ctx, &loader)
                    .into_iter()
                    .find(|(_, behaviour)| behaviour.moves_batches)
                    .map(|(id, _)| format!("in `{}`", ctx.text(index.calls[id].expr.func.range())))
            });
        let Some(copy) = copy else {
            continue;
        };
        let message = format!(
            "`{target}` does not pin its batches, which are copied to the GPU {copy}: each copy from pageable memory is staged through a pinned buffer and cannot overlap with compute"
        );
        let fix =
            Fix::new("Pin the batches in the loader (and copy them with `non_blocking=True`)")
                .with_replacement(with_keyword(ctx.text(call.range()), "pin_memory=True"));
        ctx.report(call.range(), message, Some(fix));
    }
}
