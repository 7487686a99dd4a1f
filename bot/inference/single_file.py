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
import logging
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from bot.domain.errors import ConfigError, UserError

if TYPE_CHECKING:
    from diffusers import DiffusionPipeline

CONFIGS_DIR = Path(__file__).with_name("configs")
FAMILIES = ("sd1", "sd2", "sd2-v", "sdxl", "tiny")
CHECKPOINT_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
_CONV_IN = UNET_PREFIX + "input_blocks.0.0.weight"
_CROSS_ATTENTION = re.compile(re.escape(UNET_PREFIX) + r".*\.attn2\.to_k\.weight")
# An empty tensor that v-prediction fine-tunes (SDXL ones mostly) carry; ComfyUI honours it too.
_V_PREDICTION_MARKER = "v_pred"

# Text encoder layouts, told apart by key prefix; each maps to the key whose shape gives its width.
_TEXT_ENCODERS = {
    "sdxl": ("conditioner.embedders.1.model.", "conditioner.embedders.1.model.ln_final.weight"),
    "sdxl-refiner": ("conditioner.embedders.0.model.", None),
    "openclip": ("cond_stage_model.model.", "cond_stage_model.model.ln_final.weight"),
    "clip": (
        "cond_stage_model.transformer.",
        "cond_stage_model.transformer.text_model.final_layer_norm.weight",
    ),
}
_TEXT_ENCODER_NAMES = {
    "sdxl": "CLIP ViT-L + OpenCLIP bigG (conditioner.embedders.*)",
    "sdxl-refiner": "OpenCLIP bigG only (the SDXL refiner)",
    "openclip": "OpenCLIP ViT-H (cond_stage_model.model.*)",
    "clip": "CLIP ViT-L (cond_stage_model.transformer.*)",
    None: "none",
}
_SET_FAMILY = "set [model] family to sd1, sd2, sd2-v or sdxl"

Shapes = dict[str, tuple[int, ...]]


@dataclass(frozen=True)
class FamilySignature:
    """What a family's weights look like: the shapes that tell the families apart."""

    unet_width: int
    cross_attention_dim: int
    text_encoder: str
    text_encoder_width: int


@dataclass(frozen=True)
class CheckpointLayout:
    """What a checkpoint's keys and shapes say about the model inside it."""

    unet_width: int
    unet_in_channels: int
    cross_attention_dim: int | None
    text_encoder: str | None
    text_encoder_width: int | None
    v_prediction_marker: bool

    @property
    def inpainting(self) -> bool:
        """True for 9-channel UNets (latents + mask + masked-image latents)."""
        return self.unet_in_channels == 9

    def describe(self) -> str:
        """One line naming the telling shapes, for error messages."""
        return (
            f"UNet width {self.unet_width}, cross-attention width {self.cross_attention_dim}, "
            f"text encoder {_TEXT_ENCODER_NAMES[self.text_encoder]}"
        )


def config_folder(family: str) -> Path:
    """The bundled diffusers config folder of ``family``."""
    if family not in FAMILIES:
        raise ConfigError(f"[model] family = {family!r} is not one of {', '.join(FAMILIES)}")
    return CONFIGS_DIR / family


@cache
def family_signature(family: str) -> FamilySignature:
    """The telling shapes of ``family``, read from its bundled configs so both stay in sync."""
    folder = config_folder(family)
    unet = json.loads((folder / "unet" / "config.json").read_text())
    # SDXL's second (OpenCLIP) encoder is the one whose keys tell the families apart.
    encoder = "text_encoder_2" if family == "sdxl" else "text_encoder"
    text = json.loads((folder / encoder / "config.json").read_text())
    kind = "sdxl" if family == "sdxl" else "openclip" if family.startswith("sd2") else "clip"
    return FamilySignature(
        unet["block_out_channels"][0], unet["cross_attention_dim"], kind, text["hidden_size"]
    )


