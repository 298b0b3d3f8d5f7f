"""Knowledge distillation from one teacher (KD, Hinton et al. 2015) or an ensemble of teachers (EKD,
Vrbancic & Podgorelec; seed 002 article 8):

    L = alpha * CE(y, softmax(z)) + (1 - alpha) * T^2 * CE(p_soft, softmax(z / T)),
    p_soft = (1 / K) sum_k softmax(z_k / T)

with z the student's logits, z_k the K teachers' logits (taken before their softmax) and T the
temperature. The T^2 factor keeps the soft term's gradient on the scale of the hard term's
(d/dz of the soft CE is (softmax(z / T) - p_soft) / T). KD is the same loss with K = 1.
All functions are jittable; batch means are taken over the leading axis.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def soft_targets(teacher_logits, temperature: float):
  """p_soft: the mean over K teachers of softmax(z_k / T); (K, N, C) or (N, C) -> (N, C)."""
  z = jnp.asarray(teacher_logits)
  if z.ndim == 2:
    z = z[None]
  if z.ndim != 3:
    raise ValueError(f"teacher logits have shape {z.shape}; expected (K, N, C) or (N, C)")
  if temperature <= 0:
    raise ValueError(f"temperature={temperature!r} is invalid; expected > 0")
  return jnp.mean(jax.nn.softmax(z / temperature, axis=-1), axis=0)


def soft_cross_entropy(targets, logits):
  """CE(p, softmax(z)) = -sum_c p_c log softmax(z)_c per row; (N, C), (N, C) -> (N,)."""
  return -jnp.sum(targets * jax.nn.log_softmax(logits, axis=-1), axis=-1)


def distillation_loss(student_logits, labels, targets, *, alpha: float = 0.5, temperature: float = 3.0):
  """Mean over the batch of alpha CE(y, softmax(z)) + (1 - alpha) T^2 CE(p_soft, softmax(z / T)).

  student_logits (N, C); labels (N,) int class indices; targets (N, C) p_soft from `soft_targets`.
  Returns (loss, {"hard": mean hard CE, "soft": mean soft CE (without the T^2 factor)}).
  """
  if not 0.0 <= float(alpha) <= 1.0:
    raise ValueError(f"alpha={alpha!r} is invalid; expected 0 <= alpha <= 1")
  if float(temperature) <= 0:
    raise ValueError(f"temperature={temperature!r} is invalid; expected > 0")
  z = jnp.asarray(student_logits)
  if z.shape != jnp.shape(targets):
    raise ValueError(f"student logits {z.shape} and soft targets {jnp.shape(targets)} differ; expected equal (N, C)")
  log_p = jax.nn.log_softmax(z, axis=-1)
  hard = -jnp.mean(jnp.take_along_axis(log_p, jnp.asarray(labels)[:, None].astype(jnp.int32), axis=-1))
  soft = jnp.mean(soft_cross_entropy(jax.lax.stop_gradient(targets), z / temperature))
  loss = alpha * hard + (1.0 - alpha) * temperature ** 2 * soft
  return loss, {"hard": hard, "soft": soft}
