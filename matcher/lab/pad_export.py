"""Minivision's MiniFASNet face anti-spoofing networks, defined here from their state dicts, exported to ONNX
(export only; needs ``torch`` and ``onnx``, the ``train`` extra; the kiosk runs the ONNX with onnxruntime).

    python -m matcher.lab.pad_export --weights DIR [--out models/]

``DIR`` holds the vendor's ``2.7_80x80_MiniFASNetV2.pth`` and ``4_0_0_80x80_MiniFASNetV1SE.pth`` (Apache-2.0,
github.com/minivision-ai/Silent-Face-Anti-Spoofing, ``resources/anti_spoof_models/``). Both networks share one
layout: a stem, three stride-2 depthwise transitions each followed by a stage of residual depthwise blocks,
a 5x5 global depthwise convolution and two linear layers. They differ only in the block widths and, for V1SE,
a squeeze-excitation module in the last block of each stage; both are read from the state dict's keys and
shapes, which the strict load then checks one by one. The exported graph ends in a softmax: 3 probabilities,
index 1 = live (0 and 2 are the vendor's two attack classes)."""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np

# ONNX file name -> the vendor's state dict it is exported from.
WEIGHTS = {
    "minifasnet_v2.onnx": "2.7_80x80_MiniFASNetV2.pth",
    "minifasnet_v1se.onnx": "4_0_0_80x80_MiniFASNetV1SE.pth",
}
INPUT_SIZE = 80
STAGES = ("conv_3", "conv_4", "conv_5")  # residual stages after the transitions conv_23, conv_34, conv_45


def load_state_dict(path: Path) -> dict:  # -> dict[str, torch.Tensor]
    """The vendor's state dict without the ``module.`` prefix of its multi-GPU training wrapper."""
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    return {key.removeprefix("module."): value for key, value in state.items()}


