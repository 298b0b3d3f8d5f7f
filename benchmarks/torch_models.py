"""PyTorch ports of the benchmarked vision_jax models (same layers, widths and parameter counts).

Only for benchmarks/bench_trainstep.py: the reference each JAX train step is measured against.
Layouts are PyTorch's (NCHW); every port's parameter count equals the JAX model's (the benchmark
prints both). Needs the optional `bench` extra (torch); importing this module without torch
raises ImportError, which the benchmark catches.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vision_jax.models.classifiers.common import scaled


def _bn(c, eps=1e-5, momentum=0.1):
  return nn.BatchNorm2d(c, eps=eps, momentum=momentum)


class DnCNN(nn.Module):
  """conv3x3(C->F, bias) + ReLU; (depth-2) x [conv3x3 no bias + BN + ReLU]; conv3x3(F->C, no bias)."""

  def __init__(self, depth=17, features=64, channels=1):
    super().__init__()
    layers = [nn.Conv2d(channels, features, 3, padding=1), nn.ReLU()]
    for _ in range(depth - 2):
      layers += [nn.Conv2d(features, features, 3, padding=1, bias=False), _bn(features), nn.ReLU()]
    layers.append(nn.Conv2d(features, channels, 3, padding=1, bias=False))
    self.body = nn.Sequential(*layers)

  def forward(self, x):
    return x - self.body(x)


def _up(x, like):
  return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


class UNet(nn.Module):
  """vision_jax UNet: two 3x3 conv + ReLU per level, bilinear up + 3x3 up-conv, 1x1 head, residual."""

  def __init__(self, features=(16, 32, 64), channels=1):
    super().__init__()
    conv = lambda a, b: nn.Conv2d(a, b, 3, padding=1)
    self.enc = nn.ModuleList()
    prev = channels
    for f in features:
      self.enc.append(nn.ModuleList([conv(prev, f), conv(f, f)]))
      prev = f
    self.dec = nn.ModuleList()
    for i in range(len(features) - 2, -1, -1):
      f = features[i]
      self.dec.append(nn.ModuleList([conv(features[i + 1], f), conv(2 * f, f), conv(f, f)]))
    self.head = nn.Conv2d(features[0], channels, 1)

  def forward(self, x):
    skips, h = [], x
    for i, (c0, c1) in enumerate(self.enc):
      if i > 0:
        h = F.max_pool2d(h, 2)
      h = F.relu(c1(F.relu(c0(h))))
      skips.append(h)
    for k, (up, c0, c1) in enumerate(self.dec):
      skip = skips[len(skips) - 2 - k]
      h = F.relu(up(_up(h, skip)))
      h = F.relu(c1(F.relu(c0(torch.cat([h, skip], 1)))))
    return x - self.head(h)


class REBN(nn.Module):
  def __init__(self, cin, cout, dilation=1):
    super().__init__()
    self.conv = nn.Conv2d(cin, cout, 3, padding=dilation, dilation=dilation)
    self.bn = _bn(cout)

  def forward(self, x):
    return F.relu(self.bn(self.conv(x)))


class RSU(nn.Module):
  """Residual U-block RSU-L (or RSU-LF when dilated), as vision_jax.models.denoisers.u2net.RSU."""

  def __init__(self, height, cin, mid, out, dilated=False):
    super().__init__()
    self.height, self.dilated = height, dilated
    dil = (lambda i: 2 ** i) if dilated else (lambda i: 1)
    self.conv_in = REBN(cin, out)
    self.enc = nn.ModuleList([REBN(out if i == 0 else mid, mid, dil(i)) for i in range(height - 1)])
    self.bottom = REBN(mid, mid, 2 ** (height - 1) if dilated else 2)
    self.dec = nn.ModuleList([REBN(2 * mid, out if i == 0 else mid, dil(i)) for i in range(height - 1)])

  def forward(self, x):
    hx_in = self.conv_in(x)
    enc, h = [], hx_in
    for i, layer in enumerate(self.enc):
      if i > 0 and not self.dilated:
        h = F.max_pool2d(h, 2)
      h = layer(h)
      enc.append(h)
    h = self.bottom(h)
    for i in range(self.height - 2, -1, -1):
      h = _up(h, enc[i]) if h.shape[-1] != enc[i].shape[-1] else h
      h = self.dec[i](torch.cat([h, enc[i]], 1))
    return h + hx_in


class ResU2Net(nn.Module):
  """vision_jax ResU2Net (output='residual'): six RSU stages, mirrored decoder with additive skips,
  six 3x3 side convs upsampled to full size and a 1x1 fuse; y = x - fused."""

  def __init__(self, mid=4, features=16, heights=(4, 4, 3, 3), channels=1):
    super().__init__()
    specs = [(h, False) for h in heights] + [(4, True), (4, True)]
    self.specs = specs
    self.enc = nn.ModuleList([RSU(h, channels if k == 0 else features, mid, features, d)
                              for k, (h, d) in enumerate(specs)])
    self.dec = nn.ModuleList([RSU(specs[k][0], 2 * features, mid, features, specs[k][1])
                              for k in range(4, -1, -1)])
    self.side = nn.ModuleList([nn.Conv2d(features, channels, 3, padding=1) for _ in range(6)])
    self.fuse = nn.Conv2d(6 * channels, channels, 1)

  def forward(self, x):
    enc, h = [], x
    for k, stage in enumerate(self.enc):
      if k > 0:
        h = F.max_pool2d(h, 2)
      h = stage(h)
      enc.append(h)
    dec = [None] * 5
    for j, k in enumerate(range(4, -1, -1)):
      up = _up(h, enc[k]) if h.shape[-1] != enc[k].shape[-1] else h
      h = self.dec[j](torch.cat([up, enc[k]], 1)) + enc[k]
      dec[k] = h
    sides = [_up(conv(s), x) if s.shape[-1] != x.shape[-1] else conv(s)
             for conv, s in zip(self.side, dec + [enc[5]])]
    return x - self.fuse(torch.cat(sides, 1))


def _sym_pad(u, p):
  """numpy 'symmetric' (edge-repeating) padding of the last two axes."""
  u = torch.cat([u[..., :p, :].flip(-2), u, u[..., -p:, :].flip(-2)], -2)
  return torch.cat([u[..., :p].flip(-1), u, u[..., -p:].flip(-1)], -1)


def _sym_pad_adjoint(v, p):
  """Adjoint of _sym_pad: fold the padded border back onto the image."""
  v = torch.cat([v[..., p:2 * p] + v[..., :p].flip(-1), v[..., 2 * p:-2 * p],
                 v[..., -2 * p:-p] + v[..., -p:].flip(-1)], -1)
  return torch.cat([v[..., p:2 * p, :] + v[..., :p, :].flip(-2), v[..., 2 * p:-2 * p, :],
                    v[..., -2 * p:-p, :] + v[..., -p:, :].flip(-2)], -2)


class TNRD(nn.Module):
  """vision_jax TNRD with influence='linear': per stage u -= K^T phi(K u) + lambda (u - f)."""

  def __init__(self, stages=5, num_filters=24, kernel_size=5, num_rbf=63, scale=1.0, channels=1):
    super().__init__()
    from vision_jax.models.denoisers.tnrd import dct_filters
    k, m = kernel_size, num_rbf
    bank = torch.from_numpy(np.transpose(dct_filters(k, channels, num_filters), (3, 2, 0, 1)).copy())
    centres = torch.linspace(-scale, scale, m)
    self.filters = nn.ParameterList([nn.Parameter(bank.clone()) for _ in range(stages)])
    self.knots = nn.ParameterList([nn.Parameter(0.01 * centres.repeat(num_filters, 1)) for _ in range(stages)])
    self.lambdas = nn.ParameterList([nn.Parameter(torch.tensor(math.log(math.expm1(0.1)))) for _ in range(stages)])
    self.p, self.m, self.scale, self.gamma = k // 2, m, scale, 2 * scale / (m - 1)

  def _phi(self, z, knots):  # z (N, F, H, W), knots (F, M)
    m, nf = self.m, knots.shape[0]
    flat = knots.reshape(-1)
    row = (torch.arange(nf) * m).view(1, nf, 1, 1)

    def interp(z):
      s = torch.clamp((z + self.scale) / self.gamma, 0.0, m - 1.0)
      left = torch.clamp(torch.floor(s), max=m - 2.0)
      a = s - left
      idx = left.long() + row
      return torch.take(flat, idx) * (1 - a) + torch.take(flat, idx + 1) * a

    return interp(z) - interp(torch.zeros(1, nf, 1, 1))

  def forward(self, x):
    f = u = x
    for kern, knots, lam in zip(self.filters, self.knots, self.lambdas):
      kern = kern - kern.mean(dim=(2, 3), keepdim=True)
      z = F.conv2d(_sym_pad(u, self.p), kern)
      diffusion = _sym_pad_adjoint(F.conv_transpose2d(self._phi(z, knots), kern), self.p)
      u = u - diffusion - F.softplus(lam) * (u - f)
    return u


class BasicBlock(nn.Module):
  def __init__(self, cin, cout, stride):
    super().__init__()
    self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
    self.bn1 = _bn(cout)
    self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
    self.bn2 = _bn(cout)
    self.down = None
    if stride != 1 or cin != cout:
      self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), _bn(cout))

  def forward(self, x):
    y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
    return F.relu(y + (x if self.down is None else self.down(x)))


class ResNet18(nn.Module):
  """torchvision ResNet-18 layout with the CIFAR stem (3x3/1 conv, no max-pool)."""

  def __init__(self, num_classes=10, channels=3, width=64):
    super().__init__()
    self.stem = nn.Sequential(nn.Conv2d(channels, width, 3, 1, 1, bias=False), _bn(width), nn.ReLU())
    blocks, cin = [], width
    for i in range(4):
      cout = width * 2 ** i
      for j in range(2):
        blocks.append(BasicBlock(cin, cout, 2 if i > 0 and j == 0 else 1))
        cin = cout
    self.blocks = nn.Sequential(*blocks)
    self.head = nn.Linear(cin, num_classes)

  def forward(self, x):
    return self.head(self.blocks(self.stem(x)).mean(dim=(2, 3)))


def _xbn(c):
  return nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)


class SepConv(nn.Module):
  def __init__(self, cin, cout):
    super().__init__()
    self.depthwise = nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False)
    self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)

  def forward(self, x):
    return self.pointwise(self.depthwise(x))


class XDown(nn.Module):
  def __init__(self, cin, c1, c2, pre_relu=True):
    super().__init__()
    self.pre_relu = pre_relu
    self.short = nn.Sequential(nn.Conv2d(cin, c2, 1, 2, bias=False), _xbn(c2))
    self.s1, self.b1, self.s2, self.b2 = SepConv(cin, c1), _xbn(c1), SepConv(c1, c2), _xbn(c2)

  def forward(self, x):
    y = F.relu(x) if self.pre_relu else x
    y = self.b2(self.s2(F.relu(self.b1(self.s1(y)))))
    return F.max_pool2d(y, 3, 2, 1) + self.short(x)


class XMiddle(nn.Module):
  def __init__(self, c):
    super().__init__()
    self.units = nn.ModuleList([nn.Sequential(nn.ReLU(), SepConv(c, c), _xbn(c)) for _ in range(3)])

  def forward(self, x):
    y = x
    for unit in self.units:
      y = unit(y)
    return x + y


class Xception(nn.Module):
  """Keras Xception layout as vision_jax.models.classifiers.xception (width_multiplier scales widths)."""

  def __init__(self, num_classes=2, channels=4, width_multiplier=0.25, middle_blocks=8):
    super().__init__()
    s = lambda c: scaled(c, width_multiplier)
    self.entry = nn.Sequential(nn.Conv2d(channels, s(32), 3, 2, bias=False), _xbn(s(32)), nn.ReLU(),
                               nn.Conv2d(s(32), s(64), 3, bias=False), _xbn(s(64)), nn.ReLU())
    self.blocks = nn.Sequential(
        XDown(s(64), s(128), s(128), pre_relu=False), XDown(s(128), s(256), s(256)),
        XDown(s(256), s(728), s(728)), *[XMiddle(s(728)) for _ in range(middle_blocks)],
        XDown(s(728), s(728), s(1024)))
    self.exit = nn.Sequential(SepConv(s(1024), s(1536)), _xbn(s(1536)), nn.ReLU(),
                              SepConv(s(1536), s(2048)), _xbn(s(2048)), nn.ReLU())
    self.head = nn.Linear(s(2048), num_classes)

  def forward(self, x):
    return self.head(self.exit(self.blocks(self.entry(x))).mean(dim=(2, 3)))


def count_params(module: nn.Module) -> int:
  return int(sum(p.numel() for p in module.parameters()))
