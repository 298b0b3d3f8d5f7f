"""Classifier registry: `get_classifier(name, num_classes, **fields)` builds a Flax Linen module.

Every classifier maps NHWC images to `(logits, aux)`; see `common.py` for the aux contract
(feature_map through `self.perturb`, pre_logits, ViT attention). Keyword arguments override the
registered fields, e.g. `get_classifier("resnet50", 10, version="1", in_channels=1)`.
Names ending in `_tiny` are small CPU-friendly variants of the same code.
"""

from functools import partial

from vision_jax.models.classifiers.common import count_params
from vision_jax.models.classifiers.densenet import DenseNet
from vision_jax.models.classifiers.efficientnet import EfficientNetB0
from vision_jax.models.classifiers.googlenet import INCEPTION_V1, GoogLeNet
from vision_jax.models.classifiers.lenet_alexnet_vgg import VGG, VGG_STAGES, AlexNet, LeNet5
from vision_jax.models.classifiers.mobilenet import MobileNetV2, MobileNetV3Small
from vision_jax.models.classifiers.mobilenet_v3_large import MobileNetV3Large
from vision_jax.models.classifiers.resnet import ResNet
from vision_jax.models.classifiers.vit import ViT, vit_param_count
from vision_jax.models.classifiers.xception import Xception

CLASSIFIERS = {
    "lenet5": partial(LeNet5, arch="lenet5"),
    "alexnet": partial(AlexNet, arch="alexnet"),
    "alexnet_original": partial(AlexNet, variant="original", lrn=True, arch="alexnet_original"),
    "alexnet_tiny": partial(AlexNet, width_multiplier=0.125, fc_dim=64, pool_size=1,
                            arch="alexnet_tiny"),
    **{name: partial(VGG, stage_sizes=stages, arch=name) for name, stages in VGG_STAGES.items()},
    "vgg_tiny": partial(VGG, stage_sizes=(1, 1, 1, 1, 1), width_multiplier=0.125, fc_dim=64,
                        pool_size=1, arch="vgg_tiny"),
    "googlenet": partial(GoogLeNet, arch="googlenet"),
    "googlenet_tiny": partial(GoogLeNet, width_multiplier=0.125, arch="googlenet_tiny",
                              table=INCEPTION_V1[:1] + ("M",) + INCEPTION_V1[3:4] + ("M",)
                              + INCEPTION_V1[-1:]),  # 3a, 4a, 5b
    "resnet18": partial(ResNet, stage_sizes=(2, 2, 2, 2), block="basic", arch="resnet18"),
    "resnet34": partial(ResNet, stage_sizes=(3, 4, 6, 3), block="basic", arch="resnet34"),
    "resnet50": partial(ResNet, stage_sizes=(3, 4, 6, 3), block="bottleneck", arch="resnet50"),
    "resnet101": partial(ResNet, stage_sizes=(3, 4, 23, 3), block="bottleneck", arch="resnet101"),
    "resnet152": partial(ResNet, stage_sizes=(3, 8, 36, 3), block="bottleneck", arch="resnet152"),
    "resnet_tiny": partial(ResNet, stage_sizes=(1, 1, 1, 1), block="basic", num_filters=8,
                           arch="resnet_tiny"),
    "xception": partial(Xception, arch="xception"),
    "xception_tiny": partial(Xception, width_multiplier=0.0625, middle_blocks=1,
                             arch="xception_tiny"),
    "mobilenet_v2": partial(MobileNetV2, arch="mobilenet_v2"),
    "mobilenet_v2_tiny": partial(MobileNetV2, width_multiplier=0.25, arch="mobilenet_v2_tiny"),
    "mobilenet_v3_small": partial(MobileNetV3Small, arch="mobilenet_v3_small"),
    "mobilenet_v3_small_tiny": partial(MobileNetV3Small, width_multiplier=0.25, last_channel=128,
                                       arch="mobilenet_v3_small_tiny"),
    "mobilenet_v3_large": partial(MobileNetV3Large, arch="mobilenet_v3_large"),
    "efficientnet_b0": partial(EfficientNetB0, arch="efficientnet_b0"),
    "densenet121": partial(DenseNet, block_sizes=(6, 12, 24, 16), arch="densenet121"),
    "mobilenet_v3_large_tiny": partial(MobileNetV3Large, width_multiplier=0.25, last_channel=128,
                                       arch="mobilenet_v3_large_tiny"),
    "efficientnet_tiny": partial(EfficientNetB0, width_multiplier=0.25, depth_multiplier=0.34,
                                 arch="efficientnet_tiny"),
    "densenet_tiny": partial(DenseNet, block_sizes=(1, 1, 1, 1), growth=8, init_features=16,
                             arch="densenet_tiny"),
    "vit": partial(ViT, arch="vit"),
    "vit_b16": partial(ViT, arch="vit_b16"),
    "vit_tiny": partial(ViT, patch_size=4, width=32, depth=2, num_heads=2, mlp_dim=64,
                        arch="vit_tiny"),
}


def get_classifier(name, num_classes, **kwargs):
  """Builds the registered classifier `name` with `num_classes` outputs; kwargs override fields."""
  if name not in CLASSIFIERS:
    raise ValueError(f"unknown classifier {name!r}; valid: {', '.join(sorted(CLASSIFIERS))}")
  return CLASSIFIERS[name](num_classes=num_classes, **kwargs)


__all__ = ["CLASSIFIERS", "get_classifier", "count_params", "vit_param_count", "LeNet5",
           "AlexNet", "VGG", "GoogLeNet", "ResNet", "Xception", "MobileNetV2",
           "MobileNetV3Small", "ViT", "MobileNetV3Large", "EfficientNetB0", "DenseNet"]
