"""Per-op convolution table for bench_trainstep.py: GFLOP/s of each route next to a matmul's.

For every distinct 2-D convolution in the chosen models (found in the jaxpr of their training
forward pass), times the forward pass, the input gradient and the weight gradient on each route of
vision_jax.models.conv (xla: lax.conv_general_dilated and XLA's autodiff; taps: kh*kw shifted
matrix products; cols: one product with the taps stacked on the thinner side, groups = 1), marks
the route `choose_routes` picks in auto mode, and prints the picked route's rate as a percentage
of a 2048 x 2048 float32 matmul measured in the same run. FLOPs of each op: 2 N OH OW F kh kw C/g.
"""

from __future__ import annotations

import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.extend import core as jex_core

from vision_jax.models import conv as conv_lib

OPS = ("fwd", "dx", "dw")
NHWC = ("NHWC", "HWIO", "NHWC")


def _sub_jaxprs(value):
  if isinstance(value, jex_core.ClosedJaxpr):
    yield value.jaxpr
  elif isinstance(value, jex_core.Jaxpr):
    yield value
  elif isinstance(value, (tuple, list)):
    for v in value:
      yield from _sub_jaxprs(v)


def _convs(jaxpr):
  for eqn in jaxpr.eqns:
    if eqn.primitive.name == "conv_general_dilated":
      yield eqn
    for value in eqn.params.values():
      for sub in _sub_jaxprs(value):
        yield from _convs(sub)


def conv_shapes(names, build, batch):
  """Distinct NHWC/HWIO convs of the models' training forward: {key: (spec dict, [model names])}."""
  old = os.environ.get(conv_lib.ENV_VAR)
  os.environ[conv_lib.ENV_VAR] = "xla"
  found = {}
  try:
    for name in names:
      model, shape, classes = build(name)
      x = jax.ShapeDtypeStruct(shape, jnp.float32)
      variables = jax.eval_shape(lambda k, x: model.init(k, x, train=False), jax.random.PRNGKey(0), x)
      fwd = lambda v, x: model.apply(v, x, train=True, mutable=["batch_stats"])
      for eqn in _convs(jax.make_jaxpr(fwd)(variables, x).jaxpr):
        lhs, rhs = (v.aval.shape for v in eqn.invars)
        p = eqn.params
        want = lax.conv_dimension_numbers(lhs, rhs, NHWC)
        if p["dimension_numbers"] != want or any(d != 1 for d in p["lhs_dilation"]):
          continue  # e.g. TNRD's adjoint (a transposed conv): timed as its layer's input gradient
        spec = dict(x=tuple(lhs), w=tuple(rhs), strides=tuple(p["window_strides"]),
                    padding=tuple(tuple(q) for q in p["padding"]), dilation=tuple(p["rhs_dilation"]),
                    groups=p["feature_group_count"])
        key = tuple(sorted((k, str(v)) for k, v in spec.items()))
        found.setdefault(key, (spec, []))[1].append(name)
  finally:
    if old is None:
      os.environ.pop(conv_lib.ENV_VAR, None)
    else:
      os.environ[conv_lib.ENV_VAR] = old
  return list(found.values())


def best_seconds(fn, args, rounds=3):
  """Best wall seconds of jitted fn(*args) over `rounds` calls, after one warm-up call."""
  jax.block_until_ready(fn(*args))
  best = float("inf")
  for _ in range(rounds):
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    best = min(best, time.perf_counter() - t0)
  return best


def matmul_gflops(n=2048):
  a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
  return 2 * n ** 3 / 1e9 / best_seconds(jax.jit(lambda a: a @ a), (a,), rounds=5)


