//! Per-file facts for the project pass, read from a file's index while it is alive (in the
//! parallel phase). Everything here is O(calls).

use std::path::PathBuf;

use mleng_knowledge::experiment::{
    seeded_by, Rng, CONFIG_RECORDERS, CONFIG_SOURCES, DATA_LOADERS, FULL_SERVICE_TRAINERS,
    METRIC_LOGGERS, ML_LIBRARY_IMPORTS, SELF_SEEDING_TRAINERS, SHUFFLING_SAMPLERS,
};
use mleng_knowledge::performance::COMPILE_MARKERS;
use mleng_python::index::literals;
use mleng_python::index::{CallKind, TrainingScope};
use mleng_python::source::SourceKind;
use mleng_python::SemanticIndex;
use ruff_text_size::{Ranged, TextRange};

use super::Site;
use crate::context::location_of;

#[derive(Debug, Clone)]
pub struct FileFacts {
    pub path: PathBuf,
    pub is_notebook: bool,
    /// A test file (`test_*.py`, `*_test.py`, `conftest.py`, under `tests/`).
    pub is_test: bool,
    /// Meant to be run: `if __name__ == "__main__":`, a notebook, or training at module level.
    pub is_entry_point: bool,
    /// The whole file (for findings about the file rather than a line).
    pub whole_file: Site,
    /// The first place the file trains: a training loop or step function, or `trainer.fit(...)`
    /// on a Lightning `Trainer`.
    pub trains: Option<Site>,
    /// Names of the functions that contain a training loop (for callers in other files).
    pub training_functions: Vec<String>,
    /// Generators seeded somewhere in the file by a known seeding call that runs on every run.
    pub seeded: Vec<Rng>,
    /// The first seeding call that does not count: it seeds only the CUDA generators, or runs
    /// only under a condition (`if args.cuda:`), with why.
    pub partial_seeding: Option<(Site, &'static str)>,
    /// A call to a helper whose name says it seeds (`set_seed(42)`, `init_seeds(...)`): what it
    /// seeds is unknown, so it counts as seeding everything.
    pub seed_helper: Option<String>,
    /// The main ML libraries the file imports, by import name (`torch`, `timm`), in the order
    /// of [`ML_LIBRARY_IMPORTS`].
    pub ml_imports: Vec<&'static str>,
    /// Imports Lightning (`lightning` or `pytorch_lightning`).
    pub uses_lightning: bool,
    /// Uses a trainer that seeds every run itself (Hugging Face `Trainer`).
    pub self_seeding_trainer: bool,
    /// First use of NumPy's global generator (`np.random.rand`, `np.random.shuffle`, ...).
    pub numpy_random: Option<Site>,
    /// First use of Python's `random` module (`random.random()`, `random.choice`, ...).
    pub python_random: Option<Site>,
    /// Calls that resolve through an import to another module (every file but tests), with the
    /// first site of each: how an entry point reaches training code in other files.
    pub imported_calls: Vec<(String, Site)>,
    /// `torch.use_deterministic_algorithms(True)`, `cudnn.deterministic = True`,
    /// `Trainer(deterministic=True)` or a seeding helper called with `deterministic=True`.
    pub determinism: Option<Site>,
    /// `torch.backends.cudnn.benchmark = True` (or `Trainer(benchmark=True)`).
    pub cudnn_benchmark: Option<Site>,
    /// How the file reads its configuration (`argparse`, `Hydra`, ...).
    pub config_source: Option<&'static str>,
    /// How the file records metrics (`TensorBoard`, `Weights & Biases`, `print of the loss`, ...).
    pub metric_tracking: Option<String>,
    /// Whether the run's configuration is recorded (`add_hparams`, `wandb.init(config=...)`,
    /// `save_hyperparameters`, a config dumped to a file or saved in a checkpoint).
    pub records_config: bool,
    /// Uses a trainer that tracks, records and checkpoints by itself (Lightning, HF `Trainer`).
    pub full_service_trainer: bool,
    /// The first `torch.save(...)` of a checkpoint with model weights, if any.
    pub checkpoint: Option<Site>,
    /// A checkpoint saved here includes optimizer state (an optimizer's `state_dict()` is
    /// saved, or the saved dict names an optimizer).
    pub checkpoint_has_optimizer: bool,
    /// Hyperparameters written as literals at their use: (what, the literal text, where).
    pub hyperparameter_literals: Vec<(&'static str, String, Site)>,
    /// Evaluates on held-out data: `model.eval()`, a `torch.no_grad()`/`inference_mode()` block,
    /// a validation/test loader or step, an `evaluate`/`validate` function, `trainer.validate`.
    pub evaluates: bool,
    /// Every optimizer in the file optimizes plain tensors (`optim.Adam([target])`), not a
    /// model's parameters: style transfer, adversarial inputs. Nothing random is learned.
    pub optimizes_inputs_only: bool,
    /// Reinforcement learning (imports gym/gymnasium) or a GAN (a `Discriminator` class): there
    /// is no held-out split in the usual sense.
    pub rl_or_gan: bool,
    /// A comment that says runs must be reproducible (`# for reproducibility`).
    pub states_reproducible: Option<Site>,
    /// Checkpoint saves whose contents can be read (a dict literal, or a name bound to one in
    /// the same function plus its `ckpt["key"] = ...` assignments): the save, the contents in
    /// lowercase (the whole `torch.save(...)` call, path included). The first few.
    pub checkpoint_saves: Vec<(Site, String)>,
    /// The optimizer, LR scheduler and GradScaler a training loop steps (`opt`, `scheduler`,
    /// `scaler`), the first of each.
    pub optimizer: Option<String>,
    pub scheduler: Option<String>,
    /// The scheduler is rebuilt from the epoch on resume (`LambdaLR(..., last_epoch=start - 1)`).
    pub scheduler_from_epoch: bool,
    pub scaler: Option<String>,
    /// The script says it can resume: a `--resume`-style argument, a `resume` variable or a
    /// `load_state_dict` of an optimizer.
    pub claims_resume: Option<Site>,
    /// Some call passes `worker_init_fn=` (a DataLoader that reseeds its workers).
    pub has_worker_init_fn: bool,
    /// The file compiles or scripts a model, or offers an option to (`torch.compile`,
    /// `--compile`, TorchScript: [`COMPILE_MARKERS`]).
    pub mentions_compile: bool,
    /// The file names a CUDA device (`"cuda"`, `.cuda()`, `torch.cuda`).
    pub mentions_cuda: bool,
    /// The file's `nn.Module` classes: do they depend on train/eval mode?
    pub module_classes: Vec<super::module_modes::ModuleClass>,
    /// Draws from NumPy's global generator (`np.random.rand()`) in the data path
    /// (`__getitem__`/`__iter__` and the methods they call) of a `Dataset` that does not look at
    /// `get_worker_info()` (the first few).
    pub dataset_numpy_draws: Vec<Site>,
    /// The first `DataLoader(..., num_workers=N)` whose `num_workers` is not a literal 0.
    pub multi_worker_loader: Option<Site>,
    /// Shuffling without a seeded generator of its own: `RandomSampler(ds)`,
    /// `SubsetRandomSampler(idx)`, `WeightedRandomSampler(w, n)`, `DataLoader(ds, shuffle=True)`
    /// with no `generator=` (the first few).
    pub unseeded_shuffles: Vec<Site>,
    /// Candidate findings of project rules with a per-file half (see `ProjectRule::candidates`).
    pub candidates: Vec<super::Candidate>,
    /// `torch.load(...)` calls with no `weights_only` argument.
    pub torch_loads_without_weights_only: Vec<Site>,
    /// Computer-vision task facts (set when a CV project rule is enabled; not for tests).
    pub cv: Option<crate::cv::task_advice::CvFileFacts>,
}

impl FileFacts {
    pub fn seeds(&self, rng: Rng) -> bool {
        self.seed_helper.is_some() || self.self_seeding_trainer || self.seeded.contains(&rng)
    }

    pub fn seeds_anything(&self) -> bool {
        self.seed_helper.is_some() || self.self_seeding_trainer || !self.seeded.is_empty()
    }

    pub fn stem(&self) -> Option<&str> {
        self.path.file_stem().and_then(|s| s.to_str())
    }
}

/// A site for `range` in the indexed file.
pub(crate) fn site(index: &SemanticIndex, range: TextRange) -> Site {
    let source = index.source;
    let first = source.lines.line_of(range.start());
    let last = source.lines.line_of(range.end());
    let location = location_of(index, range);
    let snippet = crate::engine::snippet(source, &location, first, last);
    Site {
        location,
        text: index.text(range).to_string(),
        label: index.text(range).to_string(),
        first_line_text: source.lines.line_text(&source.text, first).to_string(),
        last_line_text: source.lines.line_text(&source.text, last).to_string(),
        snippet,
    }
}

fn whole_file(index: &SemanticIndex) -> Site {
    let mut location = location_of(index, TextRange::default());
    location.span = None;
    location.cell = None;
    Site {
        location,
        text: String::new(),
        label: String::new(),
        first_line_text: String::new(),
        last_line_text: String::new(),
        snippet: None,
    }
}

/// Receiver names of `.log(...)`-style calls that record metrics (`wandb_run.log`,
/// `self._metric_logger.log_dict`, `accelerator.log`, `writer.log_scalar`).
const LOGGER_RECEIVERS: &[&str] = &[
    "wandb",
    "run",
    "logger",
    "tracker",
    "writer",
    "accelerator",
    "fabric",
    "experiment",
    "metric",
];

const LIGHTNING_TRAINERS: &[&str] = &[
    "lightning.Trainer",
    "lightning.pytorch.Trainer",
    "lightning.pytorch.trainer.Trainer",
    "pytorch_lightning.Trainer",
    "pytorch_lightning.trainer.Trainer",
];

/// NumPy generator functions that are not draws from the global generator.
const NUMPY_RANDOM_NOT_GLOBAL: &[&str] = &[
    "seed",
    "default_rng",
    "RandomState",
    "Generator",
    "PCG64",
    "SeedSequence",
    "get_state",
    "set_state",
];

pub fn collect(index: &SemanticIndex) -> FileFacts {
    let source = index.source;
    let path = source.path.clone();
    let is_notebook = source.kind == SourceKind::Notebook;
    let is_test = crate::test_code::is_test_code(&path);

    let mut trains: Option<(TextRange, bool)> = None;
    let mut training_functions = Vec::new();
    for lp in &index.training_loops {
        let module_level = lp.function.is_none();
        let range = match lp.scope {
            TrainingScope::Loop(id) => index.loops[id].header,
            TrainingScope::Function(f) => index.functions[f].def.name.range(),
        };
        if trains.is_none() {
            trains = Some((range, module_level));
        }
        if let Some(f) = lp.function {
            // The outermost function: `main()` calling nothing else still names the loop.
            let mut f = f;
            training_functions.push(index.functions[f].name.to_string());
            while let Some(parent) = index.functions[f].parent {
                f = parent;
                training_functions.push(index.functions[f].name.to_string());
            }
        }
    }
    let mut seeded: Vec<Rng> = Vec::new();
    let mut partial_seeding = None;
    let mut seed_helper = None;
    let mut self_seeding_trainer = false;
    let mut numpy_random = None;
    let mut python_random = None;
    let mut torch_loads = Vec::new();
    let mut fit_call = None;
    let mut determinism = None;
    let mut cudnn_benchmark = None;
    let mut config_source = None;
    let mut metric_tracking: Option<String> = None;
    let mut records_config = false;
    let mut full_service_trainer = false;
    let mut checkpoint = None;
    let mut checkpoint_has_optimizer = false;
    let mut unseeded_shuffles = Vec::new();
    let mut checkpoint_saves: Vec<(Site, String)> = Vec::new();
    let (mut optimizer, mut scheduler, mut scaler) = (None, None, None);
    let mut scheduler_from_epoch = false;
    // Draws inside a Dataset run in DataLoader workers, which PyTorch reseeds from the torch
    // seed (Python's `random` always, NumPy's global generator since 1.9), so they follow
    // `torch.manual_seed` when there are workers; they do not count as unseeded draws.
    let in_dataset = |class: Option<usize>| {
        class.is_some_and(|c| {
            index.classes[c]
                .bases
                .iter()
                .any(|b| b.rsplit('.').next().is_some_and(|n| n.ends_with("Dataset")))
        })
    };
    for call in &index.calls {
        // The qualified callee without allocating when there is one (most calls).
        let resolved: Option<std::borrow::Cow<str>> = match &call.qualified {
            Some(q) => Some(std::borrow::Cow::Borrowed(q.as_str())),
            None => call.resolved().map(std::borrow::Cow::Owned),
        };
        if let Some(q) = resolved.as_deref() {
            if unseeded_shuffles.len() < 5 && shuffles_without_generator(call, q) {
                let mut shuffle = site(index, call.range());
                shuffle.label = crate::security::call_label(index, call.expr);
                if DATA_LOADERS.contains(&q) {
                    shuffle.label = shuffle.label.replace("...)", "..., shuffle=True)");
                }
                unseeded_shuffles.push(shuffle);
            }
            if determinism.is_none()
                && (q == "torch.use_deterministic_algorithms"
                    && call.arg(0).and_then(literals::boolean) == Some(true)
                    || call.keyword("deterministic").and_then(literals::boolean) == Some(true)
                    || q == "monai.utils.set_determinism")
            {
                determinism = Some(call.range());
            }
            if cudnn_benchmark.is_none()
                && FULL_SERVICE_TRAINERS.contains(&q)
                && call.keyword("benchmark").and_then(literals::boolean) == Some(true)
            {
                cudnn_benchmark = Some(call.range());
            }
            if config_source.is_none() {
                config_source = CONFIG_SOURCES
                    .iter()
                    .find(|(prefix, _)| q.starts_with(prefix))
                    .map(|(_, name)| *name);
            }
            if metric_tracking.is_none() {
                metric_tracking = METRIC_LOGGERS
                    .iter()
                    .find(|(prefix, _)| q.starts_with(prefix))
                    .map(|(_, name)| name.to_string());
            }
            if CONFIG_RECORDERS.contains(&q)
                || (q == "wandb.init" && call.keyword("config").is_some())
                || (q.ends_with("init_trackers") && call.keyword("config").is_some())
            {
                records_config = true;
            }
            if FULL_SERVICE_TRAINERS.contains(&q) {
                full_service_trainer = true;
                if call.keyword("logger").and_then(literals::boolean) != Some(false) {
                    metric_tracking.get_or_insert_with(|| "the trainer's default logger".into());
                }
            }
            if q == "torch.save" {
                if let Some(arg) = call.arg_or_keyword(0, "obj") {
                    // What is saved: the argument, and for `torch.save(ckpt, path)` the dict
                    // `ckpt` was built from in the same function.
                    let mut saved = index.text(arg.range()).to_ascii_lowercase();
                    if let Some(name) = literals::dotted(arg) {
                        if let Some(value) = index
                            .bindings
                            .iter()
                            .rev()
                            .find(|b| b.target == name && b.function == call.function)
                        {
                            saved.push(' ');
                            saved.push_str(&index.text(value.value.range()).to_ascii_lowercase());
                        }
                    }
                    if saved.contains("optim") {
                        checkpoint_has_optimizer = true;
                    }
                    if ["args", "config", "cfg", "hparams", "hyper", "opt."]
                        .iter()
                        .any(|k| saved.contains(k))
                    {
                        records_config = true;
                    }
                    let is_checkpoint = ["model", "state_dict", "ckpt", "checkpoint", "net"]
                        .iter()
                        .any(|k| saved.contains(k));
                    if checkpoint.is_none() && is_checkpoint {
                        checkpoint = Some(call.range());
                    }
                    if is_checkpoint && checkpoint_saves.len() < 4 {
                        if let Some(contents) = checkpoint_contents(index, call, arg) {
                            checkpoint_saves.push((site(index, call.range()), contents));
                        }
                    }
                }
            }
        }
        let stepped = match call.kind {
            CallKind::OptimizerStep => Some(&mut optimizer),
            CallKind::SchedulerStep => Some(&mut scheduler),
            CallKind::ScalerStep => Some(&mut scaler),
            _ => None,
        };
        if let (Some(slot @ None), Some(receiver)) = (stepped, call.receiver.as_deref()) {
            *slot = Some(receiver.to_string());
            if call.kind == CallKind::SchedulerStep {
                // `LambdaLR(..., last_epoch=start - 1)` or `scheduler.last_epoch = start - 1`.
                let last_epoch = format!("{receiver}.last_epoch");
                scheduler_from_epoch = index
                    .constructor_call_of(receiver)
                    .is_some_and(|c| c.arguments.find_keyword("last_epoch").is_some())
                    || index.bindings.iter().any(|b| b.target == last_epoch);
            }
        }
        match (call.method, call.receiver.as_deref()) {
            // Lightning: `self.log(...)`, `self.log_dict(...)`, `self.save_hyperparameters()`.
            (Some("log" | "log_dict"), Some("self"))
                if call.class.is_some_and(|c| index.classes[c].is_lightning) =>
            {
                metric_tracking.get_or_insert_with(|| "LightningModule.log".into());
            }
            (Some("save_hyperparameters"), Some("self")) => records_config = true,
            // `progress.display(i)` / `losses.update(loss.item(), n)`: AverageMeter-style
            // meters that are printed.
            (Some("display" | "display_summary"), Some(r))
                if contains_ignore_case(r, "progress") || contains_ignore_case(r, "meter") =>
            {
                metric_tracking.get_or_insert_with(|| "a progress meter".into());
            }
            (Some("add_scalar" | "add_scalars"), _) => {
                metric_tracking.get_or_insert_with(|| "TensorBoard".into());
            }
            (Some("add_hparams" | "log_config" | "log_hyperparams" | "log_params"), _) => {
                records_config = true
            }
            // `run = wandb.init(...)` then `run.config.update({...})` (W&B's documented way to
            // add settings after `init`).
            (Some("update" | "setdefaults"), Some(r))
                if r == "config" || r.ends_with(".config") =>
            {
                records_config = true;
            }
            // Framework checkpoint APIs save the whole training state (Accelerate
            // `save_state`, Lightning/torchtune/DeepSpeed `save_checkpoint`).
            (Some("save_state" | "save_checkpoint"), Some(_)) => {
                checkpoint_has_optimizer = true;
                if checkpoint.is_none() {
                    checkpoint = Some(call.range());
                }
            }
            (Some("log" | "log_dict" | "log_metrics" | "log_scalar" | "log_metric"), Some(r))
                if LOGGER_RECEIVERS
                    .iter()
                    .any(|k| r.to_ascii_lowercase().contains(k)) =>
            {
                metric_tracking.get_or_insert_with(|| format!("`{r}.log`"));
            }
            _ => {}
        }
        // `print(args)` / `logger.info(vars(args))`: the configuration written to the run's log.
        {
            let is_print = matches!(&*call.expr.func, ruff_python_ast::Expr::Name(n) if n.id.as_str() == "print");
            let is_log = matches!(call.method, Some("info" | "debug"));
            if (is_print || is_log) && call.expr.arguments.args.len() == 1 {
                let arg = index
                    .text(call.expr.arguments.args[0].range())
                    .trim()
                    .to_string();
                if matches!(
                    arg.as_str(),
                    "args" | "opt" | "cfg" | "config" | "hparams" | "vars(args)" | "vars(opt)"
                ) {
                    records_config = true;
                }
            }
        }
        // `print(f"loss {loss:.3f}")` / `logger.info(...)` with a loss or accuracy in it.
        if metric_tracking.is_none() {
            let name = match &*call.expr.func {
                ruff_python_ast::Expr::Name(n) => n.id.as_str(),
                _ => call.method.unwrap_or_default(),
            };
            let is_print = name == "print";
            // `logger.info`, `pbar.set_postfix`, `progress_bar(i, n, "Loss: ...")`, `log_line(...)`.
            let is_log = !is_print
                && [
                    "info",
                    "debug",
                    "warning",
                    "write",
                    "postfix",
                    "description",
                    "progress",
                    "log",
                    "print",
                    "display",
                ]
                .iter()
                .any(|k| contains_ignore_case(name, k));
            if is_print || is_log {
                let args = index.text(call.expr.arguments.range()).to_ascii_lowercase();
                if [
                    "loss",
                    "acc",
                    "metric",
                    "score",
                    "f1",
                    "psnr",
                    "iou",
                    "map",
                    "reward",
                    "ppl",
                    "perplexity",
                    "error",
                    "bleu",
                ]
                .iter()
                .any(|k| args.contains(k))
                {
                    metric_tracking = Some(if is_print {
                        "print".into()
                    } else {
                        "a log message".into()
                    });
                }
            }
        }
        if let Some(q) = resolved.as_deref() {
            if let Some(rngs) = seeded_by(q) {
                let conditional = !seeds_every_run(index, call.range());
                if (conditional || rngs.is_empty()) && partial_seeding.is_none() {
                    let why = match (conditional, rngs.is_empty()) {
                        (true, true) => "seeds only the CUDA generators, and only under a condition",
                        (true, false) => "runs only under a condition",
                        _ => "seeds only the CUDA generators, not the CPU generator that initialises weights and shuffles",
                    };
                    partial_seeding = Some((site(index, call.range()), why));
                }
                if conditional {
                    continue;
                }
                for rng in rngs {
                    if !seeded.contains(rng) {
                        seeded.push(*rng);
                    }
                }
                continue;
            }
            if SELF_SEEDING_TRAINERS.contains(&q) {
                self_seeding_trainer = true;
            }
            if let Some(rest) = q.strip_prefix("numpy.random.") {
                if numpy_random.is_none()
                    && !in_dataset(call.class)
                    && !NUMPY_RANDOM_NOT_GLOBAL.contains(&rest)
                {
                    numpy_random = Some(call.range());
                }
            }
            if let Some(rest) = q.strip_prefix("random.") {
                if python_random.is_none()
                    && !in_dataset(call.class)
                    && rest != "seed"
                    && !rest.contains('.')
                {
                    python_random = Some(call.range());
                }
            }
            if q == "torch.load" && call.keyword("weights_only").is_none() {
                let mut load = site(index, call.range());
                load.label = crate::security::call_label(index, call.expr);
                torch_loads.push(load);
            }
            if call.method == Some("fit")
                && call
                    .receiver_type
                    .as_deref()
                    .is_some_and(|t| LIGHTNING_TRAINERS.contains(&t))
                && fit_call.is_none()
            {
                fit_call = Some(call.range());
            }
        }
        // A helper named for seeding (`set_seed`, `init_seeds`, `seed_all`, `fix_seed`).
        let name = call
            .method
            .or_else(|| match &*call.expr.func {
                ruff_python_ast::Expr::Name(n) => Some(n.id.as_str()),
                _ => None,
            })
            .unwrap_or_default();
        if seed_helper.is_none() && is_seed_helper_name(name) {
            seed_helper = Some(index.text(call.expr.func.range()).to_string());
        }
    }
    for binding in &index.bindings {
        // `wandb.config.lr = ...`, `run.config.update(...)`.
        if binding.target.starts_with("wandb.config") {
            records_config = true;
        }
        let is_true = literals::boolean(binding.value) == Some(true);
        if !is_true {
            continue;
        }
        if binding.target.ends_with("cudnn.deterministic") && determinism.is_none() {
            determinism = Some(binding.range);
        }
        if binding.target.ends_with("cudnn.benchmark") && cudnn_benchmark.is_none() {
            cudnn_benchmark = Some(binding.range);
        }
    }
    // `ckpt["opt"] = opt.state_dict()`: the optimizer by its own name.
    if let Some(opt) = &optimizer {
        let saved = format!("{}.state_dict", opt.to_ascii_lowercase());
        if checkpoint_saves.iter().any(|(_, c)| c.contains(&saved)) {
            checkpoint_has_optimizer = true;
        }
    }
    let (dataset_numpy_draws, multi_worker_loader) = dataset_numpy_draws(index);
    let hyperparameter_literals = hyperparameter_literals(index)
        .into_iter()
        .map(|(what, text, range)| (what, text, site(index, range)))
        .collect();
    let evaluates = evaluates(index);
    let states_reproducible = reproducibility_comment(index).map(|r| site(index, r));
    let claims_resume = index
        .calls
        .iter()
        .find(|c| match c.method {
            Some("add_argument") => {
                contains_ignore_case(index.text(c.expr.arguments.range()), "resume")
            }
            Some("load_state_dict") => {
                c.receiver.as_deref().is_some_and(|r| r.contains("optim"))
                    || c.receiver.is_some() && c.receiver == optimizer
                    || c.receiver_type.as_deref().is_some_and(|t| {
                        t.starts_with("torch.optim.") && !t.contains("lr_scheduler")
                    })
            }
            _ => false,
        })
        .map(|c| site(index, c.range()))
        .or_else(|| {
            // `resume = True`, `resume_from = cfg.ckpt`, `resume_training(...)`.
            index
                .bindings
                .iter()
                .find(|b| {
                    let last = b.target.rsplit('.').next().unwrap_or(&b.target);
                    contains_ignore_case(last, "resume")
                })
                .map(|b| site(index, b.range))
                .or_else(|| {
                    // A call, not a definition: a library file defining `smart_resume` does
                    // not make every script that imports it resume.
                    index
                        .calls
                        .iter()
                        .find(|c| {
                            let name = c.method.or_else(|| match &*c.expr.func {
                                ruff_python_ast::Expr::Name(n) => Some(n.id.as_str()),
                                _ => None,
                            });
                            name.is_some_and(|n| contains_ignore_case(n, "resume"))
                        })
                        .map(|c| site(index, c.range()))
                })
        });
    // Training at module level, directly or by calling a local training function there
    // (`for epoch in range(200): train(epoch)` in a script without a main guard).
    let module_level_training = trains.is_some_and(|(_, module_level)| module_level)
        || index.calls.iter().any(|c| {
            c.function.is_none()
                && matches!(&*c.expr.func, ruff_python_ast::Expr::Name(n)
                    if training_functions.iter().any(|f| f == n.id.as_str()))
        });
    let is_entry_point = !is_test && (index.has_main_guard || is_notebook || module_level_training);
    let trains = trains.map(|(r, _)| r).or(fit_call);
    let mut imported_calls: Vec<(String, Site)> = Vec::new();
    let mut seen_calls: std::collections::HashSet<&str> = std::collections::HashSet::new();
    // Every file's, not only the entry points': an entry point reaches files through the
    // files it imports (`reached_from` follows them a few levels deep).
    if !is_test {
        for call in &index.calls {
            let Some(q) = &call.qualified else { continue };
            if !q.contains('.') || !seen_calls.insert(q.as_str()) {
                continue;
            }
            imported_calls.push((q.clone(), site(index, call.range())));
        }
    }
    FileFacts {
        whole_file: whole_file(index),
        trains: trains.map(|r| site(index, r)),
        training_functions,
        seeded,
        partial_seeding,
        seed_helper,
        ml_imports: ML_LIBRARY_IMPORTS
            .iter()
            .map(|(name, _)| *name)
            .filter(|name| {
                index
                    .imports
                    .values()
                    .any(|q| q.split('.').next() == Some(*name))
            })
            .collect(),
        uses_lightning: index.imports_any(&["lightning", "pytorch_lightning"]),
        self_seeding_trainer,
        numpy_random: numpy_random.map(|r| site(index, r)),
        python_random: python_random.map(|r| site(index, r)),
        imported_calls,
        torch_loads_without_weights_only: torch_loads,
        determinism: determinism.map(|r| site(index, r)),
        cudnn_benchmark: cudnn_benchmark.map(|r| site(index, r)),
        config_source,
        metric_tracking,
        records_config,
        full_service_trainer,
        checkpoint: checkpoint.map(|r| site(index, r)),
        checkpoint_has_optimizer,
        claims_resume,
        states_reproducible,
        hyperparameter_literals,
        evaluates,
        optimizes_inputs_only: optimizes_inputs_only(index),
        rl_or_gan: index.imports_any(&["gym", "gymnasium"])
            || index
                .classes
                .iter()
                .any(|c| contains_ignore_case(c.name, "discriminator"))
            || index
                .bindings
                .iter()
                .any(|b| matches!(b.target.as_str(), "netD" | "netG" | "discriminator")),
        has_worker_init_fn: index
            .calls
            .iter()
            .any(|c| c.keyword("worker_init_fn").is_some()),
        mentions_compile: COMPILE_MARKERS
            .iter()
            .any(|m| index.source.text.contains(m)),
        mentions_cuda: index.source.text.contains("cuda"),
        module_classes: super::module_modes::collect(index),
        unseeded_shuffles,
        dataset_numpy_draws,
        multi_worker_loader,
        checkpoint_saves,
        optimizer,
        scheduler,
        scheduler_from_epoch,
        scaler,
        candidates: Vec::new(),
        cv: None,
        path,
        is_notebook,
        is_test,
        is_entry_point,
    }
}

/// Global NumPy draws in the data path of Datasets, and the first multi-worker DataLoader.
fn dataset_numpy_draws(index: &SemanticIndex) -> (Vec<Site>, Option<Site>) {
    use crate::experiment::dataloader_worker_seeding::{data_path_methods, uses_worker_info};
    let mut draws = Vec::new();
    for (cid, class) in index.classes.iter().enumerate() {
        let is_dataset = class
            .bases
            .iter()
            .any(|b| b.rsplit('.').next().is_some_and(|n| n.ends_with("Dataset")));
        if !is_dataset || uses_worker_info(index, cid) {
            continue;
        }
        let methods = data_path_methods(index, cid);
        for call in &index.calls {
            if draws.len() >= 5 {
                break;
            }
            if !call.function.is_some_and(|f| methods.contains(&f)) {
                continue;
            }
            let is_global_draw = call
                .qualified
                .as_deref()
                .and_then(|q| q.strip_prefix("numpy.random."))
                .is_some_and(|rest| {
                    !rest.contains('.') && !NUMPY_RANDOM_NOT_GLOBAL.contains(&rest)
                });
            if is_global_draw {
                let mut draw = site(index, call.range());
                draw.label = class.name.to_string();
                draws.push(draw);
            }
        }
    }
    let loader = index.calls.iter().find(|c| {
        c.qualified
            .as_deref()
            .is_some_and(|q| DATA_LOADERS.contains(&q))
            && c.keyword("num_workers")
                .is_some_and(|n| literals::number(n) != Some(0.0))
    });
    (draws, loader.map(|c| site(index, c.range())))
}

/// What a `torch.save(obj, path)` checkpoint holds, in lowercase, when it can be read: `obj`
/// is a dict literal or a name bound to one in the same function (with the `name["key"] = ...`
/// lines of that function). The whole call is included, so an epoch in the path counts.
fn checkpoint_contents(
    index: &SemanticIndex,
    call: &mleng_python::index::Call,
    arg: &ruff_python_ast::Expr,
) -> Option<String> {
    use ruff_python_ast::Expr;
    let mut contents = index.text(call.range()).to_ascii_lowercase();
    match arg {
        Expr::Dict(_) => {}
        _ => {
            let name = literals::dotted(arg)?;
            let binding = index
                .bindings
                .iter()
                .rev()
                // `ckpt["opt"] = ...` is recorded as a binding of `ckpt` too: skip those.
                .find(|b| {
                    b.target == name
                        && b.function == call.function
                        && b.range.start() < call.start()
                        && !index
                            .text(b.range)
                            .trim_start()
                            .starts_with(&format!("{name}["))
                })?;
            if !matches!(binding.value, Expr::Dict(_)) {
                return None;
            }
            contents.push(' ');
            contents.push_str(&index.text(binding.value.range()).to_ascii_lowercase());
            let scope = match call.function {
                Some(f) => index.functions[f].def.range(),
                None => TextRange::up_to(ruff_text_size::TextSize::of(index.source.text.as_str())),
            };
            let subscript = format!("{name}[");
            for line in index.text(scope).lines() {
                let line = line.trim_start();
                if line.starts_with(&subscript) || line.contains(&format!("{name}.update(")) {
                    contents.push(' ');
                    contents.push_str(&line.to_ascii_lowercase());
                }
            }
        }
    }
    Some(contents)
}

/// A shuffling sampler or `DataLoader(shuffle=True)` that has no `generator` of its own.
fn shuffles_without_generator(call: &mleng_python::index::Call, q: &str) -> bool {
    if let Some((_, position)) = SHUFFLING_SAMPLERS.iter().find(|(name, _)| *name == q) {
        return call.arg_or_keyword(*position, "generator").is_none();
    }
    DATA_LOADERS.contains(&q)
        && call
            .arg_or_keyword(2, "shuffle")
            .and_then(literals::boolean)
            == Some(true)
        && call.keyword("generator").is_none()
        && call.keyword("sampler").is_none()
}

/// Learning rate, weight decay, batch size and epoch count written as number literals where
/// they are used: `SGD(params, lr=0.1)`, `DataLoader(ds, batch_size=32)`,
/// `for epoch in range(10):` around a training loop, `Trainer(max_epochs=10)`.
fn hyperparameter_literals(index: &SemanticIndex) -> Vec<(&'static str, String, TextRange)> {
    let mut out: Vec<(&'static str, String, TextRange)> = Vec::new();
    let mut push = |what: &'static str, expr: Option<&ruff_python_ast::Expr>| {
        if let Some(expr) = expr.filter(|e| literals::number(e).is_some()) {
            if !out.iter().any(|(w, _, _)| *w == what) {
                out.push((what, index.text(expr.range()).to_string(), expr.range()));
            }
        }
    };
    for call in &index.calls {
        let Some(q) = call.qualified.as_deref() else {
            continue;
        };
        if let Some(name) = q.strip_prefix("torch.optim.") {
            if name.starts_with(|c: char| c.is_ascii_uppercase()) {
                push("learning rate", call.arg_or_keyword(1, "lr"));
                push("weight decay", call.keyword("weight_decay"));
            }
        } else if q == "torch.utils.data.DataLoader" {
            push("batch size", call.arg_or_keyword(1, "batch_size"));
        } else if LIGHTNING_TRAINERS.contains(&q) {
            push("epochs", call.keyword("max_epochs"));
        }
    }
    // `for epoch in range(10):` enclosing a training loop.
    for lp in &index.training_loops {
        let mut parent = match lp.scope {
            TrainingScope::Loop(id) => index.loops[id].parent,
            TrainingScope::Function(_) => None,
        };
        while let Some(id) = parent {
            let header = index.text(index.loops[id].header);
            if let Some(rest) = header.split("range(").nth(1) {
                let arg = rest.split(')').next().unwrap_or("").trim();
                if header.contains("epoch")
                    && arg.parse::<u64>().is_ok()
                    && !out.iter().any(|(w, _, _)| *w == "epochs")
                {
                    out.push(("epochs", arg.to_string(), index.loops[id].header));
                }
            }
            parent = index.loops[id].parent;
        }
    }
    out
}

fn optimizes_inputs_only(index: &SemanticIndex) -> bool {
    let mut optimizers = index.calls.iter().filter(|c| {
        c.qualified.as_deref().is_some_and(|q| {
            q.strip_prefix("torch.optim.")
                .is_some_and(|n| n.starts_with(|ch: char| ch.is_ascii_uppercase()))
        })
    });
    let mut any = false;
    let all_inputs = optimizers.all(|c| {
        any = true;
        matches!(c.arg(0), Some(ruff_python_ast::Expr::List(list))
            if list.elts.iter().all(|e| matches!(e, ruff_python_ast::Expr::Name(_))))
    });
    any && all_inputs
}

/// Words that name evaluation on held-out data, in functions, loaders and keywords.
const EVAL_WORDS: &[&str] = &["val", "eval", "test", "holdout", "dev_"];

fn evaluates(index: &SemanticIndex) -> bool {
    let named_eval = |name: &str| EVAL_WORDS.iter().any(|w| contains_ignore_case(name, w));
    index.functions.iter().any(|f| named_eval(f.name))
        || index.withs.iter().any(|w| {
            w.contexts.iter().flatten().any(|q| {
                q == "torch.no_grad" || q == "torch.inference_mode" || q == "torch.enable_grad"
            })
        })
        || index.calls.iter().any(|c| {
            c.method == Some("eval")
                || c.method.is_some_and(named_eval)
                || c.qualified
                    .as_deref()
                    .is_some_and(|q| q.rsplit('.').next().is_some_and(named_eval))
                || c.expr
                    .arguments
                    .keywords
                    .iter()
                    .any(|k| k.arg.as_ref().is_some_and(|a| named_eval(a.as_str())))
        })
        || index
            .loops
            .iter()
            .any(|l| l.iterates_over.as_deref().is_some_and(named_eval))
        || index.bindings.iter().any(|b| named_eval(&b.target))
}

/// The first comment line that mentions reproducibility or determinism of runs.
fn reproducibility_comment(index: &SemanticIndex) -> Option<TextRange> {
    let source = index.source;
    for line in 1..=source.lines.line_count() {
        let text = source.lines.line_text(&source.text, line);
        let Some(hash) = text.find('#') else { continue };
        let comment = text[hash..].to_ascii_lowercase();
        // "deterministic" alone also describes transforms (`# a deterministic Resize for
        // evaluation`): it counts only next to a word about runs or their results.
        let about_runs = [
            "seed",
            "result",
            "run",
            "training",
            "cudnn",
            "algorithm",
            "behavio",
        ]
        .iter()
        .any(|w| comment.contains(w));
        if comment.contains("reproducib") || (comment.contains("deterministic") && about_runs) {
            let start = source.lines.line_start(line)? + hash as u32;
            let end = source.lines.line_start(line)? + text.len() as u32;
            return Some(TextRange::new(start.into(), end.into()));
        }
    }
    None
}

/// `needle` (lowercase ASCII) in `haystack`, ignoring ASCII case, without allocating.
fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

/// Whether a seeding call runs on every run: not under an `if` other than the main guard or a
/// test about the seed itself (`if args.seed is not None:` seeds whenever a seed is given, the
/// way the user asked). Seeding under `if args.cuda:` leaves the CPU runs unseeded.
fn seeds_every_run(index: &SemanticIndex, at: TextRange) -> bool {
    index.flow.guards(at).all(|(block, _)| {
        let test = index.text(block.test.range()).to_ascii_lowercase();
        test.contains("__main__")
            || test.contains("seed")
            || test.contains("determin")
            || test.contains("reproduc")
    })
}

fn is_seed_helper_name(name: &str) -> bool {
    contains_ignore_case(name, "seed")
        && !name.starts_with("get_")
        && !contains_ignore_case(name, "worker")
}
