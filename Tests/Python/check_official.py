"""check_official.py — the restatement in refclip_yolov3.py against the official RefCLIP modules
(`models/visual_encoder.py`, `models/network_blocks.py` of a RefCLIP checkout), run on CPU:

    python check_official.py --official PATH_TO_REFCLIP [--width 32] [--size 416]

The official DeformConv2d needs its compiled CUDA extension, so the restatement's DCN v1 sampling
stands in for it (same parameters, same offset layout). Both models get the same random state dict
(the official one at full width: its channels are fixed); every module output and the three heads'
decoded predictions are compared. Prints the largest relative difference per module.
"""

import argparse
import sys
import types

import torch

import refclip_yolov3 as ours


def official_yolov3(root):
    """Imports the official YOLOv3 with the DCN module replaced by the restatement's."""
    stub = types.ModuleType("utils.DCN.modules.deform_conv2d")

    class DeformConv2d(torch.nn.Module):
        def __init__(self, in_channels, out_channels, kernel_size, stride, padding, deformable_groups=1, **_):
            super().__init__()
            assert (kernel_size, stride, padding) == (3, 1, 1)
            self.groups = deformable_groups
            self.weight = torch.nn.Parameter(torch.empty(out_channels, in_channels, 3, 3))
            self.bias = torch.nn.Parameter(torch.empty(out_channels))

        def forward(self, x, offset):
            return ours.deform_conv2d(x, offset, self.weight, self.bias, self.groups)

    stub.DeformConv2d = DeformConv2d
    for name in ("utils", "utils.DCN", "utils.DCN.modules"):
        sys.modules[name] = types.ModuleType(name)
    sys.modules["utils.DCN.modules.deform_conv2d"] = stub
    sys.path.insert(0, root)
    from models.visual_encoder import YOLOv3
    return YOLOv3


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--official", required=True)
    parser.add_argument("--size", type=int, default=416)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    theirs = official_yolov3(args.official)(num_classes=80).eval()
    mine = ours.YOLOv3(32, 80).eval()
    assert list(theirs.state_dict()) == list(mine.state_dict()), "state-dict names differ"
    with torch.no_grad():
        ours.randomize(mine, torch.Generator().manual_seed(args.seed))
        theirs.load_state_dict(mine.state_dict())
        image = torch.rand(1, 3, args.size, args.size, generator=torch.Generator().manual_seed(args.seed + 1))
        outputs = mine(image)
        _, features, boxes = theirs(image)
    pairs = [("features of the stride-32 head", outputs[18], features[0]), ("features of the stride-16 head", outputs[27], features[1]),
             ("features of the stride-8 head", outputs[36], features[2])]
    pairs += [(f"prediction of head {i}", outputs[i], boxes[k]) for k, i in enumerate((19, 28, 37))]
    worst = 0.0
    for name, a, b in pairs:
        assert a.shape == b.shape, f"{name}: shapes {tuple(a.shape)} and {tuple(b.shape)}"
        difference = ((a - b).abs().max() / b.abs().max()).item()
        worst = max(worst, difference)
        print(f"{name:32s} {tuple(a.shape)}  largest difference {difference:.2e} of the largest value")
    print(f"state dict: {len(mine.state_dict())} tensors, names identical; worst {worst:.2e}")
    sys.exit(0 if worst < 1e-5 else 1)


if __name__ == "__main__":
    main()
