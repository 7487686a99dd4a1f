"""Export a diffusers Stable Diffusion pipeline as one original-layout ``.safetensors`` file.

This is the inverse of diffusers' single-file conversion: the file uses the CompVis/LDM key layout
that AUTOMATIC1111, ComfyUI and civitai checkpoints use (UNet under ``model.diffusion_model.``,
VAE under ``first_stage_model.``, CLIP text encoder under ``cond_stage_model.transformer.``), so
``load_single_file`` (and every other SD tool) can read it back.

The mapping follows the structure of the two layouts rather than a fixed key table, so it works
for any UNet/VAE built from the same block types (SD 1.x sizes, the built-in tiny model, and the
SDXL UNet). Only the CLIP ViT-L text encoder layout (SD 1.x, tiny) is written; SD 2.x/SDXL use
OpenCLIP in the original layout, which this module does not produce.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors.torch import save_file

from bot.domain.errors import UserError

if TYPE_CHECKING:
    from diffusers import DiffusionPipeline

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
CLIP_PREFIX = "cond_stage_model.transformer."

# UNet keys that sit outside the down/mid/up blocks.
_UNET_TOP_LEVEL = {
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
    "conv_in": "input_blocks.0.0",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
    # SDXL's micro-conditioning ("text_time") embedding.
    "add_embedding.linear_1": "label_emb.0.0",
    "add_embedding.linear_2": "label_emb.0.2",
}
# A diffusers ResnetBlock2D and an LDM ResBlock hold the same layers under different names.
_UNET_RESNET = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "time_emb_proj": "emb_layers.1",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "conv_shortcut": "skip_connection",
}
_VAE_TOP_LEVEL = {
    "conv_in": "conv_in",
    "conv_out": "conv_out",
    "conv_norm_out": "norm_out",
}
_VAE_ATTENTION = {
    "group_norm": "norm",
    "to_q": "q",
    "to_k": "k",
    "to_v": "v",
    "to_out.0": "proj_out",
}

_DOWN = re.compile(r"down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)")
_DOWNSAMPLE = re.compile(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)")
_MID = re.compile(r"mid_block\.(resnets|attentions)\.(\d+)\.(.+)")
_UP = re.compile(r"up_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)")
_UPSAMPLE = re.compile(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)")


def _rename_head(rest: str, table: Mapping[str, str]) -> str | None:
    """Rename the leading layer of ``rest`` (``norm1.weight`` → ``in_layers.0.weight``), or None."""
    for old, new in table.items():
        if rest.startswith(old + "."):
            return new + rest[len(old) :]
    return None


def _rename_or_keep(rest: str, table: Mapping[str, str]) -> str:
    return _rename_head(rest, table) or rest


def _layers_per_block(config: Mapping[str, Any]) -> int:
    layers = config["layers_per_block"]
    if not isinstance(layers, int):
        # Per-block layer counts exist in diffusers but in no SD checkpoint; the LDM indices
        # below assume one count for every block.
        raise UserError(f"cannot export a UNet with per-block layers_per_block={layers!r}")
    return layers


def unet_key_to_ldm(key: str, config: Mapping[str, Any]) -> str:
    """Map one diffusers ``UNet2DConditionModel`` key to its LDM name (without the prefix)."""
    layers = _layers_per_block(config)
    # LDM numbers every down-path module in one flat list: input_blocks.0 is conv_in, then per
    # block `layers` (resnet, attention) pairs followed by one downsampler.
    if match := _DOWN.fullmatch(key):
        block, kind, layer, rest = int(match[1]), match[2], int(match[3]), match[4]
        index = 1 + block * (layers + 1) + layer
        if kind == "resnets":
            return f"input_blocks.{index}.0.{_rename_or_keep(rest, _UNET_RESNET)}"
        return f"input_blocks.{index}.1.{rest}"
    if match := _DOWNSAMPLE.fullmatch(key):
        return f"input_blocks.{(int(match[1]) + 1) * (layers + 1)}.0.op.{match[2]}"
    if match := _MID.fullmatch(key):
        kind, layer, rest = match[1], int(match[2]), match[3]
        # resnet 0, attention 0, resnet 1 → middle_block.0, .1, .2
        if kind == "resnets":
            return f"middle_block.{2 * layer}.{_rename_or_keep(rest, _UNET_RESNET)}"
        return f"middle_block.{2 * layer + 1}.{rest}"
    # The up path has one more resnet per block; the upsampler sits in the block's last entry,
    # after the attention when the block has one.
    if match := _UP.fullmatch(key):
        block, kind, layer, rest = int(match[1]), match[2], int(match[3]), match[4]
        index = block * (layers + 1) + layer
        if kind == "resnets":
            return f"output_blocks.{index}.0.{_rename_or_keep(rest, _UNET_RESNET)}"
        return f"output_blocks.{index}.1.{rest}"
    if match := _UPSAMPLE.fullmatch(key):
        block = int(match[1])
        has_attention = "CrossAttn" in config["up_block_types"][block]
        index = block * (layers + 1) + layers
        return f"output_blocks.{index}.{2 if has_attention else 1}.conv.{match[2]}"
    renamed = _rename_head(key, _UNET_TOP_LEVEL)
    if renamed is None:
        raise UserError(f"cannot export UNet weight {key!r}: no original-layout equivalent")
    return renamed


def vae_key_to_ldm(key: str, config: Mapping[str, Any]) -> str:
    """Map one diffusers ``AutoencoderKL`` key to its LDM name (without the prefix)."""
    part, _, rest = key.partition(".")
    if part in ("quant_conv", "post_quant_conv"):
        return key
    if part not in ("encoder", "decoder"):
        raise UserError(f"cannot export VAE weight {key!r}: no original-layout equivalent")
    if match := re.fullmatch(r"(?:down|up)_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", rest):
        block = int(match[1])
        tail = match[3].replace("conv_shortcut", "nin_shortcut")
        if part == "encoder":
            return f"encoder.down.{block}.block.{match[2]}.{tail}"
        # The LDM decoder counts its up blocks from the lowest resolution upwards, reversed.
        return f"decoder.up.{_reversed_up(block, config)}.block.{match[2]}.{tail}"
    if match := re.fullmatch(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)", rest):
        return f"encoder.down.{match[1]}.downsample.conv.{match[2]}"
    if match := re.fullmatch(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)", rest):
        return f"decoder.up.{_reversed_up(int(match[1]), config)}.upsample.conv.{match[2]}"
    if match := re.fullmatch(r"mid_block\.resnets\.(\d+)\.(.+)", rest):
        tail = match[2].replace("conv_shortcut", "nin_shortcut")
        return f"{part}.mid.block_{int(match[1]) + 1}.{tail}"
    if match := re.fullmatch(r"mid_block\.attentions\.0\.(.+)", rest):
        return f"{part}.mid.attn_1.{_rename_or_keep(match[1], _VAE_ATTENTION)}"
    renamed = _rename_head(rest, _VAE_TOP_LEVEL)
    if renamed is None:
        raise UserError(f"cannot export VAE weight {key!r}: no original-layout equivalent")
    return f"{part}.{renamed}"


def _reversed_up(block: int, config: Mapping[str, Any]) -> int:
    return len(config["up_block_types"]) - 1 - block


def _vae_tensor_to_ldm(ldm_key: str, tensor: torch.Tensor) -> torch.Tensor:
    # The LDM VAE's mid-block attention uses 1×1 convolutions where diffusers uses Linear layers:
    # same numbers, two extra trailing dimensions.
    if ".mid.attn_1." in ldm_key and ldm_key.endswith(".weight") and tensor.ndim == 2:
        return tensor.reshape(*tensor.shape, 1, 1)
    return tensor


def clip_key_to_ldm(key: str) -> str:
    """Map one transformers ``CLIPTextModel`` key to its LDM name (without the prefix)."""
    # Checkpoints carry the transformers 4.x names (`text_model.` inside the model); transformers
    # 5.6+ flattened CLIPTextModel, so add the level back where it is missing.
    return key if key.startswith("text_model.") else f"text_model.{key}"


def _map_state_dict(
    state_dict: Mapping[str, torch.Tensor],
    prefix: str,
    rename: Callable[[str], str],
    reshape: Callable[[str, torch.Tensor], torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    mapped: dict[str, torch.Tensor] = {}
    for key, tensor in state_dict.items():
        new_key = prefix + rename(key)
        if new_key in mapped:
            raise UserError(f"two weights map to the same original-layout key {new_key!r}")
        mapped[new_key] = reshape(new_key, tensor) if reshape else tensor
    return mapped


def unet_to_ldm(
    state_dict: Mapping[str, torch.Tensor], config: Mapping[str, Any]
) -> dict[str, torch.Tensor]:
    """Rename a diffusers UNet state dict to ``model.diffusion_model.*`` keys."""
    return _map_state_dict(state_dict, UNET_PREFIX, lambda key: unet_key_to_ldm(key, config))


def vae_to_ldm(
    state_dict: Mapping[str, torch.Tensor], config: Mapping[str, Any]
) -> dict[str, torch.Tensor]:
    """Rename a diffusers VAE state dict to ``first_stage_model.*`` keys (attention as 1×1 conv)."""
    return _map_state_dict(
        state_dict, VAE_PREFIX, lambda key: vae_key_to_ldm(key, config), _vae_tensor_to_ldm
    )


def clip_text_to_ldm(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a CLIP ViT-L text encoder state dict to ``cond_stage_model.transformer.*`` keys."""
    return _map_state_dict(state_dict, CLIP_PREFIX, clip_key_to_ldm)


