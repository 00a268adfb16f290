#!/usr/bin/env python3
"""Extract the input normalization each timm architecture's *default* pretrained tag expects.

Reads timm's model sources statically (no import, no torch): for every `default_cfgs`
dict, the first tag listed for an architecture is timm's default; its `mean`/`std` come from
the keyword arguments of the cfg call, or from the defaults of the file's cfg helper.
Prints TSV: arch, mean-constant, std-constant. Used to write
crates/mleng_knowledge/data/timm_normalization.tsv (see its header for the timm version).
Usage: extract-timm-normalization.py PATH/TO/timm/models
"""
import ast, os, sys

CONST = {"IMAGENET_DEFAULT_MEAN", "IMAGENET_INCEPTION_MEAN", "OPENAI_CLIP_MEAN", "IMAGENET_DPN_MEAN"}

def name_of(node):
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Tuple):
        try:
            return "(" + ", ".join(str(ast.literal_eval(e)) for e in node.elts) + ")"
        except Exception:
            return None
    return None

def helper_defaults(tree):
    out = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            for sub in ast.walk(node):
                if isinstance(sub, ast.Dict):
                    d = {}
                    for k, v in zip(sub.keys, sub.values):
                        if isinstance(k, ast.Constant) and k.value in ("mean", "std"):
                            d[k.value] = name_of(v)
                    if d:
                        out[node.name] = d
    return out

def main(root):
    seen = {}
    for fn in sorted(os.listdir(root)):
        if not fn.endswith(".py"):
            continue
        tree = ast.parse(open(os.path.join(root, fn)).read())
        helpers = helper_defaults(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Dict):
                for k, v in zip(node.keys, node.values):
                    if not (isinstance(k, ast.Constant) and isinstance(k.value, str) and "." in k.value):
                        continue
                    if not isinstance(v, ast.Call):
                        continue
                    arch = k.value.split(".")[0]
                    if arch in seen:
                        continue
                    fname = v.func.id if isinstance(v.func, ast.Name) else None
                    d = dict(helpers.get(fname, {}))
                    for kw in v.keywords:
                        if kw.arg in ("mean", "std"):
                            d[kw.arg] = name_of(kw.value)
                    if "mean" in d and "std" in d and d["mean"] and d["std"]:
                        seen[arch] = (d["mean"], d["std"], fn)
    for arch in sorted(seen):
        m, s, fn = seen[arch]
        print(f"{arch}\t{m}\t{s}\t{fn}")

main(sys.argv[1])