def read_checkpoint_shapes(path: Path) -> Shapes:
    """Every tensor name in the checkpoint at ``path`` with its shape, without reading the data."""
    try:
        if path.suffix.lower() == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as handle:
                return {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}  # noqa: SIM118
        # Pickled checkpoints: weights_only refuses arbitrary code; the meta device skips the data.
        state = torch.load(path, map_location="meta", weights_only=True)
    except Exception as exc:  # any parse failure means "not a checkpoint we can read"
        raise UserError(f"{path.name}: cannot read it as a checkpoint ({exc})") from exc
    # Lightning checkpoints nest the weights under "state_dict" (sometimes twice).
    while isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise UserError(f"{path.name}: cannot read it as a checkpoint (no tensor dictionary)")
    return {key: tuple(value.shape) for key, value in state.items() if torch.is_tensor(value)}


def inspect_layout(shapes: Shapes, *, name: str) -> CheckpointLayout:
    """Read the telling shapes out of a checkpoint's key → shape map."""
    if _CONV_IN not in shapes:
        raise UserError(
            f"{name}: not a Stable Diffusion checkpoint I recognise "
            f"(no UNet keys '{UNET_PREFIX}*'); {_SET_FAMILY}"
        )
    unet_width, in_channels = shapes[_CONV_IN][:2]
    cross = next((shape for key, shape in shapes.items() if _CROSS_ATTENTION.fullmatch(key)), None)
    text_encoder = next(
        (kind for kind, (prefix, _) in _TEXT_ENCODERS.items() if _has_prefix(shapes, prefix)),
        None,
    )
    width_key = _TEXT_ENCODERS[text_encoder][1] if text_encoder else None
    return CheckpointLayout(
        unet_width=unet_width,
        unet_in_channels=in_channels,
        cross_attention_dim=cross[1] if cross else None,
        text_encoder=text_encoder,
        text_encoder_width=shapes[width_key][0] if width_key in shapes else None,
        v_prediction_marker=_V_PREDICTION_MARKER in shapes,
    )


def _has_prefix(shapes: Shapes, prefix: str) -> bool:
    return any(key.startswith(prefix) for key in shapes)


def _mismatches(layout: CheckpointLayout, family: str) -> list[str]:
    """How ``layout`` differs from ``family``'s signature; empty when they agree."""
    expected = family_signature(family)
    found: list[tuple[str, object, object]] = [
        ("UNet width", layout.unet_width, expected.unet_width),
        ("cross-attention width", layout.cross_attention_dim, expected.cross_attention_dim),
    ]
    if layout.text_encoder not in (None, expected.text_encoder):
        names = _TEXT_ENCODER_NAMES
        found.append(("text encoder", names[layout.text_encoder], names[expected.text_encoder]))
    else:
        found.append(("text encoder width", layout.text_encoder_width, expected.text_encoder_width))
    return [
        f"{what} is {actual} ({family} has {wanted})"
        for what, actual, wanted in found
        if actual is not None and actual != wanted
    ]


def detect_family(shapes: Shapes, *, name: str = "checkpoint") -> str:
    """Which family the weights in ``shapes`` belong to; ``UserError`` when none fits."""
    layout = inspect_layout(shapes, name=name)
    if layout.text_encoder == "sdxl-refiner":
        raise UserError(f"{name}: SDXL refiner checkpoints are not supported (only SDXL base)")
    matches = [
        family for family in ("sd1", "sd2", "sdxl", "tiny") if not _mismatches(layout, family)
    ]
    if len(matches) != 1:
        raise UserError(
            f"{name}: not a Stable Diffusion checkpoint I recognise ({layout.describe()}); "
            f"{_SET_FAMILY}"
        )
    if matches[0] == "sd2" and layout.v_prediction_marker:
        return "sd2-v"
    return matches[0]


def resolve_family(shapes: Shapes, family: str | None, *, name: str) -> tuple[str, bool]:
    """The family to load (detected, or ``family`` checked against the weights) and inpainting."""
    # 1. Validate the configured value before looking at the weights.
    if family is not None:
        config_folder(family)
    layout = inspect_layout(shapes, name=name)
    if layout.unet_in_channels not in (4, 9):
        raise UserError(
            f"{name}: its UNet takes {layout.unet_in_channels} input channels; only 4 "
            "(text-to-image) and 9 (inpainting) are supported"
        )
    # 2. Detect, or make sure the configured family is what the weights are.
    if family is None:
        return detect_family(shapes, name=name), layout.inpainting
    problems = _mismatches(layout, family)
    if problems:
        try:
            hint = f" The weights look like {detect_family(shapes, name=name)}."
        except UserError:
            hint = ""
        raise UserError(
            f"{name}: [model] family = {family!r} does not match the weights: "
            f"{'; '.join(problems)}.{hint} Fix [model] family, or leave it unset to detect it."
        )
    return family, layout.inpainting


