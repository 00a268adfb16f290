#!/usr/bin/env python3
"""Generates the `mleng diagnose` calibration corpus: real training runs of small PyTorch
models on small real data that ships with packages, each written by a real logger.

    python3 scripts/make-run-corpus.py --out crates/mleng_runs/tests/corpus            # everything
    python3 scripts/make-run-corpus.py --out /tmp/c --only h_mlp_adam_s0  # one run
    python3 scripts/make-run-corpus.py --list                       # the plan, no training

The script creates its own virtual environment on first use (outside the repository,
`$MLENG_RUNS_VENV`, default `~/.cache/mleng/venv-runs`), pip-installs what it needs there
(torch from PyPI, scikit-learn, tensorboard, lightning, transformers, mlflow, wandb) and
re-runs itself inside it. Neither CI nor the Rust tests need any of this: the generated runs
are committed under `crates/mleng_runs/tests/corpus/`.

Data (nothing is downloaded at run time):
  digits  scikit-learn's bundled `load_digits` (1,797 real 8x8 handwritten digits), as flat
          vectors (MLP), images (CNN with BatchNorm), 8-step row sequences (LSTM) or 8 row
          tokens (transformer encoder);
  parity  digits as "5 or more" (binary, one logit);
  friedman scikit-learn's `make_friedman1` synthetic regression (fixed seed);
  text    a tiny character-level corpus: the Zen of Python (`this` module) and the
          descriptions of scikit-learn's bundled data sets, for a causal transformer.

Each run trains on one CPU thread for seconds, logs per optimizer step (train loss, LR,
total gradient norm, first-layer gradient norm, throughput) and per epoch (val loss, val
accuracy, train accuracy: the running mean over the epoch in train mode, as most scripts
log it). Long runs log every k-th step, as `log_every_n_steps` does; the values are never
edited. `labels.json` records, for each run, its split (tune / holdout, chosen by a hash of
the run id), whether it is healthy, the deliberate cause of a broken run, the symptoms an
engineer would name, the detector codes that name that cause, and the measured outcome.

Not generated: AMP clipping without `unscale_` (float16 GradScaler needs a CUDA GPU and none
was available on the machine that made this corpus).
"""

import argparse
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

PACKAGES = [
    "torch",
    "scikit-learn",
    "tensorboard",
    "lightning",
    "transformers",
    "mlflow",
    "wandb",
]


def ensure_venv():
    if os.environ.get("MLENG_RUNS_IN_VENV") == "1":
        return
    venv = Path(os.environ.get("MLENG_RUNS_VENV", Path.home() / ".cache/mleng/venv-runs"))
    py = venv / "bin" / "python"
    if not py.exists():
        subprocess.check_call([sys.executable, "-m", "venv", str(venv)])
        subprocess.check_call([str(py), "-m", "pip", "install", "-q", *PACKAGES])
    env = dict(os.environ, MLENG_RUNS_IN_VENV="1")
    os.execve(str(py), [str(py), *sys.argv], env)


# ----------------------------------------------------------------------------------------
# The plan: one dict per run.

FORMATS = ["tb", "jsonl", "csv", "hf", "mlflow_file", "mlflow_sqlite", "wandb"]


