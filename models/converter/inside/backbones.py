"""Backbones of the reference models, as the slim / Keras definitions their checkpoints used.

Each returns the feature tensors the heads need, keyed by name. Atrous (dilated) convolution
replaces striding once the requested output stride is reached, as DeepLab's feature extractor does.
"""

from __future__ import annotations

import keras
from keras import layers
from layers import activate, conv_bn, depthwise_bn, make_divisible

# (expansion t, output channels c, repeats n, first stride s): slim's V2_DEF
_MNV2_BLOCKS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


class _Strider:
    """Tracks the current stride and turns further striding into dilation past ``output_stride``."""

    def __init__(self, output_stride: int | None) -> None:
        self.output_stride = output_stride
        self.stride = 1
        self.rate = 1

    def step(self, stride: int) -> tuple[int, int]:
        """(stride, dilation rate) to use for a layer that asks for ``stride``."""
        if self.output_stride is not None and self.stride >= self.output_stride and stride > 1:
            rate = self.rate
            self.rate *= stride
            return 1, rate
        self.stride *= stride
        return stride, self.rate


def mobilenet_v2(image, depth_multiplier: float = 1.0, output_stride: int | None = None,
                 final_conv: bool = False) -> dict[str, keras.KerasTensor]:
    """slim MobileNetV2; endpoints ``stride4_expanded`` (layer_4 depthwise), ``features``."""
    strider = _Strider(output_stride)
    endpoints = {}
    s, r = strider.step(2)
    x = conv_bn(image, make_divisible(32 * depth_multiplier), 3, s, r, "relu6", "stem")
    index = 1
    for t, c, n, first_stride in _MNV2_BLOCKS:
        out = make_divisible(c * depth_multiplier)
        for i in range(n):
            index += 1
            stride, rate = strider.step(first_stride if i == 0 else 1)
            name = f"layer_{index}"
            inp = x
            in_ch = x.shape[-1]
            if t != 1:
                x = conv_bn(x, make_divisible(in_ch * t), 1, activation="relu6",
                            name=f"{name}_expand")
            x = depthwise_bn(x, 3, stride, rate, "relu6", f"{name}_depthwise")
            if index == 4:
                endpoints["stride4_expanded"] = x
            x = conv_bn(x, out, 1, activation=None, name=f"{name}_project")
            if stride == 1 and in_ch == out:
                x = layers.Add(name=f"{name}_add")([inp, x])
    if final_conv:
        # slim keeps the last 1x1 conv at 1280 channels for depth multipliers below 1
        x = conv_bn(x, make_divisible(1280 * max(depth_multiplier, 1.0)), 1, activation="relu6",
                    name="layer_19")
    endpoints["features"] = x
    return endpoints


# (kernel, expansion, output, squeeze-excite, activation, stride): slim's V3_LARGE
_MNV3_LARGE = ((3, 16, 16, False, "relu", 1), (3, 64, 24, False, "relu", 2),
               (3, 72, 24, False, "relu", 1), (5, 72, 40, True, "relu", 2),
               (5, 120, 40, True, "relu", 1), (5, 120, 40, True, "relu", 1),
               (3, 240, 80, False, "hard_swish", 2), (3, 200, 80, False, "hard_swish", 1),
               (3, 184, 80, False, "hard_swish", 1), (3, 184, 80, False, "hard_swish", 1),
               (3, 480, 112, True, "hard_swish", 1), (3, 672, 112, True, "hard_swish", 1),
               (5, 672, 160, True, "hard_swish", 2), (5, 960, 160, True, "hard_swish", 1),
               (5, 960, 160, True, "hard_swish", 1))


def _squeeze_excite(x, name: str):
    channels = x.shape[-1]
    s = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_se_pool")(x)
    s = layers.Conv2D(make_divisible(channels / 4), 1, activation="relu", name=f"{name}_se_1")(s)
    s = layers.Conv2D(channels, 1, activation="hard_sigmoid", name=f"{name}_se_2")(s)
    return layers.Multiply(name=f"{name}_se_mul")([x, s])


