#!/usr/bin/env python3
"""Latency and memory of `mleng server`, driven over stdio as an editor would.

Latency: open a 2,000-line training script in a small project, then repeatedly change one
line (incremental didChange) and time from the last didChange to the publishDiagnostics
that follows, with the server's debounce off (debounceMs=0: the review itself plus the
protocol) and at the default debounce (25 ms).

Memory: 10,000 edits (one every millisecond or so, with a review after each batch of 100),
sampling the server's RSS from /proc every 1,000 edits: it should stay flat.

Project findings (--project): a large project (a copy of --tree, or 300 generated modules)
with a model file and a training script added; both are opened, then one edit at a time
changes a project-rule finding of the script (EXP010 quotes its learning rate: a literal
edit, which changes nothing other files see; EXP007: its `print` of the loss comes and goes,
a call the project model records) and a cross-file finding (ARC011 in the script: the model
file's `forward` gains and loses a final softmax), timing each from the didChange to the
script's publishDiagnostics that reflects it; then --project-edits edits with the RSS
sampled.

Usage: scripts/bench-lsp.py [--mleng target/release/mleng] [--edits 10000]
       scripts/bench-lsp.py --project [--tree DIR] [--rounds 20] [--project-edits 2000]
Needs only the Python standard library.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

TRAIN_HEAD = """import torch
import torch.nn as nn
from torch.utils.data import DataLoader


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(10, 2)

    def forward(self, x):
        return self.fc(x)


def train(model, loader, optimizer, scaler):
    for x, y in loader:
        optimizer.zero_grad()
        with torch.autocast("cuda"):
            loss = nn.functional.cross_entropy(model(x), y)
        scaler.scale(loss).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        scaler.step(optimizer)
        scaler.update()

"""

HELPER = """
def helper_{i}(values, scale={i}):
    total = 0
    for value in values:
        total += value * scale
    return total / max(len(values), 1)

"""


def make_file(lines: int) -> str:
    """A training script of exactly `lines` lines that parses: helpers, then comment lines."""
    text = TRAIN_HEAD
    i = 0
    while text.count("\n") + HELPER.count("\n") <= lines:
        text += HELPER.format(i=i)
        i += 1
    while text.count("\n") < lines:
        text += "# padding\n"
    return text


class Client:
    """A minimal LSP client: Content-Length framing, requests with ids, a reader thread."""

    def __init__(self, argv, cwd):
        self.proc = subprocess.Popen(
            argv, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None if os.environ.get("BENCH_DEBUG") else subprocess.DEVNULL
        )
        self.next_id = 0
        self.lock = threading.Condition()
        self.messages = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        out = self.proc.stdout
        while True:
            length = None
            while True:
                line = out.readline()
                if not line:
                    return
                line = line.strip()
                if not line:
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            body = json.loads(out.read(length))
            with self.lock:
                self.messages.append((time.perf_counter(), body))
                self.lock.notify_all()

    def send(self, message):
        data = json.dumps(message).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(data) + data)
        self.proc.stdin.flush()

    def notify(self, method, params):
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def request(self, method, params, timeout=60):
        self.next_id += 1
        rid = self.next_id
        self.send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        return self.wait(lambda m: m.get("id") == rid and "method" not in m, timeout)[1]

    def wait(self, predicate, timeout=60, start=0):
        deadline = time.time() + timeout
        with self.lock:
            while True:
                for i, (t, m) in enumerate(self.messages):
                    if i >= start and predicate(m):
                        return t, m
                left = deadline - time.time()
                if left <= 0:
                    raise TimeoutError("no matching message")
                self.lock.wait(left)

    def mark(self):
        with self.lock:
            return len(self.messages)

    def cpu_ms(self):
        """CPU time the server has run, all threads, from the scheduler's nanosecond counters
        (independent of how busy the machine is)."""
        total = 0
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            try:
                total += int((task / "schedstat").read_text().split()[0])
            except (OSError, ValueError):
                pass  # a thread that just ended
        return total / 1e6

    def rss_kb(self):
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0


def is_publish(uri):
    return lambda m: m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri


def start(mleng, folder, debounce_ms):
    client = Client([mleng, "server"], folder)
    client.request(
        "initialize",
        {
            "processId": os.getpid(),
            "rootUri": Path(folder).as_uri(),
            "capabilities": {},
            "initializationOptions": {"debounceMs": debounce_ms},
        },
    )
    client.notify("initialized", {})
    return client


def latency(mleng, folder, uri, text, debounce_ms, rounds):
    client = start(mleng, folder, debounce_ms)
    client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}})
    client.wait(is_publish(uri))
    times = []
    cpu = []
    lines = text.count("\n")
    for version in range(2, rounds + 2):
        mark = client.mark()
        # Toggle the clipping line's max_norm so that the findings change every other edit
        # (TRN002 comes and goes): a publish follows every edit.
        new = "max_norm=1.0" if version % 2 else "max_norm=2.0"
        line = 20  # 0-based line of clip_grad_norm_
        old_line = text.split("\n")[line]
        start_col = old_line.index("max_norm=")
        sent = time.perf_counter()
        cpu_before = client.cpu_ms()
        client.notify(
            "textDocument/didChange",
            {
                "textDocument": {"uri": uri, "version": version},
                "contentChanges": [
                    {"range": {"start": {"line": line, "character": start_col}, "end": {"line": line, "character": start_col + 12}}, "text": new}
                ],
            },
        )
        got, _ = client.wait(is_publish(uri), start=mark)
        times.append((got - sent) * 1000)
        cpu.append(client.cpu_ms() - cpu_before)
        if os.environ.get("BENCH_DEBUG"): print(version, times[-1], file=sys.stderr)
    client.request("shutdown", None)
    client.notify("exit", None)
    client.proc.wait(timeout=10)
    assert lines == 2000
    return times, cpu


def memory(mleng, folder, uri, text, edits):
    client = start(mleng, folder, 0)
    client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}})
    client.wait(is_publish(uri))
    samples = []
    for version in range(2, edits + 2):
        # Type and delete a character at the end of line 30, alternately.
        if version % 2 == 0:
            change = {"range": {"start": {"line": 30, "character": 0}, "end": {"line": 30, "character": 0}}, "text": "#"}
        else:
            change = {"range": {"start": {"line": 30, "character": 0}, "end": {"line": 30, "character": 1}}, "text": ""}
        client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version}, "contentChanges": [change]})
        if version % 100 == 0:
            # Let a review run now and then, as pauses in typing do.
            client.request("textDocument/hover", {"textDocument": {"uri": uri}, "position": {"line": 0, "character": 0}})
            time.sleep(0.01)
        if version % 1000 == 0:
            samples.append((version - 1, client.rss_kb()))
    client.request("shutdown", None)
    client.notify("exit", None)
    client.proc.wait(timeout=10)
    return samples


BENCH_MODEL = """import torch.nn as nn
import torch.nn.functional as F


class BenchNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(10, 2)

    def forward(self, x):
        return F.softmax(self.fc(x), dim=1)
"""

BENCH_TRAIN = """import torch
import torch.nn as nn

from lsp_model import BenchNet

torch.manual_seed(0)
loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(8, 10)))
model = BenchNet()
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for epoch in range(10):
    for x, y in loader:
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
    print(loss.item())
"""

GENERATED = """import torch
import torch.nn as nn

from pkg.mod_{prev} import Block{prev}


class Block{i}(nn.Module):
    def __init__(self, width={i}):
        super().__init__()
        self.inner = Block{prev}()
        self.fc = nn.Linear(width, width)

    def forward(self, x):
        return self.fc(self.inner(x))


def build_{i}(cfg):
    model = Block{i}(cfg.width)
    return model
""" + HELPER.format(i=0) * 20


def make_project(folder, tree, files):
    """A large project in `folder`: a copy of `tree` (read-only source), or `files` generated
    modules; then the benchmark's model file and training script at its root (`lsp_*.py`: a `bench_*.py` would be benchmark code, which the rules leave alone)."""
    if tree:
        shutil.copytree(tree, folder, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".git"))
    else:
        pkg = Path(folder) / "pkg"
        pkg.mkdir()
        (pkg / "__init__.py").write_text("")
        for i in range(files):
            (pkg / f"mod_{i}.py").write_text(GENERATED.format(i=i, prev=max(i - 1, 0)))
    (Path(folder) / "lsp_model.py").write_text(BENCH_MODEL)
    (Path(folder) / "lsp_train.py").write_text(BENCH_TRAIN)
    return sum(1 for _ in Path(folder).rglob("*.py"))


def replace_line(client, uri, version, text, line, new):
    """Sends a didChange replacing line `line` of `text` by `new`; returns the new text."""
    lines = text.split("\n")
    old = lines[line]
    lines[line] = new
    change = {"range": {"start": {"line": line, "character": 0}, "end": {"line": line, "character": len(old)}}, "text": new}
    client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version}, "contentChanges": [change]})
    return "\n".join(lines)


