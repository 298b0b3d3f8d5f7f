"""Parameter counts of the MedMNIST paper's members (seed 002 article 5, Tables 3-4), asserted with
jax.eval_shape (nothing is initialised): the custom CNNs on PathMNIST and their OrganA / OCT head
variants, their stored sizes in MB, the DNN members against the paper's own counts, the published
counts of the new registry architectures (EfficientNet-B0, DenseNet-121, MobileNetV3-Large), XLA
FLOPs against the paper's keras-flops numbers, and guided backprop on the new architectures."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vision_jax.metrics import cost
from vision_jax.models import get_classifier
from vision_jax.models.classifiers.common import count_params
from vision_jax.projects.medmnist_ensembles import models

PATH = {"A": 1_123_081, "B1": 1_618_345, "B2": 870_953, "B3": 813_865, "B4": 1_436_969, "C1": 1_635_561,
        "C3": 3_402_281, "D1": 3_242_729, "D2": 1_896_105, "D3": 4_455_081}
ORGANA = {"B1": 1_618_859, "B2": 871_467, "B3": 814_379, "B4": 1_437_483, "D1": 3_243_243, "D2": 1_896_619,
          "D3": 4_455_595}
OCT = {"B1": 1_617_060, "B2": 869_668, "B3": 812_580, "B4": 1_435_684, "D1": 3_241_444, "D2": 1_894_820,
       "D3": 4_453_796}
PAPER_MB = {"B1": 6.17, "B2": 3.32, "B3": 3.10, "B4": 5.48, "C1": 6.24, "C3": 12.98, "D1": 12.37, "D2": 7.24,
            "D3": 17.01}
PAPER_MFLOPS = {"A": 495.324, "B1": 19.097, "B2": 39.205, "B3": 60.345, "B4": 88.144, "C1": 48.071, "C3": 350.592,
                "D1": 51.486, "D2": 149.645, "D3": 353.127}


def variables(model, channels):
  v = cost.abstract_variables(model, (1, 28, 28, channels))
  return {k: t for k, t in v.items() if k != "perturbations"}


@pytest.mark.parametrize("name", list(PATH))
def test_custom_cnn_counts_pathmnist(name):
  v = variables(models.build_member(name, 9), 3)
  assert cost.num_values(v["params"]) == PATH[name]


@pytest.mark.parametrize("table,classes", [(ORGANA, 11), (OCT, 4)])
def test_head_variants_on_gray_datasets(table, classes):
  """OrganA / OCT are grayscale; the paper replicates them to 3 channels, so only the head changes."""
  for name, want in table.items():
    v = variables(models.build_member(name, classes), 1)
    assert cost.num_values(v["params"]) == want, name


def test_sizes_in_mb_match_the_paper():
  """Stored float32 variables (BN statistics included) / 2^20, to the paper's two decimals.
  Model A is the exception: 4.287 MB here vs the paper's 4.280."""
  for name, mb in PAPER_MB.items():
    assert round(cost.size_mb(variables(models.build_member(name, 9), 3)), 2) == pytest.approx(mb), name
  assert round(cost.size_mb(variables(models.build_member("A", 9), 3)), 3) == 4.287


def test_dnn_members_reproduce_the_papers_counts():
  """Path counts are all stored variables (trainable + BN statistics), OrganA / OCT counts are the
  trainable ones; the head is GAP -> Dense(n) on the 1 x 1 last map (the paper's MaxPool-Flatten-Dense)."""
  cases = {"MobNetV2": (2_269_513, 2_237_963, 2_228_996), "MobV3": (3_005_001, 2_982_523, 2_975_796),
           "Dense121": (7_046_729, 6_965_131, 6_957_956)}
  for name, (path, organa, oct_) in cases.items():
    v = variables(models.build_member(name, 9), 3)
    assert cost.num_values(v) == path, name
    assert cost.num_values(variables(models.build_member(name, 11), 1)["params"]) == organa, name
    assert cost.num_values(variables(models.build_member(name, 4), 1)["params"]) == oct_, name


@pytest.mark.parametrize("name,count", [("efficientnet_b0", 5_288_548), ("densenet121", 7_978_856),
                                        ("mobilenet_v3_large", 5_483_032)])
def test_published_counts_of_new_architectures(name, count):
  assert count_params(get_classifier(name, 1000), (1, 224, 224, 3)) == count  # torchvision / Keras trainable


def test_xla_flops_sit_just_below_the_papers_keras_flops():
  """XLA does not count taps on 'same' padding, keras-flops does: ours are 80-100% of the paper's."""
  for name, paper in PAPER_MFLOPS.items():
    m = models.build_member(name, 9)
    ours = cost.model_flops(m, variables(m, 3), (28, 28, 3)) / 1e6
    assert 0.8 * paper <= ours <= paper, (name, ours, paper)


def test_gray_input_is_replicated():
  m = models.build_member("B1", 4)
  x = jnp.asarray(np.random.default_rng(0).random((2, 28, 28, 1)), jnp.float32)
  v = jax.jit(lambda k: m.init(k, x))(jax.random.key(0))
  np.testing.assert_allclose(m.apply(v, x)[0], m.apply(v, jnp.repeat(x, 3, -1))[0], rtol=1e-5, atol=1e-6)
  with pytest.raises(ValueError, match="unknown ensemble member"):
    models.build_member("C2", 9)


@pytest.mark.parametrize("name", [pytest.param("efficientnet_tiny", marks=pytest.mark.slow), "densenet_tiny",
                                  pytest.param("mobilenet_v3_large_tiny", marks=pytest.mark.slow)])
def test_guided_backprop_on_the_new_architectures(name):
  """Every activation of the new registry architectures is swapped inside guided_activations()
  (tests/test_explain.py's coverage test counts these three as tested here)."""
  from vision_jax import explain as ex
  from vision_jax.train.loop import compile_init
  model = get_classifier(name, 3, in_channels=1)
  x = jnp.asarray(np.random.default_rng(0).random((2, 32, 32, 1), np.float32))
  v = compile_init(lambda k: model.init(k, x, train=False), jax.random.key(0))(jax.random.key(0))
  v = {k: val for k, val in v.items() if k != "perturbations"}
  gb = np.asarray(ex.guided_backprop(model, v, x, 1))
  sal = np.asarray(ex.saliency(model, v, x, 1))
  assert np.isfinite(gb).all() and np.abs(gb).sum() > 0
  assert not np.allclose(gb, sal, rtol=1e-3, atol=1e-3 * np.abs(sal).max())  # gradients are tiny at init
