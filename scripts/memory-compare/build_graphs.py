"""Build the ONNX graphs behind docs/inspect.md's training-memory comparison.

No PyTorch: each graph is written op by op with the `onnx` package, in the order and shapes
the PyTorch model runs in training mode (dropout included), with the weights left in an
external file that is never written (`mleng inspect` counts parameters from the
initializers' dims, as for the shared fixtures whose weights were removed). The graphs are a
few hundred KB; regenerate them with

    python3 -m venv /tmp/venv-mem && /tmp/venv-mem/bin/pip install onnx
    /tmp/venv-mem/bin/python scripts/memory-compare/build_graphs.py OUT_DIR

Models (each mirrors the code the published figure was measured with):
- resnet50: torchvision ResNet-50 v1.5 (stride in the 3x3 conv), as NVIDIA
  DeepLearningExamples trains it; input 3x224x224.
- bert_large: Hugging Face BertForSequenceClassification (bert-large-uncased, eager
  attention, dropout 0.1, exact GELU), sequence 512, 2 labels.
- gpt2_small: Hugging Face GPT2LMHeadModel as of December 2019 (tanh-approximated GELU
  written out, causal mask applied as `w * b - 1e4 * (1 - b)`), LM head tied to the token
  embedding.
"""

import sys

import onnx
from onnx import TensorProto, helper


class Graph:
    def __init__(self, name):
        self.name = name
        self.nodes = []
        self.inits = []
        self.count = 0
        self.offset = 0

    def fresh(self, stem):
        self.count += 1
        return f"{stem}_{self.count}"

    def weight(self, name, dims):
        t = TensorProto()
        t.name = name
        t.data_type = TensorProto.FLOAT
        t.dims.extend(dims)
        t.data_location = TensorProto.EXTERNAL
        length = 4
        for d in dims:
            length *= d
        for k, v in (("location", f"{self.name}.onnx.data"), ("offset", str(self.offset)),
                     ("length", str(length))):
            e = t.external_data.add()
            e.key, e.value = k, v
        self.offset += length
        self.inits.append(t)
        return name

    def const_ints(self, values):
        out = self.fresh("shape")
        self.nodes.append(helper.make_node(
            "Constant", [], [out],
            value=helper.make_tensor(out, TensorProto.INT64, [len(values)], values)))
        return out

    def const_float(self, value):
        out = self.fresh("c")
        self.nodes.append(helper.make_node(
            "Constant", [], [out], value=helper.make_tensor(out, TensorProto.FLOAT, [], [value])))
        return out

    def filled(self, dims, value):
        """A constant tensor made at run time (a mask), not a stored parameter."""
        return self.op("ConstantOfShape", [self.const_ints(dims)],
                       value=helper.make_tensor("v", TensorProto.FLOAT, [1], [value]))

    def op(self, op_type, inputs, stem=None, outputs=1, **attrs):
        outs = [self.fresh(stem or op_type.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, **attrs))
        return outs[0] if outputs == 1 else outs

    def linear(self, x, name, fan_in, fan_out, bias=True):
        w = self.weight(f"{name}.weight", [fan_in, fan_out])
        y = self.op("MatMul", [x, w])
        if bias:
            y = self.op("Add", [y, self.weight(f"{name}.bias", [fan_out])])
        return y

    def dropout(self, x):
        return self.op("Dropout", [x])

    def layer_norm(self, x, name, width):
        return self.op("LayerNormalization", [
            x, self.weight(f"{name}.weight", [width]), self.weight(f"{name}.bias", [width])],
            axis=-1)

    def save(self, inputs, outputs, path):
        g = helper.make_graph(self.nodes, self.name, inputs, outputs, self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 20)],
                              producer_name="mleng scripts/memory-compare/build_graphs.py")
        onnx.save(m, path)


