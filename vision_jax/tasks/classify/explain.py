"""--mode=explain of the classify task: attribution maps of a trained classifier, overlays and checks
that judge themselves.

For config.explain.num_examples images of config.explain.split (the first ones, a fixed choice) it
computes every method of config.explain.methods (names of vision_jax.explain.METHODS; attention
rollout is added when the model returns attention maps, e.g. a ViT) for the model's predicted class,
and for misclassified images also for the true class, and writes to workdir/explain/:

- <method>.png: the images (true / predicted class; misclassified ones framed in red) above the
  predicted-class overlay and, for misclassified images, the true-class overlay; a colorbar of the
  map scale (every map is divided by its own maximum: normalised per image);
- overview.png: one row per method (predicted class);
- explain.md / explain.json / explain.csv: per method, mean ± sd over the images of the deletion and
  insertion AUC of the predicted-class probability (Petsiuk et al. 2018; lower / higher is better),
  the energy of the map inside the ground-truth mask when the source has masks (synthetic:shapes,
  synthetic:xray; a uniform map scores the mask's area fraction), the cascading randomization
  sanity check (Adebayo et al. 2018: Spearman rho between the map of the trained model and the map
  after randomizing the top layer, ..., all layers, top layer first in the model's definition
  order, which the report lists), and pass/fail verdicts (vision_jax.explain.verdict: rho after
  full randomization below explain.rho_threshold, deletion and insertion AUC better than the
  random-map row by more than the sd of the per-image margins), with a one-line summary of the
  methods that are trustworthy on this model. A row "random (baseline)" scores uniform random maps.

Every map is computed before anything is written, so a method that does not apply to the model
(e.g. attention_rollout on a CNN) stops with the explain package's ValueError and no output.
"""

from __future__ import annotations

import os

import jax
import numpy as np

from vision_jax import explain as ex
from vision_jax import report as report_lib
from vision_jax.config_utils import split_names
from vision_jax.explain import _core, checks, verdict as verdict_lib
from vision_jax.explain.overlay import overlay_grid
from vision_jax.explain.report import RANDOM_ROW, judged_rows, trust_line, verdict_notes
from vision_jax.tasks.classify import common as classify
from vision_jax.train import state as state_lib


def method_names(config, model=None, example=None) -> list[str]:
  """config.explain.methods as a list, each checked against vision_jax.explain.METHODS; with a
  Linen `model` and an `example` batch, attention_rollout is appended when the model returns
  attention maps (aux["attention"])."""
  names = split_names(config.explain.methods)
  if not names:
    raise ValueError("explain.methods is empty; expected a comma-separated list of "
                     f"{', '.join(sorted(ex.METHODS))}")
  for name in names:
    if name not in ex.METHODS:
      raise ValueError(f"unknown explain method {name!r}; valid: {', '.join(sorted(ex.METHODS))}")
  if model is not None and "attention_rollout" not in names and "attention" in _core.aux_keys(model, example):
    names.append("attention_rollout")
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


def parse_baseline(value) -> float | str:
  """config.explain.deletion_baseline: "blurred", "mean" or a number (given as a number or a string)."""
  text = str(value).strip()
  if text in ("blurred", "mean"):
    return text
  try:
    return float(text)
  except ValueError:
    raise ValueError(f"explain.deletion_baseline={value!r} is invalid; expected 'blurred', 'mean' or a number") from None


def explain_batch(model, variables, x, labels, pred, names, kwargs: dict, *, steps: int, masks=None,
                  sanity: bool = True, seed: int = 0, rho_threshold: float = verdict_lib.RHO_THRESHOLD,
                  min_margin: float = verdict_lib.MIN_MARGIN, deletion_baseline: float | str = 0.0) -> dict:
  """Maps, checks and verdicts of `names` on one batch (the work of --mode=explain, without files).

  x: (N, H, W, C); labels, pred: (N,) true and predicted class ids (maps explain `pred`; images
  with pred != labels also get true-class maps); kwargs: {method: options}; masks: optional
  (N, H, W) ground truth; deletion_baseline: what deleted pixels become (checks.deletion_insertion_auc:
  0 as in Petsiuk et al., right for dark backgrounds such as digits; "blurred" where a bright object
  set to 0 would leave its dark silhouette, which still carries the class, as on synthetic:shapes).
  Returns {"maps": {m: (N, H, W)}, "true_maps": {m: (N, H, W), zero where correct}, "wrong": (N,) bool,
  "rows": judged rows, "cascades": {m: [(layer, (N,) rho)]}, "order": top-down layers randomized}.
  """
  labels, pred = np.asarray(labels), np.asarray(pred)
  wrong = pred != labels
  maps = {m: np.asarray(ex.METHODS[m](model, variables, x, pred, **kwargs[m]), np.float64) for m in names}
  true_maps = {m: np.zeros_like(v) for m, v in maps.items()}
  if wrong.any():  # the whole batch with the true labels: the programs compiled for `pred` are reused
    for m in names:
      true_maps[m] = np.where(wrong[:, None, None], np.asarray(ex.METHODS[m](model, variables, x, labels, **kwargs[m]),
                                                              np.float64), 0.0)
  cascades, order = {}, []
  if sanity:
    for m in names:
      cascades[m] = checks.randomization_sanity(model, variables, x, pred, m, key=jax.random.key(seed),
                                                per_image=True, **kwargs[m])
      order = [layer for layer, _ in cascades[m][1:]]
  model_fn = jax.jit(lambda xx: model.apply(variables, xx, train=False)[0])
  rows, _ = judged_rows(model_fn, x, maps, pred, steps, mask=masks, seed=seed, rho_threshold=rho_threshold,
                        min_margin=min_margin, deletion_baseline=deletion_baseline,
                        rho_all={m: c[-1][1] for m, c in cascades.items()})
  for row in rows:
    c = cascades.get(row["method"])
    if c is not None and len(c) > 1:
      row["rho_top_layer_randomized"], row["rho_top_layer_randomized_sd"] = verdict_lib.mean_sd(c[1][1])
  return {"maps": maps, "true_maps": true_maps, "wrong": wrong, "rows": rows, "cascades": cascades, "order": order}