def pipeline_to_ldm(pipe: DiffusionPipeline) -> dict[str, torch.Tensor]:
    """Return the whole pipeline's weights as one original-layout state dict."""
    # 1. Only SD 1.x-shaped pipelines: one CLIPTextModel, a UNet and a KL VAE.
    components = getattr(pipe, "components", {})
    missing = [name for name in ("unet", "vae", "text_encoder") if components.get(name) is None]
    if missing:
        raise UserError(f"cannot export {type(pipe).__name__}: it has no {', '.join(missing)}")
    if components.get("text_encoder_2") is not None:
        raise UserError("cannot export SDXL pipelines: only SD 1.x-layout pipelines are supported")
    text_encoder = components["text_encoder"]
    if type(text_encoder).__name__ != "CLIPTextModel":
        raise UserError(f"cannot export a {type(text_encoder).__name__} text encoder")
    # 2. Rename each component into its prefix.
    unet, vae = components["unet"], components["vae"]
    merged = {
        **unet_to_ldm(unet.state_dict(), unet.config),
        **vae_to_ldm(vae.state_dict(), vae.config),
        **clip_text_to_ldm(text_encoder.state_dict()),
    }
    return {key: tensor.detach() for key, tensor in merged.items()}


def original_layout_shapes(
    folder: Path, *, unet_in_channels: int | None = None
) -> dict[str, tuple[int, ...]]:
    """Original-layout UNet and VAE names and shapes of the model configured under ``folder``."""
    from diffusers import AutoencoderKL, UNet2DConditionModel

    unet_config = dict(UNet2DConditionModel.load_config(str(folder), subfolder="unet"))
    if unet_in_channels is not None:
        unet_config["in_channels"] = unet_in_channels
    # The meta device gives every shape without allocating memory (~0.2 s for SDXL).
    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(unet_config)
        vae = AutoencoderKL.from_config(AutoencoderKL.load_config(str(folder), subfolder="vae"))
    renamed = {
        **unet_to_ldm(unet.state_dict(), unet.config),
        **vae_to_ldm(vae.state_dict(), vae.config),
    }
    return {key: tuple(tensor.shape) for key, tensor in renamed.items()}


