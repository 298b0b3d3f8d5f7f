"""Task kinds many projects share, one package each with a MODES table ({mode: fn(config, workdir)})
that vision_jax.main dispatches from: classify/ and denoise/. A task never imports a project or
another task's modules."""
