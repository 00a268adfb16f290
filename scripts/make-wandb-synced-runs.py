#!/usr/bin/env python3
"""Writes the W&B test runs of crates/mleng_runs/tests/data/wandb_synced/ with the real
`wandb` package: each run is trained here (a tiny two-layer ReLU network in plain Python on
a synthetic two-class task, no other package needed), logged offline (`WANDB_MODE=offline`),
then uploaded with `wandb sync` to a stand-in server on 127.0.0.1 that accepts everything.

Why the sync: an offline run writes only its `.wandb` transaction log; `files/config.yaml`
and `files/wandb-summary.json` are written by the SDK's sender (wandb-core) when the run is
uploaded, online or by `wandb sync`, into the run's own `files/` folder. The stand-in server
only answers the sender's requests (GraphQL `UpsertBucket`, `CreateRunFiles`, file stream,
uploads); the files are the sender's own.

Usage (never needed by CI or the tests):
    python3 -m venv /tmp/wb && /tmp/wb/bin/pip install wandb==0.31.0
    /tmp/wb/bin/python scripts/make-wandb-synced-runs.py crates/mleng_runs/tests/data/wandb_synced
"""

import json
import math
import os
import random
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

RUNS = {
    # A healthy run that logs its learning rate.
    "healthy": dict(lr=0.1, epochs=12, batch_size=16, log_lr=True, seed=0),
    # Learning rate far too high, not logged per step: only config.yaml says what it was.
    "lr_too_high_unlogged": dict(lr=40.0, epochs=12, batch_size=16, log_lr=False, seed=1),
}


def data(seed, n):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        y = rng.randrange(2)
        cx, cy = (1.0, 1.0) if y else (-1.0, -1.0)
        out.append(((rng.gauss(cx, 0.9), rng.gauss(cy, 0.9)), y))
    return out


class Mlp:
    """2 -> 16 ReLU -> 2 logits, softmax cross-entropy, plain SGD."""

    def __init__(self, seed, hidden=16):
        rng = random.Random(seed)
        self.w1 = [[rng.gauss(0, math.sqrt(2 / 2)) for _ in range(2)] for _ in range(hidden)]
        self.b1 = [0.0] * hidden
        self.w2 = [[rng.gauss(0, math.sqrt(2 / hidden)) for _ in range(hidden)] for _ in range(2)]
        self.b2 = [0.0, 0.0]

    def forward(self, x):
        h = [max(0.0, w[0] * x[0] + w[1] * x[1] + b) for w, b in zip(self.w1, self.b1)]
        z = [sum(wi * hi for wi, hi in zip(w, h)) + b for w, b in zip(self.w2, self.b2)]
        m = max(z)
        e = [math.exp(v - m) for v in z]
        s = sum(e)
        return h, [v / s for v in e]

    def loss_acc(self, batch):
        loss = acc = 0.0
        for x, y in batch:
            _, p = self.forward(x)
            loss -= math.log(max(p[y], 1e-12))
            acc += float(p[1] > p[0]) == y
        return loss / len(batch), acc / len(batch)

    def step(self, batch, lr):
        hidden = len(self.b1)
        g_w1 = [[0.0, 0.0] for _ in range(hidden)]
        g_b1 = [0.0] * hidden
        g_w2 = [[0.0] * hidden for _ in range(2)]
        g_b2 = [0.0, 0.0]
        loss = 0.0
        for x, y in batch:
            h, p = self.forward(x)
            loss -= math.log(max(p[y], 1e-12))
            dz = [p[k] - (1.0 if k == y else 0.0) for k in range(2)]
            for k in range(2):
                g_b2[k] += dz[k]
                for j in range(hidden):
                    g_w2[k][j] += dz[k] * h[j]
            for j in range(hidden):
                if h[j] <= 0.0:
                    continue
                dh = sum(dz[k] * self.w2[k][j] for k in range(2))
                g_b1[j] += dh
                g_w1[j][0] += dh * x[0]
                g_w1[j][1] += dh * x[1]
        n = len(batch)
        norm = math.sqrt(
            sum(v * v for row in g_w1 for v in row)
            + sum(v * v for v in g_b1)
            + sum(v * v for row in g_w2 for v in row)
            + sum(v * v for v in g_b2)
        ) / n
        for j in range(hidden):
            self.b1[j] -= lr * g_b1[j] / n
            for i in range(2):
                self.w1[j][i] -= lr * g_w1[j][i] / n
        for k in range(2):
            self.b2[k] -= lr * g_b2[k] / n
            for j in range(hidden):
                self.w2[k][j] -= lr * g_w2[k][j] / n
        return loss / n, norm


