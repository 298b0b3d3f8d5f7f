"""The generic trainer: same result on 1 and 8 devices and on 2 processes, exact resume after SIGKILL, NaN stop."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

PROBE = os.path.join(os.path.dirname(__file__), "train_probe.py")


def run_probe(workdir, steps, devices=1, extra=(), wait=True):
  env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}", JAX_PLATFORMS="cpu")
  cmd = [sys.executable, PROBE, str(workdir), str(steps), *extra]
  if not wait:
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
  return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


def load(path):
  with np.load(path, allow_pickle=False) as z:
    return {k: z[k] for k in z.files}


def test_one_and_eight_devices_agree(tmp_path):
  r1 = run_probe(tmp_path / "w1", 12, devices=1, extra=["--out", str(tmp_path / "p1.npz")])
  r8 = run_probe(tmp_path / "w8", 12, devices=8, extra=["--out", str(tmp_path / "p8.npz")])
  assert r1.returncode == 0, r1.stderr[-2000:]
  assert r8.returncode == 0, r8.stderr[-2000:]
  a, b = load(tmp_path / "p1.npz"), load(tmp_path / "p8.npz")
  assert int(a["devices"]) == 1 and int(b["devices"]) == 8
  for k in a:
    if k.startswith("arr_"):
      np.testing.assert_allclose(a[k], b[k], rtol=2e-4, atol=2e-5)
  # The params moved away from init (a test that could fail if training did nothing).
  assert max(np.abs(a[k] - a["init_" + k]).max() for k in a if k.startswith("arr_")) > 1e-3


def test_two_processes_match_one_process(tmp_path):
  """launch/local.py runs the probe as a 2-process job (2 fake CPU devices each, gloo collectives)."""
  r1 = run_probe(tmp_path / "w1", 12, devices=1, extra=["--out", str(tmp_path / "p1.npz")])
  assert r1.returncode == 0, r1.stderr[-2000:]
  launcher = os.path.join(os.path.dirname(os.path.dirname(PROBE)), "launch", "local.py")
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
  cmd = [sys.executable, launcher, "--processes", "2", "--", sys.executable, PROBE, str(tmp_path / "mp"), "12",
         "--distributed", "--out", str(tmp_path / "mp.npz")]
  r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
  assert r.returncode == 0, r.stderr[-2000:]
  a, b0, b1 = load(tmp_path / "p1.npz"), load(tmp_path / "mp-0.npz"), load(tmp_path / "mp-1.npz")
  assert int(b0["devices"]) == int(b1["devices"]) == 4  # the mesh spans both processes
  for k in a:
    if k.startswith("arr_"):
      np.testing.assert_array_equal(b0[k], b1[k])
      np.testing.assert_allclose(b0[k], a[k], rtol=2e-4, atol=2e-5)
  lines = (tmp_path / "mp" / "metrics.jsonl").read_text().splitlines()
  assert [json.loads(l)["step"] for l in lines] == list(range(1, 13))  # process 0 alone logs


def test_launcher_refuses_bad_arguments():
  launcher = os.path.join(os.path.dirname(os.path.dirname(PROBE)), "launch", "local.py")
  r = subprocess.run([sys.executable, launcher, "--processes", "0", "--", "true"], capture_output=True, text=True)
  assert r.returncode == 2 and "processes=0" in r.stderr


def test_resume_after_sigkill_matches_uninterrupted(tmp_path):
  steps = 40
  ref = run_probe(tmp_path / "ref", steps, extra=["--out", str(tmp_path / "ref.npz")])
  assert ref.returncode == 0, ref.stderr[-2000:]
  work = tmp_path / "killed"
  proc = run_probe(work, steps, extra=["--sleep", "0.1"], wait=False)
  metrics = work / "metrics.jsonl"
  deadline = time.time() + 240
  while time.time() < deadline:
    if metrics.exists() and any(json.loads(l)["step"] >= 17 for l in metrics.read_text().splitlines() if l):
      break
    time.sleep(0.1)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert proc.returncode == -signal.SIGKILL
  last = max(json.loads(l)["step"] for l in metrics.read_text().splitlines() if l)
  assert last < steps  # it really was interrupted
  resumed = run_probe(work, steps, extra=["--out", str(tmp_path / "resumed.npz")])
  assert resumed.returncode == 0, resumed.stderr[-2000:]
  a, b = load(tmp_path / "ref.npz"), load(tmp_path / "resumed.npz")
  for k in a:
    if k != "seconds":
      np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-6)
  # Training time adds up over runs: the killed run slept 0.1 s in each of its >= 15 checkpointed
  # steps, and a rerun of the finished workdir trains nothing and reports the same total.
  assert float(b["seconds"]) >= 1.5
  again = run_probe(work, steps, extra=["--out", str(tmp_path / "again.npz")])
  assert again.returncode == 0, again.stderr[-2000:]
  assert float(load(tmp_path / "again.npz")["seconds"]) == pytest.approx(float(b["seconds"]), abs=1e-6)


def test_nan_loss_stops_with_clear_error_and_keeps_last_good_checkpoint(tmp_path):
  r = run_probe(tmp_path / "w", 20, extra=["--nan_at", "12"])
  assert r.returncode == 3
  assert "loss became nan at step 13" in r.stderr
  assert "last good checkpoint (step 10)" in r.stderr
  steps = sorted(int(d) for d in os.listdir(tmp_path / "w" / "checkpoints") if d.isdigit())
  assert steps and max(steps) == 10


def test_mesh_errors():
  from vision_jax.train import parallel
  with pytest.raises(ValueError, match="needs 4 devices"):
    parallel.make_mesh([("data", 4)])
  mesh = parallel.make_mesh([("data", -1)])
  assert mesh.shape["data"] >= 1


@pytest.mark.parametrize("count,index", [("2", None), ("2", "2"), ("two", "0")])
def test_distributed_job_environment_is_validated_before_joining(monkeypatch, count, index):
  from vision_jax.train import parallel
  for name, value in (("VISION_JAX_NUM_PROCESSES", count), ("VISION_JAX_PROCESS_ID", index)):
    if value is None:
      monkeypatch.delenv(name, raising=False)
    else:
      monkeypatch.setenv(name, value)
  with pytest.raises(ValueError, match="VISION_JAX_NUM_PROCESSES"):
    parallel.maybe_initialize_distributed(True)
  parallel.maybe_initialize_distributed(False)  # not asked: the environment is not read


def test_optimizer_and_schedule_match_optax():
  import ml_collections
  import optax
  from vision_jax.train import state
  cfg = ml_collections.ConfigDict({"name": "adamw", "lr": 0.1, "schedule": "warmup_cosine", "warmup_steps": 10,
                                   "weight_decay": 0.01})
  sched = state.make_schedule(cfg, 100)
  ref = optax.warmup_cosine_decay_schedule(0.0, 0.1, 10, 100, end_value=0.0)
  for s in (0, 5, 10, 50, 99):
    assert float(sched(s)) == pytest.approx(float(ref(s)), rel=1e-6)
  with pytest.raises(ValueError, match="unknown optimizer 'nope'"):
    state.make_optimizer(ml_collections.ConfigDict({"name": "nope", "lr": 1.0}), 10)
