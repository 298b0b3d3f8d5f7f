"""Project pde_denoise (seed 002 article 4, the classical side): the PDE priors of vision_jax.pde
(heat, Perona-Malik, MPMC, ZG, tensor diffusion, TV) as denoisers tuned on a validation image, against
scikit-image TV / NL-means / wavelet and BM3D on the same noisy inputs. See README.md in this folder."""

from vision_jax.projects.pde_denoise import run

MODES = {"train": run.train, "report": run.report_mode}
