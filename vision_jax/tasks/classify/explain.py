"""--mode=explain of the classify task: attribution maps of a trained classifier, overlays and checks.

For config.explain.num_examples images of config.explain.split (the first ones, a fixed choice) it
computes every method of config.explain.methods (names of vision_jax.explain.METHODS) for the
model's predicted class and writes to workdir/explain/:

- <method>.png: the images (true / predicted class) above their heatmap overlays;
- overview.png: one row per method;
- explain.md / explain.json / explain.csv: per method the deletion and insertion AUC of the
  predicted-class probability (Petsiuk et al. 2018; lower / higher is better), the energy of the map
  inside the ground-truth mask when the source has masks (synthetic:shapes, synthetic:xray; compare
  with the mask's area fraction, which a uniform map scores), and the cascading randomization
  sanity check (Adebayo et al. 2018: Spearman rho between the map of the trained model and the map
  after randomizing the top layer, ..., all layers; near 1 means the map ignores the weights).
  A row "random (baseline)" gives the same checks for uniform random maps.

Every map is computed before anything is written, so a method that does not apply to the model
(e.g. attention_rollout on a CNN) stops with the explain package's ValueError and no output.
"""

from __future__ import annotations

import math
import os

import jax
import numpy as np

from vision_jax import explain as ex
from vision_jax import report as report_lib
from vision_jax.config_utils import split_names
from vision_jax.explain import checks
from vision_jax.tasks.classify import common as classify
from vision_jax.train import state as state_lib


def method_names(config) -> list[str]:
  """config.explain.methods as a list, each checked against vision_jax.explain.METHODS."""
  names = split_names(config.explain.methods)
  if not names:
    raise ValueError("explain.methods is empty; expected a comma-separated list of "
                     f"{', '.join(sorted(ex.METHODS))}")
  for name in names:
    if name not in ex.METHODS:
      raise ValueError(f"unknown explain method {name!r}; valid: {', '.join(sorted(ex.METHODS))}")
  return names