def plan():
    runs = []

    def add(rid, **cfg):
        cfg.setdefault("task", "digits")
        cfg.setdefault("model", "mlp")
        cfg.setdefault("opt", "adam")
        cfg.setdefault("lr", 1e-3)
        cfg.setdefault("sched", "const")
        cfg.setdefault("bs", 32)
        cfg.setdefault("epochs", 12)
        cfg.setdefault("wd", 0.0)
        cfg.setdefault("dropout", 0.0)
        cfg.setdefault("smoothing", 0.0)
        cfg.setdefault("broken", None)
        cfg["id"] = rid
        runs.append(cfg)

    # Healthy: every family with several seeds. Format rotates with the index.
    healthy = [
        ("mlp_adam", dict(model="mlp", opt="adam", lr=1e-3)),
        ("mlp_sgd_cos", dict(model="mlp", opt="sgd", lr=0.05, sched="cosine")),
        ("mlp_adamw_onecycle", dict(model="mlp", opt="adamw", lr=3e-3, sched="onecycle", wd=0.05)),
        ("mlp_sgd_step_bs8", dict(model="mlp", opt="sgd", lr=0.02, sched="step", bs=8, epochs=8)),
        ("mlp_adam_drop_ls", dict(model="mlp", opt="adam", lr=1e-3, dropout=0.3, smoothing=0.1)),
        ("mlp_adam_bs512", dict(model="mlp", opt="adam", lr=3e-3, bs=512, epochs=60)),
        ("cnn_adam", dict(model="cnn", opt="adam", lr=1e-3)),
        ("cnn_sgd_warmup", dict(model="cnn", opt="sgd", lr=0.05, sched="warmup", bs=64, epochs=15)),
        ("cnn_adamw_cos_wd", dict(model="cnn", opt="adamw", lr=2e-3, sched="cosine", wd=0.1)),
        ("cnn_sgd_onecycle_bs128", dict(model="cnn", opt="sgd", lr=0.1, sched="onecycle", bs=128, epochs=25)),
        ("lstm_adam", dict(model="lstm", opt="adam", lr=3e-3, epochs=25)),
        ("lstm_adamw_cos", dict(model="lstm", opt="adamw", lr=5e-3, sched="cosine", wd=0.01, epochs=15)),
        ("tfm_adamw_warmup", dict(model="tfm", opt="adamw", lr=1e-3, sched="warmup", wd=0.01, epochs=20)),
        ("charlm_adamw_warmup", dict(task="text", model="tfm", opt="adamw", lr=2e-3, sched="warmup", bs=32, epochs=30, wd=0.01)),
        ("reg_mlp_adam", dict(task="friedman", model="mlp", opt="adam", lr=2e-3, epochs=30)),
        ("reg_mlp_sgd_step", dict(task="friedman", model="mlp", opt="sgd", lr=0.01, sched="step", epochs=30)),
        ("bin_mlp_adam", dict(task="parity", model="mlp", opt="adam", lr=1e-3, epochs=12)),
    ]
    n = 0
    for name, cfg in healthy:
        seeds = 4 if name not in ("charlm_adamw_warmup",) else 3
        for s in range(seeds):
            add(f"h_{name}_s{s}", seed=s, fmt=FORMATS[n % len(FORMATS)], **cfg)
            n += 1

    broken = [
        ("lr_too_high", [dict(opt="sgd", lr=8.0, model="mlp", depth=4), dict(opt="adam", lr=2.0, model="mlp", depth=4),
                         dict(opt="sgd", lr=3.0, model="cnn"), dict(opt="sgd", lr=6.0, model="mlp", depth=6)]),
        ("no_zero_grad", [dict(opt="sgd", lr=0.05), dict(opt="adam", lr=1e-3), dict(opt="sgd", lr=0.02, model="cnn"), dict(opt="sgd", lr=0.01, momentum=0.0)]),
        ("softmax_ce", [dict(opt="adam", lr=1e-3, epochs=40), dict(opt="adam", lr=3e-3, epochs=40, model="cnn"), dict(opt="sgd", lr=0.5, epochs=40), dict(opt="adam", lr=2e-3, epochs=40, bs=64)]),
        ("sigmoid_bce", [dict(task="parity", opt="adam", lr=1e-3, epochs=40), dict(task="parity", opt="adam", lr=3e-3, epochs=40, model="cnn"), dict(task="parity", opt="sgd", lr=0.5, epochs=40), dict(task="parity", opt="adam", lr=2e-3, epochs=40, bs=64)]),
        ("vanishing_sigmoid", [dict(opt="sgd", lr=0.05, depth=20, act="sigmoid"), dict(opt="sgd", lr=0.1, depth=16, act="sigmoid"), dict(opt="sgd", lr=0.02, depth=24, act="sigmoid"), dict(opt="sgd", lr=0.05, depth=20, act="sigmoid", bs=64)]),
        ("dead_relu", [dict(opt="sgd", lr=0.05), dict(opt="sgd", lr=0.02, bs=64), dict(opt="adam", lr=1e-3), dict(opt="sgd", lr=0.05, model="cnn")]),
        ("tiny_train", [dict(opt="adam", lr=1e-3, epochs=150, width=512, depth=3, bs=16), dict(opt="adam", lr=2e-3, epochs=150, width=1024, depth=3, bs=16), dict(opt="sgd", lr=0.05, epochs=200, width=512, depth=3, bs=8), dict(opt="adamw", lr=1e-3, epochs=150, width=512, depth=4, bs=16)]),
        ("lr0_resume", [dict(opt="sgd", lr=0.05, sched="cosine", epochs=16), dict(opt="adam", lr=1e-3, sched="cosine", epochs=16), dict(opt="adamw", lr=2e-3, sched="cosine", epochs=16, model="cnn"), dict(opt="sgd", lr=0.05, sched="cosine", epochs=16, bs=64)]),
        ("labels_shuffled", [dict(opt="adam", lr=1e-3), dict(opt="sgd", lr=0.05, sched="cosine"), dict(opt="adam", lr=1e-3, model="cnn"), dict(opt="adamw", lr=1e-3, epochs=20)]),
        ("loader_stall", [dict(opt="adam", lr=1e-3), dict(opt="sgd", lr=0.05, sched="cosine"), dict(opt="adam", lr=1e-3, model="cnn"), dict(opt="adamw", lr=1e-3, bs=64)]),
        ("leakage", [dict(opt="adam", lr=1e-3, dropout=0.6), dict(opt="sgd", lr=0.05, dropout=0.6), dict(opt="adam", lr=1e-3, dropout=0.5, model="cnn"), dict(opt="adamw", lr=2e-3, dropout=0.6)]),
    ]
    bfmts = ["tb", "jsonl", "csv", "wandb", "mlflow_sqlite", "mlflow_file", "hf"]
    m = 0
    for cause, variants in broken:
        for i, v in enumerate(variants):
            fmt = bfmts[m % len(bfmts)]
            if cause == "loader_stall" and fmt in ("jsonl", "csv", "hf"):
                fmt = "tb"  # a stall needs wall-clock times or throughput the logger keeps
            if cause == "vanishing_sigmoid" and fmt == "hf":
                fmt = "wandb"  # Trainer logs no per-layer gradient norm
            add(f"b_{cause}_{i}", seed=10 + i, fmt=fmt, broken=cause, **v)
            m += 1
    for r in runs:
        r["split"] = "holdout" if int(hashlib.sha256(r["id"].encode()).hexdigest(), 16) % 10 < 4 else "tune"
    return runs


