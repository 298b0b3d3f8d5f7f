"""Experiment configs, one folder per project (or task kind), importable from the repository root:
`configs/<name>/default.py` has get_config(arg); variants import it and change a few fields."""
