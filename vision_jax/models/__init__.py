"""Flax Linen models. Denoisers and classifiers are found by name through two registries."""

from vision_jax.models.classifiers import CLASSIFIERS, get_classifier
from vision_jax.models.denoisers import DENOISERS, get_denoiser

__all__ = ["CLASSIFIERS", "DENOISERS", "get_classifier", "get_denoiser"]