# cause id: (cause, symptoms an engineer would name, detector codes that may name it, words
# of which one must appear in that finding's title, evidence or causes).
CAUSES = {
    "lr_too_high": ("learning rate far too high", ["divergence or NaN loss", "exploding gradients", "or an early blow-up to chance with dead units"], ["RUN001", "RUN002", "RUN003", "RUN006"], ["learning rate"]),
    "no_zero_grad": ("optimizer.zero_grad() never called: gradients accumulate over steps", ["gradient norm climbs steadily", "loss wanders or blows up"], ["RUN001", "RUN002", "RUN003", "RUN014"], ["zero_grad", "exploded", "learning rate"]),
    "softmax_ce": ("softmax fed to CrossEntropyLoss", ["train accuracy near 1 while the loss floors at ln((e+C-1)/e)", "or stuck at chance"], ["RUN008", "RUN006"], ["softmax"]),
    "sigmoid_bce": ("sigmoid fed to BCEWithLogitsLoss", ["train accuracy near 1 while the loss floors between ln(1+e^-1) and ln 2", "or stuck at chance"], ["RUN008", "RUN006"], ["sigmoid"]),
    "vanishing_sigmoid": ("deep sigmoid stack: vanishing gradients", ["first-layer gradient tiny", "loss at chance"], ["RUN009", "RUN006"], ["vanishing"]),
    "dead_relu": ("one huge optimizer step kills the ReLUs", ["loss jumps and never recovers", "accuracy falls toward chance"], ["RUN001", "RUN002", "RUN003", "RUN004", "RUN006"], ["dead", "exploded", "blew up", "blow-up", "spike", "diverg"]),
    "tiny_train": ("training set far too small for the model (overfitting)", ["val loss rises while train loss falls", "train accuracy 1.0"], ["RUN007"], ["overfitting"]),
    "lr0_resume": ("learning rate 0 after a faulty resume", ["LR drops to 0 mid-run", "loss flat from then on"], ["RUN010"], ["learning rate is 0"]),
    "labels_shuffled": ("training labels shuffled: nothing to learn", ["val accuracy at chance", "loss near ln K"], ["RUN006"], ["labels"]),
    "loader_stall": ("data loader stalls", ["throughput collapses for a stretch", "wall-clock gaps"], ["RUN012"], ["stall"]),
    "leakage": ("validation samples drawn from the training set", ["validation better than training from the first epoch"], ["RUN013"], ["leak"]),
}


# ----------------------------------------------------------------------------------------
# Data, models, training.


def zen_and_descr():
    import codecs
    import this  # noqa: F401  (prints the Zen once; harmless)
    from sklearn import datasets

    text = codecs.decode(this.s, "rot13")
    for loader in (datasets.load_iris, datasets.load_wine, datasets.load_breast_cancer, datasets.load_digits, datasets.load_diabetes):
        text += "\n" + loader().DESCR
    return text


