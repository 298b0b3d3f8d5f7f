"""The generic loop's extra state (a teacher, a counter) and best-checkpoint selection with early stopping."""

import json

import flax.linen as nn
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from vision_jax.train import loop


class Vector(nn.Module):
  """A learnable vector of 4 numbers (the input only sets the batch)."""

  @nn.compact
  def __call__(self, x, train: bool = False):
    return self.param("w", nn.initializers.zeros, (4,)) + 0.0 * x.sum(), {}


def config(steps=20, **train):
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.train = ml_collections.ConfigDict({"steps": steps, "log_every": 1, "checkpoint_every": 5, "eval_every": 0,
                                       "progress": False, "select_metric": "", "select_mode": "max", "patience": 0,
                                       **train})
  c.optim = ml_collections.ConfigDict({"name": "sgd", "lr": 0.1, "momentum": 0.0})
  return c


TEACHER = np.array([1.0, -2.0, 0.5, 3.0], np.float32)


def teacher_problem(eval_fn=None):
  """loss = |w - teacher|^2 with the teacher in the extra state; the extra also counts the steps."""

  def loss_fn(params, batch_stats, batch, rng, extra):
    loss = jnp.sum((params["w"] - extra["teacher"]) ** 2)
    return loss, ({}, batch_stats, {**extra, "count": extra["count"] + 1})

  extra_init = lambda: {"teacher": jnp.asarray(TEACHER), "count": jnp.zeros((), jnp.int32)}
  return loop.TrainProblem(Vector(), np.zeros((1, 1), np.float32), loss_fn, lambda step: {"x": np.zeros((1, 1))},
                           eval_fn, extra_init)


def test_extra_state_reaches_the_loss_is_updated_and_survives_a_resume(tmp_path):
  res = loop.fit(teacher_problem(), config(steps=10), str(tmp_path))
  assert int(res.state["extra"]["count"]) == 10
  np.testing.assert_array_equal(res.state["extra"]["teacher"], TEACHER)  # no gradient flows into it
  # SGD on |w - t|^2 with lr 0.1 from 0: w_k = t (1 - 0.8^k), exactly.
  np.testing.assert_allclose(res.state["params"]["w"], TEACHER * (1 - 0.8 ** 10), rtol=1e-5)
  more = loop.fit(teacher_problem(), config(steps=15), str(tmp_path))  # resumes from step 10
  assert more.start_step == 10 and int(more.state["extra"]["count"]) == 15
  state, step = loop.restore_state(teacher_problem(), config(steps=15), str(tmp_path))
  assert step == 15 and int(state["extra"]["count"]) == 15


def scripted_eval(values):
  """eval_fn whose val_score at evaluation k is values[k - 1]."""
  return lambda state, step: {"val_score": values[step - 1]}


def test_best_state_is_kept_and_training_stops_after_patience_evaluations(tmp_path):
  values = [0.1, 0.5, 0.3, 0.2, 0.9, 0.95]
  cfg = config(steps=6, eval_every=1, select_metric="val_score", patience=2)
  res = loop.fit(teacher_problem(scripted_eval(values)), cfg, str(tmp_path))
  assert res.best["step"] == 2 and res.best["value"] == 0.5 and res.best["stopped_early"]
  assert int(res.state["extra"]["count"]) == 4  # stopped after evaluations 3 and 4 did not improve
  best, step = loop.restore_state(teacher_problem(), cfg, str(tmp_path), which="best")
  assert step == 2
  np.testing.assert_allclose(best["params"]["w"], TEACHER * (1 - 0.8 ** 2), rtol=1e-5)
  record = json.loads((tmp_path / "best.json").read_text())
  assert record["step"] == 2 and record["evals_since"] == 2
  again = loop.fit(teacher_problem(scripted_eval(values)), cfg, str(tmp_path))  # a resume trains no further
  assert again.start_step == 4 and int(again.state["extra"]["count"]) == 4


def test_min_mode_and_bad_selection_settings(tmp_path):
  cfg = config(steps=4, eval_every=1, select_metric="val_score", select_mode="min")
  res = loop.fit(teacher_problem(scripted_eval([0.4, 0.2, 0.3, 0.1])), cfg, str(tmp_path / "a"))
  assert res.best["step"] == 4 and not res.best["stopped_early"]
  with pytest.raises(ValueError, match="select_metric='val_loss' is not among the evaluation metrics"):
    loop.fit(teacher_problem(scripted_eval([0.1] * 4)), config(steps=4, eval_every=1, select_metric="val_loss"),
             str(tmp_path / "b"))
  with pytest.raises(ValueError, match="needs train.eval_every >= 1"):
    loop.fit(teacher_problem(scripted_eval([0.1])), config(steps=4, select_metric="val_score"), str(tmp_path / "c"))


def batch_problem():
  """loss = |w - mean of the batch|^2: the step reads its (mesh-sharded) batch, as real losses do."""
  loss_fn = lambda params, batch_stats, batch, rng: (jnp.sum((params["w"] - batch["x"].mean(0)) ** 2), ({}, batch_stats))
  return loop.TrainProblem(Vector(), np.zeros((1, 1), np.float32), loss_fn,
                           lambda step: {"x": np.full((2, 4), float(step), np.float32)})


def test_seconds_per_step_times_no_compilation():
  """The timed steps come after both warm-up calls: the second one recompiles (committed output shardings)."""
  import time
  from jax import monitoring
  compiles = []
  listener = lambda event, duration, **kw: compiles.append(event) if event.endswith("backend_compile_duration") else None
  monitoring.register_event_duration_secs_listener(listener)
  try:
    assert loop.seconds_per_step(batch_problem(), config(), n=3, clock=lambda: float(len(compiles))) == 0.0
  finally:
    monitoring.unregister_event_duration_listener(listener)
  assert len(compiles) >= 2  # the listener saw the warm-up compiles, so a compile inside the timing would count
  assert loop.seconds_per_step(batch_problem(), config(), n=2, clock=time.process_time) > 0.0
