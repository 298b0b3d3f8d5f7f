"""CNN train-step time on CPU: JAX before/after models.conv against PyTorch, per-op conv GFLOP/s.

  .venv/bin/python benchmarks/bench_trainstep.py                          # all models, ops, calibration
  .venv/bin/python benchmarks/bench_trainstep.py --models dncnn17_16x64,tnrd7 --no-ops --steps 3

One train step = forward, MSE (denoisers) or cross-entropy (classifiers), backward, global-norm clip
1.0 and Adam, jitted with the state donated; PyTorch runs the same network (benchmarks/
torch_models.py, parameter counts printed side by side) with the same loss, clip and Adam.
Columns (best seconds per step over --steps rounds, after two warm-up steps; in each round every
variant runs one step in turn, so all share the same background load):
  before   VISION_JAX_CONV=xla: lax.conv_general_dilated and nn.max_pool with XLA's autodiff (what
           nn.Conv and nn.max_pool ran)
  after    VISION_JAX_CONV=auto: the models.conv and models.pool routes on one CPU device (the default setup)
  aft xD   the same on D = --threads host devices (the benchmark sets
           XLA_FLAGS=--xla_force_host_platform_device_count=D before JAX starts; the batch is sharded
           over a ("data",) mesh as vision_jax.train does; the other JAX rows use the first device)
All JAX columns run under vision_jax.cpu_flags (set by `import vision_jax` before JAX starts: XLA's
Eigen convolutions on every core instead of YNNPACK's on one); --xla_defaults keeps XLA's own flags,
which reproduces the tables measured before that module existed.
  torch    PyTorch, best of NCHW and channels_last
  ratios   torch seconds / JAX seconds (> 1: JAX is faster)
The line under each row gives the process CPU seconds of the same steps (all threads): on a loaded
machine wall time mostly measures the share of the cores a run got, CPU time the work it did.
Threads: the process is pinned to --threads cores (os.sched_setaffinity) before JAX starts, so XLA's
pool (one thread per visible core) and torch.set_num_threads(--threads) use the same cores. Other
users' jobs share the machine: the load average is printed before each row; rerun when it was high.
Per-op table: forward, input-gradient and weight-gradient GFLOP/s of each distinct conv shape of the
chosen models on each route of models.conv (xla, taps, cols, rows) (models/conv.py), the route `auto` picks, and a
2048 x 2048 f32 matmul measured in the same run. Calibration: seconds per step and steps in a
12-minute budget for the Set12 benchmark's two trained models (TNRD 5 x 24 5x5 linear, DnCNN-17).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.dirname(os.path.abspath(__file__))

# name: (registry, constructor kwargs, input shape NHWC, num_classes or None for a denoiser)
MODELS = {
    "dncnn17_128x40": ("denoiser", dict(name="dncnn", depth=17, features=64), (128, 40, 40, 1), None),
    "dncnn17_16x64": ("denoiser", dict(name="dncnn", depth=17, features=64), (16, 64, 64, 1), None),
    "resu2net_small": ("denoiser", dict(name="resu2net", mid=4, features=16, heights=(4, 4, 3, 3),
                                         output="residual"), (8, 64, 64, 1), None),
    "unet_small": ("denoiser", dict(name="unet", features=(16, 32, 64)), (8, 64, 64, 1), None),
    "tnrd7": ("denoiser", dict(name="tnrd", stages=5, num_filters=48, kernel_size=7, influence="linear"),
              (16, 64, 64, 1), None),
    "tnrd5_set12": ("denoiser", dict(name="tnrd", stages=5, num_filters=24, kernel_size=5,
                                     influence="linear"), (16, 64, 64, 1), None),
    "resnet18": ("classifier", dict(name="resnet18", cifar_stem=True), (64, 32, 32, 3), 10),
    "xception": ("classifier", dict(name="xception", in_channels=4, width_multiplier=0.25),
                 (8, 128, 128, 4), 2),
}
CALIBRATION = {"tnrd5_set12": 1266, "dncnn17_16x64": 143}  # steps in 12 min before (README)
BUDGET_S = 12 * 60


def build_jax(name):
  from vision_jax.models import get_classifier, get_denoiser
  kind, kw, shape, classes = MODELS[name]
  kw = dict(kw)
  arch = kw.pop("name")
  return (get_denoiser(arch, **kw) if kind == "denoiser" else get_classifier(arch, classes, **kw)), shape, classes


def batch(shape, classes, seed=0):
  import numpy as np
  rng = np.random.default_rng(seed)
  x = rng.random(shape, dtype=np.float32)
  if classes is None:
    return x, np.clip(x - 0.1 * rng.standard_normal(shape).astype(np.float32), 0, 1)
  return x, rng.integers(0, classes, shape[0]).astype(np.int32)


def optimizer():
  import optax
  return optax.chain(optax.clip_by_global_norm(1.0), optax.adam(optax.cosine_decay_schedule(1e-3, 1000)))


def prepare_jax(name, mode, devices, hlo_path=None):
  """One jitted train step of model `name` with VISION_JAX_CONV=mode on the first `devices` host
  devices (batch sharded over a ("data",) mesh); returns (run one step, parameter count).
  hlo_path: also write the compiled step's HLO text there (benchmarks/profile_trainstep.py)."""
  import jax
  import jax.numpy as jnp
  import numpy as np
  import optax
  from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
  os.environ["VISION_JAX_CONV"] = mode  # read when the step is traced (below, at compile)
  model, shape, classes = build_jax(name)
  x, y = batch(shape, classes)
  mesh = Mesh(np.array(jax.devices()[:devices]), ("data",))
  x, y = (jax.device_put(a, NamedSharding(mesh, P("data"))) for a in (x, y))
  variables = jax.jit(lambda k: model.init(k, x[:1], train=False))(jax.random.PRNGKey(0))
  tx = optimizer()
  state = {"params": variables["params"], "stats": variables.get("batch_stats", {}),
           "opt": tx.init(variables["params"])}
  state = jax.device_put(state, NamedSharding(mesh, P()))

  def loss_fn(params, stats, x, y):
    out, new = model.apply({"params": params, **({"batch_stats": stats} if stats else {})}, x,
                           train=True, mutable=["batch_stats"])
    pred = out[0]
    if classes is None:
      loss = jnp.mean((pred - y) ** 2)
    else:
      loss = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(pred, y))
    return loss, new.get("batch_stats", stats)

  def step(state, x, y):
    (loss, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(state["params"], state["stats"], x, y)
    updates, opt = tx.update(grads, state["opt"], state["params"])
    return {"params": optax.apply_updates(state["params"], updates), "stats": stats, "opt": opt}, loss

  step = jax.jit(step, donate_argnums=(0,))
  if hlo_path:
    with open(hlo_path, "w") as f:
      f.write(step.lower(state, x, y).compile().as_text())
  box = {"state": state}

  def run():
    box["state"], loss = step(box["state"], x, y)
    if not np.isfinite(float(loss)):  # float() blocks until the step is done
      raise FloatingPointError(f"{name} ({mode}, {devices} devices) loss {float(loss)}")

  for _ in range(2):  # compile, then the step with committed (output) shardings
    run()
  n_params = sum(int(np.prod(a.shape)) for a in jax.tree.leaves(variables["params"]))
  return run, n_params


def prepare_torch(name, threads, channels_last):
  """The PyTorch train step of the same network; returns (run one step, parameter count)."""
  import torch
  import torch_models as tm
  torch.set_num_threads(threads)
  kind, kw, shape, classes = MODELS[name]
  kw = dict(kw)
  arch = kw.pop("name")
  c = shape[-1]
  make = {"dncnn": lambda: tm.DnCNN(kw["depth"], kw["features"], c),
          "unet": lambda: tm.UNet(kw["features"], c),
          "resu2net": lambda: tm.ResU2Net(kw["mid"], kw["features"], kw["heights"], c),
          "tnrd": lambda: tm.TNRD(kw["stages"], kw["num_filters"], kw["kernel_size"], channels=c),
          "resnet18": lambda: tm.ResNet18(classes, c),
          "xception": lambda: tm.Xception(classes, c, kw["width_multiplier"])}[arch]
  x, y = batch(shape, classes)
  layout = torch.channels_last if channels_last else torch.contiguous_format
  x = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(memory_format=layout)
  y = torch.from_numpy(y).permute(0, 3, 1, 2).contiguous() if classes is None else torch.from_numpy(y).long()
  torch.manual_seed(0)
  net = make().to(memory_format=layout)
  opt = torch.optim.Adam(net.parameters(), 1e-3)

  def run():
    opt.zero_grad(set_to_none=True)
    out = net(x)
    loss = torch.mean((out - y) ** 2) if classes is None else torch.nn.functional.cross_entropy(out, y)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
    opt.step()

  for _ in range(2):
    run()
  return run, tm.count_params(net)


def interleaved(runs: dict, rounds: int) -> dict:
  """(wall, process CPU) seconds per call of each callable, calling them in turn `rounds` times.

  Interleaving gives every variant the same share of the other users' load."""
  times = {k: [] for k in runs}
  for _ in range(rounds):
    for k, run in runs.items():
      t0, c0 = time.perf_counter(), time.process_time()
      run()
      times[k].append((time.perf_counter() - t0, time.process_time() - c0))
  return times


def load():
  return os.getloadavg()[0]


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--models", default=",".join(MODELS), help=f"comma list of {', '.join(MODELS)}")
  p.add_argument("--steps", type=int, default=5, help="timed rounds (each variant once per round)")
  p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
  p.add_argument("--ops", action=argparse.BooleanOptionalAction, default=True, help="per-op table")
  p.add_argument("--ops_models", default="", help="models whose conv shapes the op table covers (default --models)")
  p.add_argument("--torch", action=argparse.BooleanOptionalAction, default=True)
  p.add_argument("--train", action=argparse.BooleanOptionalAction, default=True, help="train-step rows")
  p.add_argument("--xla_defaults", action="store_true",
                 help="keep XLA:CPU's own flags (VISION_JAX_XLA_DEFAULTS=0: YNNPACK convolutions, one core)")
  args = p.parse_args(argv)
  models = args.models.split(",")
  unknown = [m for m in models + [m for m in args.ops_models.split(",") if m] if m not in MODELS]
  if unknown:
    raise SystemExit(f"unknown model(s) {unknown}; valid: {', '.join(MODELS)}")
  # Before JAX starts: pin the cores, and expose one host device per thread for the data-parallel rows
  # (the one-device rows use the first device only).
  os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:args.threads])
  if args.threads > 1 and "host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               f" --xla_force_host_platform_device_count={args.threads}").strip()
  sys.path.insert(0, BENCH)
  if args.xla_defaults:
    os.environ["VISION_JAX_XLA_DEFAULTS"] = "0"
  import vision_jax  # noqa: F401  (sets vision_jax.cpu_flags before JAX starts its backend)
  import jax
  devices = len(jax.devices())
  print(f"jax {jax.__version__} on {jax.default_backend()}, {devices} host device(s), {args.threads} "
        f"threads (affinity {sorted(os.sched_getaffinity(0))}), XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}")
  have_torch = False
  if args.torch:
    try:
      import torch
      have_torch = True
      print(f"torch {torch.__version__}, torch.set_num_threads({args.threads})")
    except ImportError:
      print("torch is not installed (pip install -e '.[bench]'): JAX rows only")
  if args.ops:
    import bench_convops
    bench_convops.op_table((args.ops_models or args.models).split(","), build_jax, batch)
  if not args.train:
    return {}
  dev = f"aft x{devices}"
  cols = ["before", "after"] + ([dev] if devices > 1 else []) + (["torch"] if have_torch else [])
  print(f"\ntrain step seconds, best of {args.steps} interleaved rounds (ratio = torch s / JAX s; > 1: "
        "JAX faster)")
  print(f"{'model':16s} {'params':>10s} " + " ".join(f"{c:>8s}" for c in cols) +
        ("  t/before  t/after" + (f" t/{dev}" if devices > 1 else "") if have_torch else "") + "  load")
  rows = {}
  for name in models:
    l0 = load()
    runs, counts = {}, {}
    runs["before"], counts["jax"] = prepare_jax(name, "xla", 1)
    runs["after"], _ = prepare_jax(name, "auto", 1)
    if devices > 1:
      runs[dev], _ = prepare_jax(name, "auto", devices)
    if have_torch:
      runs["torch nchw"], counts["torch"] = prepare_torch(name, args.threads, False)
      runs["torch cl"], _ = prepare_torch(name, args.threads, True)
    times = interleaved(runs, args.steps)
    best = {k: min(v) for k, v in times.items()}  # the (wall, cpu) pair of the fastest round
    if have_torch:
      best["torch"] = min(best.pop("torch nchw"), best.pop("torch cl"))
    cpu = {k: v[1] for k, v in best.items()}
    best = {k: v[0] for k, v in best.items()}
    line = f"{name:16s} {counts['jax']:10,d} " + " ".join(f"{best[c]:8.3f}" for c in cols)
    if have_torch:
      line += f"  {best['torch'] / best['before']:8.2f} {best['torch'] / best['after']:8.2f}"
      if devices > 1:
        line += f" {best['torch'] / best[dev]:{len(dev) + 2}.2f}"
      if counts["torch"] != counts["jax"]:
        line += f"  (torch port: {counts['torch']:,d} params)"
    rows[name] = best
    print(line + f"  {l0:.1f}-{load():.1f}", flush=True)
    print(f"{'  (CPU s)':27s} " + " ".join(f"{cpu[c]:8.3f}" for c in cols), flush=True)
    del runs
  calibrated = [m for m in CALIBRATION if m in rows]
  if calibrated:
    print(f"\nSet12 step calibration (16 patches of 64 x 64, Adam): steps in a {BUDGET_S // 60}-minute budget")
    for name in calibrated:
      r = rows[name]
      cells = [f"{c} {r[c]:.3f} s -> {int(BUDGET_S / r[c])}" for c in cols if c != "torch"]
      print(f"  {name:14s} " + "; ".join(cells) + f"  (README's Set12 run: {CALIBRATION[name]} steps)")
  return rows


if __name__ == "__main__":
  main()
