"""Keras building blocks shared by the replica architectures (runs inside the converter env)."""

from __future__ import annotations

from keras import layers, ops


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    # The rounding rule of the slim MobileNet definitions the reference checkpoints were built with.
    min_value = min_value or divisor
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def conv_bn(x, filters: int, kernel: int = 1, stride: int = 1, rate: int = 1,
            activation: str | None = "relu", name: str = "conv"):
    x = layers.Conv2D(filters, kernel, strides=stride, dilation_rate=rate, padding="same",
                      use_bias=False, name=name)(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return activate(x, activation, name)


def depthwise_bn(x, kernel: int = 3, stride: int = 1, rate: int = 1,
                 activation: str | None = "relu", name: str = "dw"):
    x = layers.DepthwiseConv2D(kernel, strides=stride, dilation_rate=rate, padding="same",
                               use_bias=False, name=name)(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return activate(x, activation, name)


def activate(x, activation: str | None, name: str):
    if activation is None:
        return x
    if activation == "relu6":
        return layers.ReLU(6.0, name=f"{name}_relu6")(x)
    if activation == "hard_swish":
        return layers.Activation("hard_swish", name=f"{name}_hswish")(x)
    return layers.Activation(activation, name=f"{name}_{activation}")(x)


def separable_conv_bn(x, filters: int, rate: int = 1, name: str = "sep"):
    """DeepLab's separable conv: depthwise + BN + ReLU, pointwise + BN + ReLU."""
    x = depthwise_bn(x, 3, rate=rate, name=f"{name}_depthwise")
    return conv_bn(x, filters, 1, name=f"{name}_pointwise")


class ResizeLike(layers.Layer):
    """Bilinear resize of the first input to the spatial size of the second (static shapes)."""

    def call(self, inputs):
        x, ref = inputs
        return ops.image.resize(x, (ref.shape[1], ref.shape[2]), interpolation="bilinear")


class ReflectPad(layers.Layer):
    """Mirror padding, as Magenta's transformer pads before every VALID convolution."""

    def __init__(self, pad: int, **kwargs):
        super().__init__(**kwargs)
        self.pad = pad

    def call(self, x):
        p = self.pad
        return ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], mode="reflect")


class ConditionalInstanceNorm(layers.Layer):
    """Instance norm whose scale and offset come from the style bottleneck (Magenta's CIN)."""

    def call(self, inputs):
        x, gamma, beta = inputs
        mean = ops.mean(x, axis=[1, 2], keepdims=True)
        variance = ops.var(x, axis=[1, 2], keepdims=True)
        return (x - mean) * ops.rsqrt(variance + 1e-5) * gamma + beta