def op_seconds(spec, route, rounds=3):
  """Best-of-`rounds` seconds of (fwd, dx, dw) for one conv spec on one route."""
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.standard_normal(spec["x"]), jnp.float32)
  w = jnp.asarray(rng.standard_normal(spec["w"]), jnp.float32)
  conv = lambda routes: (lambda x, w: conv_lib.conv2d(x, w, spec["strides"], spec["padding"],
                                                      spec["dilation"], spec["groups"], routes=routes))
  ct = jnp.ones(jax.eval_shape(conv(("xla",) * 3), x, w).shape, jnp.float32)
  fwd = jax.jit(conv((route, "xla", "xla")))
  dx = jax.jit(lambda x, w, ct: jax.vjp(lambda x: conv(("xla", route, "xla"))(x, w), x)[1](ct)[0])
  dw = jax.jit(lambda x, w, ct: jax.vjp(lambda w: conv(("xla", "xla", route))(x, w), w)[1](ct)[0])
  return (best_seconds(fwd, (x, w), rounds), best_seconds(dx, (x, w, ct), rounds),
          best_seconds(dw, (x, w, ct), rounds))


def describe(spec):
  (n, h, w_, c), (kh, kw, _, f) = spec["x"], spec["w"]
  s = "" if spec["strides"] == (1, 1) else f"/{spec['strides'][0]}"
  d = "" if spec["dilation"] == (1, 1) else f" d{spec['dilation'][0]}"
  g = "" if spec["groups"] == 1 else (" dw" if spec["groups"] == c else f" g{spec['groups']}")
  return f"{n}x{h}x{w_}x{c}->{f} {kh}x{kw}{s}{d}{g}"


def op_table(names, build, batch):
  """Prints the per-op table for the conv shapes of `names`; returns its rows."""
  shapes = conv_shapes(names, build, batch)
  mm = matmul_gflops()
  print(f"\nper-op conv table ({len(shapes)} distinct shapes of {', '.join(names)}); "
        f"2048^2 f32 matmul: {mm:.1f} GFLOP/s; load {os.getloadavg()[0]:.1f}")
  print(f"{'shape (NxHxWxC->F kernel/stride)':34s} {'MFLOP':>7s} | " +
        " | ".join(f"{op + ' xla/taps/cols/rows GF/s':>31s}" for op in OPS)
        + " | auto picks       | auto % of matmul")
  rows = []
  for spec, users in sorted(shapes, key=lambda s: -np.prod(s[0]["x"]) * np.prod(s[0]["w"])):
    (n, _, _, c), (kh, kw, cg, f) = spec["x"], spec["w"]
    out_hw = conv_lib.output_hw(spec["x"][1:3], (kh, kw), conv_lib.ConvSpec(
        spec["strides"], spec["padding"], spec["dilation"], spec["groups"], None, ("xla",) * 3))
    gflop = 2 * n * out_hw[0] * out_hw[1] * f * kh * kw * cg / 1e9
    routes = ["xla", "taps", "rows"] + (["cols"] if spec["groups"] == 1 else [])
    secs = {r: op_seconds(spec, r) for r in routes}
    auto = conv_lib.choose_routes(spec["x"], spec["w"], spec["strides"], spec["dilation"],
                                  spec["groups"], mode="auto", backend="cpu")
    cells = []
    for k in range(3):
      rates = [f"{gflop / secs[r][k]:6.1f}" if r in secs else "     -" for r in conv_lib.ROUTES]
      cells.append(f"{'/'.join(rates):>31s}")
    pct = [100 * gflop / secs[auto[k]][k] / mm for k in range(3)]
    print(f"{describe(spec):34s} {gflop * 1e3:7.1f} | " + " | ".join(cells) +
          f" | {'/'.join(auto):16s} | " + "/".join(f"{p:3.0f}%" for p in pct), flush=True)
    rows.append({"shape": describe(spec), "gflop": gflop, "seconds": secs, "auto": auto,
                 "models": sorted(set(users))})
  print(f"matmul again at the end: {matmul_gflops():.1f} GFLOP/s; load {os.getloadavg()[0]:.1f}")
  return rows
