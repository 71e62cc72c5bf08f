"""The replica architectures: DeepLab segmentation heads and Magenta style networks.

``ARCHITECTURES`` maps the catalog's ``replica.arch`` to a function ``(inputs, **params) -> Model``;
``inputs`` is the list of Keras inputs built from the catalog's input shapes.
"""

from __future__ import annotations

from collections.abc import Callable

import backbones
import keras
from keras import layers
from layers import (
    ConditionalInstanceNorm,
    ReflectPad,
    ResizeLike,
    activate,
    conv_bn,
    separable_conv_bn,
)


def _image_pooling(features, filters: int, name: str = "image_pooling"):
    pooled = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_pool")(features)
    pooled = conv_bn(pooled, filters, 1, name=name)
    return ResizeLike(name=f"{name}_resize")([pooled, features])


def _decoder(x, low_level, num_filters: int = 256):
    """DeepLabV3+ decoder: 48-channel low-level projection, two separable 3x3 convs."""
    low = conv_bn(low_level, 48, 1, name="decoder_feature_projection")
    x = ResizeLike(name="decoder_upsample")([x, low])
    x = layers.Concatenate(name="decoder_concat")([x, low])
    x = separable_conv_bn(x, num_filters, name="decoder_conv0")
    return separable_conv_bn(x, num_filters, name="decoder_conv1")


def _logits(x, image, num_classes: int):
    x = layers.Conv2D(num_classes, 1, name="logits")(x)
    return ResizeLike(name="logits_resize")([x, image])


def deeplab_v3(inputs, backbone: str, num_classes: int, depth_multiplier: float = 1.0,
               output_stride: int = 8, atrous_rates: tuple[int, ...] = (),
               decoder: bool = False) -> keras.Model:
    """DeepLabV3(+) as the DeepLab model zoo exported it.

    MobileNet backbones use the "ASPP-lite" head (image pooling + 1x1 conv, no atrous branches);
    ``atrous_rates`` adds the separable atrous branches of the Xception models; ``decoder`` adds
    the DeepLabV3+ decoder at stride 4.
    """
    (image,) = inputs
    if backbone == "mobilenet_v2":
        ends = backbones.mobilenet_v2(image, depth_multiplier, output_stride)
        low_level = ends["stride4_expanded"]
    elif backbone == "xception65":
        ends = backbones.xception65(image, output_stride)
        low_level = ends["stride4"]
    else:
        raise ValueError(f"unknown DeepLab backbone {backbone!r}")
    features = ends["features"]
    branches = [_image_pooling(features, 256), conv_bn(features, 256, 1, name="aspp0")]
    for i, rate in enumerate(atrous_rates):
        branches.append(separable_conv_bn(features, 256, rate, name=f"aspp{i + 1}"))
    x = layers.Concatenate(name="aspp_concat")(branches)
    x = conv_bn(x, 256, 1, name="concat_projection")
    if decoder:
        x = _decoder(x, low_level)
    return keras.Model(inputs, _logits(x, image, num_classes), name="deeplab_v3")


def deeplab_v3_mobilenet_v3(inputs, num_classes: int, output_stride: int = 16,
                            aspp_filters: int = 128) -> keras.Model:
    """DeepLab's MobileNetV3-large Cityscapes model: LR-ASPP-like squeeze-excite head and a
    sum-merge decoder at stride 8 whose filters are the classes."""
    (image,) = inputs
    ends = backbones.mobilenet_v3_large_seg(image, output_stride)
    features = ends["features"]
    x = conv_bn(features, aspp_filters, 1, name="aspp0")
    gate = layers.GlobalAveragePooling2D(keepdims=True, name="image_pooling_pool")(features)
    gate = layers.Conv2D(aspp_filters, 1, activation="hard_sigmoid", name="image_pooling")(gate)
    x = layers.Multiply(name="aspp_se")([x, gate])
    high = layers.Conv2D(num_classes, 1, name="decoder_high")(x)
    low = layers.Conv2D(num_classes, 1, name="decoder_low")(ends["stride8"])
    x = layers.Add(name="decoder_sum")([ResizeLike(name="decoder_upsample")([high, low]), low])
    return keras.Model(inputs, ResizeLike(name="logits_resize")([x, image]), name="deeplab_mnv3")


def style_predictor(inputs, backbone: str, bottleneck: int = 100) -> keras.Model:
    """Magenta's style prediction network: backbone, spatial mean, 1x1 conv to the bottleneck."""
    (style_image,) = inputs
    if backbone == "mobilenet_v2":
        features = backbones.mobilenet_v2(style_image, 1.0, final_conv=True)["features"]
    elif backbone == "inception_v3":
        features = backbones.inception_v3_mixed_6e(style_image)
    else:
        raise ValueError(f"unknown style predictor backbone {backbone!r}")
    x = layers.GlobalAveragePooling2D(keepdims=True, name="bottleneck_pool")(features)
    x = layers.Conv2D(bottleneck, 1, name="style_bottleneck")(x)
    return keras.Model(inputs, x, name="style_predict")


def style_transfer(inputs, alpha: float = 1.0) -> keras.Model:
    """Magenta's transformer network: 3 contracting convs with batch norm, 5 residual blocks and
    3 upsampling convs with conditional instance norm, whose gamma / beta are 1x1 projections of
    the style bottleneck (``style_normalization_activations``: residual and expand layers only)."""
    content, bottleneck = inputs
    count = [0]

    def conv(x, kernel: int, stride: int, filters: int, activation: str | None = "relu",
             upsample: bool = False, styled: bool = True):
        count[0] += 1
        name = f"c{count[0]}"
        if upsample:
            x = layers.UpSampling2D(2, interpolation="nearest", name=f"{name}_up")(x)
        x = ReflectPad(kernel // 2, name=f"{name}_pad")(x)
        x = layers.Conv2D(filters, kernel, strides=stride, padding="valid", use_bias=False,
                          name=name)(x)
        if styled:
            gamma = layers.Conv2D(filters, 1, name=f"{name}_gamma")(bottleneck)
            beta = layers.Conv2D(filters, 1, name=f"{name}_beta")(bottleneck)
            x = ConditionalInstanceNorm(name=f"{name}_cin")([x, gamma, beta])
        else:
            x = layers.BatchNormalization(name=f"{name}_bn")(x)
        return activate(x, activation, name)

    x = conv(content, 9, 1, int(alpha * 32), styled=False)
    x = conv(x, 3, 2, int(alpha * 64), styled=False)
    x = conv(x, 3, 2, int(alpha * 128), styled=False)
    for i in range(5):
        h = conv(x, 3, 1, int(alpha * 128))
        h = conv(h, 3, 1, int(alpha * 128), activation=None)
        x = layers.Add(name=f"residual{i + 1}")([x, h])
    x = conv(x, 3, 1, int(alpha * 64), upsample=True)
    x = conv(x, 3, 1, int(alpha * 32), upsample=True)
    x = conv(x, 9, 1, 3, activation="sigmoid")
    return keras.Model(inputs, x, name="style_transfer")


ARCHITECTURES: dict[str, Callable[..., keras.Model]] = {
    "deeplab_v3": deeplab_v3,
    "deeplab_v3_mobilenet_v3": deeplab_v3_mobilenet_v3,
    "style_predictor": style_predictor,
    "style_transfer": style_transfer,
}
