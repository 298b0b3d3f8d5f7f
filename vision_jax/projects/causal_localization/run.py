"""train / eval / report / explain of causal_localization (config.project = "causal_localization").

train: fit the network (generic loop, resumes), then on the held-out splits: localization metrics of
the box head next to the mean-box and CAM-box baselines, the causal analysis in both sample orders,
the linear-head ablation, the explanation-quality table and activation-maximization images; writes
results.md / results.json / *.csv / *.png in the workdir.
eval: re-evaluates the checkpoint on config.eval.split (eval_results.md/json).
report: re-renders results.md from results.json (nothing recomputed).
explain: recomputes the explanation-quality table and figures (explain/).
"""

from __future__ import annotations

import os

import jax
import numpy as np

from vision_jax import explain as ex
from vision_jax import report as report_lib
from vision_jax.config_utils import split_names
from vision_jax.explain import evaluation
from vision_jax.metrics import boxes as B, granger
from vision_jax.projects.causal_localization import analysis, baselines, claims, problem
from vision_jax.projects.causal_localization.report import explain_markdown, render, save_examples
from vision_jax.train import loop, state as state_lib, workdir as workdir_lib


def validate(config) -> None:
  """Checks the causal and explain fields from the config alone (before any data is made)."""
  c = config.causal
  kw = dict(config.model.get("kwargs", {}) or {})
  feature_dim = int(kw.get("num_filters", 16)) * 2 ** (len(kw.get("stage_sizes", (2, 2, 2))) - 1) * 4
  if not 2 <= int(c.k) <= feature_dim:
    raise ValueError(f"causal.k={c.k!r} is invalid; expected 2 <= k <= {feature_dim} (the pooled feature size)")
  n_val = int(dict(config.data.get("options", {}) or {}).get("num_val", 0) or 0)
  low = 4 * (int(c.p) + int(c.q)) + 10
  if int(c.n) < low or (n_val and int(c.n) > n_val):
    raise ValueError(f"causal.n={c.n!r} is invalid; expected {low} <= n <= the number of validation images"
                     + (f" ({n_val})" if n_val else ""))
  if not 0 < float(c.alpha) < 1 or int(c.draws) < 1 or min(int(c.p), int(c.q)) < 1:
    raise ValueError(f"causal.alpha={c.alpha!r}, draws={c.draws!r}, p={c.p!r}, q={c.q!r}; expected 0 < alpha < 1, "
                     "draws >= 1, lags >= 1")
  names = split_names(config.explain.methods)
  bad = [m for m in names if m not in ex.METHODS]
  if bad:
    raise ValueError(f"unknown explain method {bad[0]!r}; valid: {', '.join(sorted(ex.METHODS))}")
  if int(config.explain.num_examples) < 1:
    raise ValueError(f"explain.num_examples={config.explain.num_examples!r} is invalid; expected >= 1")


def check_sizes(config, s: problem.Setup) -> None:
  if int(config.causal.n) > len(s.val):
    raise ValueError(f"causal.n={config.causal.n!r} exceeds the {len(s.val)} validation images")
  if int(config.explain.num_examples) > len(s.test):
    raise ValueError(f"explain.num_examples={config.explain.num_examples!r} exceeds the {len(s.test)} test images")


