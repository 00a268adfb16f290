//! `Reviewer::review_incremental` finds what a review from scratch finds, edit after edit,
//! including findings that one file's edit makes appear or disappear in another file.

use std::path::{Path, PathBuf};

use mleng_review::{Buffer, Review, ReviewOptions, Reviewer};

const MODEL: &str = "import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(10, 2)

    def forward(self, x):
        return F.softmax(self.fc(x), dim=1)
";

const UTILS: &str = "import random

import torch


def setup(seed):
    random.seed(seed)
    torch.manual_seed(seed)
";

const TRAIN: &str = "import torch
import torch.nn as nn

from model import Net
from utils import setup

setup(0)
loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(8, 10)))
model = Net()
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for epoch in range(10):
    for x, y in loader:
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
    print(loss.item())
";

struct Project {
    root: PathBuf,
    reviewer: Reviewer,
    buffers: Vec<Buffer>,
}

impl Project {
    /// Sets a file's editor buffer.
    fn edit(&mut self, name: &str, text: &str) {
        let path = self.root.join(name);
        self.buffers.retain(|b| b.path != path);
        self.buffers.push(Buffer {
            path,
            text: text.to_string(),
        });
    }

    /// Reviews incrementally, checks the findings against a review from scratch, and returns
    /// the incremental review.
    fn review(&self) -> Review {
        let roots = std::slice::from_ref(&self.root);
        let incremental = self.reviewer.review_incremental(roots, &self.buffers);
        let fresh = Reviewer::new(&self.root, &ReviewOptions::default())
            .expect("default settings")
            .review(roots, &self.buffers, false);
        assert_eq!(incremental.findings, fresh.findings);
        assert_eq!(incremental.files_reviewed, fresh.files_reviewed);
        incremental
    }

    fn has(&self, review: &Review, name: &str, code: &str) -> bool {
        let path = self.root.join(name);
        review
            .findings
            .iter()
            .any(|f| f.code == code && f.location.path == path)
    }
}

fn write(root: &Path, name: &str, text: &str) {
    std::fs::write(root.join(name), text).expect("write");
}

#[test]
fn incremental_reviews_match_reviews_from_scratch() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = std::fs::canonicalize(dir.path()).expect("canonical");
    for (name, text) in [
        ("model.py", MODEL),
        ("utils.py", UTILS),
        ("train.py", TRAIN),
    ] {
        write(&root, name, text);
    }
    let reviewer = Reviewer::new(&root, &ReviewOptions::default()).expect("default settings");
    let mut project = Project {
        root,
        reviewer,
        buffers: Vec::new(),
    };

    // The first review does everything.
    let review = project.review();
    let reuse = review.reuse.expect("incremental");
    assert_eq!((reuse.files, reuse.loaded, reuse.checked), (3, 3, 3));
    assert!(project.has(&review, "train.py", "ARC011"));
    assert!(!project.has(&review, "train.py", "EXP002"));
    assert!(!project.has(&review, "train.py", "EXP007"));

    // Nothing changed: nothing is redone.
    let reuse = project.review().reuse.expect("incremental");
    assert_eq!((reuse.loaded, reuse.checked, reuse.models_built), (0, 0, 0));

    // An edit other files do not see (a literal): only that file's rules run, and the project
    // rule's finding in it (hard-coded hyperparameters) follows.
    project.edit("train.py", &TRAIN.replace("lr=0.1", "lr=0.2"));
    let review = project.review();
    let reuse = review.reuse.expect("incremental");
    assert_eq!((reuse.loaded, reuse.checked, reuse.models_built), (1, 1, 0));
    assert!(review
        .findings
        .iter()
        .any(|f| f.code == "EXP010" && f.message.contains("learning rate 0.2")));
    // The script stops printing its loss: the project rule reports it.
    project.edit(
        "train.py",
        &TRAIN.replace("print(loss.item())", "loss.item()"),
    );
    assert!(project.has(&project.review(), "train.py", "EXP007"));
    project.edit("train.py", TRAIN);
    assert!(!project.has(&project.review(), "train.py", "EXP007"));

    // The model file loses its final softmax: the finding in the training script goes away,
    // and comes back with the softmax.
    project.edit(
        "model.py",
        &MODEL.replace("F.softmax(self.fc(x), dim=1)", "self.fc(x)"),
    );
    let review = project.review();
    assert_eq!(review.reuse.expect("incremental").models_built, 1);
    assert!(!project.has(&review, "train.py", "ARC011"));
    project.edit("model.py", MODEL);
    assert!(project.has(&project.review(), "train.py", "ARC011"));

    // The helper stops seeding: a project rule reports the training script.
    let unseeded = UTILS.replace(
        "random.seed(seed)\n    torch.manual_seed(seed)",
        "print(seed)",
    );
    project.edit("utils.py", &unseeded);
    assert!(project.has(&project.review(), "train.py", "EXP002"));
    project.edit("utils.py", UTILS);
    assert!(!project.has(&project.review(), "train.py", "EXP002"));
    // A comment in the helper file changes nothing other files see.
    project.edit("utils.py", &format!("{UTILS}# a comment\n"));
    let review = project.review();
    let reuse = review.reuse.expect("incremental");
    assert_eq!((reuse.checked, reuse.models_built), (1, 0));
    assert!(!project.has(&review, "train.py", "EXP002"));

    // Files on disk: one changes (no buffer), one appears, one disappears.
    project.buffers.clear();
    project.review();
    write(
        &project.root,
        "model.py",
        &MODEL.replace("F.softmax(self.fc(x), dim=1)", "self.fc(x)"),
    );
    let review = project.review();
    assert_eq!(review.reuse.expect("incremental").loaded, 1);
    assert!(!project.has(&review, "train.py", "ARC011"));
    write(
        &project.root,
        "eval.py",
        "import torch\nw = torch.load(\"x.pt\")\n",
    );
    std::fs::remove_file(project.root.join("utils.py")).expect("remove");
    let review = project.review();
    assert_eq!(review.reuse.expect("incremental").files, 3);
    assert!(project.has(&review, "eval.py", "SEC001"));
    assert!(project.has(&review, "train.py", "EXP002"));

    // A file that stops parsing, and parses again.
    project.edit("model.py", "class Net(:\n");
    assert!(project.has(&project.review(), "model.py", "INP002"));
    project.edit("model.py", MODEL);
    assert!(project.has(&project.review(), "train.py", "ARC011"));
}