def conv_bn(g, x, name, c_in, c_out, k, stride, pad, relu=True):
    w = g.weight(f"{name}.weight", [c_out, c_in, k, k])
    y = g.op("Conv", [x, w], kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4)
    bn = name.replace("conv", "bn") if "conv" in name else name + ".bn"
    y = g.op("BatchNormalization", [
        y, g.weight(f"{bn}.weight", [c_out]), g.weight(f"{bn}.bias", [c_out]),
        g.weight(f"{bn}.running_mean", [c_out]), g.weight(f"{bn}.running_var", [c_out])])
    return g.op("Relu", [y]) if relu else y


def resnet50(path):
    g = Graph("resnet50")
    x = "input"
    y = conv_bn(g, x, "conv1", 3, 64, 7, 2, 3)
    y = g.op("MaxPool", [y], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    c_in = 64
    for stage, (blocks, width) in enumerate(zip([3, 4, 6, 3], [64, 128, 256, 512])):
        for b in range(blocks):
            stride = 2 if b == 0 and stage > 0 else 1
            p = f"layer{stage + 1}.{b}"
            h = conv_bn(g, y, f"{p}.conv1", c_in, width, 1, 1, 0)
            h = conv_bn(g, h, f"{p}.conv2", width, width, 3, stride, 1)
            h = conv_bn(g, h, f"{p}.conv3", width, width * 4, 1, 1, 0, relu=False)
            if b == 0:
                y = conv_bn(g, y, f"{p}.downsample", c_in, width * 4, 1, stride, 0, relu=False)
            y = g.op("Relu", [g.op("Add", [h, y])])
            c_in = width * 4
    y = g.op("GlobalAveragePool", [y])
    y = g.op("Flatten", [y], axis=1)
    w = g.weight("fc.weight", [1000, 2048])
    y = g.op("Gemm", [y, w, g.weight("fc.bias", [1000])], transB=1)
    g.nodes[-1].output[0] = "logits"
    g.save([helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, 224, 224])],
           [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 1000])], path)


def split_heads(g, x, heads, head_dim):
    x = g.op("Reshape", [x, g.const_ints([0, 0, heads, head_dim])])
    return g.op("Transpose", [x], perm=[0, 2, 1, 3])


def merge_heads(g, x, width):
    x = g.op("Transpose", [x], perm=[0, 2, 1, 3])
    return g.op("Reshape", [x, g.const_ints([0, 0, width])])


def bert_large(path, seq=512, layers=24, width=1024, heads=16, ffn=4096):
    g = Graph("bert_large")
    hd = width // heads
    words = g.op("Gather", [g.weight("embeddings.word_embeddings.weight", [30522, width]),
                            "input_ids"])
    pos = g.weight("embeddings.position_embeddings.weight", [512, width])
    typ = g.weight("embeddings.token_type_embeddings.weight", [2, width])
    pos = g.op("Slice", [pos, g.const_ints([0]), g.const_ints([seq]), g.const_ints([0])])
    typ = g.op("Slice", [typ, g.const_ints([0]), g.const_ints([1]), g.const_ints([0])])
    x = g.op("Add", [g.op("Add", [words, typ]), pos])
    x = g.dropout(g.layer_norm(x, "embeddings.LayerNorm", width))
    mask = g.filled([1, 1, 1, seq], 0.0)
    scale = g.const_float(hd ** 0.5)
    for i in range(layers):
        p = f"encoder.layer.{i}"
        q = split_heads(g, g.linear(x, f"{p}.attention.self.query", width, width), heads, hd)
        k = split_heads(g, g.linear(x, f"{p}.attention.self.key", width, width), heads, hd)
        v = split_heads(g, g.linear(x, f"{p}.attention.self.value", width, width), heads, hd)
        kt = g.op("Transpose", [k], perm=[0, 1, 3, 2])
        s = g.op("Add", [g.op("Div", [g.op("MatMul", [q, kt]), scale]), mask])
        probs = g.dropout(g.op("Softmax", [s], axis=-1))
        ctx = merge_heads(g, g.op("MatMul", [probs, v]), width)
        a = g.dropout(g.linear(ctx, f"{p}.attention.output.dense", width, width))
        x = g.layer_norm(g.op("Add", [a, x]), f"{p}.attention.output.LayerNorm", width)
        h = g.op("Gelu", [g.linear(x, f"{p}.intermediate.dense", width, ffn)])
        h = g.dropout(g.linear(h, f"{p}.output.dense", ffn, width))
        x = g.layer_norm(g.op("Add", [h, x]), f"{p}.output.LayerNorm", width)
    cls = g.op("Gather", [x, g.const_ints([0])], axis=1)
    pooled = g.op("Tanh", [g.linear(cls, "pooler.dense", width, width)])
    logits = g.linear(g.dropout(pooled), "classifier", width, 2)
    g.nodes[-1].output[0] = "logits"
    g.save([helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", seq])],
           [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 1, 2])], path)
    del logits


