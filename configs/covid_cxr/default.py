"""covid_cxr (seed 002 article 1): four-channel chest X-ray pipeline, Xception (one logit) with sigmoid
focal loss, threshold sweep, Grad-CAM lung coverage with explicit rules, and the ablations the paper never
ran (each channel removed, lung isolation off, the corner-marker shortcut).

Small (2 CPU cores, under 15 minutes: 600 phantoms at 128 px, Xception width x0.125 with 1 middle block,
300 steps per model, 7 models):
    python -m vision_jax.main --config=configs/covid_cxr/default.py:small --workdir=runs/covid_small
Re-render the report from the finished runs (trains nothing):
    python -m vision_jax.main --config=configs/covid_cxr/default.py:small --workdir=runs/covid_small --mode=report
Overlays and rule-based text explanations of the full model (also written by train):
    python -m vision_jax.main --config=configs/covid_cxr/default.py:small --workdir=runs/covid_small --mode=explain
Full size (the paper's 512 px and full-width Xception with 8 middle blocks; accelerator-sized):
    python -m vision_jax.main --config=configs/covid_cxr/default.py --workdir=runs/covid
The real COVID-19 Radiography Database (ROOT/<class>/images and masks; nothing downloads):
    python -m vision_jax.main --config=configs/covid_cxr/default.py:data=/path/COVID-19_Radiography_Dataset --workdir=runs/covid_real

Arguments: small; data ("phantoms", or a folder in the database layout); ablations (names of
vision_jax.projects.covid_cxr.ablations joined by "+", since "," separates the arguments; "none" for the
full model only), e.g. configs/covid_cxr/default.py:small,ablations=no_isolation+shortcut
(equivalently --config.study.ablations=no_isolation,shortcut).
"""

import ml_collections

from configs import common
from vision_jax.config_utils import parse_arg

# shortcut_isolated (the marker with lung isolation) is left out: the marker lies outside the lungs, so
# isolation erases it and the run is bit-identical to "full" (tests/test_covid_cxr_data.py checks the inputs).
DEFAULT_ABLATIONS = "no_roi,no_freq,no_vessel,no_lbp,no_isolation,shortcut"


def get_config(arg=None):
  a = parse_arg(arg, small=False, data="phantoms", ablations=DEFAULT_ABLATIONS)
  small = a["small"]
  phantoms = a["data"] == "phantoms"
  c = ml_collections.ConfigDict()
  c.project = "covid_cxr"
  c.task = "classify"
  c.seed = 0
  c.model = ml_collections.ConfigDict({
      "name": "xception",
      "num_classes": 1,  # one COVID logit, p = sigmoid
      "in_channels": 4,  # [ROI, band-pass, Frangi, LBP]
      "kwargs": {"width_multiplier": 0.125 if small else 1.0, "middle_blocks": 1 if small else 8},
  })
  options = {
      # the paper's preprocessing (pipeline.Pipeline); UNSPEC parameters chosen here
      "isolate": True, "channels": "roi,freq,vessel,lbp", "clahe_clip": 3.0, "clahe_tiles": 8,
      "bone_weight": 0.18, "bilateral_sigma_color": 0.1, "bilateral_sigma_spatial": 1.0 if small else 2.0,
      "band_low": 6.0, "band_high": 32.0, "frangi_sigmas": "1,2,3,4,5,6,7,8",
      # the corner-marker shortcut (off here; the shortcut ablations switch it on for train and val)
      "marker": False, "marker_rates": "0.9,0.1", "marker_splits": "train,val",
  }
  if phantoms:
    options.update({"num_images": 600 if small else 6000, "prevalence": 0.17})
  else:
    options["resize_masks"] = False
  c.data = ml_collections.ConfigDict({
      "source": "covid_phantoms:default" if phantoms else f"covid_radiography:{a['data']}",
      "seed": 0,  # generator seed and split seed
      "image_size": 128 if small else 512,
      "num_per_class": 0,  # unused (classify layout)
      "batch_size": 8,
      "options": options,
      "oversample": True,  # positives repeated up to the negative count in each training epoch
      "augment": True,
      "hflip_p": 0.5,
      "rotate_degrees": 7.0,
  })
  c.loss = ml_collections.ConfigDict({"kind": "sigmoid_focal", "focal_alpha": 0.35, "focal_gamma": 2.0})
  c.optim = ml_collections.ConfigDict({
      "name": "adamw", "lr": 3e-3, "schedule": "warmup_cosine", "warmup_steps": 15 if small else 500,
      "weight_decay": 1e-4, "grad_clip": 0.5,
  })
  c.train = ml_collections.ConfigDict({
      "steps": 300 if small else 20 * 3000,  # full: ~20 epochs of the balanced training set at batch 8
      "log_every": 25 if small else 200,
      "checkpoint_every": 300 if small else 2000,
      "eval_every": 25 if small else 1000,
      "keep_checkpoints": 1,
      "progress": True,
      "select_metric": "val_mcc",
      "select_mode": "max",
      "patience": 6,  # evaluations without improvement
      "precise_bn_batches": 16 if small else 64,  # BatchNorm statistics for every evaluation (0: running averages)
  })
  c.eval = ml_collections.ConfigDict({
      "split": "test",
      "batch_size": 64,
      "threshold": 0.5,
      "sweep": "0.05:0.95:0.05",  # the paper's Table 2
      "bootstrap": 500 if small else 2000,
      "marked_test": True,  # every model is also scored on the test split with the marker painted in
  })
  c.explain = ml_collections.ConfigDict({
      "split": "test",
      "cam_target": "predicted",  # predicted | covid
      # Grad-CAM also on this submodule's output (16 x 16 at 128 px, as the paper's last layer at 512 px);
      # "" for the last feature map only (4 x 4 at 128 px, 16 x 16 at 512 px)
      "hires_layer": "block3" if small else "",
      "rule_within": 60.0,
      "rule_mixed": 40.0,
      "per_outcome": 2,
      "sanity": True,
      "sanity_examples": 8,
      "after_train": True,
  })
  ablations = "" if a["ablations"] == "none" else a["ablations"].replace("+", ",")
  c.study = ml_collections.ConfigDict({"ablations": ablations})
  return common.add_run_fields(c)
