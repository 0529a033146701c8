"""refclip_yolov3.py — the RefCLIP/SimREC detector (YOLOv3 with SPP and guided-anchoring heads whose
features pass a deformable 3×3 convolution) restated in PyTorch from the paper's public code, with
the same module indices and state-dict names, and a channel width that the tests shrink. It writes
the fixture the Swift detector is checked against:

    python refclip_yolov3.py fixture --out DIR [--width 8] [--classes 3] [--size 160] [--seed 1]

DIR/detector.pth is `torch.save` of the state dict (random weights, batch-norm statistics included),
DIR/fixture.safetensors holds the input image, every module's output (`module{i}`; a head's is its
decoded prediction [cells, 4, 5 + classes]), and the config in its metadata.

The deformable convolution follows the DCN v1 CUDA kernel the reference builds (bilinear sampling,
corners outside the map are zero, a tap outside (−1, H) × (−1, W) is zero; offsets (Δy, Δx) per tap,
grouped by deformable group). Where torchvision installs, it is checked against
`torchvision.ops.deform_conv2d` on every head (measured equal to the last bit with torch 2.15 and
torchvision 0.29). The repository's own `deform_conv2d_naive.py` cannot stand in for the kernel: it
adds no bias, samples half a pixel off under grid_sample's current default (align_corners=False), and
with more than one deformable group pairs channels with another group's offsets (measured: equal to
torchvision with one group and align_corners=True, off by the values' own size with four).
"""

import argparse
import json
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

COCO_ANCHORS = [(10, 13), (16, 30), (33, 23), (30, 61), (62, 45), (42, 119), (116, 90), (156, 198), (121, 240)]


