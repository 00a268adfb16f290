//! Model structure: which classes are `nn.Module`s (or `LightningModule`s), the layers their
//! methods assign to `self`, the order `forward` applies them in, and the flattened contents
//! of `nn.Sequential(...)` calls.

use std::collections::HashMap;

use ruff_python_ast::{Expr, ExprCall, StmtClassDef};
use ruff_text_size::{Ranged, TextRange, TextSize};

use super::{CallId, FunctionId, SemanticIndex};

/// Base classes that make a class a PyTorch module.
const MODULE_BASES: &[&str] = &[
    "torch.nn.Module",
    "torch.nn.modules.module.Module",
    "torch.nn.Sequential",
    "torch.nn.ModuleList",
    "lightning.LightningModule",
    "lightning.pytorch.LightningModule",
    "lightning.pytorch.core.LightningModule",
    "pytorch_lightning.LightningModule",
    "pytorch_lightning.core.LightningModule",
];

#[derive(Debug)]
pub struct Class<'a> {
    pub def: &'a StmtClassDef,
    pub name: &'a str,
    /// Bases, qualified where they resolve through imports, else as written.
    pub bases: Vec<String>,
    pub methods: Vec<FunctionId>,
    pub is_module: bool,
    pub is_lightning: bool,
    pub layers: Vec<Layer<'a>>,
}

impl<'a> Class<'a> {
    pub(super) fn new(def: &'a StmtClassDef) -> Class<'a> {
        Class {
            def,
            name: def.name.as_str(),
            bases: Vec::new(),
            methods: Vec::new(),
            is_module: false,
            is_lightning: false,
            layers: Vec::new(),
        }
    }
}

/// `self.<attr> = <constructor>(...)` inside a module's method.
#[derive(Debug)]
pub struct Layer<'a> {
    pub attr: String,
    /// Qualified constructor (`torch.nn.Dropout`) or the local class name.
    pub constructor: Option<String>,
    pub call: &'a ExprCall,
}

/// One application of a layer or functional op inside `forward`, in evaluation order.
#[derive(Debug, Clone)]
pub struct LayerUse {
    pub call: CallId,
    /// Qualified layer constructor (for `self.bn(x)`) or functional op (`torch.nn.functional.dropout`).
    pub op: String,
    /// The attribute name for module layers (`bn`).
    pub attr: Option<String>,
}

