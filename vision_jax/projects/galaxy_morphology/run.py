"""train / report / explain of galaxy_morphology (config.project = "galaxy_morphology").

train: renders (or reads the workdir's cache of) the GalSim cutouts, runs every network of
config.study.runs and every denoiser of config.study.denoisers as keyed sub-runs (workdir/runs/),
computes the explanations and their quality tables, and writes results.md / results.json / CSVs / PNGs.
report: re-renders results.md from results.json. explain: recomputes the explanation part (explain/).
"""

from __future__ import annotations

import json
import os

import jax
import numpy as np

from vision_jax import explain as ex
from vision_jax import report as report_lib
from vision_jax.data import classification as cls_data
from vision_jax.data import galaxies
from vision_jax.explain import evaluation
from vision_jax.projects.galaxy_morphology import claims, denoise, study as study_lib, xai
from vision_jax.projects.galaxy_morphology.report import render
from vision_jax.tasks.classify import common as classify
from vision_jax.train import workdir as workdir_lib


def data_key(config) -> str:
  import ml_collections
  return workdir_lib.fingerprint(ml_collections.ConfigDict({"data": config.data.to_dict()}))[:12]


def _cache_path(config, workdir: str) -> str:
  return os.path.join(workdir, "data", f"galaxies-{data_key(config)}.npz")


def load_splits(config, workdir: str) -> tuple[dict, bool]:
  """({split: ClassificationData}, read_from_cache). GalSim renders are cached in workdir/data/."""
  path = _cache_path(config, workdir)
  if os.path.exists(path):
    with np.load(path, allow_pickle=False) as f:
      splits = {s: cls_data.ClassificationData(f[f"{s}_images"], f[f"{s}_labels"], galaxies.CLASS_NAMES,
                                               f[f"{s}_masks"] if f"{s}_masks" in f.files else None)
                for s in ("train", "val", "test")}
    return splits, True
  d = config.data
  kw = dict(d.options or {})
  out = {}
  for split in ("train", "val", "test"):
    try:
      out[split] = cls_data.load_classification(str(d.source), split, image_size=int(d.image_size) or None,
                                                seed=int(d.seed), **kw)
    except TypeError as e:
      raise ValueError(f"data.options {sorted(kw)} has a field source {d.source!r} does not take ({e})") from None
  for split, data in out.items():
    if data.images.shape[-1] != 3 or data.num_classes != 2:
      raise ValueError(f"{split} split of {d.source!r} has {data.images.shape[-1]} channels and {data.num_classes} "
                       "classes; expected 3-band cutouts of 2 classes (Elliptical, Other)")
  return out, False


def save_cache(config, workdir: str, splits: dict) -> None:
  path = _cache_path(config, workdir)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  arrays = {}
  for s, d in splits.items():
    arrays[f"{s}_images"], arrays[f"{s}_labels"] = d.images, d.labels
    if d.masks is not None:
      arrays[f"{s}_masks"] = d.masks
  np.savez(path + ".tmp.npz", **arrays)
  os.replace(path + ".tmp.npz", path)


def validate(config) -> None:
  study_lib.run_names(config)
  study_lib.denoiser_names(config)
  for key in ("epochs", "finetune_epochs", "pretrain_epochs", "pretrain_images", "tune_images"):
    if int(config.study[key]) < 1:
      raise ValueError(f"study.{key}={config.study[key]!r} is invalid; expected >= 1")
  e = config.explain
  if int(e.num_examples) < 2:
    raise ValueError(f"explain.num_examples={e.num_examples!r} is invalid; expected >= 2")
  if not str(config.data.source).startswith(("galsim:", "galaxy_folder:")):
    raise ValueError(f"data.source={config.data.source!r} is invalid; expected galsim:morphology or galaxy_folder:ROOT")


def clean_val_images(config, n: int) -> np.ndarray | None:
  """Noiseless renders of the first n validation cutouts (None for real data): denoiser tuning targets."""
  if not str(config.data.source).startswith("galsim:"):
    return None
  opts = dict(config.data.options or {})
  num_val = int(opts.pop("num_val", 0)) or galaxies.SPLIT_SIZES["val"]
  for k in ("num_train", "num_test"):
    opts.pop(k, None)
  images, _, _, _ = galaxies.render_split("val", num_val, seed=int(config.data.seed), size=int(config.data.image_size),
                                          noiseless=True, indices=np.arange(n), **opts)
  return images


