"""The command line: bad input gives one clear line and exit status 1, and leaves no workdir."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_main(*args):
  env = dict(os.environ, JAX_PLATFORMS="cpu", VISION_JAX_XLA_CACHE="")
  return subprocess.run([sys.executable, "-m", "vision_jax.main", *args], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=300)


def test_unknown_backbone_is_one_line_and_no_workdir(tmp_path):
  work = tmp_path / "w"
  r = run_main("--config=configs/pinn_denoise.py:small", "--config.backbone=vgg", f"--workdir={work}")
  assert r.returncode == 1
  assert r.stderr.strip().splitlines()[-1].startswith("error: unknown backbone 'vgg'; valid: unet, resunet")
  assert "Traceback" not in r.stderr
  assert not work.exists()


def test_unknown_config_argument_and_empty_data_folder(tmp_path):
  r = run_main("--config=configs/pinn_denoise.py:bakbone=unet", f"--workdir={tmp_path / 'w'}")
  assert r.returncode != 0 and "unknown config argument 'bakbone'" in r.stderr
  empty = tmp_path / "empty"
  empty.mkdir()
  r = run_main("--config=configs/pde_denoise.py:small", f"--config.data_dir={empty}", f"--workdir={tmp_path / 'w2'}")
  assert r.returncode == 1 and "has no readable images" in r.stderr.strip().splitlines()[-1]
  assert not (tmp_path / "w2").exists()
