"""train / eval / report of the PINN denoising project: backbone x PDE prior x noise under one protocol.

Every run reports, on the same noisy test images: the model, the noisy input, the classical
baselines and a classical PDE prior (tuned on the validation image), plus a verdict line that sets
the measured number beside the paper's claim.
"""

from __future__ import annotations

from vision_jax import noise as noise_lib
from vision_jax.pde import priors as priors_lib
from vision_jax.projects.pinn_denoise import claims, loss as loss_lib, per_image, selfsup, zeroshot
from vision_jax.projects.pinn_denoise.protocols import Protocol, get_protocol, zeroshot_stop_rule
from vision_jax.tasks.denoise import evaluation, model as model_lib, modes, references, report, self_supervised, supervised
from vision_jax.train import workdir as workdir_lib

BACKBONES = model_lib.IMAGE_BACKBONES + ("coord_mlp",)


def validate(config) -> Protocol:
  """Checks every name and value of the config that cannot be checked later without tracing."""
  protocol = get_protocol(config.protocol)
  if config.backbone not in BACKBONES:
    raise ValueError(f"unknown backbone {config.backbone!r}; valid: {', '.join(BACKBONES)}")
  if config.backbone == "coord_mlp" and config.protocol != "zeroshot":
    raise ValueError(f"backbone 'coord_mlp' (the coordinate PINN u(x, y, t)) fits one noisy image; it runs only "
                     f"with protocol=zeroshot, not {config.protocol!r}")
  if config.prior != "none":
    priors_lib.get_prior(config.prior)
  noise_lib.noise_kwargs(config.noise)
  loss_lib.prior_params(config)
  loss_lib.check_loss_config(config, protocol.loss_weights(config))
  references.validate(config)
  if protocol.self_supervised:
    if config.backbone == "coord_mlp":
      raise ValueError("backbone 'coord_mlp' fits one noisy image; protocol 'selfsup' trains an image network")
    selfsup.check_config(config)
  if protocol.name == "zeroshot" and zeroshot_stop_rule(config) == "sure":
    self_supervised.check_loss("sure", config.noise.kind)
    zeroshot.check_tuning_config(config)
  if protocol.per_image:
    key = "coord.steps" if config.backbone == "coord_mlp" else f"{protocol.name}.steps"
    section, field = key.split(".")
    if int(config[section][field]) < 1:
      raise ValueError(f"{key}={config[section][field]!r} is invalid; expected >= 1")
  return protocol


def method_label(config) -> str:
  return f"{config.backbone}-{config.prior} [{get_protocol(config.protocol).label_for(config)}]"


def heldout_loss(protocol: Protocol):
  """The denoise task's loss factory for the PINN composite loss with the protocol's weights."""
  return lambda model, config: loss_lib.make_loss_fn(model, config, protocol.loss_weights(config))


def train(config, workdir: str):
  """Runs the configured protocol, evaluates against the references on the same inputs, writes the report."""
  protocol = validate(config)
  label = method_label(config)
  if not protocol.per_image:
    h = modes.prepare_heldout(config)
    desc = f"{config.backbone}-{config.prior}"
    if protocol.self_supervised:
      method, info = selfsup.fit(config, workdir, h, protocol, desc=f"{desc} ({config.selfsup.loss})")
    else:
      method, info = modes.fit_heldout(config, workdir, h, heldout_loss(protocol), desc=desc)
    test, val = h.test, h.val
    results = modes.model_rows(config, label, method, test)
  else:
    model, multiple = model_lib.build_model(config, BACKBONES)
    test, val = modes.load_eval_sets(config)
    supervised.assert_disjoint([], test, val)
    workdir_lib.prepare(config, workdir)
    result, info = per_image.run_per_image(config, model, multiple, test, protocol)
    results = {label: result}
  settings = {}
  if protocol.name == "zeroshot" and config.zeroshot.get("prior_rows", False) and config.prior != "none":
    rows, tuned = zeroshot.prior_rows(config, test)  # SURE-tuned prior and its oracle-tuned self
    results.update(rows)
    info.update({f"{row} settings": "; ".join(", ".join(f"{k}={v:.4g}" for k, v in s.items() if k != "score")
                                              for s in per) for row, per in tuned.items()})
  refs, ref_settings = references.reference_methods(config, test, val)
  results.update(refs)
  settings.update(ref_settings)
  write_report(workdir, config, protocol, test, results, settings, info)
  return results


def write_report(workdir, config, protocol: Protocol, test: evaluation.TestSet, results: dict, settings, info) -> str:
  label = method_label(config)
  mean_psnr = sum(results[label]["psnr"]) / len(results[label]["psnr"])
  intro = (f"Protocol {protocol.name}: each fit sees {protocol.data}. Noise: {noise_lib.noise_label(config.noise)} "
           f"(fixed seed {config.eval.seed}); test images `{modes.test_source(config)}`; every method sees the same "
           "noisy inputs; outputs clipped to [0, 1] for scoring.")
  record = report.make_record(f"PINN denoising: {label}", intro, test, results, settings=settings,
                              lines=[claims.verdict(config, protocol.name, mean_psnr)], info=info,
                              protocol=protocol.name, backbone=config.backbone, prior=config.prior,
                              noise=noise_lib.noise_label(config.noise),
                              figure_title=f"{test.names[0]}: {noise_lib.noise_label(config.noise)}")
  return report.write_results(workdir, record, test, results)


def eval(config, workdir: str):  # noqa: A001 (mode name)
  """Evaluates the held-out checkpoint in workdir on eval.data_dir (or data.test); writes eval_results.*."""
  protocol = validate(config)
  if protocol.per_image:
    raise ValueError(f"protocol {protocol.name!r} fits each test image and keeps no checkpoint; --mode=eval needs a "
                     "held-out workdir (protocol=heldout)")
  if protocol.self_supervised and self_supervised.uses_stabilization(str(config.selfsup.loss), config.noise.kind):
    raise ValueError(f"--mode=eval of a network trained on stabilised {config.noise.kind} images is not supported "
                     "(its train run evaluated it); use noise.kind=awgn or selfsup.loss=noise2self")
  return modes.evaluate_checkpoint(config, workdir, method_label(config))


def report_mode(config, workdir: str):
  """Re-renders results.md / results.csv from results.json (nothing is recomputed)."""
  return report.rerender(workdir)