def _require_components(shapes: Shapes, family: str, *, name: str) -> None:
    """Fail early, with the missing parts named, on UNet-only or VAE-less files."""
    required = {"VAE": VAE_PREFIX, "text encoder": _TEXT_ENCODERS["clip"][0]}
    if family == "sdxl":
        required |= {
            "text encoder": "conditioner.embedders.0.transformer.",
            "second text encoder": _TEXT_ENCODERS["sdxl"][0],
        }
    elif family.startswith("sd2"):
        required["text encoder"] = _TEXT_ENCODERS["openclip"][0]
    missing = [
        f"{part} ({prefix}*)"
        for part, prefix in required.items()
        if not _has_prefix(shapes, prefix)
    ]
    if missing:
        raise UserError(
            f"{name}: the file has no {' and no '.join(missing)} weights; only full checkpoints "
            "(UNet, VAE and text encoder in one file) are supported"
        )


@cache
def expected_shapes(family: str, *, inpainting: bool = False) -> Shapes:
    """The original-layout UNet and VAE names and shapes of a ``family`` checkpoint (read only)."""
    from bot.inference.export import original_layout_shapes

    return original_layout_shapes(config_folder(family), unet_in_channels=9 if inpainting else None)


def _squeezed(key: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    # The VAE's attention weights appear as Linear (n, m) and as 1×1 conv (n, m, 1, 1) in the
    # wild; diffusers accepts either.
    while key.startswith(VAE_PREFIX) and len(shape) > 2 and shape[-1] == 1:
        shape = shape[:-1]
    return shape


def _check_weights(shapes: Shapes, family: str, inpainting: bool, *, name: str) -> None:
    """Fail before loading when UNet/VAE weights are missing or shaped for another model."""
    expected = expected_shapes(family, inpainting=inpainting)
    missing = [key for key in expected if key not in shapes]
    if missing:
        raise UserError(
            f"{name}: the file lacks {len(missing)} of the {len(expected)} UNet/VAE weights of "
            f"a {family} model (e.g. {missing[0]}); it may be truncated or another architecture"
        )
    wrong = [
        key
        for key, shape in expected.items()
        if _squeezed(key, shapes[key]) != _squeezed(key, shape)
    ]
    if wrong:
        key = wrong[0]
        raise UserError(
            f"{name}: {len(wrong)} weights do not have the shapes of a {family} model "
            f"(e.g. {key} is {list(shapes[key])}, {family} has {list(expected[key])})"
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


class _DropEmptyFp32Warning(logging.Filter):
    """Drops diffusers 0.42's "modules that should be kept in float32: []" warning."""

    # from_single_file casts each loaded model with `.to(dtype)`, and diffusers warns on every
    # such cast even when the list of modules to keep in float32 is empty: it says nothing.
    def filter(self, record: logging.LogRecord) -> bool:
        return "should be kept in float32: []" not in record.getMessage()


_DROP_EMPTY_FP32_WARNING = _DropEmptyFp32Warning()


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
    _require_components(shapes, family, name=path.name)
    _check_weights(shapes, family, inpainting, name=path.name)
    # 2. Let diffusers convert and load it against the local config folder.
    pipeline_class = _pipeline_class(family, inpainting)
    # Idempotent: logging keeps one copy of a filter however often it is added.
    logging.getLogger("diffusers.models.modeling_utils").addFilter(_DROP_EMPTY_FP32_WARNING)
    try:
        pipe = pipeline_class.from_single_file(
            str(path),
            config=str(config_folder(family)),
            local_files_only=True,
            torch_dtype=torch_dtype,
            **_component_overrides(family, inpainting, _V_PREDICTION_MARKER in shapes),
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
