"""Project pinn_denoise (seed 002 article 4): PINN denoisers under the held-out, oracle and zero-shot
protocols, the coordinate PINN, the honest study (Tables 4-6, data scarcity) and the Set12 benchmark.
See README.md in this folder for the paper's claims, the protocols and the measured verdicts.

protocols:  the PROTOCOLS registry (data each fit sees, loss weights, stopping rule, label).
loss:       the composite PINN loss as a trainer loss_fn.
per_image:  oracle / zero-shot fits; coord_pinn: the coordinate network u(x, y, t).
claims:     the paper's numbers (as claims) and the verdict line.
run:        train / eval / report (config.project = "pinn_denoise").
study:      the study's tables (config.project = "pinn_denoise.study").
demo:       the `make demo` report (config.project = "pinn_denoise.demo"; configs/pinn_denoise/demo.py).
"""

from vision_jax.projects.pinn_denoise import run

MODES = {"train": run.train, "eval": run.eval, "report": run.report_mode}
