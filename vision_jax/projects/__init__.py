"""One package per seed paper: its protocols, paper-specific code, report and README (claims,
protocols, measured verdicts). config.project names a module here with a MODES table. A project
imports the library and vision_jax.tasks, never another project."""