def _baseline_words(baseline) -> str:
  if baseline == "blurred":
    return "the pixels of the blurred image"
  if baseline == "mean":
    return "the image's mean"
  return f"{float(baseline):g}"


def _pm(row, key, fmt=".3f") -> str:
  if key not in row:
    return "-"
  sd = row.get(key + "_sd", float("nan"))
  return f"{row[key]:{fmt}} ± {sd:{fmt}}"


def _check_cell(row, check: str, margin: str | None = None) -> str:
  word = row.get(check, "-")
  if margin is None or word in ("-", "reference", "n/a"):
    return word
  images = row[margin.replace("_margin", "_images")]
  return f"{word} ({row[margin]:+.3f} ± {row[margin + '_sd']:.3f} [{row[margin + '_low']:+.3f}], {images} images)"


def verdict_table(rows) -> tuple[list[str], list[list]]:
  """(header, rows) of the explanation table: mean ± sd columns, pass/fail cells with their margins."""
  has_mask = any("energy_in_mask" in r for r in rows)
  has_rho = any("rho_all_randomized" in r for r in rows)
  header = ["method", "deletion_auc", "insertion_auc"] + (["energy_in_mask"] if has_mask else [])
  header += (["rho_top_layer_randomized", "rho_all_randomized", "randomization"] if has_rho else [])
  header += ["deletion_vs_random", "insertion_vs_random", "verdict"]
  out = []
  for r in rows:
    line = [r["method"], _pm(r, "deletion_auc"), _pm(r, "insertion_auc")]
    line += [_pm(r, "energy_in_mask")] if has_mask else []
    line += [_pm(r, "rho_top_layer_randomized"), _pm(r, "rho_all_randomized"), r.get("randomization", "-")] if has_rho else []
    line += [_check_cell(r, "deletion_vs_random", "deletion_margin"),
             _check_cell(r, "insertion_vs_random", "insertion_margin"), r["verdict"]]
    out.append(line)
  return header, out


def write_figures(out_dir: str, x, labels, pred, class_names, result: dict, title: str) -> list[str]:
  """<method>.png (predicted- and, for misclassified images, true-class maps) and overview.png."""
  name_of = lambda i: class_names[int(i)] if int(i) < len(class_names) else str(int(i))  # noqa: E731
  captions = [f"true {name_of(t)} / pred {name_of(p)}" for t, p in zip(labels, pred)]
  wrong = result["wrong"]
  files = []
  for m, maps in result["maps"].items():
    rows = [(f"{m}: predicted class", maps)]
    if wrong.any():
      rows.append((f"{m}: true class", result["true_maps"][m], wrong))
    files.append(overlay_grid(os.path.join(out_dir, f"{m}.png"), x, rows, captions, f"{m}: {title}", wrong=wrong))
  k = min(len(x), 8)
  files.append(overlay_grid(os.path.join(out_dir, "overview.png"), x[:k],
                               [(m, v[:k]) for m, v in result["maps"].items()], captions[:k],
                               f"predicted-class maps, {title}", wrong=wrong[:k]))
  return files


