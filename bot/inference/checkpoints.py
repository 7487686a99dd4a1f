"""What a single checkpoint file is: its weight names and shapes, its family, whether it is whole.

Read-only checks that run before ``single_file`` hands a file to diffusers, so that a wrong file
or a wrong ``[model] family`` is a one-line error instead of a shape mismatch deep inside.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import torch

from bot.domain.errors import ConfigError, UserError

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


def check_checkpoint(shapes: Shapes, family: str, inpainting: bool, *, name: str) -> None:
    """Fail before loading when a part is missing or weights are shaped for another model."""
    _require_components(shapes, family, name=name)
    _check_weights(shapes, family, inpainting, name=name)


def wants_v_prediction(shapes: Shapes) -> bool:
    """Whether the file carries the ``v_pred`` marker key (as ComfyUI honours it)."""
    return _V_PREDICTION_MARKER in shapes
