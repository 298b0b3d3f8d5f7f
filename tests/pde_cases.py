"""Shared test data for the PDE solver tests (not a test module)."""

# parameters that make every term of each prior matter (K comparable to the gradients of a random image in [0, 1])
PARAMS = {"heat": {}, "perona_malik": {"K": 0.3}, "mpmc": {"K": 0.5}, "zg": {"K": 0.3, "lambda2": 0.02},
          "tensor": {"K": 0.1}, "tv": {"eps": 0.2}}