def conv_block(in_ch, out_ch, ksize, stride):
    """conv (no bias) → batch norm → leaky 0.1, named conv / batch_norm / leaky as the reference."""
    block = nn.Sequential()
    block.add_module("conv", nn.Conv2d(in_ch, out_ch, ksize, stride, (ksize - 1) // 2, bias=False))
    block.add_module("batch_norm", nn.BatchNorm2d(out_ch))
    block.add_module("leaky", nn.LeakyReLU(0.1))
    return block


class ResBlock(nn.Module):
    def __init__(self, ch, nblocks=1, shortcut=True):
        super().__init__()
        self.shortcut = shortcut
        self.module_list = nn.ModuleList(nn.ModuleList([conv_block(ch, ch // 2, 1, 1), conv_block(ch // 2, ch, 3, 1)]) for _ in range(nblocks))

    def forward(self, x):
        for pair in self.module_list:
            h = pair[1](pair[0](x))
            x = x + h if self.shortcut else h
        return x


class SPP(nn.Module):
    def forward(self, x):
        return torch.cat([x] + [F.max_pool2d(x, k, 1, k // 2) for k in (5, 9, 13)], 1)


class Identity(nn.Module):
    """DropBlock with keep_prob 1 (the reference's setting): the identity."""

    def forward(self, x):
        return x


class Upsample(nn.Module):
    def forward(self, x):
        return F.interpolate(x, scale_factor=2, mode="nearest")


def deform_conv2d(x, offset, weight, bias, groups):
    """DCN v1 with stride 1, padding k // 2, `groups` deformable groups (the CUDA kernel's sampling)."""
    n, c, h, w = x.shape
    k = weight.shape[-1]
    taps = k * k
    off = offset.view(n, groups, taps, 2, h, w)
    ii = torch.arange(k).repeat_interleave(k).view(1, 1, taps, 1, 1).float()
    jj = torch.arange(k).repeat(k).view(1, 1, taps, 1, 1).float()
    ys = torch.arange(h).view(1, 1, 1, h, 1).float() - k // 2 + ii + off[:, :, :, 0]
    xs = torch.arange(w).view(1, 1, 1, 1, w).float() - k // 2 + jj + off[:, :, :, 1]
    inside = (ys > -1) & (xs > -1) & (ys < h) & (xs < w)
    y0, x0 = torch.floor(ys), torch.floor(xs)
    ly, lx = ys - y0, xs - x0
    planes = x.view(n, groups, c // groups, h * w)
    sampled = torch.zeros(n, groups, c // groups, taps, h, w)
    for dy, dx, wt in ((0, 0, (1 - ly) * (1 - lx)), (0, 1, (1 - ly) * lx), (1, 0, ly * (1 - lx)), (1, 1, ly * lx)):
        cy, cx = y0 + dy, x0 + dx
        valid = inside & (cy >= 0) & (cy < h) & (cx >= 0) & (cx < w)
        index = (cy.clamp(0, h - 1) * w + cx.clamp(0, w - 1)).long().view(n, groups, 1, -1).expand(-1, -1, c // groups, -1)
        values = torch.gather(planes, 3, index).view(n, groups, c // groups, taps, h, w)
        sampled += values * (wt * valid).unsqueeze(2)
    columns = sampled.view(n, c * taps, h * w)
    return (weight.view(weight.shape[0], -1) @ columns).view(n, -1, h, w) + bias.view(1, -1, 1, 1)


class DeformConv2d(nn.Module):
    def __init__(self, channels, groups):
        super().__init__()
        self.groups = groups
        self.weight = nn.Parameter(torch.empty(channels, channels, 3, 3))
        self.bias = nn.Parameter(torch.empty(channels))

    def forward(self, x, offset):
        return deform_conv2d(x, offset, self.weight, self.bias, self.groups)


class FeatureAdaption(nn.Module):
    def __init__(self, ch, n_anchors):
        super().__init__()
        self.conv_offset = nn.Conv2d(2 * n_anchors, 2 * 9 * n_anchors, 1, groups=n_anchors)
        self.dconv = DeformConv2d(ch, n_anchors)

    def forward(self, x, wh_pred):
        return self.dconv(x, self.conv_offset(wh_pred))


class Head(nn.Module):
    """Guided anchoring: 3 anchor-based boxes (masked COCO anchors) + 1 anchor-free (stride·4) per cell."""

    def __init__(self, mask, classes, stride, ch):
        super().__init__()
        self.masked = [COCO_ANCHORS[i] for i in mask]
        self.classes, self.stride, self.n_anchors = classes, stride, 4
        self.guide_wh = nn.Conv2d(ch, 2 * self.n_anchors, 1)
        self.Feature_adaption = FeatureAdaption(ch, self.n_anchors)
        self.conv = nn.Conv2d(ch, self.n_anchors * (classes + 5), 1)

    def forward(self, x):
        wh = self.guide_wh(x)
        out = self.conv(self.Feature_adaption(x, wh))
        b, _, f, _ = out.shape
        n_ch = 5 + self.classes
        wh = torch.exp(wh).view(b, 4, 2, f, f).permute(0, 1, 3, 4, 2)
        scale = torch.tensor([list(a) for a in self.masked] + [[self.stride * 4, self.stride * 4]], dtype=torch.float32).view(1, 4, 1, 1, 2)
        anchors = wh * scale
        pred = out.view(b, 4, n_ch, f, f).permute(0, 1, 3, 4, 2).clone()
        pred[..., np.r_[:2, 4:n_ch]] = torch.sigmoid(pred[..., np.r_[:2, 4:n_ch]])
        pred[..., 0] += torch.arange(f, dtype=torch.float32).view(1, 1, 1, f)
        pred[..., 1] += torch.arange(f, dtype=torch.float32).view(1, 1, f, 1)
        pred[..., :2] *= self.stride
        pred[..., 2] = torch.exp(pred[..., 2]) * anchors[..., 0]
        pred[..., 3] = torch.exp(pred[..., 3]) * anchors[..., 1]
        return pred.reshape(b, 4, f * f, n_ch).permute(0, 2, 1, 3)  # [b, cells, anchors, n_ch]


def create_modules(width=32, classes=80):
    w = width
    m = nn.ModuleList()
    m.append(conv_block(3, w, 3, 1)); m.append(conv_block(w, 2 * w, 3, 2)); m.append(ResBlock(2 * w))                      # 0-2
    m.append(conv_block(2 * w, 4 * w, 3, 2)); m.append(ResBlock(4 * w, 2))                                                   # 3-4
    m.append(conv_block(4 * w, 8 * w, 3, 2)); m.append(ResBlock(8 * w, 8))                                                   # 5-6
    m.append(conv_block(8 * w, 16 * w, 3, 2)); m.append(ResBlock(16 * w, 8))                                                 # 7-8
    m.append(conv_block(16 * w, 32 * w, 3, 2)); m.append(ResBlock(32 * w, 4))                                                # 9-10
    m.append(ResBlock(32 * w, 1, False)); m.append(conv_block(32 * w, 16 * w, 1, 1)); m.append(SPP())                        # 11-13
    m.append(conv_block(64 * w, 16 * w, 1, 1)); m.append(conv_block(16 * w, 32 * w, 3, 1)); m.append(Identity())            # 14-16
    m.append(conv_block(32 * w, 16 * w, 1, 1)); m.append(conv_block(16 * w, 32 * w, 3, 1))                                   # 17-18
    m.append(Head([6, 7, 8], classes, 32, 32 * w))                                                                            # 19
    m.append(conv_block(16 * w, 8 * w, 1, 1)); m.append(Upsample()); m.append(conv_block(24 * w, 8 * w, 1, 1))               # 20-22
    m.append(conv_block(8 * w, 16 * w, 3, 1)); m.append(Identity()); m.append(ResBlock(16 * w, 1, False))                   # 23-25
    m.append(conv_block(16 * w, 8 * w, 1, 1)); m.append(conv_block(8 * w, 16 * w, 3, 1))                                     # 26-27
    m.append(Head([3, 4, 5], classes, 16, 16 * w))                                                                            # 28
    m.append(conv_block(8 * w, 4 * w, 1, 1)); m.append(Upsample()); m.append(conv_block(12 * w, 4 * w, 1, 1))                # 29-31
    m.append(conv_block(4 * w, 8 * w, 3, 1)); m.append(Identity()); m.append(ResBlock(8 * w, 1, False))                      # 32-34
    m.append(conv_block(8 * w, 4 * w, 1, 1)); m.append(conv_block(4 * w, 8 * w, 3, 1))                                       # 35-36
    m.append(Head([0, 1, 2], classes, 8, 8 * w))                                                                              # 37
    return m


class YOLOv3(nn.Module):
    def __init__(self, width=32, classes=80):
        super().__init__()
        self.module_list = create_modules(width, classes)

    def forward(self, x):
        """Every module's output; a head's is its prediction, and the next module reads the route."""
        outputs, routes = [], []
        for i, module in enumerate(self.module_list):
            y = module(x)
            outputs.append(y)
            x = y
            if i in (6, 8, 17, 26):
                routes.append(y)
            if i == 19:
                x = routes[2]
            if i == 28:
                x = routes[3]
            if i == 21:
                x = torch.cat((y, routes[1]), 1)
            if i == 30:
                x = torch.cat((y, routes[0]), 1)
        return outputs


def randomize(model, generator):
    """Weights small enough that activations stay O(1) through 75 convolutions; batch-norm statistics
    away from (0, 1) so that folding them is tested; offsets large enough to sample between pixels."""
    for name, p in model.state_dict().items():
        if name.endswith("num_batches_tracked"):
            continue
        if name.endswith("running_var"):
            p.copy_(torch.rand(p.shape, generator=generator) * 1.5 + 0.5)
        elif name.endswith("running_mean") or name.endswith(".bias"):
            p.copy_((torch.rand(p.shape, generator=generator) - 0.5) * 0.4)
        elif name.endswith("batch_norm.weight"):
            p.copy_(torch.rand(p.shape, generator=generator) * 0.5 + 0.75)
        else:
            fan_in = p[0].numel()
            gain = 4.0 if "conv_offset" in name else 1.0
            p.copy_(torch.randn(p.shape, generator=generator) * gain / np.sqrt(fan_in))


def check_against_torchvision(model, outputs):
    try:
        from torchvision.ops import deform_conv2d as reference
    except Exception:
        return "torchvision not installed: not checked"
    worst = 0.0
    for i, x in ((19, outputs[18]), (28, outputs[27]), (37, outputs[36])):
        head = model.module_list[i]
        offset = head.Feature_adaption.conv_offset(head.guide_wh(x))
        d = head.Feature_adaption.dconv
        ours = deform_conv2d(x, offset, d.weight, d.bias, d.groups)
        theirs = reference(x, offset, d.weight, d.bias, padding=(1, 1))
        worst = max(worst, ((ours - theirs).abs().max() / theirs.abs().max()).item())
    assert worst < 1e-5, f"deformable convolution differs from torchvision's by {worst}"
    return f"matches torchvision.ops.deform_conv2d within {worst:.2e} (relative to the largest value)"


def write_fixture(args):
    from safetensors.numpy import save_file

    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    model = YOLOv3(args.width, args.classes).eval()
    with torch.no_grad():
        randomize(model, generator)
        image = torch.rand(1, 3, args.size, args.size, generator=generator)
        outputs = model(image)
        note = check_against_torchvision(model, outputs)
    os.makedirs(args.out, exist_ok=True)
    torch.save(model.state_dict(), os.path.join(args.out, "detector.pth"))
    tensors = {"input": image[0].numpy()}
    for i, y in enumerate(outputs):
        tensors[f"module{i}"] = np.ascontiguousarray(y[0].numpy())
    config = {"width": args.width, "classes": args.classes, "size": args.size, "seed": args.seed, "torchvision": note}
    save_file(tensors, os.path.join(args.out, "fixture.safetensors"), metadata={"config": json.dumps(config)})
    print(note)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    fixture = sub.add_parser("fixture", help="write detector.pth and fixture.safetensors")
    fixture.add_argument("--out", required=True)
    fixture.add_argument("--width", type=int, default=8)
    fixture.add_argument("--classes", type=int, default=3)
    fixture.add_argument("--size", type=int, default=160)
    fixture.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.command == "fixture":
        write_fixture(args)


if __name__ == "__main__":
    main()
