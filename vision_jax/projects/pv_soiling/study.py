"""train / report of pv_soiling: the 10-seed study, the domain-shift test, the Soiling Index bands and the
arithmetic audit of the paper's tables.

For each seed of config.study.seeds (the paper: 100-109): the seen set's stratified 70/15/15 split
with that seed; the Random Forest on the hand-crafted features of the training images
(random_state = seed); the MobileNetV3-Small of that seed (cnn.train_seed, a keyed sub-run); then
p(dusty) of both branches on every seen and unseen image, the OR fusion and SI, and the scores under
each protocol (protocols.py) and on the unseen (domain-shifted) set. Per-seed values -> mean, sd and
the t-based 95 % CI as the paper computes them (fusion.t_interval).
"""

from __future__ import annotations

import os
import time

import numpy as np

from vision_jax.config_utils import split_names
from vision_jax.data import classification as data_lib
from vision_jax.models import get_classifier
from vision_jax.projects.pv_soiling import audit, cnn, data, features, fusion, protocols as protocols_lib, report
from vision_jax.train import workdir as workdir_lib

MODELS = ("RF", "CNN", "OR")


def seeds_of(config) -> list[int]:
  try:
    seeds = [int(s) for s in split_names(config.study.seeds)]
  except ValueError:
    raise ValueError(f"study.seeds={config.study.seeds!r}; expected comma-separated integers") from None
  if len(seeds) < 2 or len(set(seeds)) != len(seeds):
    raise ValueError(f"study.seeds={config.study.seeds!r}; expected at least 2 distinct seeds (the paper: 100-109)")
  return seeds


def set_options(config, which: str) -> dict:
  o = config.data.options if which == "seen" else config.data.unseen_options
  return {"num_clean": int(o.num_clean), "num_dusty": int(o.num_dusty), "render_size": int(o.render_size),
          "generator_seed": int(o.generator_seed)}


def validate(config) -> list:
  """One-line errors for protocols, seeds, sources, model and RF fields, before anything is written."""
  protos = [protocols_lib.get_protocol(n) for n in split_names(config.protocols)]
  if not protos:
    raise ValueError(f"protocols={config.protocols!r} names no protocol; valid: {', '.join(protocols_lib.PROTOCOLS)}")
  seeds_of(config)
  for key in ("source", "unseen_source"):
    src = data.panel_source(config.data[key])
    if src.startswith("folder:") and not os.path.isdir(src[len("folder:"):]):
      raise FileNotFoundError(f"data.{key} folder not found: {src[len('folder:'):]!r}")
  for which in ("seen", "unseen"):
    o = set_options(config, which)
    if min(o["num_clean"], o["num_dusty"]) < 8 or o["render_size"] < 32:
      raise ValueError(f"data.{'options' if which == 'seen' else 'unseen_options'} {o}; expected >= 8 images per "
                       "class and render_size >= 32")
  get_classifier(str(config.model.name), 2)
  if min(int(config.rf.n_estimators), int(config.train.epochs), int(config.cpu_threads)) < 1:
    raise ValueError(f"rf.n_estimators={config.rf.n_estimators}, train.epochs={config.train.epochs}, "
                     f"cpu_threads={config.cpu_threads}; expected all >= 1")
  return protos


def feature_cache(workdir: str, seen: dict, unseen: dict, progress: bool) -> tuple[np.ndarray, np.ndarray]:
  """(seen features (N, 15), unseen features (M, 15)), cached in workdir/features.npz."""
  path = os.path.join(workdir, "features.npz")
  if os.path.exists(path):
    with np.load(path, allow_pickle=False) as f:
      return f["seen"], f["unseen"]
  x_seen = features.feature_matrix(seen["images"], progress)
  x_unseen = features.feature_matrix(unseen["images"], progress)
  np.savez(path, seen=x_seen, unseen=x_unseen)
  return x_seen, x_unseen


def branch_scores(labels: np.ndarray, p_rf: np.ndarray, p_cnn: np.ndarray) -> dict:
  """{RF, CNN, OR: binary scores}; the OR row uses or_fusion of the 0.5 decisions and AUC of max(p)."""
  pr, pc = fusion.decide(p_rf), fusion.decide(p_cnn)
  return {"RF": fusion.binary_scores(labels, pr, p_rf), "CNN": fusion.binary_scores(labels, pc, p_cnn),
          "OR": fusion.binary_scores(labels, fusion.or_fusion(pr, pc), fusion.ensemble_probability(p_rf, p_cnn))}


def invariants(labels: np.ndarray, p_rf: np.ndarray, p_cnn: np.ndarray, scores: dict) -> dict:
  """The OR rule's identities on measured predictions: recall and FP never below a member's, and
  OR == (SI >= 50) image by image."""
  or_pred = fusion.or_fusion(fusion.decide(p_rf), fusion.decide(p_cnn))
  si = fusion.soiling_index(p_rf, p_cnn)
  return {"recall_ge_members": scores["OR"]["dusty_recall"] >= max(scores["RF"]["dusty_recall"],
                                                                   scores["CNN"]["dusty_recall"]),
          "fp_ge_members": scores["OR"]["fp"] >= max(scores["RF"]["fp"], scores["CNN"]["fp"]),
          "or_vs_si50_mismatches": int(np.sum(or_pred != (si >= 50.0))),
          "rf_ties_at_half": int(np.sum(np.isclose(p_rf, 0.5)))}