def project_latency(mleng, folder, rounds, edits):
    model_uri = (Path(folder) / "lsp_model.py").as_uri()
    train_uri = (Path(folder) / "lsp_train.py").as_uri()
    client = start(mleng, folder, 25)
    texts = {model_uri: BENCH_MODEL, train_uri: BENCH_TRAIN}
    versions = {model_uri: 1, train_uri: 1}
    started = time.perf_counter()
    for uri in (model_uri, train_uri):
        client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": texts[uri]}})
    is_train = is_publish(train_uri)
    got, _ = client.wait(lambda m: is_train(m) and any(d.get("code") == "ARC011" for d in m["params"]["diagnostics"]), timeout=600)
    print(f"first whole review (open -> the script's diagnostics): {(got - started) * 1000:.0f} ms", flush=True)
    has_arc011 = lambda m: any(d.get("code") == "ARC011" for d in m["params"]["diagnostics"])
    has_exp007 = lambda m: any(d.get("code") == "EXP007" for d in m["params"]["diagnostics"])
    exp010_says = lambda lr: lambda m: any(d.get("code") == "EXP010" and f"learning rate {lr} " in d["message"] for d in m["params"]["diagnostics"])
    # Each case: the edited document, its line, the two texts of that line, and what the
    # script's diagnostics show after each text.
    cases = [
        (
            "EXP010 (project rule; the script's literal, nothing other files see)",
            train_uri, 9,
            ("optimizer = torch.optim.SGD(model.parameters(), lr=0.2)", exp010_says("0.2")),
            ("optimizer = torch.optim.SGD(model.parameters(), lr=0.1)", exp010_says("0.1")),
        ),
        (
            "EXP007 (project rule; the script's print of the loss, a call other files see)",
            train_uri, 16,
            ("    loss.item()", has_exp007),
            ("    print(loss.item())", lambda m: not has_exp007(m)),
        ),
        (
            "ARC011 (the model file's final softmax; the finding is in the script)",
            model_uri, 10,
            ("        return self.fc(x)", lambda m: not has_arc011(m)),
            ("        return F.softmax(self.fc(x), dim=1)", has_arc011),
        ),
    ]
    for label, uri, line, first, second in cases:
        times, cpu = [], []
        for r in range(rounds):
            new, shows = first if r % 2 == 0 else second
            versions[uri] += 1
            mark = client.mark()
            cpu_before = client.cpu_ms()
            sent = time.perf_counter()
            texts[uri] = replace_line(client, uri, versions[uri], texts[uri], line, new)
            got, _ = client.wait(lambda m: is_train(m) and shows(m), start=mark, timeout=120)
            times.append((got - sent) * 1000)
            # Let the server settle (a pending whole review) before the next edit.
            time.sleep(1.0)
            cpu.append(client.cpu_ms() - cpu_before)
        print(f"latency, {label}: {summary(times)}", flush=True)
        print(f"  server CPU time per edit (including the settling second): {summary(cpu)}", flush=True)
    samples = [(0, client.rss_kb())]
    for n in range(1, edits + 1):
        # Type and delete a character in the script, alternately; a review every 20 edits.
        uri = train_uri
        versions[uri] += 1
        new = "    loss.item()  #" if n % 2 else "    loss.item()"
        texts[uri] = replace_line(client, uri, versions[uri], texts[uri], 16, new)
        if n % 20 == 0:
            client.request("textDocument/hover", {"textDocument": {"uri": uri}, "position": {"line": 0, "character": 0}})
            time.sleep(0.1)
        if n % (edits // 10 or 1) == 0:
            samples.append((n, client.rss_kb()))
    print("RSS (KB) after N edits of the large project:", ", ".join(f"{n}: {kb}" for n, kb in samples), flush=True)
    client.request("shutdown", None)
    client.notify("exit", None)
    client.proc.wait(timeout=30)


def summary(times):
    times = sorted(times)
    p = lambda q: times[min(len(times) - 1, int(q * len(times)))]
    return (
        f"min {times[0]:.1f} ms, median {statistics.median(times):.1f} ms, p90 {p(0.9):.1f} ms, "
        f"max {times[-1]:.1f} ms over {len(times)} edits"
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mleng", default="target/release/mleng")
    parser.add_argument("--edits", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--project", action="store_true", help="the large-project benchmark instead")
    parser.add_argument("--tree", help="a source tree to copy as the large project (default: generated)")
    parser.add_argument("--files", type=int, default=300, help="generated modules without --tree")
    parser.add_argument("--project-edits", type=int, default=2000)
    args = parser.parse_args()
    mleng = str(Path(args.mleng).resolve())
    if args.project:
        with tempfile.TemporaryDirectory() as folder:
            count = make_project(folder, args.tree, args.files)
            print(f"project: {count} Python files ({args.tree or 'generated'}); load average {os.getloadavg()[0]:.1f}", flush=True)
            project_latency(mleng, folder, args.rounds, args.project_edits)
            print(f"load average {os.getloadavg()[0]:.1f}", flush=True)
        return 0
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "train.py"
        text = make_file(2000)
        path.write_text(text)
        (Path(folder) / "data.py").write_text("import torch\n\n\ndef load():\n    return torch.randn(8, 10)\n")
        uri = path.as_uri()
        print(f"file: {text.count(chr(10))} lines, {len(text)} bytes; load average {os.getloadavg()[0]:.1f}", flush=True)
        for label, debounce, rounds in [("debounce off (review + protocol)", 0, args.rounds), ("default debounce (25 ms)", 25, args.rounds // 2)]:
            times, cpu = latency(mleng, folder, uri, text, debounce, rounds)
            print(f"latency, {label}: {summary(times)}", flush=True)
            print(f"  server CPU time per edit: {summary(cpu)}", flush=True)
        samples = memory(mleng, folder, uri, text, args.edits)
        print(f"load average {os.getloadavg()[0]:.1f}", flush=True)
        print("RSS (KB) after N edits:", ", ".join(f"{n}: {kb}" for n, kb in samples), flush=True)


if __name__ == "__main__":
    sys.exit(main())
