"""Train the MRZ character classifier and export it to ONNX (training only; needs ``torch``, ``onnx``).

    python -m kiosk.lab.ocr_train --out models/mrz_ocr.onnx [--blocks 2400] [--epochs 10] [--seed 1]

Reproducible from the seed: the training cells are rendered by ``training_data.make_cells`` from the
training fonts only (never the benchmark's unseen font, never the benchmark's seeds)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from kiosk.documents.ocr.classify import ALPHABET
from kiosk.documents.ocr.segment import CELL_H, CELL_W
from kiosk.lab.ocr_training_data import make_cells
from kiosk.lab.synth.fonts import TRAINING_FONTS, available_fonts


def build_model():  # -> torch.nn.Module
    import torch.nn as nn

    def block(cin: int, cout: int) -> list[nn.Module]:
        return [
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(),
            nn.MaxPool2d(2),
        ]

    return nn.Sequential(
        *block(1, 16),
        *block(16, 32),
        *block(32, 64),
        nn.Flatten(),
        nn.Linear(64 * (CELL_H // 8) * (CELL_W // 8), 128),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.Linear(128, len(ALPHABET)),
    )


def _augment(x, generator):  # on-line augmentation: per-cell sub-pixel shift and scale, contrast, noise
    import torch
    import torch.nn.functional as F

    n, _, h, w = x.shape
    uniform = lambda *shape: 2 * torch.rand(*shape, generator=generator) - 1  # noqa: E731
    scale = 1 + 0.05 * uniform(n)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = scale
    # residual misplacement of a cell after segmentation: up to 1.5 px each way
    theta[:, 0, 2] = uniform(n) * 1.5 * 2 / w
    theta[:, 1, 2] = uniform(n) * 1.5 * 2 / h
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, padding_mode="zeros", align_corners=False)  # outside the cell: paper
    gain = 0.75 + 0.5 * torch.rand(n, 1, 1, 1, generator=generator)
    return x * gain + 0.04 * torch.randn(x.shape, generator=generator)


def _cells(
    blocks: int, seed: int, cache: Path | None, normalise_height: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Training cells, rendered (slow: minutes) or loaded from ``cache`` made with the same arguments."""
    fonts = available_fonts(TRAINING_FONTS)
    key = f"{blocks}-{seed}-{','.join(fonts)}" + ("-height" if normalise_height else "")
    if cache is not None and cache.is_file():
        data = np.load(cache)
        if str(data["key"]) == key:
            return data["cells"], data["labels"]
    t0 = time.time()
    cells, labels = make_cells(np.random.default_rng(seed), fonts, blocks, normalise_height=normalise_height)
    print(f"{len(cells)} cells from {blocks} blocks, fonts {', '.join(fonts)} ({time.time() - t0:.0f} s)")
    if cache is not None:
        np.savez(cache, cells=cells.astype(np.float16), labels=labels, key=key)
    return cells.astype(np.float32), labels


def train(
    out: Path,
    *,
    blocks: int,
    epochs: int,
    seed: int,
    cache: Path | None = None,
    normalise_height: bool = False,
) -> float:
    """Train, export to ``out`` and return the held-out cell accuracy. ``normalise_height`` trains on cells
    cut at the canonical glyph height, as the reader cuts them now; the shipped model was trained without
    it (measured: it reads more real images exactly than the variants trained with it, see the model card)."""
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(2)
    cells, labels = _cells(blocks, seed, cache, normalise_height)
    cells = cells.astype(np.float32)
    order = np.random.default_rng(seed + 1).permutation(len(cells))
    split = len(cells) // 20
    val_idx, train_idx = order[:split], order[split:]
    x = torch.from_numpy(cells[:, None])
    y = torch.from_numpy(labels)
    model = build_model()
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    steps = epochs * (len(train_idx) // 256)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=3e-3, total_steps=steps)
    generator = torch.Generator().manual_seed(seed)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.02)
    for epoch in range(epochs):
        t0 = time.time()
        model.train()
        perm = torch.from_numpy(train_idx)[torch.randperm(len(train_idx), generator=generator)]
        for start in range(0, len(perm) - 255, 256):
            batch = perm[start : start + 256]
            loss = loss_fn(model(_augment(x[batch], generator)), y[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
        accuracy = _accuracy(model, x[val_idx], y[val_idx])
        print(
            f"epoch {epoch + 1}: loss {loss.item():.4f}, held-out accuracy {accuracy:.5f}",
            f"({time.time() - t0:.0f} s)",
            flush=True,
        )
    model.eval()
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        model,
        (torch.zeros(1, 1, CELL_H, CELL_W),),
        str(out),
        input_names=["cells"],
        output_names=["logits"],
        dynamic_axes={"cells": {0: "n"}, "logits": {0: "n"}},
        opset_version=17,
        dynamo=False,
    )
    return accuracy


def _accuracy(model, x, y) -> float:
    import torch

    model.eval()
    with torch.no_grad():
        predictions = torch.cat([model(x[i : i + 2048]).argmax(1) for i in range(0, len(x), 2048)])
    return float((predictions == y).float().mean())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("models/mrz_ocr.onnx"))
    parser.add_argument("--blocks", type=int, default=2400)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cache", type=Path, help="keep the rendered cells in this .npz for re-runs")
    parser.add_argument(
        "--normalise-height",
        action="store_true",
        help="cut the training cells at the canonical glyph height (not the shipped model's cells)",
    )
    args = parser.parse_args()
    accuracy = train(
        args.out,
        blocks=args.blocks,
        epochs=args.epochs,
        seed=args.seed,
        cache=args.cache,
        normalise_height=args.normalise_height,
    )
    print(f"wrote {args.out} (held-out cell accuracy {accuracy:.5f})")


if __name__ == "__main__":
    main()
