"""vision_jax: JAX/Flax research codebase for physics-informed denoising, classification and explainability."""

__version__ = "0.1.0"