def gelu_tanh(g, x):
    # HF's 2019 gelu: 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3))), op by op.
    cube = g.op("Pow", [x, g.const_float(3.0)])
    inner = g.op("Add", [x, g.op("Mul", [cube, g.const_float(0.044715)])])
    t = g.op("Tanh", [g.op("Mul", [inner, g.const_float(0.7978845608)])])
    half = g.op("Mul", [x, g.const_float(0.5)])
    return g.op("Mul", [half, g.op("Add", [t, g.const_float(1.0)])])


def gpt2_small(path, seq=1024, layers=12, width=768, heads=12, vocab=50257):
    g = Graph("gpt2_small")
    hd = width // heads
    wte = g.weight("transformer.wte.weight", [vocab, width])
    wpe = g.weight("transformer.wpe.weight", [1024, width])
    pos = g.op("Slice", [wpe, g.const_ints([0]), g.const_ints([seq]), g.const_ints([0])])
    x = g.dropout(g.op("Add", [g.op("Gather", [wte, "input_ids"]), pos]))
    scale = g.const_float(hd ** 0.5)
    for i in range(layers):
        p = f"transformer.h.{i}"
        # The causal-mask buffer `bias`, lower-triangular ones (a buffer, not a parameter).
        b = g.op("Trilu", [g.filled([1, 1, seq, seq], 1.0)], upper=0)
        qkv = g.linear(g.layer_norm(x, f"{p}.ln_1", width), f"{p}.attn.c_attn", width,
                       3 * width)
        q, k, v = g.op("Split", [qkv, g.const_ints([width] * 3)], outputs=3, axis=-1)
        q, k, v = (split_heads(g, t, heads, hd) for t in (q, k, v))
        kt = g.op("Transpose", [k], perm=[0, 1, 3, 2])
        w = g.op("Div", [g.op("MatMul", [q, kt]), scale])
        big = g.op("Mul", [g.op("Sub", [g.const_float(1.0), b]), g.const_float(1e4)])
        w = g.op("Sub", [g.op("Mul", [w, b]), big])
        probs = g.dropout(g.op("Softmax", [w], axis=-1))
        a = merge_heads(g, g.op("MatMul", [probs, v]), width)
        a = g.dropout(g.linear(a, f"{p}.attn.c_proj", width, width))
        x = g.op("Add", [x, a])
        h = gelu_tanh(g, g.linear(g.layer_norm(x, f"{p}.ln_2", width), f"{p}.mlp.c_fc", width,
                                  4 * width))
        h = g.dropout(g.linear(h, f"{p}.mlp.c_proj", 4 * width, width))
        x = g.op("Add", [x, h])
    x = g.layer_norm(x, "transformer.ln_f", width)
    wt = g.op("Transpose", [wte], perm=[1, 0])
    g.op("MatMul", [x, wt])
    g.nodes[-1].output[0] = "logits"
    g.save([helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", seq])],
           [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", seq, vocab])],
           path)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "."
    resnet50(f"{out}/resnet50.onnx")
    bert_large(f"{out}/bert_large_s512.onnx")
    gpt2_small(f"{out}/gpt2_small_s512.onnx", seq=512)
    gpt2_small(f"{out}/gpt2_small_s1024.onnx", seq=1024)


if __name__ == "__main__":
    main()