def train(name, cfg, out):
    import wandb

    os.environ["WANDB_MODE"] = "offline"
    os.environ["WANDB_SILENT"] = "true"
    root = out / name
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    config = dict(lr=cfg["lr"], optimizer="sgd", batch_size=cfg["batch_size"], epochs=cfg["epochs"], precision="fp32", model=dict(hidden=16, activation="relu"))
    run = wandb.init(project="mleng-tests", dir=str(root), name=name, config=config)
    run.define_metric("trainer/global_step")
    run.define_metric("*", step_metric="trainer/global_step")
    rng = random.Random(cfg["seed"])
    train_set, val_set = data(cfg["seed"], 320), data(cfg["seed"] + 100, 160)
    model = Mlp(cfg["seed"])
    step = 0
    for epoch in range(cfg["epochs"]):
        rng.shuffle(train_set)
        for i in range(0, len(train_set), cfg["batch_size"]):
            loss, norm = model.step(train_set[i : i + cfg["batch_size"]], cfg["lr"])
            row = {"train/loss": loss, "train/grad_norm": norm, "epoch": epoch, "trainer/global_step": step}
            if cfg["log_lr"]:
                row["train/lr"] = cfg["lr"]
            run.log(row)
            step += 1
        val_loss, val_acc = model.loss_acc(val_set)
        run.log({"val/loss": val_loss, "val/acc": val_acc, "epoch": epoch, "trainer/global_step": step})
    run.finish()
    return root


class StandIn(BaseHTTPRequestHandler):
    def _reply(self, body):
        out = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not self.path.startswith("/graphql"):
            return self._reply({})
        query = json.loads(body or b"{}")
        text, args = query.get("query", ""), query.get("variables") or {}
        if "upsertBucket" in text:
            return self._reply({"data": {"upsertBucket": {"inserted": True, "bucket": {
                "id": "UnVuOjE=", "name": args.get("name") or "run", "displayName": args.get("displayName") or "",
                "description": "", "config": "{}", "sweepName": None, "historyLineCount": 0,
                "project": {"id": "UHJvamVjdDox", "name": args.get("project") or "p", "entity": {"id": "RW50aXR5OjE=", "name": "e"}}}}}})
        if "createRunFiles" in text:
            port = self.server.server_address[1]
            files = [{"name": f, "uploadUrl": f"http://127.0.0.1:{port}/upload/{f}"} for f in args.get("files", [])]
            return self._reply({"data": {"createRunFiles": {"runID": "UnVuOjE=", "uploadHeaders": [], "files": files}}})
        return self._reply({"data": {}})

    def do_PUT(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def sync(root):
    server = HTTPServer(("127.0.0.1", 0), StandIn)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(os.environ, WANDB_BASE_URL=f"http://127.0.0.1:{server.server_address[1]}", WANDB_API_KEY="x" * 40, WANDB_MODE="online")
    wandb_cli = Path(sys.executable).with_name("wandb")
    runs = sorted((root.resolve() / "wandb").glob("offline-run-*"))
    subprocess.run([str(wandb_cli), "sync", "--entity", "e", "--project", "mleng-tests", *map(str, runs)], env=env, check=True, cwd=root.resolve(), capture_output=True, timeout=300)
    server.shutdown()


def tidy(root):
    """Keeps the log and the two files read; drops debug logs, pip freeze, machine metadata."""
    for p in list(root.rglob("*")):
        keep = p.suffix == ".wandb" or p.name in ("config.yaml", "wandb-summary.json")
        if p.is_file() and not keep or p.is_symlink():
            p.unlink()
    for p in sorted(root.rglob("*"), reverse=True):
        if p.is_dir() and not any(p.iterdir()):
            p.rmdir()


def main():
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "crates/mleng_runs/tests/data/wandb_synced")
    for name, cfg in RUNS.items():
        root = train(name, cfg, out)
        sync(root)
        tidy(root)
        print(root, sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()))


if __name__ == "__main__":
    main()
