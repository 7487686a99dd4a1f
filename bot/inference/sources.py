"""Where a model comes from and where it runs: model sources, families, devices and dtypes.

A source is ``"tiny"`` (built in), a local diffusers folder (with ``model_index.json``), a single
``.safetensors``/``.ckpt``/``.pt`` checkpoint, or a Hugging Face id ``org/name``. Anything that
cannot be loaded raises ``UserError`` naming what was tried, so the operator sees one clear line.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from bot.domain.errors import ConfigError, UserError

if TYPE_CHECKING:
    from diffusers import DiffusionPipeline

FAMILIES = ("tiny", "sd1", "sd2", "sdxl")
# What a loader may be told: "sd2-v" (SD 2.x 768-v, v-prediction) loads with other configs but is
# an sd2 model once loaded.
LOAD_FAMILIES = (*FAMILIES, "sd2-v")
SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt", ".pt")
# Hugging Face repo ids: "org/name" of letters, digits, "-", "_" and ".".
_HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")
_DTYPES: dict[str, torch.dtype] = {
    "fp32": torch.float32, "float32": torch.float32,
    "fp16": torch.float16, "float16": torch.float16, "half": torch.float16,
    "bf16": torch.bfloat16, "bfloat16": torch.bfloat16,
}


# 1. Devices and dtypes ------------------------------------------------------------------------

def resolve_device(name: str) -> torch.device:
    """``auto`` → cuda, then mps, then cpu; ``cpu``, ``cuda``, ``cuda:N`` and ``mps`` if present."""
    wanted = name.strip().lower()
    if wanted == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if not re.fullmatch(r"cpu|mps|cuda(:\d+)?", wanted):
        raise ConfigError(f"device must be auto, cpu, cuda, cuda:N or mps, got {name!r}")
    device = torch.device(wanted)
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ConfigError(f"device {name!r}: this torch sees no CUDA GPU "
                              f"(torch {torch.__version__}); use device 'auto' or 'cpu'")
        if device.index is not None and device.index >= count:
            raise ConfigError(f"device {name!r}: only {count} CUDA GPU(s) here "
                              f"(cuda:0..cuda:{count - 1})")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device {name!r}: MPS is not available here; use 'auto' or 'cpu'")
    return device


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """``auto`` → bf16 (else fp16) on cuda, fp16 on mps, fp32 on cpu; or fp16/bf16/fp32."""
    wanted = name.strip().lower()
    if wanted == "auto":
        if device.type == "cuda":
            # bf16 keeps fp32's range, so VAEs that overflow in fp16 stay finite.
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if device.type == "mps":
            return torch.float16
        return torch.float32
    if wanted not in _DTYPES:
        raise ConfigError(f"dtype must be auto, fp16, bf16 or fp32, got {name!r}")
    return _DTYPES[wanted]


def dtype_kwargs(dtype: torch.dtype) -> dict[str, torch.dtype]:
    """The ``from_pretrained`` keyword for ``dtype`` (``torch_dtype`` on older diffusers)."""
    from diffusers.utils import deprecation_utils

    # diffusers renamed torch_dtype to dtype (warning on the old name); older releases only
    # know torch_dtype and would silently load fp32 if given dtype.
    name = "dtype" if hasattr(deprecation_utils, "_resolve_dtype") else "torch_dtype"
    return {name: dtype}


# 2. Families ----------------------------------------------------------------------------------

def check_family(family: str | None) -> str | None:
    """``family`` itself if it is one we know (or None); a ConfigError naming the choices if not."""
    if family is not None and family not in LOAD_FAMILIES:
        raise ConfigError(f"family must be one of {', '.join(LOAD_FAMILIES)}, got {family!r}")
    return family


def detect_family(pipe: DiffusionPipeline) -> str:
    """``sdxl``, ``sd2``, ``sd1`` or ``tiny`` from a loaded pipeline's components."""
    if getattr(pipe, "text_encoder_2", None) is not None or "XL" in type(pipe).__name__:
        return "sdxl"
    # The text encoder's width tells SD 1.x (CLIP ViT-L, 768) from SD 2.x (OpenCLIP ViT-H, 1024).
    width = int(pipe.unet.config.cross_attention_dim)
    if width == 1024:
        return "sd2"
    return "tiny" if width < 768 else "sd1"


