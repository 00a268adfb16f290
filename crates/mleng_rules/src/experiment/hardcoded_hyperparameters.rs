use mleng_diagnostics::{Area, Fix, Severity};

use super::unseeded_training::display_name;
use crate::project::ProjectContext;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "EXP010",
    name: "hardcoded-hyperparameters",
    area: Area::Experiment,
    severity: Severity::Info,
    fix: None,
    summary: "A training entry point writes its learning rate, batch size, epochs or weight decay as literals, with no argparse/Hydra/config file.",
    docs: r#"## What it does
For each training entry point, collects the hyperparameters written as number literals where
they are used (in the entry point and the files it calls into): the learning rate and weight
decay of a `torch.optim` optimizer, the `batch_size` of a `DataLoader`, the epoch count of a
`for epoch in range(N)` loop around the training loop or `Trainer(max_epochs=N)`. When at
least two are literals and none of these files reads a configuration (argparse, click, typer,
Hydra, OmegaConf, Fire, jsonargparse, LightningCLI, a YAML/TOML/JSON file), it reports once,
listing them.

## Why is this bad?
Every experiment becomes an edit of the code: the value that produced a result lives only in
the version of the file that ran, sweeps need copies of the script, and comparing two runs
means diffing source. A command-line or config-file interface makes the hyperparameters
explicit, recordable with the run and sweepable.

## Example
```python
loader = DataLoader(train_set, batch_size=64, shuffle=True)
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.05)
for epoch in range(30):
    ...
```

## Use instead
```python
parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=3e-4)
parser.add_argument("--weight-decay", type=float, default=0.05)
parser.add_argument("--batch-size", type=int, default=64)
parser.add_argument("--epochs", type=int, default=30)
args = parser.parse_args()

loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True)
optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
for epoch in range(args.epochs):
    ...
```

Notebooks are not reported: editing a cell is how a notebook is configured.

## Known problems
Values read from module-level constants (`LR = 3e-4`) are not counted as literals.

## References
- Python `argparse` tutorial: <https://docs.python.org/3/howto/argparse.html>
- Hydra, "Getting started": <https://hydra.cc/docs/intro/>
- Google, "Deep Learning Tuning Playbook" (tracking and sweeping hyperparameters): <https://github.com/google-research/tuning_playbook>
"#,
    check: crate::project::no_file_check,
};

pub(crate) fn check_project(ctx: &mut ProjectContext) {
    for entry in ctx.facts.training_entry_points() {
        let files = &entry.reached;
        // A notebook is itself the record of its settings; literals there are the norm.
        if entry.file.is_notebook || files.iter().any(|f| f.config_source.is_some()) {
            continue;
        }
        let mut literals = Vec::new();
        for file in files {
            for (what, text, site) in &file.hyperparameter_literals {
                if !literals.iter().any(|(w, _, _, _)| w == what) {
                    literals.push((*what, text.clone(), *file, site));
                }
            }
        }
        if literals.len() < 2 {
            continue;
        }
        // Reported at the learning rate when there is one, the hyperparameter that matters most.
        let rank = |what: &str| {
            ["learning rate", "batch size", "epochs", "weight decay"]
                .iter()
                .position(|w| *w == what)
                .unwrap_or(usize::MAX)
        };
        literals.sort_by_key(|(what, _, _, _)| rank(what));
        let list = literals
            .iter()
            .map(|(what, text, file, site)| {
                let line = site
                    .location
                    .span
                    .map(|s| format!("line {}", s.start_line))
                    .unwrap_or_default();
                if file.path == entry.file.path {
                    format!("{what} {text} ({line})")
                } else {
                    format!("{what} {text} ({}, {line})", display_name(file))
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        let message = format!(
            "training entry point `{}` hard-codes its hyperparameters ({list}) and reads no configuration: every experiment is an edit of the code",
            display_name(entry.file)
        );
        let fix = Fix::new("Read them from the command line or a config file").with_example(
            "parser = argparse.ArgumentParser()\nparser.add_argument(\"--lr\", type=float, default=1e-3)\nparser.add_argument(\"--batch-size\", type=int, default=64)\nparser.add_argument(\"--epochs\", type=int, default=10)\nargs = parser.parse_args()",
        );
        let (_, _, file, site) = literals[0];
        ctx.report(file, site, message, Some(fix));
    }
}
