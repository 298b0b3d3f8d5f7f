"""train / report of exoplanet_vetting: global views -> VGG19-1D features -> 2-D t-SNE -> CFM + XGBoost,
under each protocol of config.protocols (see protocols.py), with the baselines measured in the same run.

For each protocol: split the views (protocols.make_split), train VGG19-1D with the generic loop on
what the protocol lets it see (a keyed sub-run `cnn-<key>-<fingerprint>`, shared by protocols with
the same key and resumed if interrupted), extract the flattened features, embed them in 2-D
(embedding.py), then classify the test coordinates with the flow-matching classifier
(flow_matching.py) and a plain XGBoost fitted on the same training coordinates; the CNN's own
softmax head on the test views is the third row. Results go to workdir/results.{md,json} and
embeddings.png (report.py).
"""

from __future__ import annotations

import functools
import os
import time
import types

import jax
import ml_collections
import numpy as np

from vision_jax.config_utils import split_names
from vision_jax.data import batching, lightcurve_sim as sim, lightcurves as lc
from vision_jax.metrics import classification as cm
from vision_jax.projects.exoplanet_vetting import embedding, protocols as protocols_lib, report
from vision_jax.projects.exoplanet_vetting.flow_matching import ForestFlowClassifier
from vision_jax.projects.exoplanet_vetting.vgg1d import VGG1D, feature_dim
from vision_jax.tasks.classify import common as classify
from vision_jax.train import loop, state as state_lib, workdir as workdir_lib
from vision_jax.train.state import apply_model

CNN_FIELDS = ("seed", "data", "model", "loss", "optim", "train", "mesh", "distributed", "tensorboard", "resume")


# ----------------------------------------------------------------------------- validation and data
def build_model(config) -> VGG1D:
  try:
    return VGG1D(num_classes=len(sim.CLASSES), **dict(config.model.kwargs))
  except TypeError as e:
    raise ValueError(f"config.model.kwargs {sorted(config.model.kwargs)} has a field VGG1D does not take ({e})") from None


def flow_classifier(config) -> ForestFlowClassifier:
  c = config.cfm
  return ForestFlowClassifier(n_t=int(c.n_t), duplicate_K=int(c.duplicate_K), n_estimators=int(c.n_estimators),
                              max_depth=int(c.max_depth), eta=float(c.eta), n_t_predict=int(c.n_t_predict),
                              n_z=int(c.n_z), seed=int(c.seed), n_jobs=int(config.cpu_threads))


def validate(config) -> list:
  """Checks protocols, data source, model, optimizer and the classifier fields (one-line errors);
  returns the Protocol objects."""
  protos = [protocols_lib.get_protocol(n) for n in split_names(config.protocols)]
  if not protos:
    raise ValueError(f"protocols={config.protocols!r} names no protocol; valid: {', '.join(protocols_lib.PROTOCOLS)}")
  source = str(config.data.source)
  scheme, _, path = source.partition(":")
  if source != "simulated" and scheme not in ("npz", "csv"):
    raise ValueError(f"data.source={source!r}; expected 'simulated', 'npz:PATH' or 'csv:PATH'")
  if scheme in ("npz", "csv") and not os.path.isfile(path):
    raise FileNotFoundError(f"data.source file not found: {path!r}")
  if source == "simulated" and int(config.data.num_curves) < 30:
    raise ValueError(f"data.num_curves={config.data.num_curves}; expected >= 30 simulated curves")
  if int(config.train.epochs) < 1 or int(config.data.batch_size) < 1:
    raise ValueError(f"train.epochs={config.train.epochs!r}, data.batch_size={config.data.batch_size!r}; "
                     "expected both >= 1")
  state_lib.make_optimizer(config.optim, 1)
  model = build_model(config)
  jax.eval_shape(lambda x: model.init(jax.random.key(0), x), np.zeros((1, lc.VIEW_LENGTH, 1), np.float32))
  flow_classifier(config)
  if float(config.tsne.perplexity) <= 0 or int(config.tsne.max_iter) < 250:
    raise ValueError(f"tsne.perplexity={config.tsne.perplexity}, tsne.max_iter={config.tsne.max_iter}; "
                     "expected perplexity > 0 and max_iter >= 250 (scikit-learn's minimum)")
  if int(config.knn.k) < 1 or int(config.cpu_threads) < 1:
    raise ValueError(f"knn.k={config.knn.k}, cpu_threads={config.cpu_threads}; expected both >= 1")
  return protos


def load_views(config, workdir: str, progress: bool) -> dict:
  """{"views" (N, 201), "labels" (N,), "class_names", "meta"}: simulated (cached in workdir/views.npz)
  or an npz / csv file of real global views."""
  source = str(config.data.source)
  if source != "simulated":
    views, labels, names = lc.load_global_views(source.partition(":")[2], tuple(sim.CLASSES))
    return {"views": views, "labels": labels, "class_names": names, "meta": {}}
  cache = os.path.join(workdir, "views.npz")
  if os.path.exists(cache):
    with np.load(cache, allow_pickle=False) as f:
      data = {k: f[k] for k in f.files}
  else:
    data = sim.simulate_views(int(config.data.num_curves), int(config.data.seed), progress=progress,
                              days_range=(float(config.data.days_min), float(config.data.days_max)))
    np.savez(cache, **data)
  meta = {k: data[k] for k in ("snr", "depth", "kind", "period")}
  return {"views": data["views"], "labels": data["labels"], "class_names": sim.CLASSES, "meta": meta}