def write_config_folder(pipe: DiffusionPipeline, folder: Path) -> Path:
    """Write ``pipe``'s diffusers configs, without weights or vocabularies, under ``folder``."""
    # This is how configs/tiny was made from build_tiny_pipeline(); rerun it when the tiny
    # model changes (a test compares the two).
    folder = Path(folder)
    pipe.save_config(folder)
    for name, component in pipe.components.items():
        if component is None:
            continue
        target = folder / name
        if hasattr(component, "save_config"):  # diffusers models and schedulers
            component.save_config(target)
            if getattr(component, "config_name", "") == "scheduler_config.json":
                _drop_defaulted_keys(target / "scheduler_config.json", component.config)
        elif hasattr(component, "config"):  # transformers models
            component.config.save_pretrained(target)
        else:  # tokenizers: keep the small settings file; the BPE files come from clip_tokenizer()
            target.mkdir(parents=True, exist_ok=True)
            settings = component.init_kwargs | {"model_max_length": component.model_max_length}
            kept = {
                key: str(value) if key.endswith("_token") else value
                for key, value in settings.items()
                if key.endswith("_token") or key in ("model_max_length", "do_lower_case")
            }
            kept["tokenizer_class"] = type(component).__name__
            (target / "tokenizer_config.json").write_text(
                json.dumps(dict(sorted(kept.items())), indent=2) + "\n"
            )
    return folder


def _drop_defaulted_keys(config_file: Path, config: Mapping[str, Any]) -> None:
    # A scheduler built without e.g. `timestep_spacing` lets each scheduler class pick its own
    # default when the engine swaps schedulers (from_config skips defaulted keys); written out
    # explicitly, the value would be forced on every class. Keep the keys unset, as SD 1.5's
    # published scheduler config does.
    defaulted = set(config.get("_use_default_values", ()))
    saved = json.loads(config_file.read_text())
    kept = {key: value for key, value in saved.items() if key not in defaulted}
    config_file.write_text(json.dumps(kept, indent=2, sort_keys=True) + "\n")


def export_single_file(pipe: DiffusionPipeline, path: Path) -> Path:
    """Write ``pipe``'s weights to ``path`` as one original-layout ``.safetensors`` file."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise UserError(f"{path}: export writes .safetensors files; use that extension")
    state_dict = {
        key: tensor.to("cpu").contiguous() for key, tensor in pipeline_to_ldm(pipe).items()
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write next to the target and rename, so a crash never leaves a truncated checkpoint that
    # a later load would mistake for a real one.
    partial = path.with_name(path.name + ".partial")
    try:
        save_file(state_dict, str(partial), metadata={"format": "pt"})
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return path
