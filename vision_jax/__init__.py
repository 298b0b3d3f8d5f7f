"""vision_jax: JAX/Flax research codebase for physics-informed denoising, classification and explainability.

`vision_jax.denoise(image, sigma=None, model="default")` denoises an image with the shipped weights
(vision_jax/denoise.py; also `python -m vision_jax.denoise in.png out.png --sigma 25`).
"""

from vision_jax import cpu_flags

cpu_flags.apply()  # before JAX starts a backend: XLA:CPU's multi-core convolution (see cpu_flags)

__version__ = "0.1.0"
__all__ = ["denoise"]


def __getattr__(name):
  # Imported on first use, so `import vision_jax` stays light and `python -m vision_jax.denoise` runs the
  # module once; the module is callable (vision_jax.denoise(image) == vision_jax.denoise.denoise(image)).
  if name == "denoise":
    import importlib
    return importlib.import_module("vision_jax.denoise")
  raise AttributeError(f"module 'vision_jax' has no attribute {name!r}")
