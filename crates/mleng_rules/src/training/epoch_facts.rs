//! The epoch loop around a batch training loop, with everything that runs in one epoch:
//! its calls and the calls of the local helpers it invokes (train_one_epoch, validate), in
//! order. Shared by TRN015 and TRN016.

use std::collections::HashSet;

use mleng_python::index::evaluation::Mode;
use mleng_python::index::training::{helper_targets, TrainingScope};
use mleng_python::index::{CallId, FunctionId, LoopId};
use mleng_python::SemanticIndex;
use ruff_python_ast::Expr;
use ruff_text_size::{TextRange, TextSize};

pub(crate) struct Epoch {
    pub loop_id: LoopId,
    /// Ranges of the batch training loops it runs (possibly inside helpers).
    pub training: Vec<TextRange>,
    /// Calls that run in one epoch, with the position in the epoch loop they happen at.
    pub calls: Vec<(CallId, TextSize)>,
    /// Loops that run in one epoch (the epoch loop's own nested loops and the helpers'), each
    /// with the range it runs from in the epoch loop: itself, or the helper call leading to it.
    pub loops: Vec<(LoopId, TextRange)>,
}

impl Epoch {
    pub fn switches<'s>(
        &'s self,
        index: &'s SemanticIndex,
    ) -> impl Iterator<Item = (CallId, Mode)> + 's {
        self.calls
            .iter()
            .filter_map(move |&(c, _)| index.mode_switch(c).map(|m| (c, m)))
    }
}

pub(crate) fn epochs(index: &SemanticIndex) -> Vec<Epoch> {
    if index.training_loops.is_empty() {
        return Vec::new();
    }
    let training_functions: HashSet<FunctionId> = index
        .training_loops
        .iter()
        .filter(|tl| matches!(tl.scope, TrainingScope::Loop(_)))
        .filter_map(|tl| tl.function)
        .collect();
    let mut found: Vec<(LoopId, Vec<TextRange>)> = Vec::new();
    let add = |lid: LoopId, range: TextRange, found: &mut Vec<(LoopId, Vec<TextRange>)>| match found
        .iter_mut()
        .find(|(l, _)| *l == lid)
    {
        Some((_, ranges)) => ranges.push(range),
        None => found.push((lid, vec![range])),
    };
    for tl in &index.training_loops {
        if let TrainingScope::Loop(lid) = tl.scope {
            if let Some(parent) = index.loops[lid].parent {
                add(parent, tl.range, &mut found);
            }
        }
    }
    for (id, call) in index.calls.iter().enumerate() {
        let Some(&lid) = call.loops.last() else {
            continue;
        };
        let class = call.function.and_then(|f| index.functions[f].class);
        for f in helper_targets(index, id, class) {
            if training_functions.contains(&f) {
                for tl in index
                    .training_loops
                    .iter()
                    .filter(|t| t.function == Some(f))
                {
                    add(lid, tl.range, &mut found);
                }
            }
        }
    }
    found
        .into_iter()
        .map(|(loop_id, training)| expand(index, loop_id, training))
        .collect()
}

fn expand(index: &SemanticIndex, loop_id: LoopId, training: Vec<TextRange>) -> Epoch {
    let range = index.loops[loop_id].range;
    let class = index.loops[loop_id]
        .function
        .and_then(|f| index.functions[f].class);
    let mut calls = Vec::new();
    let mut loops: Vec<(LoopId, TextRange)> = index
        .loops
        .iter()
        .enumerate()
        .filter(|(l, lp)| *l != loop_id && range.contains_range(lp.range))
        .map(|(l, lp)| (l, lp.range))
        .collect();
    let direct: Vec<CallId> = index
        .calls
        .iter()
        .enumerate()
        .filter(|(_, c)| range.contains_range(c.range()))
        .map(|(id, _)| id)
        .collect();
    let mut stack: Vec<(CallId, TextSize, u32, TextRange)> = direct
        .iter()
        .map(|&id| (id, index.calls[id].start(), 0, index.calls[id].range()))
        .collect();
    stack.reverse();
    let mut visited: HashSet<FunctionId> = HashSet::new();
    while let Some((id, position, depth, site)) = stack.pop() {
        calls.push((id, position));
        if depth >= 2 {
            continue;
        }
        for f in helper_targets(index, id, class) {
            if !visited.insert(f) {
                continue;
            }
            let body = index.functions[f].def.range;
            loops.extend(
                index
                    .loops
                    .iter()
                    .enumerate()
                    .filter(|(_, lp)| lp.function == Some(f) && body.contains_range(lp.range))
                    .map(|(l, _)| (l, site)),
            );
            let inner: Vec<CallId> = index.calls_in_function(f).map(|(cid, _)| cid).collect();
            for cid in inner.into_iter().rev() {
                stack.push((cid, position, depth + 1, site));
            }
        }
    }
    calls.sort_by_key(|&(c, p)| (p, c));
    Epoch {
        loop_id,
        training,
        calls,
        loops,
    }
}

/// A call in the epoch to something we cannot see (not a local helper, not `torch.*`) that
/// receives `model` as an argument: it may switch modes itself.
pub(crate) fn model_escapes(index: &SemanticIndex, epoch: &Epoch, model: &str) -> bool {
    let range = index.loops[epoch.loop_id].range;
    let class = index.loops[epoch.loop_id]
        .function
        .and_then(|f| index.functions[f].class);
    index.calls.iter().enumerate().any(|(id, c)| {
        range.contains_range(c.range())
            && !c
                .qualified
                .as_deref()
                .is_some_and(|q| q.starts_with("torch."))
            && helper_targets(index, id, class).is_empty()
            && c.argument_values().any(|a| {
                matches!(a, Expr::Name(_) | Expr::Attribute(_))
                    && mleng_python::index::literals::dotted(a).as_deref() == Some(model)
            })
    })
}
