"""Which torch device the product computes on: CUDA when present, else the CPU."""

from __future__ import annotations

import torch


def default_device() -> torch.device:
    """Return ``cuda`` when a CUDA GPU is visible to torch, otherwise ``cpu``."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def describe_device(device: torch.device | None = None) -> str:
    """A one-line human description, e.g. ``"CPU (2 threads)"`` or ``"CUDA: NVIDIA H100"``."""
    device = device or default_device()
    if device.type == "cuda":
        return f"CUDA: {torch.cuda.get_device_name(device)}"
    return f"CPU ({torch.get_num_threads()} threads)"
