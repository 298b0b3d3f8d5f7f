"""The composite PINN denoising loss of the seed paper (Eq. 10/16), term by term.

    L = w_data L_data + w_pde L_pde + w_perc L_perc + w_ic L_ic + w_bc L_bc

The weights are always given (one source: the caller's config; Algorithm 1's are ALGORITHM1_WEIGHTS:
data 1, pde 1, perc 0.1, ic 0.03, bc 0.02); a term of weight 0 is not computed, and `total_loss` is
the one place the terms are summed. Images are NHWC (N, H, W, C) in [0, 1].

PDE residual form (`pde_form`):
- "implicit_step" (default): r = x_hat - y - tau * F(x_hat). r = 0 holds exactly when x_hat is one
  backward-Euler step of length tau (pixel^2 units) of u_t = F(u) started from the noisy input y, the
  initial condition of Eq. 14. So the term states the PDE itself, and on its own (zero-shot) it
  defines a denoiser: the implicit diffusion of y. The paper's r = kappa Lap(u) - f_theta(u) mixes the
  network into the operator and is none of Eq. 1-5; we do not use it.
- "steady": r = F(x_hat), the steady-state residual; a smoothness penalty (for heat, ||Lap x_hat||^2).
Both use the grid residual of the prior on the network output (vision_jax.pde).

Perceptual term: no downloaded weights exist offline, so phi is a fixed differential filter bank
(Sobel x, Sobel y and 5-point Laplacian at Gaussian scales 0, 1 and 2 px); L_perc is the mean L1
distance between the filter responses of x_hat and the clean reference (Eq. 12 with w_l = 1/levels).
"""

from __future__ import annotations

import jax.numpy as jnp

from vision_jax.pde import operators, residuals

TERMS = ("data", "pde", "perc", "ic", "bc")
ALGORITHM1_WEIGHTS = {"data": 1.0, "pde": 1.0, "perc": 0.1, "ic": 0.03, "bc": 0.02}
PDE_FORMS = ("implicit_step", "steady")
BC_KINDS = ("neumann", "dirichlet")


def _channels_first(x):
  """NHWC -> (N, C, H, W) so PDE operators see (..., H, W)."""
  return jnp.moveaxis(x, -1, 1)


def pde_residual(x_hat, noisy, prior: str, prior_params: dict, form: str = "implicit_step",
                 tau: float = 1.0, bc: str = "neumann"):
  """Grid residual (N, C, H, W) of the prior on the network output x_hat (NHWC).

  implicit_step: x_hat - y - tau F(x_hat) (= tau times vision_jax.pde.residuals.grid_residual with
  u_prev = y, so the term stays on the image's intensity scale); steady: -F(x_hat).
  """
  u = _channels_first(x_hat)
  if form == "steady":
    return residuals.grid_residual(u, prior, bc=bc, **prior_params)
  if form == "implicit_step":
    return tau * residuals.grid_residual(u, prior, u_prev=_channels_first(noisy), tau=tau, bc=bc, **prior_params)
  raise ValueError(f"unknown pde_form {form!r}; valid: {', '.join(PDE_FORMS)}")


def filter_bank_features(x):
  """Fixed 'perceptual' features of NHWC images: (levels, N, C, H, W) responses of Sobel-x, Sobel-y
  and Laplacian filters at Gaussian scales 0, 1, 2 px (Neumann boundaries)."""
  u = _channels_first(x)
  feats = []
  for sigma in (0.0, 1.0, 2.0):
    v = operators.gaussian_smooth(u, sigma) if sigma > 0 else u
    gx, gy = operators.gradient(v)
    feats += [gx, gy, operators.laplacian(v)]
  return jnp.stack(feats)