def load_task(task, seed, tiny=False, shuffle_labels=False, leak=False):
    import numpy as np
    import torch
    from sklearn.datasets import load_digits, make_friedman1

    rng = np.random.RandomState(1234)
    if task == "text":
        text = zen_and_descr()
        chars = sorted(set(text))
        ids = np.array([chars.index(c) for c in text], dtype=np.int64)
        ctx = 32
        # Blocks of 512 characters, every 10th held out: validation text of the same kind as
        # the training text, and no window spans both.
        blocks = [ids[i:i + 512] for i in range(0, len(ids), 512)]
        train_ids = [b for k, b in enumerate(blocks) if k % 10 != 9]
        val_ids = [b for k, b in enumerate(blocks) if k % 10 == 9]

        def windows(parts, stride):
            xs, ys = [], []
            for a in parts:
                for i in range(0, len(a) - ctx - 1, stride):
                    xs.append(a[i:i + ctx])
                    ys.append(a[i + 1:i + ctx + 1])
            return torch.tensor(np.array(xs)), torch.tensor(np.array(ys))

        xtr, ytr = windows(train_ids, 16)
        xva, yva = windows(val_ids, 32)
        return dict(kind="lm", xtr=xtr, ytr=ytr, xva=xva, yva=yva, classes=len(chars))
    if task == "friedman":
        x, y = make_friedman1(n_samples=2000, noise=0.5, random_state=0)
        y = (y - y.mean()) / y.std()
        idx = rng.permutation(len(x))
        x, y = x[idx].astype(np.float32), y[idx].astype(np.float32)
        return dict(kind="reg", xtr=torch.tensor(x[:1600]), ytr=torch.tensor(y[:1600]), xva=torch.tensor(x[1600:]), yva=torch.tensor(y[1600:]), classes=1)
    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    idx = rng.permutation(len(x))
    x, y = x[idx], y[idx]
    xtr, ytr, xva, yva = x[:1400], y[:1400], x[1400:], y[1400:]
    if task == "parity":
        ytr, yva = (ytr >= 5).astype(np.float32), (yva >= 5).astype(np.float32)
    if tiny:
        xtr, ytr = xtr[:120], ytr[:120]
    if shuffle_labels:
        ytr = np.random.RandomState(seed).permutation(ytr)
    if leak:
        pick = np.random.RandomState(seed).choice(len(xtr), size=len(xva), replace=False)
        xva, yva = xtr[pick], ytr[pick]
    kind = "bin" if task == "parity" else "cls"
    return dict(kind=kind, xtr=torch.tensor(xtr), ytr=torch.tensor(ytr), xva=torch.tensor(xva), yva=torch.tensor(yva), classes=1 if kind == "bin" else 10)


def build_model(cfg, data):
    import torch
    from torch import nn

    out = data["classes"]
    act = nn.Sigmoid if cfg.get("act") == "sigmoid" else nn.ReLU
    drop = cfg["dropout"]
    if data["kind"] == "lm":
        return CharTransformer(data["classes"])
    nin = data["xtr"].shape[1]
    if cfg["model"] == "mlp":
        width, depth = cfg.get("width", 128), cfg.get("depth", 2)
        layers, d = [], nin
        for _ in range(depth):
            layers += [nn.Linear(d, width), act()]
            if drop:
                layers.append(nn.Dropout(drop))
            d = width
        layers.append(nn.Linear(d, out))
        return nn.Sequential(*layers)
    if cfg["model"] == "cnn":
        return nn.Sequential(
            nn.Unflatten(1, (1, 8, 8)),
            nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Dropout(drop), nn.Linear(32 * 16, 64), nn.ReLU(), nn.Linear(64, out),
        )
    if cfg["model"] == "lstm":
        return RowLSTM(out)
    if cfg["model"] == "tfm":
        return RowTransformer(out)
    raise ValueError(cfg["model"])


def _modules():
    import torch
    from torch import nn

    class RowLSTM(nn.Module):
        def __init__(self, out):
            super().__init__()
            self.lstm = nn.LSTM(8, 64, batch_first=True)
            self.head = nn.Linear(64, out)

        def forward(self, x):
            h, _ = self.lstm(x.view(-1, 8, 8))
            return self.head(h[:, -1])

    class RowTransformer(nn.Module):
        def __init__(self, out):
            super().__init__()
            self.embed = nn.Linear(8, 48)
            self.pos = nn.Parameter(torch.zeros(1, 8, 48))
            layer = nn.TransformerEncoderLayer(48, 4, 96, dropout=0.1, batch_first=True)
            self.enc = nn.TransformerEncoder(layer, 2)
            self.head = nn.Linear(48, out)

        def forward(self, x):
            h = self.enc(self.embed(x.view(-1, 8, 8)) + self.pos)
            return self.head(h.mean(1))

    class CharTransformer(nn.Module):
        def __init__(self, vocab):
            super().__init__()
            self.embed = nn.Embedding(vocab, 64)
            self.pos = nn.Parameter(torch.zeros(1, 32, 64))
            layer = nn.TransformerEncoderLayer(64, 4, 128, dropout=0.1, batch_first=True)
            self.enc = nn.TransformerEncoder(layer, 2)
            self.head = nn.Linear(64, vocab)
            self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(32))

        def forward(self, x):
            n = x.shape[1]
            h = self.enc(self.embed(x) + self.pos[:, :n], mask=self.mask[:n, :n], is_causal=True)
            return self.head(h)

    return RowLSTM, RowTransformer, CharTransformer