pub(super) fn analyze(index: &mut SemanticIndex) {
    let bases: Vec<Vec<String>> = index
        .classes
        .iter()
        .map(|class| {
            class
                .def
                .arguments
                .as_ref()
                .map(|args| {
                    args.args
                        .iter()
                        .filter_map(|base| {
                            index
                                .qualified_name(base)
                                .or_else(|| super::literals::dotted(base))
                        })
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect();
    for (class, bases) in index.classes.iter_mut().zip(bases) {
        class.bases = bases;
    }
    // A class is a module if a base is, including local classes defined anywhere in the file.
    let mut changed = true;
    while changed {
        changed = false;
        let module_names: Vec<(String, bool)> = index
            .classes
            .iter()
            .filter(|c| c.is_module)
            .map(|c| (c.name.to_string(), c.is_lightning))
            .collect();
        for class in index.classes.iter_mut().filter(|c| !c.is_module) {
            for base in &class.bases {
                let lightning = base.ends_with("LightningModule");
                let local = module_names.iter().find(|(name, _)| name == base);
                if MODULE_BASES.contains(&base.as_str()) || lightning || local.is_some() {
                    class.is_module = true;
                    class.is_lightning = lightning || local.is_some_and(|(_, l)| *l);
                    changed = true;
                }
            }
        }
    }
    // Layers: `self.x = Ctor(...)` in any method of a module class.
    let mut layers: HashMap<usize, Vec<Layer>> = HashMap::new();
    for binding in &index.bindings {
        let (Some(class), Expr::Call(call)) = (binding.class, binding.value) else {
            continue;
        };
        let Some(attr) = binding.target.strip_prefix("self.") else {
            continue;
        };
        if attr.contains('.') || !index.classes[class].is_module {
            continue;
        }
        let constructor = index
            .qualified_name(&call.func)
            .or_else(|| super::literals::dotted(&call.func));
        layers.entry(class).or_default().push(Layer {
            attr: attr.to_string(),
            constructor,
            call,
        });
    }
    for (class, list) in layers {
        index.classes[class].layers = list;
    }
}

impl<'a> SemanticIndex<'a> {
    pub fn method(&self, class: usize, name: &str) -> Option<FunctionId> {
        self.classes[class]
            .methods
            .iter()
            .copied()
            .find(|&f| self.functions[f].name == name)
    }

    pub fn layer(&self, class: usize, attr: &str) -> Option<&Layer<'a>> {
        self.classes[class]
            .layers
            .iter()
            .rev()
            .find(|l| l.attr == attr)
    }

    /// Layer and functional applications in `forward`, in evaluation order. Calls on `self.x`
    /// where `x` is not a layer we know are left out.
    pub fn forward_uses(&self, class: usize) -> Vec<LayerUse> {
        let Some(forward) = self.method(class, "forward") else {
            return Vec::new();
        };
        let mut uses = Vec::new();
        for (id, call) in self.calls_in_function(forward) {
            if let Some(attr) = super::literals::dotted(&call.expr.func)
                .as_deref()
                .and_then(|d| d.strip_prefix("self."))
            {
                if let Some(layer) = self.layer(class, attr) {
                    if let Some(ctor) = &layer.constructor {
                        uses.push(LayerUse {
                            call: id,
                            op: ctor.clone(),
                            attr: Some(attr.to_string()),
                        });
                    }
                    continue;
                }
            }
            if let Some(q) = &call.qualified {
                uses.push(LayerUse {
                    call: id,
                    op: q.clone(),
                    attr: None,
                });
            }
        }
        uses
    }

    /// The call whose result `expr` is, looking through names assigned earlier in the same
    /// function (`x = self.drop(x)` then `self.bn(x)`): a small, linear data-flow answer.
    pub fn producer(
        &self,
        function: Option<FunctionId>,
        expr: &Expr,
        before: TextSize,
    ) -> Option<CallId> {
        match expr {
            Expr::Call(call) => self.call_id_at(call.range()),
            Expr::Name(name) => {
                let binding = self
                    .bindings
                    .iter()
                    .filter(|b| {
                        b.function == function
                            && b.target == name.id.as_str()
                            && b.range.end() <= before
                    })
                    .max_by_key(|b| b.range.start())?;
                match binding.value {
                    Expr::Call(call) => self.call_id_at(call.range()),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    pub fn call_id_at(&self, range: TextRange) -> Option<CallId> {
        self.calls.iter().position(|c| c.expr.range() == range)
    }

    /// Elements of an `nn.Sequential(...)` call, nested `Sequential`s and `OrderedDict`
    /// forms expanded in order. `None` marks an element we cannot see (a variable, `*layers`).
    pub fn sequential_items(&self, call: &'a ExprCall) -> Vec<Option<&'a ExprCall>> {
        let mut out = Vec::new();
        self.push_sequential_items(call, &mut out, 0);
        out
    }

    fn push_sequential_items(
        &self,
        call: &'a ExprCall,
        out: &mut Vec<Option<&'a ExprCall>>,
        depth: u32,
    ) {
        for arg in call.arguments.args.iter() {
            match arg {
                Expr::Call(inner) if depth < 8 && self.is_sequential(inner) => {
                    self.push_sequential_items(inner, out, depth + 1)
                }
                Expr::Call(inner)
                    if self
                        .qualified_name(&inner.func)
                        .is_some_and(|q| q.ends_with("OrderedDict")) =>
                {
                    // OrderedDict([("name", layer), ...])
                    let Some(Expr::List(list)) = inner.arguments.args.first() else {
                        out.push(None);
                        continue;
                    };
                    for elt in &list.elts {
                        match elt {
                            Expr::Tuple(pair) => match pair.elts.get(1) {
                                Some(Expr::Call(layer))
                                    if depth < 8 && self.is_sequential(layer) =>
                                {
                                    self.push_sequential_items(layer, out, depth + 1)
                                }
                                Some(Expr::Call(layer)) => out.push(Some(layer)),
                                _ => out.push(None),
                            },
                            _ => out.push(None),
                        }
                    }
                }
                Expr::Call(inner) => out.push(Some(inner)),
                _ => out.push(None),
            }
        }
    }

    pub fn is_sequential(&self, call: &ExprCall) -> bool {
        self.qualified_name(&call.func).is_some_and(|q| {
            q == "torch.nn.Sequential" || q == "torch.nn.modules.container.Sequential"
        })
    }
}