def mobilenet_v3_large_seg(image, output_stride: int | None = 16) -> dict[str, keras.KerasTensor]:
    """slim ``mobilenet_v3_large_seg``: V3-large with the last stage's filters halved (DeepLab).

    Endpoints ``stride8`` (the 40-channel stage output) and ``features`` (the final 1x1 conv).
    """
    strider = _Strider(output_stride)
    endpoints = {}
    s, r = strider.step(2)
    x = conv_bn(image, 16, 3, s, r, "hard_swish", "stem")
    for index, (k, e, c, se, act, first_stride) in enumerate(_MNV3_LARGE):
        name = f"block_{index}"
        if index >= 12:  # slim's _reduce_consecutive_layers(V3_LARGE, 13, 2)
            e, c = e // 2, c // 2
        stride, rate = strider.step(first_stride)
        inp = x
        in_ch = x.shape[-1]
        if e != in_ch:
            x = conv_bn(x, e, 1, activation=act, name=f"{name}_expand")
        x = depthwise_bn(x, k, stride, rate, act, f"{name}_depthwise")
        if se:
            x = _squeeze_excite(x, name)
        x = conv_bn(x, c, 1, activation=None, name=f"{name}_project")
        if stride == 1 and in_ch == c:
            x = layers.Add(name=f"{name}_add")([inp, x])
        if index == 5:
            endpoints["stride8"] = x
    endpoints["features"] = conv_bn(x, 480, 1, activation="hard_swish", name="final_conv")
    return endpoints


def _xception_module(x, depths: tuple[int, int, int], skip: str, stride: int, rate: int,
                     name: str, endpoints: dict, endpoint: str | None = None):
    """DeepLab's Xception module: three (ReLU, separable conv) units plus a residual."""
    inp = x
    for i, depth in enumerate(depths):
        last = i == 2
        x = activate(x, "relu", f"{name}_unit{i}")
        x = depthwise_bn(x, 3, stride if last else 1, rate, None, f"{name}_sep{i}_depthwise")
        x = conv_bn(x, depth, 1, activation=None, name=f"{name}_sep{i}_pointwise")
        if i == 1 and endpoint:
            endpoints[endpoint] = x
    if skip == "conv":
        shortcut = conv_bn(inp, depths[-1], 1, stride, activation=None, name=f"{name}_shortcut")
        x = layers.Add(name=f"{name}_add")([x, shortcut])
    elif skip == "sum":
        x = layers.Add(name=f"{name}_add")([x, inp])
    return x


def xception65(image, output_stride: int | None = 16) -> dict[str, keras.KerasTensor]:
    """DeepLab's modified aligned Xception-65; endpoints ``stride4`` (256 ch) and ``features``."""
    strider = _Strider(output_stride)
    endpoints: dict = {}
    s, r = strider.step(2)
    x = conv_bn(image, 32, 3, s, r, name="entry_conv1")
    x = conv_bn(x, 64, 3, name="entry_conv2")
    plan = [((128, 128, 128), "conv", 2, "entry_block1", None),
            ((256, 256, 256), "conv", 2, "entry_block2", "stride4"),
            ((728, 728, 728), "conv", 2, "entry_block3", None)]
    plan += [((728, 728, 728), "sum", 1, f"middle_block{i + 1}", None) for i in range(16)]
    plan += [((728, 1024, 1024), "conv", 2, "exit_block1", None),
             ((1536, 1536, 2048), "none", 1, "exit_block2", None)]
    for depths, skip, stride, name, endpoint in plan:
        s, r = strider.step(stride)
        x = _xception_module(x, depths, skip, s, r, name, endpoints, endpoint)
    endpoints["features"] = activate(x, "relu", "exit_relu")
    return endpoints


def inception_v3_mixed_6e(image) -> keras.KerasTensor:
    """InceptionV3 up to Mixed_6e (Keras' ``mixed7``), as Magenta's style predictor truncates it."""
    base = keras.applications.InceptionV3(include_top=False, weights=None, input_tensor=image)
    return base.get_layer("mixed7").output