RowLSTM = RowTransformer = CharTransformer = None


def make_optimizer(cfg, model):
    import torch

    p = model.parameters()
    if cfg["opt"] == "sgd":
        return torch.optim.SGD(p, lr=cfg["lr"], momentum=cfg.get("momentum", 0.9), weight_decay=cfg["wd"])
    if cfg["opt"] == "adam":
        return torch.optim.Adam(p, lr=cfg["lr"], weight_decay=cfg["wd"])
    return torch.optim.AdamW(p, lr=cfg["lr"], weight_decay=cfg["wd"] or 0.01)


def make_scheduler(cfg, opt, total):
    import torch

    s = cfg["sched"]
    if s == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total), "step"
    if s == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg["lr"], total_steps=total), "step"
    if s == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, cfg["epochs"] // 3), gamma=0.3), "epoch"
    if s == "warmup":
        warm = max(1, total // 10)
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda k: min(1.0, (k + 1) / warm) * max(0.05, 1 - k / total)), "step"
    return None, None


def grad_norms(model):
    import torch

    grads = [p.grad.detach().norm(2) for p in model.parameters() if p.grad is not None]
    total = torch.norm(torch.stack(grads), 2).item() if grads else 0.0
    first = next((p for p in model.parameters() if p.grad is not None and p.dim() > 1), None)
    return total, (first.grad.detach().norm(2).item() if first is not None else 0.0)


def loss_and_correct(cfg, data, logits, y):
    import torch
    import torch.nn.functional as F

    kind = data["kind"]
    broken = cfg["broken"]
    if kind == "lm":
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), label_smoothing=cfg["smoothing"])
        return loss, (logits.argmax(-1) == y).float().sum().item(), y.numel()
    if kind == "reg":
        pred = logits.squeeze(-1)
        loss = F.mse_loss(pred, y)
        return loss, None, y.numel()
    if kind == "bin":
        z = logits.squeeze(-1)
        if broken == "sigmoid_bce":
            z = torch.sigmoid(z)  # the bug: probabilities fed to a loss that applies sigmoid itself
            correct = ((z > 0.5).float() == y).float().sum().item()
        else:
            correct = ((z > 0).float() == y).float().sum().item()
        return F.binary_cross_entropy_with_logits(z, y), correct, y.numel()
    if broken == "softmax_ce":
        logits = torch.softmax(logits, -1)  # the bug: CrossEntropyLoss applies log_softmax again
    loss = F.cross_entropy(logits, y, label_smoothing=cfg["smoothing"])
    return loss, (logits.argmax(-1) == y).float().sum().item(), y.numel()


