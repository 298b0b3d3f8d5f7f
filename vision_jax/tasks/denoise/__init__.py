"""The denoise task kind: supervised denoisers and the honest comparison every denoising project uses.

evaluation: fixed noisy test sets, methods run on the same inputs, scores and tables.
model:      the config's denoiser and a full-image denoise method.
supervised: patch sampling with on-device noise, the held-out guard, the MSE loss.
references: the noisy input, classical baselines and a PDE prior, tuned on the validation image.
report:     results.json / .md / .csv / comparison.png, and re-rendering for --mode=report.
modes:      train / eval / report of the plain supervised task.
blind:      one model over a range of AWGN levels; noise-level-map inputs.
stagewise:  greedy-then-joint training of staged models (TNRD family).
export:     --mode=export: the trained parameters as the .npz that vision_jax.denoise loads.
"""

from vision_jax.tasks.denoise import export, modes

MODES = {"train": modes.train, "eval": modes.eval, "report": modes.report_mode, "export": export.export}
