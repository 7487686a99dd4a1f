"""How many images to render in one call when ``[queue] max_batch = "auto"``."""

from __future__ import annotations

from typing import Any

# Measured order of magnitude for SD 1.5 at 512² in fp16 with SDPA attention, classifier-free
# guidance included; SDXL at 1024² needs about four times that. Out-of-memory errors halve the
# batch anyway, so this only has to be roughly right.
BYTES_PER_IMAGE_512 = 1.5 * 2**30
MAX_AUTO_BATCH = 8


def auto_batch_size(engine: Any, width: int = 512, height: int = 512) -> int:
    """1 on a CPU or MPS (batching gains nothing there); on CUDA, what free memory allows."""
    import torch

    if engine.device.type != "cuda":
        return 1
    free, _total = torch.cuda.mem_get_info(engine.device)
    per_image = BYTES_PER_IMAGE_512 * (width * height) / (512 * 512)
    if engine.family == "sdxl":
        per_image *= 1.5
    return max(1, min(MAX_AUTO_BATCH, int(0.8 * free // per_image)))