# 3. Loading -----------------------------------------------------------------------------------

def _hub_offline() -> bool:
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.strip().upper() in {"1", "ON", "YES", "TRUE"}


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _looks_like_path(source: str) -> bool:
    return (source.startswith(("/", "./", "../", "~", "\\")) or source.count("/") > 1
            or "\\" in source or re.match(r"[A-Za-z]:", source) is not None
            or source.lower().endswith(SINGLE_FILE_SUFFIXES))


def _load_folder(source: str, folder: Path, torch_dtype: torch.dtype) -> DiffusionPipeline:
    from diffusers import DiffusionPipeline

    if not (folder / "model_index.json").is_file():
        raise UserError(f"model {source!r}: the folder {folder} has no model_index.json, so it is "
                        "not a diffusers model folder (for a single checkpoint, give the file)")
    try:
        # DiffusionPipeline picks the class named in model_index.json (SD, SDXL, ...).
        return DiffusionPipeline.from_pretrained(folder, local_files_only=True,
                                                 **dtype_kwargs(torch_dtype))
    except OSError as error:
        raise UserError(f"model {source!r}: could not load the diffusers folder {folder}: "
                        f"{_first_line(error)}") from error


def _load_single_file(source: str, path: Path, family: str | None,
                      torch_dtype: torch.dtype) -> DiffusionPipeline:
    if path.suffix.lower() not in SINGLE_FILE_SUFFIXES:
        raise UserError(f"model {source!r}: {path} is a file but not a checkpoint "
                        f"({', '.join(SINGLE_FILE_SUFFIXES)}) and not a diffusers folder")
    # Imported here: the single-file loader pulls in conversion code only this source needs.
    from bot.inference.single_file import load_single_file

    return load_single_file(path, family=family, torch_dtype=torch_dtype)


def _load_hub(source: str, torch_dtype: torch.dtype) -> DiffusionPipeline:
    from diffusers import DiffusionPipeline
    from huggingface_hub.errors import EntryNotFoundError

    try:
        # huggingface_hub shows its own download progress bars here (a first load is GBs).
        return DiffusionPipeline.from_pretrained(source, **dtype_kwargs(torch_dtype))
    except (OSError, EntryNotFoundError) as error:
        why = "offline: HF_HUB_OFFLINE=1" if _hub_offline() else _first_line(error)
        raise UserError(f"model {source!r}: not a local file or folder, and the Hugging Face hub "
                        f"could not provide it ({why})") from error


def _as_text2image(pipe: DiffusionPipeline) -> DiffusionPipeline:
    """The text-to-image pipeline on the same components (folders may name an img2img class)."""
    name = type(pipe).__name__
    if "Img2Img" not in name and "Inpaint" not in name:
        return pipe
    from diffusers import AutoPipelineForText2Image

    return AutoPipelineForText2Image.from_pipe(pipe)


def load_pipeline(source: str, *, family: str | None,
                  torch_dtype: torch.dtype) -> tuple[DiffusionPipeline, str]:
    """Load ``source`` as a text-to-image pipeline on the CPU; return it and its family."""
    family = check_family(family)
    if source == "tiny":
        from bot.inference.tiny import build_tiny_pipeline

        return build_tiny_pipeline(torch_dtype), "tiny"
    path = Path(source).expanduser()
    if path.is_dir():
        pipe = _load_folder(source, path, torch_dtype)
    elif path.is_file():
        pipe = _load_single_file(source, path, family, torch_dtype)
    elif _looks_like_path(source):
        raise UserError(f"model {source!r}: no such file or folder ({path.resolve()})")
    elif _HUB_ID.fullmatch(source):
        pipe = _load_hub(source, torch_dtype)
    else:
        raise UserError(f"model {source!r}: not 'tiny', a local file or folder, or a Hugging Face "
                        "id of the form org/name")
    pipe = _as_text2image(pipe)
    if family is None:
        return pipe, detect_family(pipe)
    return pipe, "sd2" if family == "sd2-v" else family
