//! Which `nn.Module` classes of the project behave the same in `train()` and `eval()` mode.
//! A model without Dropout, BatchNorm or anything else that reads `self.training` computes
//! the same function in both modes, so advice about a missing `model.eval()` is moot for it.
//!
//! Each file records its module classes with what it could see locally: whether some layer
//! or op depends on the mode, and which other classes it is built from. The project pass
//! resolves those children across files. Anything not understood counts as mode-dependent:
//! a layer built by a helper method, a class from another library (a torchvision ResNet has
//! BatchNorm), a child class that no reviewed file defines, a cycle.

use std::path::Path;

use mleng_knowledge::layers::{is_container, kind, same_in_train_and_eval, LayerKind};
use mleng_python::index::literals::dotted;
use mleng_python::SemanticIndex;
use ruff_text_size::Ranged;

use super::FileFacts;

/// One `nn.Module` class as its own file shows it.
#[derive(Debug, Clone, Default)]
pub struct ModuleClass {
    pub name: String,
    /// Some layer, op or `self.training` test in the class depends on the mode, or a layer
    /// could not be read.
    pub depends_on_mode: bool,
    /// Classes it is built from or inherits from (short names), to resolve in the project.
    pub children: Vec<String>,
}

/// The module classes of one file.
pub fn collect(index: &SemanticIndex) -> Vec<ModuleClass> {
    let mut out = Vec::new();
    for (class_id, class) in index.classes.iter().enumerate() {
        if !class.is_module {
            continue;
        }
        let mut facts = ModuleClass {
            name: class.name.to_string(),
            ..ModuleClass::default()
        };
        // Bases other than nn.Module (and Lightning's) bring their own layers.
        for base in &class.bases {
            let short = base.rsplit('.').next().unwrap_or(base);
            if !matches!(short, "Module" | "LightningModule") {
                facts.children.push(short.to_string());
            }
        }
        let class_range = class.def.range();
        if index.text(class_range).contains("self.training") {
            facts.depends_on_mode = true;
        }
        for layer in &class.layers {
            match layer.constructor.as_deref() {
                Some(q) if is_container(q) => {}
                // `nn.Parameter(...)`, `torch.zeros(...)`: tensors, not layers.
                Some(q)
                    if q.starts_with("torch.nn.Parameter")
                        || q.starts_with("torch.nn.parameter.")
                        || (q.starts_with("torch.") && !q.starts_with("torch.nn.")) => {}
                Some(q) if q.starts_with("torch.") => {
                    facts.depends_on_mode |= !same_in_train_and_eval(q);
                }
                Some(q) => facts
                    .children
                    .push(q.rsplit('.').next().unwrap_or(q).to_string()),
                None => facts.depends_on_mode = true,
            }
        }
        // Every call in the class body: containers' contents and functional ops in forward.
        for call in index
            .calls
            .iter()
            .filter(|c| class_range.contains_range(c.range()))
        {
            match call.qualified.as_deref() {
                Some(q) if q.starts_with("torch.nn.functional.") || q.starts_with("torch.nn.") => {
                    let k = kind(q);
                    if matches!(k, LayerKind::Dropout | LayerKind::BatchNorm)
                        || q.ends_with(".rrelu")
                        || q.ends_with(".instance_norm")
                    {
                        facts.depends_on_mode = true;
                    }
                    if in_container(index, class_id, call.range()) && !is_container(q) {
                        facts.depends_on_mode |= !same_in_train_and_eval(q);
                    }
                }
                Some(q)
                    if in_container(index, class_id, call.range()) && !q.starts_with("torch.") =>
                {
                    facts
                        .children
                        .push(q.rsplit('.').next().unwrap_or(q).to_string());
                }
                None if in_container(index, class_id, call.range()) => {
                    // `Block(64)` is a class; `self._make_layer(...)`, `range(n)` are not read.
                    match dotted(&call.expr.func) {
                        Some(name) if is_class_name(&name) => facts.children.push(name),
                        _ => facts.depends_on_mode = true,
                    }
                }
                _ => {}
            }
        }
        facts.children.sort();
        facts.children.dedup();
        out.push(facts);
    }
    out
}

/// A call inside the arguments of an `nn.Sequential`/`ModuleList`/`ModuleDict` layer.
fn in_container(index: &SemanticIndex, class_id: usize, at: ruff_text_size::TextRange) -> bool {
    index.classes.get(class_id).is_some_and(|class| {
        class.layers.iter().any(|layer| {
            layer.constructor.as_deref().is_some_and(is_container)
                && layer.call.range() != at
                && layer.call.range().contains_range(at)
        })
    })
}

/// `Block`, `ResidualUnit`: a capitalized plain name, as classes are written.
fn is_class_name(name: &str) -> bool {
    !name.contains('.') && name.chars().next().is_some_and(char::is_uppercase)
}

/// Is the class `subject` free of mode-dependent parts, through all the classes it is built
/// from? `subject` is `Name` or the qualified `module.Name` it was imported as; `from_file` is
/// where it is used. Among classes of the same name, the one in `from_file`, else the one in the
/// module the import names, is meant; unknown or still ambiguous names are not free.
pub fn mode_free(files: &[FileFacts], subject: &str, from_file: &Path) -> bool {
    let classes: Vec<(&Path, &ModuleClass)> = files
        .iter()
        .flat_map(|f| f.module_classes.iter().map(move |c| (f.path.as_path(), c)))
        .collect();
    let (module, name) = match subject.rsplit_once('.') {
        Some((module, name)) => (Some(module), name),
        None => (None, subject),
    };
    let mut visiting = Vec::new();
    free(&classes, name, module, from_file, &mut visiting)
}

fn free(
    classes: &[(&Path, &ModuleClass)],
    name: &str,
    module: Option<&str>,
    from_file: &Path,
    visiting: &mut Vec<String>,
) -> bool {
    let Some((file, class)) = resolve(classes, name, module, from_file) else {
        return false;
    };
    if class.depends_on_mode || visiting.iter().any(|v| v == name) {
        return false;
    }
    visiting.push(name.to_string());
    let ok = class
        .children
        .iter()
        .all(|child| free(classes, child, None, file, visiting));
    visiting.pop();
    ok
}

/// The one class called `name` that is meant, if there is one.
fn resolve<'c>(
    classes: &[(&'c Path, &'c ModuleClass)],
    name: &str,
    module: Option<&str>,
    from_file: &Path,
) -> Option<(&'c Path, &'c ModuleClass)> {
    let named: Vec<_> = classes.iter().filter(|(_, c)| c.name == name).collect();
    if let [only] = named.as_slice() {
        return Some(**only);
    }
    if let Some(here) = named.iter().find(|(f, _)| *f == from_file) {
        return Some(**here);
    }
    // `from models.resnet import Net`: the file `models/resnet.py` (or `models/resnet/__init__.py`).
    let module = module?.trim_start_matches('.').replace('.', "/");
    let in_module: Vec<_> = named
        .iter()
        .filter(|(f, _)| {
            let f = f.with_extension("");
            f.ends_with(&module)
                || (f.ends_with("__init__") && f.parent().is_some_and(|p| p.ends_with(&module)))
        })
        .collect();
    match in_module.as_slice() {
        [only] => Some(***only),
        _ => None,
    }
}
