"""The slides' explanations, made measurable (seed 003 XAI + the seed-001 evaluation layer).

- Grad-CAM of the last conv block, then TV smoothing (skimage denoise_tv_chambolle, weight 0.1), viridis
  overlay at alpha 0.6 (the slides' recipe);
- integrated gradients from a black baseline with m = 50 steps, |IG| summed over bands, then a Gaussian
  blur (sigma 1 px); its completeness error |sum IG - (F(x) - F(x'))| / |F(x) - F(x')| per image;
- LIME on SLIC superpixels (the `lime` package: 30 segments, kernel width 0.25, `lime_samples` samples),
  the positive weights of the explained class painted on their superpixels;
- attention rollout for the ViT; activation grids of the first layers; activation maximization.
The quality table scores every map against the galaxy footprint (the generator's exact mask): pointing
game, attribution mass in the footprint vs its area share, deletion / insertion AUC next to a random
order (deleted pixels take the sky level 0.1, not black), and the randomization sanity rho.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from vision_jax import explain as ex
from vision_jax.explain import checks, evaluation
from vision_jax.train import state as state_lib

SKY_LEVEL = 0.1  # the stretch's pedestal: the value of empty sky


def _tv_smooth(maps, weight=0.1):
  from skimage.restoration import denoise_tv_chambolle
  return np.stack([denoise_tv_chambolle(np.asarray(m, np.float64), weight=weight) for m in maps])


def grad_cam_tv(model, variables, x, target=None):
  """Grad-CAM, TV-smoothed (weight 0.1), renormalised to [0, 1]; (N, H, W)."""
  return np.asarray(ex.normalize_maps(_tv_smooth(np.asarray(ex.grad_cam(model, variables, x, target)))))


def ig_blur(model, variables, x, target=None, steps: int = 50, sigma: float = 1.0):
  """|IG| (black baseline, `steps` steps) summed over bands, Gaussian-blurred, in [0, 1]; (N, H, W)."""
  a = ex.integrated_gradients(model, variables, x, target, baseline="black", steps=steps)
  heat = ex.to_heatmap(a, normalize=False)
  return np.asarray(ex.normalize_maps(ex.gaussian_blur(heat[..., None], sigma)[..., 0]))


def ig_completeness(model, variables, x, target, steps: int = 50) -> np.ndarray:
  """(N,) |sum IG - (F(x) - F(0))| / |F(x) - F(0)| for the target logit F."""
  a = np.asarray(ex.integrated_gradients(model, variables, x, target, baseline="black", steps=steps), np.float64)
  f = lambda xx: np.asarray(model.apply(variables, xx, train=False)[0], np.float64)[np.arange(len(x)), target]
  delta = f(jnp.asarray(x)) - f(jnp.zeros_like(jnp.asarray(x)))
  return np.abs(a.sum(axis=(1, 2, 3)) - delta) / np.maximum(np.abs(delta), 1e-12)


def lime_maps(model, variables, x, target, num_samples: int, seed: int, segments: int = 30) -> np.ndarray:
  """(N, H, W) LIME maps: each SLIC superpixel painted with its positive weight for the target class."""
  from lime import lime_image
  from lime.wrappers.scikit_image import SegmentationAlgorithm
  fn = jax.jit(lambda xx: jax.nn.softmax(model.apply(variables, xx, train=False)[0], -1))

  def classifier(batch):
    return np.asarray(fn(jnp.asarray(batch, jnp.float32)), np.float64)

  seg = SegmentationAlgorithm("slic", n_segments=segments, compactness=10, sigma=1, random_seed=seed)
  out = []
  for img, t in zip(np.asarray(x, np.float64), target):
    explainer = lime_image.LimeImageExplainer(kernel_width=0.25, random_state=seed)
    e = explainer.explain_instance(img, classifier, labels=(int(t),), top_labels=None, hide_color=SKY_LEVEL,
                                   num_samples=int(num_samples), batch_size=100, segmentation_fn=seg, random_seed=seed)
    weights = dict(e.local_exp[int(t)])
    heat = np.vectorize(lambda s: max(weights.get(s, 0.0), 0.0))(e.segments).astype(np.float64)
    out.append(heat)
  return np.asarray(ex.normalize_maps(np.stack(out)))


def quality(model, state, x, labels, masks, methods: dict, *, steps: int, seed: int, sanity: bool) -> tuple[list, dict]:
  """Rows of the explanation-quality table for callables {name: fn(model, variables, x, target) -> (N, H, W)}
  (or precomputed arrays), maps of the predicted class."""
  variables = state_lib.model_variables(state)
  model_fn = jax.jit(lambda xx: model.apply(variables, xx, train=False)[0])
  target = np.asarray(model_fn(jnp.asarray(x))).argmax(-1).astype(np.int32)
  maps, rhos = {}, {}
  for name, fn in methods.items():
    if callable(fn):
      maps[name] = np.asarray(fn(model, variables, x, target), np.float64)
      if sanity:
        rhos[name] = checks.randomization_sanity(model, variables, x, target, fn, key=jax.random.key(seed))[-1][1]
    else:
      maps[name] = np.asarray(fn, np.float64)
  rows = evaluation.quality_rows(model_fn, x, maps, target, masks=masks, steps=steps, sanity=rhos, seed=seed,
                                 baseline=SKY_LEVEL)
  return rows, {"maps": maps, "target": target, "accuracy": float(np.mean(target == labels))}


def activation_grid(path: str, model, state, image, max_layers: int = 6, max_channels: int = 16) -> list[str]:
  """PNG: the first layers' feature maps of one image (one row per layer, up to max_channels tiles)."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  variables = state_lib.model_variables(state)
  _, inter = model.apply(variables, jnp.asarray(image[None]), train=False, capture_intermediates=True,
                         mutable=["intermediates"])
  layers = []
  for name, val in inter["intermediates"].items():
    out = val["__call__"][0] if isinstance(val, dict) and "__call__" in val else None
    if out is not None and getattr(out, "ndim", 0) == 4 and not name.startswith("Dropout"):
      layers.append((name, np.asarray(out[0])))
  layers = layers[:max_layers]
  fig, axes = plt.subplots(len(layers), max_channels, figsize=(max_channels * 0.9, len(layers) * 1.0), squeeze=False)
  for r, (name, fmap) in enumerate(layers):
    for c in range(max_channels):
      ax = axes[r, c]
      ax.axis("off")
      if c < fmap.shape[-1]:
        ax.imshow(fmap[..., c], cmap="viridis")
    axes[r, 0].set_title(name, fontsize=7, loc="left")
  fig.suptitle("activations of the first layers (one tile per filter)", fontsize=9)
  fig.tight_layout()
  fig.savefig(path, dpi=90)
  plt.close(fig)
  return [n for n, _ in layers]


def overlay_figure(path: str, images, rows: dict, captions) -> None:
  """Images (their i, r, g bands as RGB) then one viridis overlay row (alpha 0.6) per map."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  n = len(images)
  fig, axes = plt.subplots(1 + len(rows), n, figsize=(1.7 * n, 1.8 * (1 + len(rows))), squeeze=False)
  for ax in axes.ravel():
    ax.axis("off")
  for i in range(n):
    rgb = np.asarray(images[i])[..., ::-1]
    axes[0, i].imshow(rgb)
    axes[0, i].set_title(captions[i], fontsize=6)
    for r, (name, maps) in enumerate(rows.items()):
      axes[r + 1, i].imshow(ex.overlay_image(rgb, maps[i], alpha=0.6, cmap="viridis"))
      if i == 0:
        axes[r + 1, i].set_title(name, fontsize=7, loc="left")
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