def explanation_table(config, s: problem.Setup, state, preds: dict, out_dir: str) -> dict:
  """Explanation quality on the first test images (box masks), surrogate trees, activation maximization."""
  e = config.explain
  n = int(e.num_examples)
  x, y = s.test.images[:n], s.test.labels[:n]
  target = preds["test"]["logits"][:n].argmax(-1).astype(np.int32)
  masks = evaluation.box_masks(s.test.aux["boxes"][:n], x.shape[1:3])
  variables = state_lib.model_variables(state)
  kwargs = {"integrated_gradients": {"steps": int(e.ig_steps)}, "occlusion": {"patch": int(e.occlusion_patch), "stride": max(1, int(e.occlusion_patch) // 2)}}
  rows, maps = evaluation.explanation_quality(s.model, variables, x, target, split_names(e.methods), masks=masks,
                                              steps=int(e.deletion_steps), randomize=bool(e.sanity),
                                              key=jax.random.key(int(config.seed)), method_kwargs=kwargs)
  surrogates = []
  for name, ftr, fte in (("pooled features (256-d)", preds["train"]["features"], preds["test"]["features"]),
                         (f"PCA scores (k={int(config.causal.k)})", preds["train_pca"], preds["test_pca"])):
    r = evaluation.surrogate_tree(ftr, preds["train"]["logits"].argmax(-1), fte, preds["test"]["logits"].argmax(-1),
                                  s.test.labels, max_depth=int(e.surrogate_depth), seed=int(config.seed))
    surrogates.append({"features": name, **{k: v for k, v in r.items() if k != "tree"}})
  os.makedirs(out_dir, exist_ok=True)
  show = min(n, 8)
  save_examples(os.path.join(out_dir, "explanations.png"), x[:show], {k: v[:show] for k, v in maps.items()},
                [f"true {a} / pred {b}" for a, b in zip(y[:show], target[:show])], s.test.aux["boxes"][:show])
  am = ex.activation_maximization(s.model, variables, np.arange(s.num_classes), (s.num_classes, *x.shape[1:]),
                                  steps=int(e.actmax_steps), lr=0.02, l2=1e-3, tv=2e-3, blur_sigma=0.5, blur_every=4,
                                  jitter=2, normalize_grad=True, key=jax.random.key(int(config.seed)))
  report_lib.image_grid_figure(os.path.join(out_dir, "activation_maximization.png"),
                               [(f"class {c}: logit {am['score'][c]:.1f}", am["images"][c]) for c in range(s.num_classes)],
                               ncols=5)
  return {"rows": rows, "surrogates": surrogates, "num_examples": n,
          "activation_max_scores": am["score"].tolist()}


def train(config, workdir: str) -> dict:
  validate(config)
  s = problem.setup(config)
  check_sizes(config, s)
  workdir_lib.prepare(config, workdir)
  prob = problem.make_problem(config, s)
  res = loop.fit(prob, config, workdir, desc="causal_localization")
  state, step = res.state, int(res.state["step"])
  if res.best:
    state, step = loop.restore_state(prob, config, workdir, which="best")
  bs = int(config.eval.batch_size)
  preds, metrics = {}, {}
  for split, data in (("train", s.train), ("val", s.val), ("test", s.test)):
    preds[split], metrics[split] = problem.scores(s.model, state, data, bs)
  # baselines on the same test images
  test_pred = preds["test"]["logits"].argmax(-1)
  mean_boxes = baselines.mean_box(s.train.aux["boxes"], len(s.test))
  base = {"mean training box (class from the network)": B.localization_metrics(
      test_pred, mean_boxes, s.test.labels, s.test.aux["all_boxes"], s.test.aux["box_image"])}
  val_maps = baselines.cam_maps(s.model, state, s.val.images, preds["val"]["logits"].argmax(-1).astype(np.int32))
  t_best, t_table = baselines.tune_cam_threshold(val_maps, s.val)
  test_maps = baselines.cam_maps(s.model, state, s.test.images, test_pred.astype(np.int32))
  base[f"Grad-CAM box (threshold {t_best:g} chosen on val)"] = B.localization_metrics(
      test_pred, baselines.cam_boxes(test_maps, t_best), s.test.labels, s.test.aux["all_boxes"], s.test.aux["box_image"])
  # causal analysis + ablation
  c = config.causal
  ca = analysis.causal_analysis(preds["train"]["features"], preds["val"]["features"], s.val.labels, k=int(c.k),
                                n=int(c.n), p=int(c.p), q=int(c.q), alpha=float(c.alpha), draws=int(c.draws),
                                seed=int(config.seed))
  k = int(c.k)
  subsets = {f"all {k} components": list(range(k)),
             "Granger-significant, class order (paper)": analysis.involved(ca["first"]["class_order"]["significant"]),
             "Granger-significant, shuffled": analysis.involved(ca["first"]["shuffled"]["significant"])}
  ablation = analysis.linear_head_ablation(ca["pca"], preds["train"]["features"], s.train.labels,
                                           preds["val"]["features"], s.val.labels, preds["test"]["features"],
                                           s.test.labels, subsets, int(config.seed))
  analysis.draw_graphs(os.path.join(workdir, "granger_graphs.png"), ca["first"], k, float(c.alpha))
  analysis.draw_series(os.path.join(workdir, "pca_series.png"), ca["val_scores"], ca["first"])
  proj = lambda f: (f - ca["pca"]["mean"]) @ ca["pca"]["components"]
  preds["train_pca"], preds["test_pca"] = proj(preds["train"]["features"]), proj(preds["test"]["features"])
  xai = explanation_table(config, s, state, preds, workdir)
  save_examples(os.path.join(workdir, "boxes.png"), s.test.images[:8], {}, [
      f"{s.class_names[p]} ({'ok' if p == t else 'WRONG'}) IoU {i:.2f}" for p, t, i in
      zip(test_pred[:8], s.test.labels[:8], metrics["test"]["iou"][:8])], s.test.aux["boxes"][:8],
      pred_boxes=preds["test"]["pixel_boxes"][:8])
  strip = lambda m: {k2: v for k2, v in m.items() if k2 != "iou"}
  results = {
      "project": "causal_localization", "step": step, "train_seconds": res.seconds,
      "parameters": state_lib.count_params(state["params"]), "data": str(config.data.source),
      "sizes": {k2: len(v) for k2, v in (("train", s.train), ("val", s.val), ("test", s.test))},
      "metrics": {k2: strip(v) for k2, v in metrics.items()}, "baselines": {k2: strip(v) for k2, v in base.items()},
      "cam_threshold_table": t_table,
      "causal": {"fractions": {k2: v.tolist() for k2, v in ca["fractions"].items()}, "df": list(ca["df"]),
                 "k": k, "n": int(c.n), "p": int(c.p), "q": int(c.q), "alpha": float(c.alpha), "draws": int(c.draws),
                 "explained_variance_ratio": ca["explained_variance_ratio"].tolist(),
                 "first_p_class_order": ca["first"]["class_order"]["p_value"].tolist(),
                 "first_p_shuffled": ca["first"]["shuffled"]["p_value"].tolist(), "subsets": subsets},
      "ablation": ablation, "explain": xai,
      "verdicts": {"accuracy": claims.accuracy_verdict(metrics["val"]["accuracy"], metrics["test"]["accuracy"]),
                   "localization": claims.localization_verdict(metrics["test"]),
                   "causal": claims.causal_verdict(ca["fractions"], k * (k - 1), float(c.alpha))},
  }
  report_lib.write_json(os.path.join(workdir, "results.json"), results)
  return _write(workdir, results)


def _write(workdir: str, results: dict) -> dict:
  report_lib.write_report(workdir, *render(results))
  return results


def report(config, workdir: str) -> dict:
  return _write(workdir, report_lib.read_results(workdir))


def eval(config, workdir: str) -> dict:  # noqa: A001 (mode name)
  s = problem.setup(config)
  state, step = problem.restore(config, workdir, s)
  split = str(config.eval.split)
  data = {"train": s.train, "val": s.val, "test": s.test}.get(split)
  if data is None:
    raise ValueError(f"eval.split={split!r} is invalid; expected train, val or test")
  _, m = problem.scores(s.model, state, data, int(config.eval.batch_size))
  out = {"split": split, "step": int(step), **{k: v for k, v in m.items() if k != "iou"}}
  report_lib.write_json(os.path.join(workdir, "eval_results.json"), out)
  text = "\n".join([f"# causal_localization: checkpoint step {step} on the {split} split", "",
                    report_lib.markdown_table(["metric", "value"], [[k, v] for k, v in out.items()
                                                                   if k not in ("split", "step")], 4), ""])
  report_lib.write_text_atomic(os.path.join(workdir, "eval_results.md"), text)
  print(text)
  return out


def explain(config, workdir: str) -> dict:
  validate(config)
  s = problem.setup(config)
  check_sizes(config, s)
  state, _ = problem.restore(config, workdir, s)
  bs = int(config.eval.batch_size)
  preds = {split: problem.predict(s.model, state, d.images, bs) for split, d in (("train", s.train), ("test", s.test))}
  pca = granger.pca_eigh(preds["train"]["features"], int(config.causal.k))
  preds["train_pca"] = pca["scores"]
  preds["test_pca"] = (preds["test"]["features"] - pca["mean"]) @ pca["components"]
  out_dir = os.path.join(workdir, "explain")
  xai = explanation_table(config, s, state, preds, out_dir)
  text = explain_markdown(xai)
  report_lib.write_text_atomic(os.path.join(out_dir, "explain.md"), text)
  report_lib.write_json(os.path.join(out_dir, "explain.json"), xai)
  print(text)
  return xai