def boundary_loss(x_hat, kind: str = "neumann", value: float = 0.0):
  """Eq. 15 on the image border. neumann: mean squared normal difference across each edge;
  dirichlet: mean squared distance of the border pixels to `value` (Algorithm 1 uses 0)."""
  if kind == "neumann":
    diffs = [x_hat[:, 0] - x_hat[:, 1], x_hat[:, -1] - x_hat[:, -2],
             x_hat[:, :, 0] - x_hat[:, :, 1], x_hat[:, :, -1] - x_hat[:, :, -2]]
    return sum(jnp.mean(d ** 2) for d in diffs) / 4.0
  if kind == "dirichlet":
    border = jnp.concatenate([x_hat[:, 0].ravel(), x_hat[:, -1].ravel(),
                              x_hat[:, :, 0].ravel(), x_hat[:, :, -1].ravel()])
    return jnp.mean((border - value) ** 2)
  raise ValueError(f"unknown boundary condition {kind!r}; valid: {', '.join(BC_KINDS)}")


def check_weights(weights: dict) -> dict:
  """The weights as floats; ValueError for an unknown term, a missing one, or a negative weight."""
  unknown, missing = sorted(set(weights) - set(TERMS)), sorted(set(TERMS) - set(weights))
  if unknown or missing:
    raise ValueError(f"loss weights {sorted(weights)} are invalid (unknown {unknown}, missing {missing}); "
                     f"expected one weight per term: {', '.join(TERMS)}")
  out = {k: float(v) for k, v in weights.items()}
  bad = [k for k, v in out.items() if not v >= 0]
  if bad:
    raise ValueError(f"loss weight {bad[0]}={weights[bad[0]]!r} is invalid; expected >= 0")
  return out


def pinn_loss_terms(x_hat, noisy, clean=None, *, weights: dict, prior: str = "zg", prior_params=None,
                    pde_form: str = "implicit_step", tau: float = 1.0, bc_kind: str = "neumann",
                    bc_value: float = 0.0, side_outputs=()) -> dict:
  """Each term of the composite loss as a scalar; terms with weight 0 are not computed (0.0).

  x_hat, noisy, clean: (N, H, W, C). clean may be None (zero-shot): then the data and perceptual
  weights must be 0. side_outputs: deep-supervision outputs (NHWC), added to the data term as their
  mean MSE. prior 'none' disables the PDE term.
  """
  weights = check_weights(weights)
  if clean is None and (weights["data"] > 0 or weights["perc"] > 0):
    raise ValueError("no clean target in this batch (zero-shot), but loss weights data/perc are "
                     f"{weights['data']}/{weights['perc']}; expected 0")
  zero = jnp.zeros((), x_hat.dtype)
  terms = dict.fromkeys(TERMS, zero)
  if weights["data"] > 0:
    data = jnp.mean((x_hat - clean) ** 2)
    if side_outputs:
      data = data + sum(jnp.mean((s - clean) ** 2) for s in side_outputs) / len(side_outputs)
    terms["data"] = data
  if weights["pde"] > 0 and prior != "none":
    r = pde_residual(x_hat, noisy, prior, dict(prior_params or {}), pde_form, tau)
    terms["pde"] = jnp.mean(r ** 2)
  if weights["perc"] > 0:
    terms["perc"] = jnp.mean(jnp.abs(filter_bank_features(x_hat) - filter_bank_features(clean)))
  if weights["ic"] > 0:
    terms["ic"] = jnp.mean((x_hat - noisy) ** 2)
  if weights["bc"] > 0:
    terms["bc"] = boundary_loss(x_hat, bc_kind, bc_value)
  return terms


def total_loss(terms: dict, weights: dict):
  """sum_k weights[k] * terms[k] over the computed terms (any subset of TERMS, e.g. the coordinate
  PINN's ic / pde / bc). A positive weight of a term that was not computed is an error."""
  absent = sorted(k for k, w in weights.items() if float(w) > 0 and k not in terms)
  if absent:
    raise ValueError(f"loss weights {absent} are > 0 but those terms were not computed; set them to 0")
  return sum(float(weights[k]) * terms[k] for k in terms)