def run(config, workdir: str) -> dict:
  """Computes the maps and checks for the checkpoint in workdir; writes workdir/explain/."""
  s = classify.setup(config)
  split = str(config.explain.get("split", "test"))
  data = classify.load_eval_split(config, s, split)
  n = min(int(config.explain.num_examples), len(data))
  if n < 1:
    raise ValueError(f"explain.num_examples={config.explain.num_examples} is invalid; expected >= 1")
  x = np.asarray(data.images[:n], np.float32)
  names = method_names(config, s.model, x)
  kwargs = {name: method_kwargs(config, name, s.image_hw) for name in names}
  rho_threshold = float(config.explain.get("rho_threshold", verdict_lib.RHO_THRESHOLD))
  min_margin = float(config.explain.get("min_margin", verdict_lib.MIN_MARGIN))
  deletion_baseline = parse_baseline(config.explain.get("deletion_baseline", "0"))
  state, step = classify.restore(config, workdir, s)
  model, variables = s.model, state_lib.model_variables(state)
  labels = data.labels[:n]
  pred = classify.predict_logits(model, state, x).argmax(-1).astype(np.int32)
  steps = int(config.explain.deletion_steps)
  masks = None if data.masks is None else data.masks[:n]
  result = explain_batch(model, variables, x, labels, pred, names, kwargs, steps=steps, masks=masks,
                         sanity=bool(config.explain.sanity), seed=int(config.seed), rho_threshold=rho_threshold,
                         min_margin=min_margin, deletion_baseline=deletion_baseline)
  rows, cascades = result["rows"], result["cascades"]

  out_dir = os.path.join(workdir, "explain")
  os.makedirs(out_dir, exist_ok=True)
  files = write_figures(out_dir, x, labels, pred, data.class_names, result,
                        f"{config.model.name} on {config.data.source}, step {step}")
  model_name = str(config.model.name)
  md = [f"# Explanations: {model_name} on `{config.data.source}` ({split} split)", "",
        f"Checkpoint step {step}; the first {n} {split} images; maps of the predicted class "
        f"(accuracy on them {float(np.mean(pred == labels)):.3f}; {int(result['wrong'].sum())} misclassified, "
        "shown with their true-class maps in <method>.png). Every map is divided by its own maximum "
        "(normalised per image).", "",
        f"**{trust_line(rows, model_name, bool(cascades))}**", "",
        "- deletion / insertion AUC: predicted-class probability as the most salient pixels are removed "
        f"(replaced by {_baseline_words(deletion_baseline)}) / restored into the blurred image, {steps} steps; "
        "lower deletion and higher insertion are more faithful. The random-map row scores one uniform random "
        "map per image."]
  if masks is not None:
    md.append(f"- energy_in_mask: share of the map inside the ground-truth mask; a uniform map scores the "
              f"mask's area fraction ({rows[0]['mask_area_fraction']:.3f}).")
  md += verdict_notes(rho_threshold, bool(cascades), min_margin)
  ref = next(r for r in rows if r["method"] == RANDOM_ROW)
  md.append(f"- on these images the target probability moves by {_pm(ref, 'deletion_range')} between the original "
            f"and the fully deleted image ({ref['deletion_informative_images']} of {n} images informative) and by "
            f"{_pm(ref, 'insertion_range')} between the blurred and the original image "
            f"({ref['insertion_informative_images']} of {n} informative).")
  md.append("- Faithfulness is relative to this model: a map can be faithful to a model that learned nothing; "
            "the randomization check says whether the map depends on the learned weights at all.")
  if cascades:
    md.append(f"- randomization order (top layer first, the model's definition order reversed): "
              f"{' -> '.join(result['order'])}.")
  header, table = verdict_table(rows)
  md += ["", report_lib.markdown_table(header, table, digits=3), ""]
  if cascades:
    layers = [layer for layer, _ in next(iter(cascades.values()))]
    md += ["## Cascading randomization (Spearman rho, mean ± sd over images, per last layer randomized, top down)",
           "", report_lib.markdown_table(["layer"] + list(cascades),
                                         [[layer] + [_pm(dict(zip(("v", "v_sd"), verdict_lib.mean_sd(c[i][1]))), "v")
                                                     for c in cascades.values()] for i, layer in enumerate(layers)]),
           ""]
  text = "\n".join(md)
  report_lib.write_text_atomic(os.path.join(out_dir, "explain.md"), text)
  flat = [{k: v for k, v in r.items() if k != "failed"} for r in rows]
  columns = list(dict.fromkeys(k for r in flat for k in r))
  report_lib.write_csv(os.path.join(out_dir, "explain.csv"), columns, [[r.get(c, "") for c in columns] for r in flat])
  out = {"model": model_name, "data": str(config.data.source), "split": split, "step": step,
         "num_examples": n, "labels": labels, "predictions": pred, "methods": names, "rows": rows,
         "rho_threshold": rho_threshold, "min_margin": min_margin, "deletion_baseline": deletion_baseline,
         "randomization_order": result["order"],
         "summary": trust_line(rows, model_name, bool(cascades)),
         "cascades": {m: [[layer, *verdict_lib.mean_sd(r)] for layer, r in c] for m, c in cascades.items()},
         "files": files}
  report_lib.write_json(os.path.join(out_dir, "explain.json"), out)
  print(text)
  print(f"wrote {out_dir}/explain.md, explain.json, explain.csv and {len(files)} PNGs")
  return out
