"""galaxy_morphology (seed 003): Elliptical vs Other on GalSim cutouts; CNN-1 / CNN-2, VGG16- and
ResNet50-style backbones frozen vs fine-tuned after synthetic pretraining, a ViT, input denoisers, and
the slides' explanations with measured quality.

Small (2 CPU cores, the issue's 15-minute bar; renders 1,800 cutouts, cached in the workdir): all 8 networks,
1,000 / 400 / 400 cutouts, 6 epochs (3 fine-tuning), 8,000 pretraining canvases x 3 epochs per backbone, 4 of
the 8 denoisers (median, NL-means, Perona-Malik, the shipped TNRD), 8 explained test images:
    python -m vision_jax.main --config=configs/galaxy_morphology/default.py:small --workdir=runs/galaxy_small
Full (4,820 train / 1,180 validation as in the slides / 1,180 test; 20 epochs as the slides; hours on a CPU):
    python -m vision_jax.main --config=configs/galaxy_morphology/default.py --workdir=runs/galaxy
Re-render the report / recompute the explanations from the finished sub-runs:
    python -m vision_jax.main --config=configs/galaxy_morphology/default.py:small --workdir=runs/galaxy_small --mode=report
    python -m vision_jax.main --config=configs/galaxy_morphology/default.py:small --workdir=runs/galaxy_small --mode=explain
Only some networks / no denoisers:
    --config.study.runs=cnn1_raw,cnn1_scaled,cnn2 --config.study.denoisers=
Real cutouts (Galaxy Zoo / GAMA style: ROOT/labels.csv with id + label [+ split], ROOT/images/<id>.png):
    --config.data.source=galaxy_folder:/path/to/ROOT --config.data.options={}
    (denoiser settings then fall back to the middle of each grid: there are no noiseless references)

Arguments: small.
"""

import ml_collections

from configs import common
from vision_jax.config_utils import parse_arg

RUNS = "cnn1_raw,cnn1_scaled,cnn2,vgg16_frozen,vgg16_finetuned,resnet50_frozen,resnet50_finetuned,vit"
DENOISERS = "bilateral,median,nl_means,tv,wavelet,perona_malik,tv_flow,tnrd"
SMALL_DENOISERS = "median,nl_means,perona_malik,tnrd"  # a classical filter, NL-means, a PDE prior, the shipped TNRD


def get_config(arg=None):
  a = parse_arg(arg, small=False)
  small = a["small"]
  sizes = (1000, 400, 400) if small else (4820, 1180, 1180)
  c = ml_collections.ConfigDict()
  c.project = "galaxy_morphology"
  c.seed = 0
  c.model = ml_collections.ConfigDict({
      "dense": 128,  # the slides' Dense 512 at 300 px; 128 at 64 px (spec)
      "width": 0.125,  # channel fraction of the VGG16 / ResNet50 backbones (CPU)
      "vit": {"patch_size": 8, "width": 64, "depth": 4, "num_heads": 4, "mlp_dim": 128},
  })
  c.data = ml_collections.ConfigDict({
      "source": "galsim:morphology",
      "seed": 0,
      "image_size": 64,
      "batch_size": 32,
      "options": {"num_train": sizes[0], "num_val": sizes[1], "num_test": sizes[2]},
  })
  c.augment = ml_collections.ConfigDict({  # Keras ImageDataGenerator of the slides (CNN-2, ViT)
      "rotation_deg": 20.0, "shift": 0.2, "zoom_lo": 0.8, "zoom_hi": 1.2, "hflip": True,
  })
  c.study = ml_collections.ConfigDict({
      "runs": RUNS,
      "denoisers": SMALL_DENOISERS if small else DENOISERS,
      "epochs": 6 if small else 20,
      "finetune_epochs": 3 if small else 10,
      # 8,000 canvases x 3 epochs = 750 steps: with 1,500 the ResNet50-style backbone memorized them (issue 14)
      "pretrain_epochs": 3 if small else 10,
      "pretrain_images": 8000 if small else 7000,
      "tune_images": 12 if small else 48,
  })
  c.train = ml_collections.ConfigDict({"progress": True, "patience": 0})
  c.eval = ml_collections.ConfigDict({"batch_size": 200})
  c.explain = ml_collections.ConfigDict({
      "num_examples": 8 if small else 32,
      "ig_steps": 50,
      "lime_samples": 200 if small else 1000,
      "deletion_steps": 16,
      "sanity": True,
      "surrogate_depth": 4,
      "actmax_steps": 30 if small else 200,
  })
  return common.add_run_fields(c)