def explanations(config, st: study_lib.Study, out_dir: str) -> dict:
  """The explanation figures and quality tables of CNN-2, the ViT and the fine-tuned ResNet50."""
  e = config.explain
  test = st.splits["test"]
  n = min(int(e.num_examples), len(test))
  x, y = test.images[:n], test.labels[:n]
  masks = test.masks[:n] if test.masks is not None else None
  seed, steps = int(config.seed), int(e.deletion_steps)
  os.makedirs(out_dir, exist_ok=True)
  out = {"tables": {}, "completeness": {}}
  ig = lambda m, v, xx, t: xai.ig_blur(m, v, xx, t, steps=int(e.ig_steps))
  plans = {
      "cnn2": {"grad_cam + TV (0.1)": xai.grad_cam_tv, "integrated_gradients (m, black) + blur": ig,
               "saliency": ex.METHODS["saliency"]},
      "vit": {"attention_rollout": ex.METHODS["attention_rollout"], "grad_cam (tokens)": ex.METHODS["grad_cam"]},
      "resnet50_finetuned": {"integrated_gradients (m, black) + blur": ig, "grad_cam": ex.METHODS["grad_cam"]},
  }
  for name, methods in plans.items():
    if name not in st.states:
      continue
    model, state, _ = st.states[name]
    variables = {"params": state["params"], **({"batch_stats": state["batch_stats"]} if state.get("batch_stats") else {})}
    if name == "cnn2" and int(e.lime_samples):
      pred = np.asarray(model.apply(variables, x, train=False)[0]).argmax(-1)
      methods = {**methods, "lime (SLIC)": xai.lime_maps(model, variables, x, pred, int(e.lime_samples), seed)}
    rows, info = xai.quality(model, state, x, y, masks, methods, steps=steps, seed=seed, sanity=bool(e.sanity))
    out["tables"][name] = {"rows": rows, "accuracy_on_examples": info["accuracy"]}
    if "integrated_gradients (m, black) + blur" in methods:
      comp = xai.ig_completeness(model, variables, x, info["target"], steps=int(e.ig_steps))
      out["completeness"][name] = {"mean": float(comp.mean()), "max": float(comp.max()), "steps": int(e.ig_steps)}
    show = min(n, 8)
    xai.overlay_figure(os.path.join(out_dir, f"explain_{name}.png"), x[:show],
                       {k: v[:show] for k, v in info["maps"].items()},
                       [f"{galaxies.CLASS_NAMES[a][:4]} / pred {galaxies.CLASS_NAMES[b][:4]}"
                        for a, b in zip(y[:show], info["target"][:show])])
  if "cnn2" in st.states:
    model, state, _ = st.states["cnn2"]
    variables = {"params": state["params"], "batch_stats": state["batch_stats"]}
    out["activation_layers"] = xai.activation_grid(os.path.join(out_dir, "activations_cnn2.png"), model, state, x[0])
    am = ex.activation_maximization(model, variables, np.arange(2), (2, *x.shape[1:]), steps=int(e.actmax_steps),
                                    lr=0.02, l2=1e-3, tv=2e-3, blur_sigma=0.5, blur_every=4, jitter=2,
                                    normalize_grad=True, init=xai.SKY_LEVEL, key=jax.random.key(seed))
    report_lib.image_grid_figure(os.path.join(out_dir, "activation_maximization_cnn2.png"),
                                 [(f"{galaxies.CLASS_NAMES[c]}: logit {am['score'][c]:.1f}", am["images"][c][..., ::-1])
                                  for c in range(2)], ncols=2)
    tr = st.splits["train"]
    bs = int(config.eval.batch_size)
    feats = lambda imgs: _pre_logits(model, variables, imgs, bs)
    ftr, fte = feats(tr.images), feats(test.images)
    ptr = classify.predict_logits(model, state, tr.images, bs).argmax(-1)
    pte = classify.predict_logits(model, state, test.images, bs).argmax(-1)
    sur = evaluation.surrogate_tree(ftr, ptr, fte, pte, test.labels, max_depth=int(e.surrogate_depth), seed=seed)
    out["surrogate"] = {k: v for k, v in sur.items() if k != "tree"}
  return out


