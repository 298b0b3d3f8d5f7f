"""Runs the galaxy study: pretraining, the slides' networks, the ViT and the denoiser variants, each a
keyed sub-run in workdir/runs/<name>-<fingerprint[:10]>; a finished sub-run (run.json) is read back."""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np

from vision_jax.config_utils import split_names
from vision_jax.data import classification as cls_data
from vision_jax.data import localization  # noqa: F401  (registers the localization: source used for pretraining)
from vision_jax.progress import progress_bar
from vision_jax.projects.galaxy_morphology import denoise, models, runs
from vision_jax.tasks.classify import common as classify
from vision_jax.train import loop, workdir as workdir_lib


def _optim(spec: runs.RunSpec, steps: int) -> dict:
  o = {"name": spec.optim, "lr": spec.lr, "schedule": spec.schedule, "weight_decay": spec.weight_decay,
       "grad_clip": 0.0}
  if spec.schedule == "warmup_cosine":
    o["warmup_steps"] = max(1, steps // 10)
  return o


def _steps(config, n_train: int, epochs: int) -> tuple[int, int]:
  per_epoch = max(1, n_train // int(config.data.batch_size))
  return per_epoch * int(epochs), per_epoch


class Study:
  """Holds the data and the trained states of one study; `run(name)` trains or reads back a sub-run."""

  def __init__(self, config, workdir: str, splits: dict, data_key: str, read_only: bool = False):
    self.config, self.workdir, self.splits, self.data_key = config, workdir, splits, data_key
    self.read_only = read_only
    self.states: dict[str, tuple] = {}  # name -> (model, state, sub-config fingerprint)
    self.results: dict[str, dict] = {}
    self.folder = os.path.join(workdir, "runs")

  # ----------------------------------------------------------------------------- pretraining
  def pretrain(self, arch: str):
    name = runs.PRETRAIN[arch]
    if name in self.states:
      return self.states[name]
    c = self.config
    tr = cls_data.load_classification("localization:digits", "train", image_size=int(c.data.image_size), seed=0,
                                      num_train=int(c.study.pretrain_images), num_val=int(c.study.pretrain_images) // 4)
    va = cls_data.load_classification("localization:digits", "val", image_size=int(c.data.image_size), seed=0,
                                      num_train=int(c.study.pretrain_images), num_val=int(c.study.pretrain_images) // 4)
    tr = cls_data.ClassificationData(tr.images, tr.labels, tr.class_names)
    va = cls_data.ClassificationData(va.images, va.labels, va.class_names)
    model = runs.backbone(arch, 10, float(c.model.width))
    steps, per_epoch = _steps(c, len(tr), int(c.study.pretrain_epochs))
    sub = runs.sub_config(c, name, steps, per_epoch,
                          runs.pretrain_optim(arch, steps),
                          {"arch": arch, "task": "localization:digits classes", "images": int(c.study.pretrain_images),
                           "width": float(c.model.width), "epochs": int(c.study.pretrain_epochs),
                           "zero_init_residual": bool(getattr(model, "zero_init_residual", False)),
                           "init": runs.PRETRAIN_INIT[arch], "head_dropout": float(getattr(model, "dropout_rate", 0.0))})
    fp = workdir_lib.fingerprint(sub)
    folder = os.path.join(self.folder, f"{name}-{fp[:10]}")
    done = runs.read_done(folder)
    if done is None:
      self._check_writable(folder)
      state, step, info = runs.fit_run(sub, folder, model, tr, va, batch_size=int(c.data.batch_size),
                                       init_transform=runs.pretrain_init(arch))
      done = {"name": name, "step": step, **info, "val": runs.scores(model, state, va, int(c.eval.batch_size))}
      runs.write_done(folder, done)
    else:
      state = self._restore(sub, folder, model, tr)
    self.results[name] = done
    self.states[name] = (model, state, fp)
    return self.states[name]

  def _check_writable(self, folder: str) -> None:
    if self.read_only:
      raise FileNotFoundError(f"sub-run {folder} has not finished; this mode only reads finished sub-runs "
                              "(run --mode=train first)")

  def _restore(self, sub, folder, model, train):
    problem = loop.TrainProblem(model, np.zeros((1, *train.images.shape[1:]), np.float32), None, None)
    return loop.restore_state(problem, sub, folder, which="best")[0]

  # ----------------------------------------------------------------------------- study runs
  def run(self, name: str, *, spec: runs.RunSpec | None = None, splits: dict | None = None, extra: dict | None = None):
    """Trains (or reads back) the registry run `name` (or `spec`) on `splits` (default: the raw data)."""
    spec = spec or runs.RUNS[name]
    if spec.name in self.states:
      return self.results[spec.name]
    c = self.config
    splits = splits or self.splits
    train, val, test = splits["train"], splits["val"], splits["test"]
    model = runs.build_model(spec.arch, c.model, input_scale=spec.input_scale, freeze=spec.freeze)
    init, source_fp = None, ""
    if spec.init == "pretrained":
      _, pre_state, source_fp = self.pretrain(spec.arch)
      init = models.load_backbone({"params": pre_state["params"], "batch_stats": pre_state.get("batch_stats", {})})
    elif spec.init == "frozen":
      frozen = f"{spec.arch}_frozen"
      self.run(frozen)
      _, fr_state, source_fp = self.states[frozen]
      init = models.load_all({"params": fr_state["params"], "batch_stats": fr_state.get("batch_stats", {})})
    epochs = int(c.study.finetune_epochs if spec.init == "frozen" else c.study.epochs)
    steps, per_epoch = _steps(c, len(train), epochs)
    spec_fields = {k: v for k, v in dataclasses.asdict(spec).items() if k != "label"}  # the label is display only
    fields = {**spec_fields, "epochs": epochs, "init_from": source_fp, "data_key": self.data_key,
              "dense": int(c.model.dense), "width": float(c.model.width), "vit": c.model.vit.to_dict(),
              "augment_fields": c.augment.to_dict(), **(extra or {})}
    inference_bn = runs.needs_inference_bn(spec.arch)
    if inference_bn:  # a new key: sub-runs scored with the running averages are never read back as these
      fields["bn_statistics"] = f"inference (dropout off, {runs.INFERENCE_BN_BATCHES} training batches)"
    sub = runs.sub_config(c, spec.name, steps, per_epoch, _optim(spec, steps), fields)
    fp = workdir_lib.fingerprint(sub)
    folder = os.path.join(self.folder, f"{spec.name}-{fp[:10]}")
    done = runs.read_done(folder)
    if done is None:
      self._check_writable(folder)
      weights = None
      if spec.class_weights:
        cw = classify.class_weights_of(sub_weights(spec.class_weights), train, 2)
        weights = None if cw is None else np.asarray(cw)
      state, step, info = runs.fit_run(sub, folder, model, train, val, class_weights=weights,
                                       augment_on=spec.augment, aug=c.augment, freeze=spec.freeze,
                                       init_transform=init, batch_size=int(c.data.batch_size),
                                       inference_bn=inference_bn)
      bs = int(c.eval.batch_size)
      done = {"name": spec.name, "label": spec.label, "step": step, **info, "epochs": epochs,
              "val": runs.scores(model, state, val, bs), "test": runs.scores(model, state, test, bs), **(extra or {})}
      runs.write_done(folder, done)
    else:
      state = self._restore(sub, folder, model, train)
      if inference_bn:
        state = runs.inference_bn_state(model, state, train.images, batch_size=int(c.data.batch_size), seed=int(c.seed))
    self.results[spec.name] = done
    self.states[spec.name] = (model, state, fp)
    return done

  # ----------------------------------------------------------------------------- denoisers
  def denoised_splits(self, name: str, setting: dict) -> dict:
    """train / val / test denoised with `setting` (cached in workdir/data/<name>-<key>.npz)."""
    key = workdir_lib.fingerprint(_as_config({"denoiser": name, "setting": setting, "data": self.data_key}))[:10]
    path = os.path.join(self.workdir, "data", f"denoised-{name}-{key}.npz")
    out = {}
    if os.path.exists(path):
      with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    else:
      arrays = {}
      for split in progress_bar(("train", "val", "test"), desc=f"denoise {name}", leave=False,
                                disable=not bool(self.config.train.progress)):
        arrays[split] = denoise.apply_filter(name, self.splits[split].images, setting)
      os.makedirs(os.path.dirname(path), exist_ok=True)
      np.savez(path, **arrays)
    for split, data in self.splits.items():
      out[split] = dataclasses.replace(data, images=arrays[split])
    return out

  def denoiser_run(self, name: str, tuning: dict):
    base = runs.RUNS["resnet50_finetuned"]
    spec = dataclasses.replace(base, name=f"resnet50_finetuned_{name}", label=f"ResNet50-style fine-tuned, {name} inputs")
    splits = self.denoised_splits(name, tuning["setting"])
    return self.run(spec.name, spec=spec, splits=splits, extra={"denoiser": name, "setting": tuning["setting"]})


def sub_weights(spec: str):
  import ml_collections
  return ml_collections.ConfigDict({"loss": {"class_weights": spec}})


def _as_config(d: dict):
  import ml_collections
  return ml_collections.ConfigDict({k: json.dumps(v, sort_keys=True) for k, v in d.items()})


def run_names(config) -> list[str]:
  names = split_names(config.study.runs)
  bad = [n for n in names if n not in runs.RUNS]
  if bad:
    raise ValueError(f"unknown study run {bad[0]!r}; valid: {', '.join(runs.RUNS)}")
  return names


def denoiser_names(config) -> list[str]:
  names = split_names(config.study.denoisers)
  bad = [n for n in names if n not in denoise.FILTERS]
  if bad:
    raise ValueError(f"unknown denoiser {bad[0]!r}; valid: {', '.join(denoise.FILTERS)}")
  return names