def train(cfg, log):
    import numpy as np
    import torch

    torch.manual_seed(cfg["seed"])
    np.random.seed(cfg["seed"])
    broken = cfg["broken"]
    data = load_task(cfg["task"], cfg["seed"], tiny=broken == "tiny_train", shuffle_labels=broken == "labels_shuffled", leak=broken == "leakage")
    model = build_model(cfg, data)
    opt = make_optimizer(cfg, model)
    n = len(data["xtr"])
    bs = cfg["bs"]
    per_epoch = math.ceil(n / bs)
    total = per_epoch * cfg["epochs"]
    sched, every = make_scheduler(cfg, opt, total)
    # Long runs log every k-th step, as `log_every_n_steps` does. The SQLite store keeps three
    # indexes over (run_uuid, key, step): a point costs ~270 bytes there, so its runs log
    # at most ~250 train points (as MLflow users who log per step on long runs do).
    log_every = max(1, total // (250 if cfg["fmt"] == "mlflow_sqlite" else 1500))
    step = 0
    stall = (int(total * 0.4), int(total * 0.65)) if broken == "loader_stall" else None
    huge_at = per_epoch * 2 + 5 if broken == "dead_relu" else None
    resume_at = total // 2 if broken == "lr0_resume" else None
    outcome = {}
    g = torch.Generator().manual_seed(cfg["seed"])
    t_last = time.time()
    for epoch in range(cfg["epochs"]):
        model.train()
        perm = torch.randperm(n, generator=g)
        run_correct, run_seen = 0.0, 0
        for b in range(per_epoch):
            idx = perm[b * bs:(b + 1) * bs]
            x, y = data["xtr"][idx], data["ytr"][idx]
            if broken == "leakage":
                x = x + 0.35 * torch.randn_like(x)  # heavy augmentation in training only
            if stall and stall[0] <= step < stall[1]:
                time.sleep(0.06)  # the loader waits on a slow disk / a worker that died
            if resume_at is not None and step == resume_at:
                # Faulty resume: the optimizer state comes from a checkpoint saved at the end of a
                # finished cosine schedule (its param groups hold lr 0.0); the scheduler is not
                # restored, so nothing ever raises the LR again.
                state = opt.state_dict()
                for group in state["param_groups"]:
                    group["lr"] = 0.0
                opt.load_state_dict(state)
                sched = None
            if huge_at is not None and step == huge_at:
                for group in opt.param_groups:
                    group["saved_lr"] = group["lr"]
                    group["lr"] = group["lr"] * (3000 if cfg["opt"] == "sgd" else 3e5)
            if broken != "no_zero_grad":
                opt.zero_grad(set_to_none=True)
            logits = model(x)
            loss, correct, count = loss_and_correct(cfg, data, logits, y)
            loss.backward()
            gn, g1 = grad_norms(model)
            lr = opt.param_groups[0]["lr"]
            opt.step()
            if huge_at is not None and step == huge_at:
                for group in opt.param_groups:
                    group["lr"] = group.pop("saved_lr")
            if sched is not None and every == "step":
                sched.step()
            if correct is not None:
                run_correct += correct
                run_seen += count
            now = time.time()
            dt, t_last = now - t_last, now
            if step % log_every == 0:
                log.train(step, epoch, dict(loss=loss.item(), lr=lr, grad_norm=gn, grad_norm_first_layer=g1, samples_per_second=len(idx) / max(dt, 1e-6)))
            step += 1
        if sched is not None and every == "epoch":
            sched.step()
        model.eval()
        with torch.no_grad():
            vl, vc, vn = [], 0.0, 0
            for b in range(0, len(data["xva"]), 512):
                xv, yv = data["xva"][b:b + 512], data["yva"][b:b + 512]
                loss, correct, count = loss_and_correct(cfg, data, model(xv), yv)
                vl.append(loss.item() * len(xv))
                if correct is not None:
                    vc += correct
                vn += count if correct is not None else len(xv)
            val_loss = sum(vl) / len(data["xva"])
        ev = dict(val_loss=val_loss)
        if data["kind"] != "reg":
            ev["val_acc"] = vc / vn
            ev["train_acc"] = run_correct / max(run_seen, 1)
        log.eval(step, epoch, ev)
        outcome = dict(final_val_loss=val_loss, final_val_acc=ev.get("val_acc"), final_train_acc=ev.get("train_acc"), steps=step)
        outcome["best_val_acc"] = max(outcome.get("best_val_acc") or 0, ev.get("val_acc") or 0) if data["kind"] != "reg" else None
    log.close()
    return outcome


# ----------------------------------------------------------------------------------------
# Loggers: each writes through the real library.


class Logger:
    names = dict(loss="train/loss", lr="train/lr", grad_norm="train/grad_norm", grad_norm_first_layer="train/grad_norm_first_layer", samples_per_second="train/samples_per_second", val_loss="val/loss", val_acc="val/acc", train_acc="train/acc")

    def key(self, k):
        return self.names.get(k, k)


class TbLogger(Logger):
    def __init__(self, root, cfg):
        from torch.utils.tensorboard import SummaryWriter

        self.w = SummaryWriter(log_dir=str(root / "tb"))

    def train(self, step, epoch, d):
        for k, v in d.items():
            self.w.add_scalar(self.key(k), v, step)

    def eval(self, step, epoch, d):
        for k, v in d.items():
            self.w.add_scalar(self.key(k), v, step)
        self.w.add_scalar("epoch", epoch, step)

    def close(self):
        self.w.close()


class JsonlLogger(Logger):
    def __init__(self, root, cfg):
        self.f = open(root / "metrics.jsonl", "w")

    def train(self, step, epoch, d):
        self.f.write(json.dumps(dict(step=step, epoch=epoch, train_loss=d["loss"], lr=d["lr"], grad_norm=d["grad_norm"], grad_norm_first_layer=d["grad_norm_first_layer"], samples_per_second=d["samples_per_second"], time=time.time())) + "\n")

    def eval(self, step, epoch, d):
        self.f.write(json.dumps(dict(step=step, epoch=epoch, **d)) + "\n")

    def close(self):
        self.f.close()


class CsvLogger(Logger):
    def __init__(self, root, cfg):
        from lightning.pytorch.loggers import CSVLogger

        self.l = CSVLogger(save_dir=str(root), name="lightning_logs", version=0)
        self.lrname = "lr-" + {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW"}[cfg["opt"]]

    def train(self, step, epoch, d):
        self.l.log_metrics({"train_loss_step": d["loss"], self.lrname: d["lr"], "grad_2.0_norm_total": d["grad_norm"], "grad_norm_first_layer": d["grad_norm_first_layer"], "epoch": epoch}, step=step)

    def eval(self, step, epoch, d):
        self.l.log_metrics({**d, "epoch": epoch}, step=step)

    def close(self):
        self.l.finalize("success")


class HfLogger(Logger):
    """Trainer's log history: a train entry every `logging_steps` with the mean loss since the
    last one, an eval entry per epoch; written by `TrainerState.save_to_json`."""

    def __init__(self, root, cfg):
        self.root = root
        self.hist = []
        self.acc = []
        self.logging_steps = 5
        self.t0 = time.time()

    def train(self, step, epoch, d):
        self.acc.append(d["loss"])
        if (step + 1) % self.logging_steps == 0:
            self.hist.append(dict(loss=round(sum(self.acc) / len(self.acc), 4), grad_norm=d["grad_norm"], learning_rate=d["lr"], epoch=epoch, step=step + 1))
            self.acc = []

    def eval(self, step, epoch, d):
        e = dict(eval_loss=d["val_loss"], epoch=float(epoch + 1), step=step)
        if "val_acc" in d:
            e["eval_accuracy"] = d["val_acc"]
        e["eval_runtime"] = 0.05
        self.hist.append(e)
        self.step = step
        self.epoch = epoch + 1

    def close(self):
        from transformers import TrainerState

        rt = time.time() - self.t0
        losses = [h["loss"] for h in self.hist if "loss" in h]
        self.hist.append(dict(epoch=float(self.epoch), step=self.step, total_flos=0.0, train_loss=sum(losses) / max(len(losses), 1), train_runtime=rt, train_samples_per_second=0.0, train_steps_per_second=self.step / rt))
        st = TrainerState(epoch=float(self.epoch), global_step=self.step, max_steps=self.step, logging_steps=self.logging_steps, log_history=self.hist)
        st.save_to_json(str(self.root / "trainer_state.json"))


class MlflowLogger(Logger):
    def __init__(self, root, cfg, sqlite):
        import mlflow
        from mlflow.tracking import MlflowClient

        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # mlflow 3 keeps the file store behind this switch
        # SQLite: one store per part of the corpus, shared by its runs as a tracking server's
        # is (the schema alone is ~0.9 MB: 218 tables and indexes); runs are told apart by name.
        uri = f"sqlite:///{root.parent / 'mlflow_store' / 'mlflow.db'}" if sqlite else (root / "mlruns").resolve().as_uri()
        if sqlite:
            (root.parent / "mlflow_store").mkdir(exist_ok=True)
        self.c = MlflowClient(tracking_uri=uri)
        exp = self.c.get_experiment_by_name("corpus") or None
        eid = exp.experiment_id if exp else self.c.create_experiment("corpus")
        self.run = self.c.create_run(eid, run_name=cfg["id"])
        self.buf = []
        self.names = dict(loss="train_loss", lr="lr", grad_norm="grad_norm", grad_norm_first_layer="grad_norm_first_layer", samples_per_second="samples_per_second", val_loss="val_loss", val_acc="val_acc", train_acc="train_acc")

    def _add(self, step, d):
        from mlflow.entities import Metric

        ts = int(time.time() * 1000)
        for k, v in d.items():
            self.buf.append(Metric(self.key(k), float(v), ts, step))
        if len(self.buf) > 900:
            self.flush()

    def flush(self):
        if self.buf:
            self.c.log_batch(self.run.info.run_id, metrics=self.buf)
            self.buf = []

    def train(self, step, epoch, d):
        self._add(step, d)

    def eval(self, step, epoch, d):
        self._add(step, {**d, "epoch": epoch})

    def close(self):
        self.flush()
        self.c.set_terminated(self.run.info.run_id)


class WandbLogger(Logger):
    def __init__(self, root, cfg):
        import wandb

        os.environ["WANDB_MODE"] = "offline"
        os.environ["WANDB_SILENT"] = "true"
        self.wandb = wandb
        self.run = wandb.init(project="mleng-corpus", dir=str(root), name=cfg["id"], config={k: v for k, v in cfg.items() if k != "split"}, reinit="finish_previous")
        self.run.define_metric("trainer/global_step")
        self.run.define_metric("*", step_metric="trainer/global_step")

    def train(self, step, epoch, d):
        self.run.log({**{self.key(k): v for k, v in d.items()}, "trainer/global_step": step, "epoch": epoch})

    def eval(self, step, epoch, d):
        self.run.log({**{self.key(k): v for k, v in d.items()}, "trainer/global_step": step, "epoch": epoch})

    def close(self):
        self.run.finish()


def make_logger(fmt, root, cfg):
    if fmt == "tb":
        return TbLogger(root, cfg)
    if fmt == "jsonl":
        return JsonlLogger(root, cfg)
    if fmt == "csv":
        return CsvLogger(root, cfg)
    if fmt == "hf":
        return HfLogger(root, cfg)
    if fmt == "mlflow_file":
        return MlflowLogger(root, cfg, sqlite=False)
    if fmt == "mlflow_sqlite":
        return MlflowLogger(root, cfg, sqlite=True)
    return WandbLogger(root, cfg)


def tidy(root):
    """Drops what is not the run's log: W&B's debug logs and pip freeze, mlflow's artifacts."""
    for p in root.rglob("logs"):
        if p.is_dir() and p.parent.name.startswith(("run-", "offline-run-")):
            shutil.rmtree(p)
    for p in root.rglob("requirements.txt"):
        p.unlink()
    for p in root.rglob("wandb-metadata.json"):
        p.unlink()
    for p in root.rglob("latest-run"):
        if p.is_symlink():
            p.unlink()
    for p in root.rglob("debug*.log"):
        p.unlink()


def healthy_enough(cfg, o):
    """A healthy run must reach a good validation score: what these models reach on these data."""
    if cfg["task"] == "friedman":
        return o["final_val_loss"] < 0.15  # MSE on standardized targets: R^2 > 0.85
    if cfg["task"] == "text":
        # 15,140 characters, 86 distinct: the most common one (space) alone scores 0.205 and
        # the unigram entropy is 3.37 nats. Good for a model this small on text this short:
        # 1.5x the majority score and 0.5 nats under the unigram entropy.
        return o["final_val_acc"] > 0.30 and o["final_val_loss"] < 3.37 - 0.5
    if cfg["task"] == "parity":
        return o["final_val_acc"] > 0.95
    return o["final_val_acc"] > 0.95


def write_labels(runs, out):
    labels = {}
    for cfg in runs:
        done = out / cfg["split"] / cfg["id"] / ".done.json"
        if not done.exists():
            continue
        o = json.loads(done.read_text())["outcome"]
        o = {k: (v if not isinstance(v, float) or math.isfinite(v) else str(v)) for k, v in o.items()}
        entry = dict(split=cfg["split"], format=cfg["fmt"], task=cfg["task"], model=cfg["model"], optimizer=cfg["opt"], lr=cfg["lr"], schedule=cfg["sched"], batch_size=cfg["bs"], epochs=cfg["epochs"], seed=cfg["seed"], outcome=o)
        if cfg["broken"] is None:
            ok = healthy_enough(cfg, o)
            # A run planned healthy that fell short of a good score is neither healthy nor
            # broken with a known cause: it is kept, labelled, and left out of the scoring.
            entry.update(healthy=ok, excluded=not ok, cause=None if ok else "planned healthy but did not reach a good validation score (excluded from scoring)", symptoms=[], expect=[], words=[])
        else:
            cause, symptoms, codes, words = CAUSES[cfg["broken"]]
            entry.update(healthy=False, excluded=False, cause=cause, cause_id=cfg["broken"], symptoms=symptoms, expect=codes, words=words)
        labels[cfg["id"]] = entry
    (out / "labels.json").write_text(json.dumps(dict(
        generator="scripts/make-run-corpus.py",
        note="healthy: reached a good validation score and nothing went wrong; expect: detector codes of which at least one must name the cause as a warning or error, with one of `words` in its title, evidence or causes; excluded: planned healthy but below the bar, not scored",
        not_generated=["AMP clipping without unscale_: float16 GradScaler needs a CUDA GPU; none was available"],
        runs=labels), indent=1, sort_keys=True) + "\n")
    print(len(labels), "runs labelled;", sum(1 for v in labels.values() if v["healthy"]), "healthy")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="crates/mleng_runs/tests/corpus")
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--shard", default="0/1", help="i/n: run every n-th run starting at i")
    ap.add_argument("--labels", action="store_true", help="write labels.json from the finished runs")
    args = ap.parse_args()
    runs = plan()
    if args.labels:
        write_labels(runs, Path(args.out))
        return
    if args.list:
        for r in runs:
            print(r["split"], r["fmt"], r["id"])
        return
    import torch

    torch.set_num_threads(1)
    global RowLSTM, RowTransformer, CharTransformer
    RowLSTM, RowTransformer, CharTransformer = _modules()
    i, n = map(int, args.shard.split("/"))
    out = Path(args.out)
    for k, cfg in enumerate(runs):
        if args.only and cfg["id"] not in args.only:
            continue
        if not args.only and k % n != i:
            continue
        root = out / cfg["split"] / cfg["id"]
        if (root / ".done.json").exists():
            continue
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        t0 = time.time()
        log = make_logger(cfg["fmt"], root, cfg)
        outcome = train(cfg, log)
        tidy(root)
        outcome["seconds"] = round(time.time() - t0, 1)
        (root / ".done.json").write_text(json.dumps(dict(cfg=cfg, outcome=outcome)))
        print(cfg["id"], cfg["fmt"], json.dumps(outcome), flush=True)


if __name__ == "__main__":
    ensure_venv()
    main()
