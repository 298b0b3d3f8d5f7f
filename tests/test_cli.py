"""The command line: every bad input gives exit status 1, at most two lines that name the offending value
and what was expected, and leaves the workdir untouched (byte-identical if it existed, absent if not)."""

import hashlib
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PINN = "--config=configs/pinn_denoise/default.py:small,backbone=tnrd,prior=heat"
# A tiny held-out run: TNRD with one 3x3 stage, 2 steps on 48 px images, no baselines.
TINY = [PINN, "--config.model.tnrd.stages=1", "--config.model.tnrd.num_filters=4", "--config.model.tnrd.kernel_size=3",
        "--config.data.train=bundled:camera,brick", "--config.data.train_max_size=48", "--config.data.max_size=32",
        "--config.data.test=bundled:coins", "--config.data.patch_size=16", "--config.data.batch_size=2",
        "--config.train.steps=2", "--config.train.progress=False", "--config.eval.baselines=",
        "--config.eval.classical_prior="]


def run_main(*args):
  env = dict(os.environ, JAX_PLATFORMS="cpu", VISION_JAX_XLA_CACHE="")
  return subprocess.run([sys.executable, "-m", "vision_jax.main", *args], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=300)


def tree_digest(path) -> dict:
  """{relative path: sha256} of every file under path ({} if it does not exist)."""
  out = {}
  for folder, _, files in os.walk(path):
    for name in files:
      full = os.path.join(folder, name)
      with open(full, "rb") as f:
        out[os.path.relpath(full, path)] = hashlib.sha256(f.read()).hexdigest()
  return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """A workdir of the tiny held-out run (trained once for the module)."""
  work = tmp_path_factory.mktemp("trained") / "w"
  r = run_main(*TINY, f"--workdir={work}")
  assert r.returncode == 0, r.stderr[-2000:]
  return work


def folder_of(tmp_path, name, files: dict):
  folder = tmp_path / name
  folder.mkdir()
  for fname, content in files.items():
    (folder / fname).write_bytes(content)
  return folder


def png_bytes(shape=(40, 40)) -> bytes:
  import imageio.v3 as iio
  return iio.imwrite("<bytes>", (np.random.default_rng(0).random(shape) * 255).astype(np.uint8), extension=".png")


def npz_file(tmp_path, name, drop=None, label_max=1):
  rng = np.random.default_rng(0)
  arrays = {}
  for split in ("train", "val", "test"):
    arrays[f"{split}_images"] = (rng.random((8, 28, 28)) * 255).astype(np.uint8)
    arrays[f"{split}_labels"] = np.arange(8)[:, None] % (label_max + 1)
  arrays.pop(drop, None)
  path = tmp_path / name
  np.savez(path, **arrays)
  return path


CLS = "--config=configs/classify/default.py:small"
PDE = "--config=configs/pde_denoise/default.py:small"