def build_model(state: dict):  # -> torch.nn.Module, weights loaded, in eval mode
    """The MiniFASNet (V2 or V1SE) whose widths the state dict gives, with its weights (strict load)."""
    import torch
    import torch.nn as nn

    def shape(key: str) -> tuple[int, ...]:
        return tuple(state[f"{key}.weight"].shape)

    class ConvBN(nn.Module):  # convolution, batch norm, optional per-channel PReLU
        def __init__(
            self, cin: int, cout: int, k: int, stride: int, groups: int, prelu: bool, pad: bool = True
        ) -> None:
            super().__init__()
            self.conv = nn.Conv2d(cin, cout, k, stride, (k - 1) // 2 if pad else 0, groups=groups, bias=False)
            self.bn = nn.BatchNorm2d(cout)
            self.prelu = nn.PReLU(cout) if prelu else None

        def forward(self, x):
            x = self.bn(self.conv(x))
            return self.prelu(x) if self.prelu is not None else x

    class SqueezeExcite(nn.Module):
        def __init__(self, channels: int, reduced: int) -> None:
            super().__init__()
            self.fc1 = nn.Conv2d(channels, reduced, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(reduced)
            self.fc2 = nn.Conv2d(reduced, channels, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(channels)

        def forward(self, x):
            w = x.mean(dim=(2, 3), keepdim=True)
            w = torch.relu(self.bn1(self.fc1(w)))
            return x * torch.sigmoid(self.bn2(self.fc2(w)))

    class DepthWise(nn.Module):  # 1x1 expand, 3x3 depthwise, 1x1 project (linear); residual when stride 1
        def __init__(self, key: str, stride: int) -> None:
            super().__init__()
            mid, cin = shape(f"{key}.conv.conv")[:2]
            cout = shape(f"{key}.project.conv")[0]
            self.conv = ConvBN(cin, mid, 1, 1, 1, prelu=True)
            self.conv_dw = ConvBN(mid, mid, 3, stride, mid, prelu=True)
            self.project = ConvBN(mid, cout, 1, 1, 1, prelu=False)
            self.residual = stride == 1
            se = f"{key}.se_module.fc1.weight" in state
            self.se_module = SqueezeExcite(cout, shape(f"{key}.se_module.fc1")[0]) if se else None

        def forward(self, x):
            y = self.project(self.conv_dw(self.conv(x)))
            if self.se_module is not None:
                y = self.se_module(y)
            return x + y if self.residual else y

    class Stage(nn.Module):
        def __init__(self, key: str) -> None:
            super().__init__()
            count = len({k.split(".")[2] for k in state if k.startswith(f"{key}.model.")})
            self.model = nn.Sequential(*(DepthWise(f"{key}.model.{i}", 1) for i in range(count)))

        def forward(self, x):
            return self.model(x)

    class MiniFASNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            stem = shape("conv1.conv")[0]
            self.conv1 = ConvBN(3, stem, 3, 2, 1, prelu=True)
            self.conv2_dw = ConvBN(stem, stem, 3, 1, stem, prelu=True)
            self.conv_23 = DepthWise("conv_23", 2)
            self.conv_3 = Stage("conv_3")
            self.conv_34 = DepthWise("conv_34", 2)
            self.conv_4 = Stage("conv_4")
            self.conv_45 = DepthWise("conv_45", 2)
            self.conv_5 = Stage("conv_5")
            width, cin = shape("conv_6_sep.conv")[:2]
            self.conv_6_sep = ConvBN(cin, width, 1, 1, 1, prelu=True)
            kernel = shape("conv_6_dw.conv")[-1]  # 5: the 80x80 input is 5x5 after four stride-2 steps
            self.conv_6_dw = ConvBN(width, width, kernel, 1, width, prelu=False, pad=False)
            embedding = shape("linear")[0]
            self.linear = nn.Linear(width, embedding, bias=False)
            self.bn = nn.BatchNorm1d(embedding)
            self.prob = nn.Linear(embedding, shape("prob")[0], bias=False)

        def forward(self, x):
            for stage in (self.conv1, self.conv2_dw, self.conv_23, self.conv_3, self.conv_34, self.conv_4):
                x = stage(x)
            for stage in (self.conv_45, self.conv_5, self.conv_6_sep, self.conv_6_dw):
                x = stage(x)
            x = self.bn(self.linear(torch.flatten(x, 1)))  # the vendor's dropout here is off at inference
            return torch.softmax(self.prob(x), dim=1)

    model = MiniFASNet()
    model.load_state_dict(state, strict=True)
    return model.eval()


def export(weights: Path, out: Path) -> dict[str, str]:
    """Export each network of :data:`WEIGHTS` from ``weights`` into ``out``; returns ONNX name -> sha256 of
    the state dict it came from (the provenance the manifest records)."""
    import torch

    out.mkdir(parents=True, exist_ok=True)
    provenance = {}
    for name, source in WEIGHTS.items():
        path = weights / source
        provenance[name] = hashlib.sha256(path.read_bytes()).hexdigest()
        model = build_model(load_state_dict(path))
        torch.onnx.export(
            model,
            (torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE),),
            str(out / name),
            input_names=["faces"],
            output_names=["probabilities"],
            dynamic_axes={"faces": {0: "n"}, "probabilities": {0: "n"}},
            opset_version=17,
            dynamo=False,
        )
    return provenance


def torch_probabilities(weights: Path, name: str, faces: np.ndarray) -> np.ndarray:
    """The torch network's output for N x 3 x 80 x 80 float32 inputs (to check an export against)."""
    import torch

    model = build_model(load_state_dict(weights / WEIGHTS[name]))
    with torch.no_grad():
        return model(torch.from_numpy(faces)).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--weights", type=Path, required=True, help="folder of the vendor's .pth files")
    parser.add_argument("--out", type=Path, default=Path("models"))
    args = parser.parse_args()
    for name, sha in export(args.weights, args.out).items():
        onnx_sha = hashlib.sha256((args.out / name).read_bytes()).hexdigest()
        print(f"wrote {args.out / name} (sha256 {onnx_sha}) from {WEIGHTS[name]} (sha256 {sha})")


if __name__ == "__main__":
    main()
