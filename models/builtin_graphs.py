"""The built-in models' graphs, written straight into the TFLite flatbuffer format (see
``models.builtin``): numpy for the seeded random weights, ai-edge-litert's schema bindings for the
format. Imported only when a built-in file must be (re)built."""

from __future__ import annotations

from dataclasses import dataclass, field

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as tfl

__all__ = ["BUILTIN_MODELS"]

_OPTIONS = tfl.BuiltinOptions


@dataclass
class _GraphBuilder:
    """Collects tensors, weight buffers and operators of one subgraph."""

    rng: np.random.Generator
    tensors: list[tfl.TensorT] = field(default_factory=list)
    buffers: list[tfl.BufferT] = field(default_factory=lambda: [tfl.BufferT()])  # 0 = no data
    operators: list[tfl.OperatorT] = field(default_factory=list)
    opcodes: list[int] = field(default_factory=list)

    def tensor(self, name: str, shape: tuple[int, ...], data: np.ndarray | None = None,
               dtype: int = tfl.TensorType.FLOAT32) -> int:
        t = tfl.TensorT()
        t.name, t.shape, t.type, t.buffer = name, list(shape), dtype, 0
        if data is not None:
            buf = tfl.BufferT()
            buf.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), dtype=np.uint8)
            self.buffers.append(buf)
            t.buffer = len(self.buffers) - 1
        self.tensors.append(t)
        return len(self.tensors) - 1

    def weights(self, name: str, shape: tuple[int, ...], fan_in: int) -> int:
        values = self.rng.normal(0.0, (2.0 / fan_in) ** 0.5, size=shape).astype(np.float32)
        return self.tensor(name, shape, values)

    def op(self, code: int, inputs: list[int], outputs: list[int],
           options_type: int = _OPTIONS.NONE, options: object | None = None) -> None:
        if code not in self.opcodes:
            self.opcodes.append(code)
        op = tfl.OperatorT()
        op.opcodeIndex = self.opcodes.index(code)
        op.inputs, op.outputs = inputs, outputs
        op.builtinOptionsType, op.builtinOptions = options_type, options
        self.operators.append(op)

    def conv(self, name: str, x: int, in_ch: int, out_ch: int, out_hw: int, k: int, stride: int,
             relu6: bool = True) -> int:
        w = self.weights(f"{name}/weights", (out_ch, k, k, in_ch), k * k * in_ch)
        b = self.tensor(f"{name}/bias", (out_ch,), np.zeros(out_ch, np.float32))
        y = self.tensor(name, (1, out_hw, out_hw, out_ch))
        opts = tfl.Conv2DOptionsT()
        opts.padding, opts.strideW, opts.strideH = tfl.Padding.SAME, stride, stride
        opts.fusedActivationFunction = (tfl.ActivationFunctionType.RELU6 if relu6
                                        else tfl.ActivationFunctionType.NONE)
        self.op(tfl.BuiltinOperator.CONV_2D, [x, w, b], [y], _OPTIONS.Conv2DOptions, opts)
        return y

    def depthwise(self, name: str, x: int, ch: int, hw: int) -> int:
        w = self.weights(f"{name}/weights", (1, 3, 3, ch), 9)
        b = self.tensor(f"{name}/bias", (ch,), np.zeros(ch, np.float32))
        y = self.tensor(name, (1, hw, hw, ch))
        opts = tfl.DepthwiseConv2DOptionsT()
        opts.padding, opts.strideW, opts.strideH, opts.depthMultiplier = tfl.Padding.SAME, 1, 1, 1
        opts.fusedActivationFunction = tfl.ActivationFunctionType.RELU6
        self.op(tfl.BuiltinOperator.DEPTHWISE_CONV_2D, [x, w, b], [y],
                _OPTIONS.DepthwiseConv2DOptions, opts)
        return y

    def resize(self, name: str, x: int, ch: int, hw: int) -> int:
        size = self.tensor(f"{name}/size", (2,), np.array([hw, hw], np.int32), tfl.TensorType.INT32)
        y = self.tensor(name, (1, hw, hw, ch))
        opts = tfl.ResizeBilinearOptionsT()
        opts.halfPixelCenters = True
        self.op(tfl.BuiltinOperator.RESIZE_BILINEAR, [x, size], [y],
                _OPTIONS.ResizeBilinearOptions, opts)
        return y

    def finish(self, inputs: list[int], outputs: list[int], description: str) -> bytes:
        graph = tfl.SubGraphT()
        graph.tensors, graph.operators = self.tensors, self.operators
        graph.inputs, graph.outputs, graph.name = inputs, outputs, "main"
        model = tfl.ModelT()
        model.version, model.description = 3, description
        model.subgraphs, model.buffers = [graph], self.buffers
        model.operatorCodes = []
        for code in self.opcodes:
            opcode = tfl.OperatorCodeT()
            opcode.builtinCode, opcode.deprecatedBuiltinCode, opcode.version = code, min(code, 127), 1
            model.operatorCodes.append(opcode)
        builder = flatbuffers.Builder(1 << 20)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())


def _segmenter(seed: int) -> bytes:
    g = _GraphBuilder(np.random.default_rng(seed))
    image = g.tensor("image", (1, 257, 257, 3))
    x = g.conv("stem", image, 3, 16, 129, k=3, stride=2)
    x = g.depthwise("block1/depthwise", x, 16, 129)
    x = g.conv("block1/project", x, 16, 32, 129, k=1, stride=1)
    logits = g.conv("logits", x, 32, 21, 129, k=1, stride=1, relu6=False)
    out = g.resize("segmentation", logits, 21, 257)
    return g.finish([image], [out], "tflite-farm built-in DeepLabV3-shaped segmenter (random weights)")


def _stylizer(seed: int) -> bytes:
    g = _GraphBuilder(np.random.default_rng(seed))
    content = g.tensor("content_image", (1, 384, 384, 3))
    bottleneck = g.tensor("style_bottleneck", (1, 1, 1, 100))
    feats = g.conv("encoder", content, 3, 16, 192, k=3, stride=2)
    style = g.conv("style_projection", bottleneck, 100, 16, 1, k=1, stride=1, relu6=False)
    modulated = g.tensor("modulated", (1, 192, 192, 16))
    mul = tfl.MulOptionsT()
    mul.fusedActivationFunction = tfl.ActivationFunctionType.NONE
    g.op(tfl.BuiltinOperator.MUL, [feats, style], [modulated], _OPTIONS.MulOptions, mul)
    up = g.resize("upsample", modulated, 16, 384)
    rgb = g.conv("decoder", up, 16, 3, 384, k=3, stride=1, relu6=False)
    out = g.tensor("stylized_image", (1, 384, 384, 3))
    g.op(tfl.BuiltinOperator.LOGISTIC, [rgb], [out])
    return g.finish([content, bottleneck], [out],
                    "tflite-farm built-in Magenta-transfer-shaped stylizer (random weights)")


#: name -> builder; the seed is part of the name's identity (same bytes everywhere)
BUILTIN_MODELS = {"builtin-segmenter": lambda: _segmenter(257),
                  "builtin-stylizer": lambda: _stylizer(384)}
