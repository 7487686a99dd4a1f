"""Load civitai-style single-file Stable Diffusion checkpoints offline.

A single ``.safetensors``/``.ckpt`` file holds the weights in the original (CompVis/LDM/SGM) key
layout but no configuration. diffusers' ``from_single_file`` downloads the matching diffusers
configs from the hub unless ``config=`` names a local folder; ``configs/`` holds those folders,
so loading never reaches the network. Families (``[model] family``):

- ``sd1``: SD 1.x (CLIP ViT-L, 768-wide cross-attention); configs of SD 1.5.
- ``sd2``: SD 2.x 512-base, epsilon (OpenCLIP ViT-H, 1024); configs of SD 2.1-base.
- ``sd2-v``: SD 2.x 768-v, v-prediction; configs of SD 2.1. Its weights have the same shapes as
  512-base ones, so detection says ``sd2`` unless the file has a ``v_pred`` marker key: a 768-v
  checkpoint needs ``family = "sd2-v"`` or it renders noise.
- ``sdxl``: SDXL base (CLIP ViT-L + OpenCLIP bigG, 2048); configs of SDXL base 1.0.
- ``tiny``: the built-in tiny model (``tiny.py``) written by ``export_single_file``.

9-channel (inpainting) UNets load with the family's inpainting pipeline class; a ``v_pred`` key
makes any family's scheduler predict v.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from bot.domain.errors import UserError

if TYPE_CHECKING:
    from diffusers import DiffusionPipeline

from bot.inference.checkpoints import (
    CHECKPOINT_SUFFIXES,
    check_checkpoint,
    config_folder,
    read_checkpoint_shapes,
    resolve_family,
    wants_v_prediction,
)


def family_tokenizers(family: str) -> dict[str, Any]:
    """The CLIP tokenizer(s) of ``family``, built from the bundled BPE vocabulary."""
    from bot.inference.tokenizer import clip_tokenizer

    # OpenCLIP (SD 2.x, SDXL's second encoder) pads with "!" (id 0) where OpenAI CLIP pads with
    # <|endoftext|>; the published diffusers tokenizers of those models do the same.
    pads = {"tokenizer": "!" if family.startswith("sd2") else "<|endoftext|>"}
    if family == "sdxl":
        pads["tokenizer_2"] = "!"
    tokenizers = {}
    for name, pad in pads.items():
        tokenizer = clip_tokenizer()  # a fresh instance: changing it affects no one else
        tokenizer.pad_token = pad
        tokenizers[name] = tokenizer
    return tokenizers


def _pipeline_class(family: str, inpainting: bool) -> Any:
    import diffusers

    if family == "sdxl":
        if inpainting:
            return diffusers.StableDiffusionXLInpaintPipeline
        return diffusers.StableDiffusionXLPipeline
    if inpainting:
        return diffusers.StableDiffusionInpaintPipeline
    return diffusers.StableDiffusionPipeline


def _component_overrides(family: str, inpainting: bool, v_prediction: bool) -> dict[str, Any]:
    """Components that the file cannot provide, passed in instead of read from the folder."""
    # Tokenizers come from the bundled BPE vocabulary instead of a copy in each config folder.
    overrides: dict[str, Any] = family_tokenizers(family)
    if family != "sdxl":
        # No single file carries a safety checker; say so instead of letting diffusers warn.
        overrides |= {
            "safety_checker": None,
            "feature_extractor": None,
            "requires_safety_checker": False,
        }
    if v_prediction and family != "sd2-v":
        import diffusers

        folder = config_folder(family)
        index = json.loads((folder / "model_index.json").read_text())
        scheduler_class = getattr(diffusers, index["scheduler"][1])
        overrides["scheduler"] = scheduler_class.from_pretrained(
            folder, subfolder="scheduler", prediction_type="v_prediction"
        )
    if inpainting:
        # The bundled UNet configs are the 4-channel text-to-image ones; `num_in_channels` is the
        # from_single_file option that reaches only the UNet (`in_channels` would hit the VAE).
        overrides["num_in_channels"] = 9
    return overrides


def _unloaded_weights(pipe: DiffusionPipeline) -> list[str]:
    """Names of parameters diffusers left on the meta device because the file lacked them."""
    unloaded = []
    for component_name, component in pipe.components.items():
        if isinstance(component, torch.nn.Module):
            unloaded += [
                f"{component_name}.{key}"
                for key, tensor in component.state_dict().items()
                if tensor.is_meta
            ]
    return unloaded


def load_single_file(
    path: Path, *, family: str | None, torch_dtype: torch.dtype
) -> DiffusionPipeline:
    """Load a single-file SD checkpoint with the bundled configs, never touching the hub."""
    from diffusers.loaders.single_file_utils import SingleFileComponentError

    # 1. The file exists and its names and shapes say which family it is.
    path = Path(path)
    if family is not None:
        config_folder(family)
    if not path.is_file():
        raise UserError(f"{path}: no such checkpoint file")
    if path.suffix.lower() not in CHECKPOINT_SUFFIXES:
        raise UserError(f"{path.name}: not a checkpoint file ({', '.join(CHECKPOINT_SUFFIXES)})")
    shapes = read_checkpoint_shapes(path)
    family, inpainting = resolve_family(shapes, family, name=path.name)
    check_checkpoint(shapes, family, inpainting, name=path.name)
    # 2. Let diffusers convert and load it against the local config folder.
    pipeline_class = _pipeline_class(family, inpainting)
    try:
        pipe = pipeline_class.from_single_file(
            str(path),
            config=str(config_folder(family)),
            local_files_only=True,
            torch_dtype=torch_dtype,
            **_component_overrides(family, inpainting, wants_v_prediction(shapes)),
        )
    except (ValueError, OSError, NotImplementedError, SingleFileComponentError) as exc:
        # Shape mismatches, unreadable tensors, and weights left on the meta device ("cannot
        # copy out of meta tensor"): the checkpoint, not the code, is at fault.
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"{path.name}: cannot load it as {family}: {reason}") from exc
    # 3. diffusers leaves weights that the file lacks on the meta device, sometimes silently.
    unloaded = _unloaded_weights(pipe)
    if unloaded:
        raise UserError(
            f"{path.name}: the file lacks {len(unloaded)} weights of a {family} model "
            f"(e.g. {unloaded[0]}); it may be truncated or a different architecture"
        )
    return pipe
