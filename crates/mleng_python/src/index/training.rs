//! Training loops: a loop (or a step function) in which `backward()` and an optimizer step
//! both happen. For each we keep the ordered *events* of one iteration (backward, step,
//! zero_grad, clipping, AMP scaling), with calls to local helper functions expanded in place,
//! so that rules can ask "is there clipping between backward and step?" in one line.

use std::collections::HashSet;

use ruff_python_ast::Expr;
use ruff_text_size::{TextRange, TextSize};

use super::{CallId, CallKind, FunctionId, LoopId, SemanticIndex};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrainingScope {
    Loop(LoopId),
    /// A function that does one training step without a loop of its own (`def train_step`).
    Function(FunctionId),
}

#[derive(Debug, Clone)]
pub struct TrainingLoop {
    pub scope: TrainingScope,
    pub range: TextRange,
    /// The function the loop lives in (or the step function itself).
    pub function: Option<FunctionId>,
    /// Training-relevant calls of one iteration in source order.
    pub events: Vec<Event>,
}

#[derive(Debug, Clone, Copy)]
pub struct Event {
    pub call: CallId,
    pub kind: CallKind,
    /// Where it happens in the loop: the call itself, or the helper call that leads to it.
    pub position: TextSize,
    /// The helper call in the loop body through which this event happens, if any.
    pub via: Option<CallId>,
}

impl TrainingLoop {
    pub fn events_of(&self, pred: impl Fn(CallKind) -> bool) -> impl Iterator<Item = &Event> {
        self.events.iter().filter(move |e| pred(e.kind))
    }

    pub fn has(&self, pred: impl Fn(CallKind) -> bool) -> bool {
        self.events.iter().any(|e| pred(e.kind))
    }

    pub fn first(&self, pred: impl Fn(CallKind) -> bool) -> Option<&Event> {
        self.events_of(pred).min_by_key(|e| e.position)
    }

    pub fn last(&self, pred: impl Fn(CallKind) -> bool) -> Option<&Event> {
        self.events_of(pred).max_by_key(|e| e.position)
    }
}

const HELPER_DEPTH: u32 = 3;

pub(super) fn find(index: &SemanticIndex) -> Vec<TrainingLoop> {
    let mut units = Vec::new();
    let mut step_functions = HashSet::new();
    for (fid, function) in index.functions.iter().enumerate() {
        let direct: Vec<CallId> = index
            .calls_in_function(fid)
            .filter(|(_, c)| c.loops.is_empty())
            .map(|(id, _)| id)
            .collect();
        let events = expand(index, &direct, function.class);
        if is_training(&events) {
            step_functions.insert(fid);
            units.push(TrainingLoop {
                scope: TrainingScope::Function(fid),
                range: function.def.range,
                function: Some(fid),
                events,
            });
        }
    }
    let mut candidates: Vec<(LoopId, Vec<Event>)> = Vec::new();
    for (lid, lp) in index.loops.iter().enumerate() {
        let in_loop: Vec<CallId> = index
            .calls
            .iter()
            .enumerate()
            .filter(|(_, c)| c.loops.contains(&lid))
            .map(|(id, _)| id)
            .collect();
        let class = lp.function.and_then(|f| index.functions[f].class);
        let events = expand(index, &in_loop, class);
        if !is_training(&events) {
            continue;
        }
        // A loop that only calls a step function is that function's caller, not a second loop.
        let all_backward_via_step_fn =
            events
                .iter()
                .filter(|e| e.kind == CallKind::Backward)
                .all(|e| {
                    e.via.is_some_and(|via| {
                        helper_targets(index, via, class)
                            .iter()
                            .any(|f| step_functions.contains(f))
                    })
                });
        if all_backward_via_step_fn {
            continue;
        }
        candidates.push((lid, events));
    }
    // Keep the innermost: the batch loop, not the epoch loop around it.
    let candidate_ids: HashSet<LoopId> = candidates.iter().map(|(id, _)| *id).collect();
    for (lid, events) in candidates {
        let has_inner_candidate = candidate_ids
            .iter()
            .any(|&other| other != lid && is_ancestor(index, lid, other));
        if has_inner_candidate {
            continue;
        }
        let lp = &index.loops[lid];
        units.push(TrainingLoop {
            scope: TrainingScope::Loop(lid),
            range: lp.range,
            function: lp.function,
            events,
        });
    }
    units.sort_by_key(|u| u.range.start());
    units
}

fn is_training(events: &[Event]) -> bool {
    events.iter().any(|e| e.kind == CallKind::Backward) && events.iter().any(|e| e.kind.is_step())
}

fn is_ancestor(index: &SemanticIndex, ancestor: LoopId, mut lid: LoopId) -> bool {
    while let Some(parent) = index.loops[lid].parent {
        if parent == ancestor {
            return true;
        }
        lid = parent;
    }
    false
}

/// The local functions a call may run: `helper(...)` for a module-level `def helper`, and
/// `self.helper(...)` for a method of the same class.
pub fn helper_targets(
    index: &SemanticIndex,
    call: CallId,
    class: Option<usize>,
) -> Vec<FunctionId> {
    let call = &index.calls[call];
    match call.expr.func.as_ref() {
        Expr::Name(name) if call.qualified.is_none() => index
            .functions_named(name.id.as_str())
            .filter(|&f| index.functions[f].class.is_none() && index.functions[f].parent.is_none())
            .collect(),
        Expr::Attribute(attr) if matches!(attr.value.as_ref(), Expr::Name(n) if n.id.as_str() == "self") => {
            class
                .and_then(|c| index.method(c, attr.attr.as_str()))
                .into_iter()
                .collect()
        }
        _ => Vec::new(),
    }
}

fn expand(index: &SemanticIndex, calls: &[CallId], class: Option<usize>) -> Vec<Event> {
    let mut events = Vec::new();
    let mut visiting = HashSet::new();
    for &id in calls {
        push_events(
            index,
            id,
            class,
            index.calls[id].start(),
            None,
            0,
            &mut visiting,
            &mut events,
        );
    }
    events.sort_by_key(|e| (e.position, e.call));
    events
}

#[allow(clippy::too_many_arguments)]
fn push_events(
    index: &SemanticIndex,
    id: CallId,
    class: Option<usize>,
    position: TextSize,
    via: Option<CallId>,
    depth: u32,
    visiting: &mut HashSet<FunctionId>,
    events: &mut Vec<Event>,
) {
    let call = &index.calls[id];
    if call.kind != CallKind::Other {
        events.push(Event {
            call: id,
            kind: call.kind,
            position,
            via,
        });
        return;
    }
    if depth >= HELPER_DEPTH {
        return;
    }
    for target in helper_targets(index, id, class) {
        if !visiting.insert(target) {
            continue;
        }
        // Only the helper's straight-line calls: a loop inside the helper is a training loop
        // of its own, not one step of the caller's loop.
        let inner: Vec<CallId> = index
            .calls_in_function(target)
            .filter(|(_, c)| c.loops.is_empty())
            .map(|(cid, _)| cid)
            .collect();
        for cid in inner {
            push_events(
                index,
                cid,
                class,
                position,
                Some(via.unwrap_or(id)),
                depth + 1,
                visiting,
                events,
            );
        }
        visiting.remove(&target);
    }
}