def _pre_logits(model, variables, images, bs):
  fn = jax.jit(lambda xx: model.apply(variables, xx, train=False)[1]["pre_logits"])
  return np.concatenate([np.asarray(fn(images[i:i + bs])) for i in range(0, len(images), bs)]).astype(np.float64)


def denoiser_part(config, st: study_lib.Study) -> dict:
  names = study_lib.denoiser_names(config)
  if not names:
    return {"rows": [], "tuning": {}}
  k = int(config.study.tune_images)
  noisy = st.splits["val"].images[:k]
  clean = clean_val_images(config, k)
  tuning = {}
  for name in names:
    tuning[name] = denoise.tune(name, noisy, clean) if clean is not None else {
        "setting": denoise.GRIDS[name][len(denoise.GRIDS[name]) // 2], "val_psnr": None, "noisy_psnr": None}
  base = st.run("resnet50_finetuned")
  labels = st.splits["test"].labels
  rows, pvals = [], {}
  for name in names:
    r = st.denoiser_run(name, tuning[name])
    mc = claims.mcnemar_exact(base["test"]["predictions"], r["test"]["predictions"], labels)
    pvals[name] = mc["p_value"]
    rows.append({"denoiser": name, "setting": tuning[name]["setting"], "val_psnr": tuning[name]["val_psnr"],
                 "val_accuracy": r["val"]["accuracy"], "test_accuracy": r["test"]["accuracy"],
                 "test_correct": r["test"]["correct"], "n": r["test"]["n"], "mcnemar": mc,
                 "f1": r["test"]["f1"], "name": r["name"]})
  adjusted = claims.holm(pvals)
  for row in rows:
    row["holm_p"] = adjusted[row["denoiser"]]
  return {"rows": rows, "tuning": tuning, "noisy_psnr": next(iter(tuning.values()))["noisy_psnr"],
          "base": {"correct": int(base["test"]["correct"]), "n": int(base["test"]["n"])}}


def train(config, workdir: str) -> dict:
  validate(config)
  splits, cached = load_splits(config, workdir)
  workdir_lib.prepare(config, workdir)
  if not cached:
    save_cache(config, workdir, splits)
  st = study_lib.Study(config, workdir, splits, data_key(config))
  for name in study_lib.run_names(config):
    st.run(name)
  dn = denoiser_part(config, st)
  xp = explanations(config, st, workdir)
  results = {"project": "galaxy_morphology", "data": str(config.data.source),
             "sizes": {s: len(d) for s, d in splits.items()},
             "class_balance": {s: np.bincount(d.labels, minlength=2).tolist() for s, d in splits.items()},
             "runs": {k: {kk: vv for kk, vv in v.items()} for k, v in st.results.items()},
             "denoisers": dn, "explain": xp,
             "study": config.study.to_dict(), "model": config.model.to_dict()}
  results["verdicts"] = {"table": claims.table_verdict(results["runs"]),
                         "denoisers": claims.denoiser_verdict(dn["rows"], base=dn.get("base"))}
  report_lib.write_json(os.path.join(workdir, "results.json"), _jsonable(results))
  return _write(workdir, results)


def _jsonable(results: dict) -> dict:
  out = json.loads(json.dumps(results, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))
  return out


def _write(workdir: str, results: dict) -> dict:
  report_lib.write_report(workdir, *render(results))
  return results


def report(config, workdir: str) -> dict:
  return _write(workdir, report_lib.read_results(workdir))


def explain(config, workdir: str) -> dict:
  """Recomputes the explanations of the finished sub-runs (reads them back; trains nothing new)."""
  validate(config)
  splits, cached = load_splits(config, workdir)
  if not cached:
    raise FileNotFoundError(f"{_cache_path(config, workdir)} is missing; run --mode=train first")
  st = study_lib.Study(config, workdir, splits, data_key(config), read_only=True)
  for name in study_lib.run_names(config):
    st.run(name)  # finished sub-runs are read back; a missing one is an error, never trained
  xp = explanations(config, st, os.path.join(workdir, "explain"))
  report_lib.write_json(os.path.join(workdir, "explain", "explain.json"), xp)
  from vision_jax.projects.galaxy_morphology.report import explain_markdown
  text = explain_markdown(xp)
  report_lib.write_text_atomic(os.path.join(workdir, "explain", "explain.md"), text)
  print(text)
  return xp

