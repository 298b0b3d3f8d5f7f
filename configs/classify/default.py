"""Image classification with any registered classifier on an offline source, then explanations.

Train (then evaluate on the test split; writes results.md/json/csv, per_class.csv, confusion_matrix.png,
predictions.npz, metrics.jsonl and checkpoints/ in the workdir):
    python -m vision_jax.main --config=configs/classify/default.py:model=resnet18,data=digits --workdir=runs/cls_resnet18
Small (2 CPU cores, a minute or two: LeNet-5 on scikit-learn digits at 32x32):
    python -m vision_jax.main --config=configs/classify/default.py:small --workdir=runs/cls_small
Evaluate the checkpoint again (writes eval_results.*):
    python -m vision_jax.main --config=configs/classify/default.py:small --workdir=runs/cls_small --mode=eval
Explanations (overlay PNG grids per method, sanity/faithfulness table in explain.md):
    python -m vision_jax.main --config=configs/classify/default.py:small --workdir=runs/cls_small --mode=explain
Shapes with ground-truth masks (energy-in-mask column):
    python -m vision_jax.main --config=configs/classify/default.py:small,data=shapes --workdir=runs/cls_shapes
Chest X-ray phantoms (binary: threshold sweep), focal loss:
    python -m vision_jax.main --config=configs/classify/default.py:model=resnet_tiny,data=xray,loss=focal --workdir=runs/cls_xray
Any source string: --config.data.source=npz:/path/pneumoniamnist.npz (MedMNIST layout).

Arguments: model (a name of vision_jax.models.CLASSIFIERS, e.g. lenet5, resnet18, resnet_tiny,
vgg_tiny, mobilenet_v2_tiny, vit_tiny), data (digits, shapes, xray, lfw, or a full source string
such as npz:PATH), loss (ce, focal), small.
"""

import dataclasses

import ml_collections

from configs import common
from vision_jax.config_utils import parse_arg

DATA_SOURCES = {
    "digits": "bundled:digits",
    "lfw": "bundled:lfw_subset",
    "shapes": "synthetic:shapes",
    "xray": "synthetic:xray",
}

# Fields a user may want to override per model (kept only when the model class has them).
SIZE_FIELDS = ("width_multiplier", "num_filters", "cifar_stem", "fc_dim", "pool_size", "dropout_rate",
               "act", "pooling", "patch_size", "width", "depth", "num_heads", "mlp_dim")

# Full-size settings that differ from the registry defaults, then the CPU-sized ones (small).
MODEL_KWARGS = {
    "resnet18": ({"cifar_stem": True}, {"cifar_stem": True, "num_filters": 16}),
    "resnet34": ({"cifar_stem": True}, {"cifar_stem": True, "num_filters": 16}),
    "resnet_tiny": ({"cifar_stem": True}, {"cifar_stem": True}),
}


def model_kwargs(name: str, small: bool) -> dict:
  """Overridable scalar fields of classifier `name` (registry value or class default), plus the
  MODEL_KWARGS settings; {} for a name the registry does not know (the task rejects it)."""
  from vision_jax.models import CLASSIFIERS
  factory = CLASSIFIERS.get(name)
  out = {}
  if factory is not None:
    cls = getattr(factory, "func", factory)
    registered = dict(getattr(factory, "keywords", {}) or {})
    fields = {f.name: f for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else {}
    for key in SIZE_FIELDS:
      if key in fields:
        value = registered.get(key, fields[key].default)
        if isinstance(value, (bool, int, float, str)):
          out[key] = value
  out.update(MODEL_KWARGS.get(name, ({}, {}))[1 if small else 0])
  return out


def get_config(arg=None):
  a = parse_arg(arg, model="lenet5", data="digits", loss="ce", small=False)
  small = a["small"]
  source = DATA_SOURCES.get(a["data"], a["data"])
  c = ml_collections.ConfigDict()
  c.task = "classify"
  c.seed = 0
  c.model = ml_collections.ConfigDict({
      "name": a["model"],
      "num_classes": 0,  # 0: the number of classes of the data source
      "in_channels": 0,  # 0: the channel count of the data; else checked against it
      "kwargs": model_kwargs(a["model"], small),  # fields of the classifier, e.g. num_filters
  })
  c.data = ml_collections.ConfigDict({
      "source": source,
      "seed": 0,  # split seed (bundled) / generator seed (synthetic); independent of c.seed
      "image_size": 64 if source == "synthetic:xray" else 32,  # 0 keeps the native size
      "num_per_class": 0 if small else 500,  # synthetic sources only, per split; 0: generator default (64)
      "batch_size": 64,
      "options": {},  # extra options of the data source's loader (registered sources)
      "augment": False,  # random integer shifts (and flips below) on training batches
      "max_shift": 2,
      "hflip": False,
      "vflip": False,
  })
  c.loss = ml_collections.ConfigDict({
      "kind": a["loss"],  # ce | focal
      "label_smoothing": 0.0,  # ce only
      "focal_gamma": 2.0,
      "class_weights": "",  # "" (none), "balanced" (inverse train frequency), or "w0,w1,..."
  })
  c.optim = ml_collections.ConfigDict({
      "name": "adamw", "lr": 3e-3 if small else 1e-3, "schedule": "warmup_cosine",
      "warmup_steps": 20 if small else 200, "weight_decay": 1e-4, "grad_clip": 0.0,
  })
  c.train = ml_collections.ConfigDict({
      "steps": 400 if small else 4000,
      "log_every": 25 if small else 100,
      "checkpoint_every": 200 if small else 1000,
      "eval_every": 100 if small else 1000,  # validation metrics in metrics.jsonl and training_curves.png (0: off)
      "keep_checkpoints": 2,
      "progress": True,
      "select_metric": "",  # e.g. "val_mcc": keep the best state by this validation metric (needs eval_every)
      "select_mode": "max",
      "patience": 0,  # stop after this many evaluations without improvement (0: never)
  })
  c.eval = ml_collections.ConfigDict({
      "split": "test",
      "batch_size": 256,
      "thresholds": "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9",  # binary tasks: threshold sweep on p(class 1)
  })
  c.explain = ml_collections.ConfigDict({
      "methods": "grad_cam,grad_cam_plus_plus,saliency,integrated_gradients,occlusion",
      "split": "test",
      "num_examples": 8 if small else 16,
      "ig_steps": 32 if small else 64,
      "smoothgrad_samples": 16,
      "occlusion_patch": 0,  # 0: image side // 8 (at least 2)
      "deletion_steps": 16 if small else 32,
      "sanity": True,  # cascading parameter randomization (Adebayo et al. 2018)
      # Verdicts (vision_jax.explain.verdict): what deleted pixels become ("0" as in Petsiuk et al., "blurred",
      # "mean"), the rho below which the randomization check passes, the AUC margin over random maps to beat.
      "deletion_baseline": "0",
      "rho_threshold": 0.5,
      "min_margin": 0.02,
  })
  return common.add_run_fields(c)