# (id, command-line args (WORK = the workdir), expected text of the message, workdir setup)
CASES = [
    ("unknown-key", [PINN, "--config.bogus=1"], "unknown config field 'bogus'", None),
    ("misspelled-key", [PINN, "--config.trian.steps=5"], "did you mean 'train.steps'", None),
    ("bad-value-type", [PINN, "--config.train.steps=abc"], "--config.train.steps=abc", None),
    ("unknown-config-argument", ["--config=configs/pinn_denoise/default.py:bakbone=unet"],
     "unknown config argument 'bakbone'", None),
    ("missing-config-file", ["--config=configs/nope/default.py"], "config file 'configs/nope/default.py' does not exist",
     None),
    # A dotted override of a dict field is accepted (the run then stops at the next bad value).
    ("dict-override-accepted", [PINN, "--config.prior_params.K=0.1", "--config.prior=perona_malik",
                                "--config.train.steps=0"], "train.steps=0 is invalid; expected >= 1", None),
    ("prior-param-not-of-prior", [PINN, "--config.prior_params.K=0.1"], "prior 'heat' has no parameter K", None),
    ("steps-negative", [PINN, "--config.train.steps=-1"], "train.steps=-1 is invalid; expected >= 1", None),
    ("per-image-steps-zero", [PINN, "--config.protocol=oracle", "--config.oracle.steps=0"],
     "oracle.steps=0 is invalid; expected >= 1", None),
    ("tau-zero", [PINN, "--config.loss.tau=0"], "loss.tau=0.0 is invalid; expected > 0", None),
    ("batch-zero", [PINN, "--config.data.batch_size=0"], "data.batch_size=0 is invalid; expected >= 1", None),
    ("patch-zero", [PINN, "--config.data.patch_size=0"], "data.patch_size=0 is invalid; expected 1..", None),
    ("patch-larger-than-images", [PINN, "--config.data.patch_size=1000"], "data.patch_size=1000 is invalid; expected 1..",
     None),
    ("unstable-dt", [PDE, "--config.pde.dt_fraction=1.5"], "dt_fraction=1.5 is invalid; expected 0 < dt_fraction <= 1",
     None),
    ("missing-data-folder", [PINN, "--config.data.train_dir=/nonexistent/folder"], "'/nonexistent/folder' does not exist",
     None),
    ("empty-data-folder", [PINN, "--config.data.train_dir=EMPTY"], "has no readable images", None),
    ("non-image-folder", [PINN, "--config.data.train_dir=TEXTS"], "has no readable images; expected files ending in", None),
    ("corrupt-png", [PINN, "--config.eval.data_dir=CORRUPT"], "bad.png' could not be read", None),
    ("image-below-model-minimum", [CLS, "--config.data.image_size=4"], "image_size=4", None),
    ("unknown-prior", [PINN, "--config.prior=magic"], "unknown prior 'magic'; valid:", None),
    ("unknown-backbone", [PINN, "--config.backbone=vgg"], "unknown backbone 'vgg'; valid: unet, resunet", None),
    ("unknown-noise", [PINN, "--config.noise.kind=salt"], "unknown noise kind 'salt'; valid:", None),
    ("unknown-protocol", [PINN, "--config.protocol=cheat"], "unknown protocol 'cheat'; valid: heldout, oracle, zeroshot",
     None),
    ("unknown-mode", [PINN, "--mode=bogus"], "unknown mode 'bogus' for vision_jax.projects.pinn_denoise; valid: train",
     None),
    ("negative-sigma", [PINN, "--config.noise.kind=awgn", "--config.noise.sigma=-5"],
     "noise.sigma=-5.0 is invalid; expected a finite number >= 0", None),
    ("looks-below-one", [PINN, "--config.noise.looks=0.5"], "noise.looks=0.5 is invalid; expected a finite number >= 1",
     None),
    ("bad-resume", [PINN, "--config.resume=maybe"], "resume='maybe' is invalid; expected one of auto, fresh", None),
    ("eval-on-empty-workdir", [PINN, "--mode=eval"], "holds no trained run", None),
    ("report-on-empty-workdir", [PINN, "--mode=report"], "holds no trained run", None),
    ("another-models-checkpoint", TINY, "holds files but no config.json", "legacy"),
    ("another-config", TINY + ["--config.noise.looks=8"], "was made by another config: noise.looks (4.0 -> 8.0)",
     "trained"),
    ("eval-with-another-model", TINY + ["--mode=eval", "--config.model.tnrd.num_filters=8"],
     "was made by another config: model.tnrd.num_filters (4 -> 8)", "trained"),
    ("truncated-checkpoint", TINY + ["--mode=eval"], "could not be read", "corrupt"),
    ("npz-missing-split", [CLS, "--config.data.source=npz:NPZ_NO_VAL", "--config.train.eval_every=10",
                           "--config.data.batch_size=4"],
     "has no key 'val_images'", None),
    ("labels-out-of-range", [CLS, "--config.data.source=npz:NPZ", "--config.model.num_classes=2",
                             "--config.data.batch_size=4"],
     "has label 5, outside [0, 2)", None),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_line_and_leaves_the_workdir_untouched(case, tmp_path, request):
  name, args, expected, setup = case
  work = tmp_path / "w"
  if setup == "legacy":  # a workdir another tool (or an older version) wrote: checkpoints, no config.json
    (work / "checkpoints" / "2").mkdir(parents=True)
    (work / "checkpoints" / "2" / "state").write_bytes(b"not ours")
  elif setup in ("trained", "corrupt"):
    shutil.copytree(request.getfixturevalue("trained"), work)
    if setup == "corrupt":
      files = sorted(p for p in (work / "checkpoints").rglob("*") if p.is_file() and p.stat().st_size > 64)
      for p in files:
        p.write_bytes(p.read_bytes()[: p.stat().st_size // 3])
  subs = {"EMPTY": folder_of(tmp_path, "empty", {}),
          "TEXTS": folder_of(tmp_path, "texts", {"a.txt": b"hello", "b.csv": b"1,2"}),
          "CORRUPT": folder_of(tmp_path, "corrupt", {"good.png": png_bytes(), "bad.png": b"\x89PNG\r\n\x1a\n garbage"}),
          "NPZ_NO_VAL": npz_file(tmp_path, "noval.npz", drop="val_images"), "NPZ": npz_file(tmp_path, "labels.npz", label_max=5)}
  for key in sorted(subs, key=len, reverse=True):  # NPZ_NO_VAL before NPZ
    args = [a.replace(key, str(subs[key])) for a in args]
  before = tree_digest(work)
  existed = work.exists()
  r = run_main(*args, f"--workdir={work}")
  lines = r.stderr.strip().splitlines()
  assert r.returncode == 1, (name, r.returncode, r.stderr[-1500:])
  assert 1 <= len(lines) <= 2 and lines[0].startswith("error: "), (name, r.stderr[-1500:])
  assert expected in r.stderr, (name, r.stderr)
  assert "Traceback" not in r.stderr
  assert work.exists() == existed and tree_digest(work) == before, name


def test_a_good_run_then_resume_fresh_starts_over(trained, tmp_path):
  work = tmp_path / "w"
  shutil.copytree(trained, work)
  r = run_main(*TINY, "--config.noise.looks=8", "--config.resume=fresh", f"--workdir={work}")
  assert r.returncode == 0, r.stderr[-1500:]
  import json
  record = json.loads((work / "config.json").read_text())
  assert record["config"]["noise.looks"] == 8.0
  assert "speckle L=8" in json.loads((work / "results.json").read_text())["noise"]
  # report mode re-renders from the record, and a display-only change is allowed
  r = run_main(*TINY, "--config.noise.looks=8", "--mode=report", "--config.train.log_every=7", f"--workdir={work}")
  assert r.returncode == 0 and "PINN denoising" in r.stdout, r.stderr[-1500:]