def method_kwargs(config, name: str, image_hw) -> dict:
  """Options of one METHODS entry from config.explain (IG steps, occlusion patch, SmoothGrad samples)."""
  e = config.explain
  if name == "integrated_gradients":
    return {"steps": int(e.ig_steps)}
  if name == "occlusion":
    patch = int(e.get("occlusion_patch", 0) or 0) or max(2, min(image_hw) // 8)
    if not 1 <= patch <= min(image_hw):
      raise ValueError(f"explain.occlusion_patch={patch} is invalid; expected 1..{min(image_hw)}")
    return {"patch": patch}
  if name == "smoothgrad":
    return {"num_samples": int(e.smoothgrad_samples), "key": jax.random.key(int(config.seed))}
  return {}


def overlay_grid(path: str, images, heatmaps_by_row: list[tuple[str, np.ndarray]], captions: list[str],
                 title: str, max_cols: int = 8) -> None:
  """PNG: the images on the first row of each block, then one overlay row per (label, maps)."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  n = images.shape[0]
  cols = min(n, max_cols)
  blocks = math.ceil(n / cols)
  rows_per_block = 1 + len(heatmaps_by_row)
  fig, axes = plt.subplots(blocks * rows_per_block, cols, figsize=(1.9 * cols, 2.0 * blocks * rows_per_block),
                           squeeze=False)
  for ax in axes.ravel():
    ax.axis("off")
  for i in range(n):
    b, c = divmod(i, cols)
    top = b * rows_per_block
    img = images[i]
    axes[top, c].imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray", vmin=0, vmax=1)
    axes[top, c].set_title(captions[i], fontsize=8)
    for r, (label, maps) in enumerate(heatmaps_by_row):
      axes[top + 1 + r, c].imshow(ex.overlay_image(img, maps[i]))
      if c == 0:
        axes[top + 1 + r, c].set_title(label, fontsize=8, loc="left")
  fig.suptitle(title, fontsize=10)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def run(config, workdir: str) -> dict:
  """Computes the maps and checks for the checkpoint in workdir; writes workdir/explain/."""
  names = method_names(config)
  s = classify.setup(config)
  split = str(config.explain.get("split", "test"))
  data = classify.load_eval_split(config, s, split)
  n = min(int(config.explain.num_examples), len(data))
  if n < 1:
    raise ValueError(f"explain.num_examples={config.explain.num_examples} is invalid; expected >= 1")
  kwargs = {name: method_kwargs(config, name, s.image_hw) for name in names}
  state, step = classify.restore(config, workdir, s)
  model, variables = s.model, state_lib.model_variables(state)
  x = np.asarray(data.images[:n], np.float32)
  labels = data.labels[:n]
  pred = classify.predict_logits(model, state, x).argmax(-1).astype(np.int32)
  maps = {name: np.asarray(ex.METHODS[name](model, variables, x, pred, **kwargs[name]), np.float64) for name in names}
  rng = np.random.default_rng(int(config.seed))
  maps_random = rng.random(x.shape[:3])

  model_fn = jax.jit(lambda xx: model.apply(variables, xx, train=False)[0])
  steps = int(config.explain.deletion_steps)
  masks = None if data.masks is None else data.masks[:n]
  area = None if masks is None else float(masks.mean(axis=(1, 2)).mean())
  rows, cascades = [], {}
  for name, heat in list(maps.items()) + [("random (baseline)", maps_random)]:
    curves = checks.deletion_insertion_auc(model_fn, x, heat, pred, steps)
    row = {"method": name, "deletion_auc": float(curves["deletion"].mean()),
           "insertion_auc": float(curves["insertion"].mean())}
    row["insertion_minus_deletion"] = row["insertion_auc"] - row["deletion_auc"]
    if masks is not None:
      row["energy_in_mask"] = float(checks.energy_in_mask(heat, masks).mean())
      row["mask_area_fraction"] = area
    if bool(config.explain.sanity) and name in ex.METHODS:
      cascade = checks.randomization_sanity(model, variables, x, pred, name, key=jax.random.key(int(config.seed)),
                                            **kwargs[name])
      cascades[name] = cascade
      row["rho_top_layer_randomized"] = cascade[1][1] if len(cascade) > 1 else float("nan")
      row["rho_all_randomized"] = cascade[-1][1]
    rows.append(row)

  out_dir = os.path.join(workdir, "explain")
  os.makedirs(out_dir, exist_ok=True)
  names_of = lambda ids: [data.class_names[int(i)] if int(i) < len(data.class_names) else str(int(i)) for i in ids]
  captions = [f"true {t} / pred {p}" for t, p in zip(names_of(labels), names_of(pred))]
  files = []
  for name in names:
    path = os.path.join(out_dir, f"{name}.png")
    overlay_grid(path, x, [(name, maps[name])], captions, f"{name}: {config.model.name}, checkpoint step {step}")
    files.append(path)
  overview = os.path.join(out_dir, "overview.png")
  overlay_grid(overview, x[:min(n, 8)], [(k, v[:min(n, 8)]) for k, v in maps.items()], captions[:8],
               f"{config.model.name} on {config.data.source}, step {step}")
  files.append(overview)

  columns = list(dict.fromkeys(k for r in rows for k in r))
  md = [f"# Explanations: {config.model.name} on `{config.data.source}` ({split} split)", "",
        f"Checkpoint step {step}; the first {n} {split} images; maps of the predicted class "
        f"(accuracy on them {float(np.mean(pred == labels)):.3f}).", "",
        "- deletion / insertion AUC: predicted-class probability as the most salient pixels are removed "
        f"(set to 0) / restored into a blurred image, {steps} steps; lower deletion and higher insertion "
        "are more faithful. Compare with the random-map row.",
        ]
  if masks is not None:
    md.append(f"- energy_in_mask: share of the map inside the ground-truth mask; a uniform map scores the "
              f"mask's area fraction ({area:.3f}).")
  if cascades:
    md.append("- rho_*: Spearman correlation of the map with the map after randomizing the top layer / all "
              "layers (cascading, Adebayo et al. 2018); near 0 passes, near 1 means the map does not depend "
              "on the learned weights.")
  md += ["", ex.markdown_table(rows, columns, floatfmt=".3f")]
  if cascades:
    layers = [layer for layer, _ in next(iter(cascades.values()))]
    md += ["## Cascading randomization (Spearman rho per last layer randomized, top down)", "",
           ex.markdown_table([{"layer": layer, **{m: c[i][1] for m, c in cascades.items()}}
                              for i, layer in enumerate(layers)], floatfmt=".3f")]
  text = "\n".join(md)
  report_lib.write_text_atomic(os.path.join(out_dir, "explain.md"), text)
  report_lib.write_csv(os.path.join(out_dir, "explain.csv"), columns, [[r.get(c, "") for c in columns] for r in rows])
  result = {"model": str(config.model.name), "data": str(config.data.source), "split": split, "step": step,
            "num_examples": n, "labels": labels, "predictions": pred, "rows": rows,
            "cascades": {m: [list(r) for r in c] for m, c in cascades.items()}, "files": files}
  report_lib.write_json(os.path.join(out_dir, "explain.json"), result)
  print(text)
  print(f"wrote {out_dir}/explain.md, explain.json, explain.csv and {len(files)} PNGs")
  return result