def run_seed(config, workdir: str, seed: int, seen: dict, unseen: dict, x_seen, x_unseen, protos, progress) -> dict:
  """Everything measured for one seed (the probabilities are saved in workdir/seed_<seed>.npz)."""
  t0 = time.time()
  y = seen["labels"]
  train_idx = data_lib.stratified_split(y, "train", seed)
  rf = features.random_forest(seed, int(config.rf.n_estimators), int(config.cpu_threads))
  rf.fit(x_seen[train_idx], y[train_idx])
  dusty_col = list(rf.classes_).index(1)
  p_rf_seen, p_rf_unseen = rf.predict_proba(x_seen)[:, dusty_col], rf.predict_proba(x_unseen)[:, dusty_col]
  s, state, cnn_info = cnn.train_seed(config, workdir, seed, progress)
  size, bs = int(config.data.image_size), int(config.eval.batch_size)
  p_cnn_seen = cnn.dusty_probability(s, state, seen["images"], size, bs)
  p_cnn_unseen = cnn.dusty_probability(s, state, unseen["images"], size, bs)
  np.savez(os.path.join(workdir, f"seed_{seed}.npz"), p_rf_seen=p_rf_seen, p_cnn_seen=p_cnn_seen,
           p_rf_unseen=p_rf_unseen, p_cnn_unseen=p_cnn_unseen)
  out = {"seed": seed, "cnn": cnn_info, "protocols": {}}
  for p in protos:
    idx = p.indices(y, seed)
    sc = branch_scores(y[idx], p_rf_seen[idx], p_cnn_seen[idx])
    out["protocols"][p.name] = {"scores": sc, "invariants": invariants(y[idx], p_rf_seen[idx], p_cnn_seen[idx], sc)}
  yu = unseen["labels"]
  sc = branch_scores(yu, p_rf_unseen, p_cnn_unseen)
  out["unseen"] = {"scores": sc, "invariants": invariants(yu, p_rf_unseen, p_cnn_unseen, sc)}
  test = data_lib.stratified_split(y, "test", seed)
  or_test = fusion.or_fusion(fusion.decide(p_rf_seen[test]), fusion.decide(p_cnn_seen[test]))
  out["bands_test"] = fusion.band_table(fusion.soiling_index(p_rf_seen[test], p_cnn_seen[test]), y[test], or_test)
  or_unseen = fusion.or_fusion(fusion.decide(p_rf_unseen), fusion.decide(p_cnn_unseen))
  out["bands_unseen"] = fusion.band_table(fusion.soiling_index(p_rf_unseen, p_cnn_unseen), yu, or_unseen)
  out["seconds"] = time.time() - t0
  return out


METRICS = ("accuracy", "dusty_recall", "dusty_f1", "auc", "specificity", "fp", "fn")


def aggregate(per_seed: list, where) -> dict:
  """{model: {metric: t_interval over seeds}} of the scores picked by where(seed_result)."""
  return {m: {k: fusion.t_interval([where(r)[m][k] for r in per_seed]) for k in METRICS} for m in MODELS}


def pooled_bands(per_seed: list, key: str) -> list[dict]:
  rows = [dict(b) for b in per_seed[0][key]]
  for r in per_seed[1:]:
    for row, b in zip(rows, r[key]):
      for k in ("panels", "true_clean", "true_dusty", "or_says_clean"):
        row[k] += b[k]
  return rows


def train(config, workdir: str):
  """Runs every seed, then writes results.md / results.json / per_seed.csv (report.py)."""
  from threadpoolctl import threadpool_limits
  protos = validate(config)
  workdir_lib.prepare(config, workdir)
  progress = bool(config.train.progress)
  t0 = time.time()
  with threadpool_limits(limits=int(config.cpu_threads)):  # NumPy BLAS / OpenMP pools (rendering, features, RF)
    seen = data.load_panels(data.panel_source(config.data.source), **set_options(config, "seen"), progress=progress)
    unseen = data.load_panels(data.panel_source(config.data.unseen_source), **set_options(config, "unseen"),
                              progress=progress)
    x_seen, x_unseen = feature_cache(workdir, seen, unseen, progress)
    t_data = time.time() - t0
    per_seed = [run_seed(config, workdir, seed, seen, unseen, x_seen, x_unseen, protos, progress)
                for seed in seeds_of(config)]
  out = {
      "data": {"seen_counts": np.bincount(seen["labels"], minlength=2).tolist(),
               "unseen_counts": np.bincount(unseen["labels"], minlength=2).tolist(),
               "test_counts": np.bincount(seen["labels"][data_lib.stratified_split(seen["labels"], "test",
                                                                                   per_seed[0]["seed"])], minlength=2).tolist(),
               "source": str(config.data.source), "unseen_source": str(config.data.unseen_source)},
      "protocols": {p.name: {"label": p.label, "stats": aggregate(per_seed, lambda r, n=p.name: r["protocols"][n]["scores"])}
                    for p in protos},
      "unseen": aggregate(per_seed, lambda r: r["unseen"]["scores"]),
      "bands_test": pooled_bands(per_seed, "bands_test"), "bands_unseen": pooled_bands(per_seed, "bands_unseen"),
      "per_seed": per_seed, "audit": audit.run_audit(),
      "seconds": {"data_and_features": t_data, "total": time.time() - t0},
  }
  return report.write(config, workdir, out)


def report_mode(config, workdir: str):
  """--mode=report: re-renders results.md from results.json (nothing is refitted)."""
  return report.rerender(config, workdir)


MODES = {"train": train, "report": report_mode}