# ----------------------------------------------------------------------------- the CNN (generic loop)
def make_batch_fn(views: np.ndarray, labels: np.ndarray, batch_size: int, seed: int):
  """batch_fn(step) -> {"image": (B, 201, 1), "label": (B,)}: epoch e = step // (N // B) visits the
  views in np.random.default_rng([seed, e]).permutation(N) order (a pure function of the step)."""
  indices = batching.epoch_batches(len(labels), int(batch_size), seed)

  def batch_fn(step):
    _, _, idx = indices(step)
    return {"image": views[idx, :, None].astype(np.float32), "label": labels[idx]}

  return batch_fn


def cnn_config(config, key: str, n_train: int):
  """The CNN sub-run's config: the fields that change the CNN, its data key and the step count
  train.epochs x (n_train // batch)."""
  sub = ml_collections.ConfigDict({k: config[k].to_dict() if hasattr(config[k], "to_dict") else config[k]
                                   for k in CNN_FIELDS if k in config})
  sub.cnn_data = key
  bs = min(int(config.data.batch_size), n_train)
  sub.train.steps = int(config.train.epochs) * max(n_train // bs, 1)
  sub.data.batch_size = bs
  return sub


@functools.partial(jax.jit, static_argnames=("model",))
def _forward(model, params, batch_stats, x):
  logits, aux, _ = apply_model(model, params, batch_stats, x, False)
  return logits, aux["pooled"]


def forward(model, state, views: np.ndarray, batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
  """(logits (N, 3), flattened features (N, D)) of views (N, 201), in eval mode, in fixed-size batches."""
  fn = lambda chunk: _forward(model, state["params"], state.get("batch_stats", {}), chunk)
  return batching.predict_in_batches(fn, np.asarray(views, np.float32)[:, :, None], batch_size)


def train_cnn(config, workdir: str, key: str, views: np.ndarray, labels: np.ndarray):
  """Trains VGG19-1D on (views, labels) in workdir/cnn-<key>-<fingerprint[:10]> (resumes); returns
  (model, final state, info). The paper keeps the last epoch's features, so no selection."""
  model = build_model(config)
  sub = cnn_config(config, key, len(labels))
  out_dir = os.path.join(workdir, f"cnn-{key}-{workdir_lib.fingerprint(sub)[:10]}")
  workdir_lib.prepare(sub, out_dir)
  weights = classify.class_weights_of(config, types.SimpleNamespace(labels=labels), len(sim.CLASSES))
  problem = loop.TrainProblem(model, np.zeros((1, lc.VIEW_LENGTH, 1), np.float32),
                              classify.make_loss_fn(model, sub, weights),
                              make_batch_fn(views, labels, sub.data.batch_size, int(config.seed)))
  res = loop.fit(problem, sub, out_dir, desc=f"vgg19_1d [{key}]")
  info = {"dir": os.path.basename(out_dir), "steps": int(sub.train.steps), "train_samples": int(len(labels)),
          "train_seconds": res.seconds, "parameters": state_lib.count_params(res.state["params"]),
          "class_weights": None if weights is None else [float(w) for w in weights]}
  return model, res.state, info


# ----------------------------------------------------------------------------- one protocol
def class_scores(y: np.ndarray, pred: np.ndarray, k: int) -> dict:
  """Per-class precision / recall / F1 / support / misclassification rate (FP + FN) / N_class, their
  macro means, accuracy and the confusion matrix (rows true)."""
  p, r, f1 = (np.asarray(v, np.float64) for v in cm.precision_recall_f1(y, pred, k, None))
  conf = np.asarray(cm.confusion_matrix(y, pred, k))
  support = conf.sum(1)
  diag = np.diag(conf)
  mis = (conf.sum(0) - diag + support - diag) / np.maximum(support, 1)
  return {"precision": p.tolist(), "recall": r.tolist(), "f1": f1.tolist(), "support": support.tolist(),
          "misclassification": mis.tolist(), "macro_precision": float(p.mean()), "macro_recall": float(r.mean()),
          "macro_f1": float(f1.mean()), "accuracy": float(diag.sum() / max(conf.sum(), 1)),
          "confusion": conf.tolist()}


def embed(config, protocol, f_train: np.ndarray, f_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """(train coordinates, test coordinates) by the protocol's embedding rule."""
  kw = dict(perplexity=float(config.tsne.perplexity), max_iter=int(config.tsne.max_iter), seed=int(config.tsne.seed),
            n_threads=int(config.cpu_threads))
  if protocol.embedding == "joint":
    both = embedding.tsne(np.concatenate([f_train, f_test]), **kw)
    return both[:len(f_train)], both[len(f_train):]
  train_emb = embedding.tsne(f_train, **kw)
  if protocol.embedding == "two_runs":
    return train_emb, embedding.tsne(np.concatenate([f_train, f_test]), **kw)[len(f_train):]
  return train_emb, embedding.knn_place(f_train, train_emb, f_test, int(config.knn.k))


def run_protocol(config, workdir: str, protocol, data: dict, progress: bool) -> tuple[dict, dict]:
  """(results, arrays) of one protocol: CNN, embedding, CFM / XGBoost / CNN-head scores on its test set."""
  import xgboost as xgb
  k = len(sim.CLASSES)
  split = protocols_lib.make_split(protocol, data["views"], data["labels"], test_fraction=float(config.data.test_fraction),
                                   seed=int(config.data.seed), reflect_pc=bool(config.data.reflect_pc))
  if protocol.cnn_sees_test:
    cnn_views = np.concatenate([split.train_views, split.test_views])
    cnn_labels = np.concatenate([split.train_labels, split.test_labels])
  else:
    cnn_views, cnn_labels = split.train_views, split.train_labels
  model, state, cnn_info = train_cnn(config, workdir, protocol.cnn_key, cnn_views, cnn_labels)
  bs = int(config.eval.batch_size)
  logits_cnn_train, _ = forward(model, state, cnn_views, bs)
  _, f_train = forward(model, state, split.train_views, bs)
  logits_test, f_test = forward(model, state, split.test_views, bs)
  t0 = time.time()
  e_train, e_test = embed(config, protocol, f_train, f_test)
  t_embed = time.time() - t0
  y_tr, y_te = split.train_labels, split.test_labels
  t0 = time.time()
  cfm = flow_classifier(config).fit(e_train, y_tr, progress=progress)
  pred_cfm = cfm.predict(e_test)
  t_cfm = time.time() - t0
  x = config.xgb
  booster = xgb.XGBClassifier(n_estimators=int(x.n_estimators), max_depth=int(x.max_depth), learning_rate=float(x.eta),
                              random_state=int(x.seed), n_jobs=int(config.cpu_threads)).fit(e_train, y_tr)
  pred_xgb = booster.predict(e_test)
  sil_tsne_test = embedding.silhouette(e_test, y_te) if len(np.unique(y_te)) > 1 else float("nan")
  results = {
      "protocol": protocol.name, "label": protocol.label, "data": protocol.data,
      "train_samples": int(len(y_tr)), "test_samples": int(len(y_te)),
      "test_counts": np.bincount(y_te, minlength=k).tolist(), "train_counts": np.bincount(y_tr, minlength=k).tolist(),
      "test_with_twin_in_train": split.twins_in_train(), "feature_dim": int(f_train.shape[1]),
      "cnn": {**cnn_info, "accuracy_on_its_training_data": float((logits_cnn_train.argmax(1) == cnn_labels).mean())},
      "seconds": {"embedding": t_embed, "cfm": t_cfm},
      "silhouette": {"tsne_train": embedding.silhouette(e_train, y_tr), "tsne_test": sil_tsne_test},
      "methods": {"CFM + XGBoost (paper's classifier)": class_scores(y_te, pred_cfm, k),
                  "XGBoost on the same 2-D coordinates": class_scores(y_te, pred_xgb, k),
                  "VGG19-1D softmax head (no t-SNE)": class_scores(y_te, logits_test.argmax(1), k)},
  }
  if protocol.name == "heldout":  # the paper's PCA comparison, on honest features
    p_train, p_test, sd = embedding.pca_2d(f_train, f_test)
    results["pca"] = {"sd": sd.tolist(), "silhouette_train": embedding.silhouette(p_train, y_tr),
                      "silhouette_test": embedding.silhouette(p_test, y_te) if len(np.unique(y_te)) > 1 else float("nan")}
  arrays = {"train_embedding": e_train, "test_embedding": e_test, "train_labels": y_tr, "test_labels": y_te}
  return results, arrays


# ----------------------------------------------------------------------------- modes
def train(config, workdir: str):
  """Runs every protocol of config.protocols and writes results.md / results.json / embeddings.png."""
  from threadpoolctl import threadpool_limits
  protos = validate(config)
  workdir_lib.prepare(config, workdir)
  progress = bool(config.train.progress)
  t0 = time.time()
  out = {"protocols": {}}
  with threadpool_limits(limits=int(config.cpu_threads)):  # BLAS / OpenMP pools of NumPy, t-SNE and XGBoost
    data = load_views(config, workdir, progress)
    out["data"] = report.describe_data(config, data)
    for p in protos:
      res, arrays = run_protocol(config, workdir, p, data, progress)
      out["protocols"][p.name] = res
      np.savez(os.path.join(workdir, f"embedding_{p.name}.npz"), **arrays)
  out["total_seconds"] = time.time() - t0
  out["feature_dim_full_width"] = feature_dim(VGG1D())
  return report.write(config, workdir, out)


def report_mode(config, workdir: str):
  """--mode=report: re-renders results.md and embeddings.png from results.json (nothing is refitted)."""
  return report.rerender(config, workdir)


MODES = {"train": train, "report": report_mode}
