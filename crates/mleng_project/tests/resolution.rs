//! The project model on small projects in the shapes real code has: models in one file,
//! loops in another, packages that re-export, factories, helpers called with the model.

use std::path::Path;

use mleng_knowledge::losses::Activation;
use mleng_project::{summarize, ProjectModel, Symbol};
use mleng_python::parse::ParsedFile;
use mleng_python::{SemanticIndex, SourceFile};

fn project(files: &[(&str, &str)]) -> ProjectModel {
    let summaries = files
        .iter()
        .map(|(path, text)| {
            let source = SourceFile::python(Path::new(path), text.to_string());
            let parsed = ParsedFile::parse(&source);
            let index = SemanticIndex::build(&source, parsed.module());
            summarize(&index)
        })
        .collect();
    ProjectModel::new(summaries)
}

fn module(model: &ProjectModel, path: &str) -> usize {
    model.module_of_path(Path::new(path)).expect("module")
}

const NET: &str = "import torch.nn as nn
import torch.nn.functional as F

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(10, 2)

    def forward(self, x):
        x = self.fc(x)
        return F.softmax(x, dim=1)

def build_model(cfg):
    model = Net()
    return model
";

#[test]
fn resolves_classes_through_package_reexports_and_aliases() {
    let model = project(&[
        ("proj/models/net.py", NET),
        ("proj/models/__init__.py", "from .net import Net, build_model\nModel = Net\n"),
        (
            "proj/train.py",
            "import models\nfrom models import Model\nimport models.net as n\nfrom models import build_model\n",
        ),
    ]);
    let train = module(&model, "proj/train.py");
    let net = model.resolve_in(train, "models.Net").expect("models.Net");
    assert!(matches!(net, Symbol::Class(..)));
    assert_eq!(model.path_of(net), Path::new("proj/models/net.py"));
    assert_eq!(model.resolve_in(train, "Model"), Some(net));
    assert_eq!(model.resolve_in(train, "n.Net"), Some(net));
    assert_eq!(model.class_of(train, "build_model"), Some(net));
    let (_, ending) = model.ending(net).expect("ending");
    assert_eq!(ending.activation, Activation::Softmax);
    assert_eq!(ending.line, 11);
    assert!(model.resolve_in(train, "models.Missing").is_none());
}

#[test]
fn inherited_forward_and_module_bases_cross_files() {
    let model = project(&[
        ("p/base.py", NET),
        (
            "p/small.py",
            "from base import Net\n\nclass Small(Net):\n    pass\n\nclass Plain:\n    pass\n",
        ),
    ]);
    let small = module(&model, "p/small.py");
    let class = model.resolve_in(small, "Small").expect("Small");
    assert!(model.is_module_class(class));
    assert!(model.ending(class).is_some());
    let plain = model.resolve_in(small, "Plain").expect("Plain");
    assert!(!model.is_module_class(plain));
}

#[test]
fn import_cycles_end() {
    let model = project(&[
        ("c/a.py", "from b import X\n"),
        ("c/b.py", "from a import X\n"),
    ]);
    let a = module(&model, "c/a.py");
    assert!(model.resolve_in(a, "X").is_none());
}

#[test]
fn behaviour_follows_helpers_across_files_and_methods() {
    let model = project(&[
        (
            "r/engine.py",
            "import torch\n\ndef step(model, batch, opt):\n    loss = model(batch).mean()\n    loss.backward()\n    opt.step()\n\ndef train_one_epoch(model, loader, opt):\n    model.train()\n    for batch in loader:\n        step(model, batch, opt)\n\n@torch.no_grad()\ndef evaluate(model, loader):\n    model.eval()\n    return [model(b) for b in loader]\n",
        ),
        (
            "r/main.py",
            "import torch\nfrom engine import train_one_epoch, evaluate\nfrom net import Net\n\ndef main():\n    model = Net()\n    opt = torch.optim.SGD(model.parameters(), lr=0.1)\n    for epoch in range(10):\n        train_one_epoch(model, None, opt)\n        evaluate(model, None)\n",
        ),
        ("r/net.py", NET),
    ]);
    let main = module(&model, "r/main.py");
    let train = model.resolve_in(main, "train_one_epoch").expect("train");
    let behaviour = model.behaviour(train);
    assert!(behaviour.trains() && behaviour.sets_train && !behaviour.sets_eval);
    let evaluate = model.resolve_in(main, "evaluate").expect("evaluate");
    let behaviour = model.behaviour(evaluate);
    assert!(behaviour.disables_grad && behaviour.sets_eval && !behaviour.trains());
    // What main passes as `model` to the engine's functions.
    let passed = model.argument_type(train, "model").expect("argument type");
    assert_eq!(passed.text, "Net");
    let class = model
        .resolve_in(passed.module, &passed.text)
        .expect("class");
    assert!(model.ending(class).is_some());
    let opt = model.argument_type(train, "opt").expect("optimizer type");
    assert_eq!(model.qualify_in(opt.module, &opt.text), "torch.optim.SGD");
}

#[test]
fn callers_that_disagree_give_no_type() {
    let model = project(&[
        ("d/f.py", "def run(model):\n    return model\n"),
        (
            "d/g.py",
            "from f import run\nfrom net import Net\nimport torch.nn as nn\nrun(Net())\nrun(nn.Linear(2, 2))\n",
        ),
        ("d/net.py", NET),
    ]);
    let f = module(&model, "d/f.py");
    let run = model.resolve_in(f, "run").expect("run");
    assert!(model.argument_type(run, "model").is_none());
}

#[test]
fn tuple_forwards_and_loss_wrappers_are_summarized() {
    let model = project(&[(
        "p/net.py",
        "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n\
class Two(nn.Module):\n    def forward(self, x):\n        aux = self.aux(x)\n        \
x = torch.sigmoid(self.cls(x))\n        return aux, x\n\n\
class Focal(nn.Module):\n    def forward(self, inputs, targets):\n        \
return F.binary_cross_entropy_with_logits(inputs, targets)\n\n\
class NotOnInput(nn.Module):\n    def forward(self, inputs, targets):\n        \
return F.binary_cross_entropy_with_logits(targets, inputs)\n",
    )]);
    let net = module(&model, "p/net.py");
    let two = model.resolve_in(net, "Two").expect("Two");
    let (_, ending) = model.ending(two).expect("ending");
    assert_eq!(ending.activation, Activation::Sigmoid);
    assert_eq!(ending.element, Some(1));
    let focal = model.resolve_in(net, "Focal").expect("Focal");
    assert_eq!(
        model.class(focal).and_then(|c| c.wraps_loss.as_deref()),
        Some("torch.nn.functional.binary_cross_entropy_with_logits")
    );
    let other = model.resolve_in(net, "NotOnInput").expect("NotOnInput");
    assert_eq!(
        model.class(other).and_then(|c| c.wraps_loss.as_deref()),
        None
    );
}
