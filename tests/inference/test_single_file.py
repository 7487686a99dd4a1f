"""Single-file checkpoints: export, family detection, offline loading and the bundled configs."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

os.environ["HF_HUB_OFFLINE"] = "1"  # an accidental hub call must fail, not download

import numpy as np
import pytest
import torch
from diffusers import (
    AutoencoderKL,
    DiffusionPipeline,
    StableDiffusionInpaintPipeline,
    StableDiffusionPipeline,
    UNet2DConditionModel,
)
from diffusers.loaders.single_file_utils import (
    convert_ldm_clip_checkpoint,
    convert_ldm_unet_checkpoint,
    convert_ldm_vae_checkpoint,
)
from safetensors.torch import load_file, save_file
from transformers import CLIPTextConfig, CLIPTextModel

from bot.domain.errors import ConfigError, UserError
from bot.inference import Engine, load_engine
from bot.inference.checkpoints import (
    Shapes,
    config_folder,
    detect_family,
    read_checkpoint_shapes,
    resolve_family,
)
from bot.inference.export import (
    clip_text_to_ldm,
    export_single_file,
    unet_to_ldm,
    vae_to_ldm,
    write_config_folder,
)
from bot.inference.single_file import family_tokenizers, load_single_file
from bot.inference.tiny import build_tiny_pipeline

torch.set_num_threads(2)

PROMPT = "a lighthouse at dusk"


@pytest.fixture(scope="module")
def tiny_pipe() -> StableDiffusionPipeline:
    """A freshly built tiny pipeline (the engine's own copy may have its scheduler swapped)."""
    return build_tiny_pipeline()


@pytest.fixture(scope="module")
def tiny_file(tiny_pipe: StableDiffusionPipeline, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model exported as one original-layout .safetensors file."""
    return export_single_file(tiny_pipe, tmp_path_factory.mktemp("ckpt") / "tiny.safetensors")


def render(pipe: DiffusionPipeline) -> np.ndarray:
    """One small, fast, seeded image as float pixels."""
    generator = torch.Generator().manual_seed(1234)
    pipe.set_progress_bar_config(disable=True)
    out = pipe(
        PROMPT, height=64, width=64, num_inference_steps=3, generator=generator, output_type="np"
    )
    return np.asarray(out.images[0])


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    left, right = a.state_dict(), b.state_dict()
    assert left.keys() == right.keys()
    assert all(torch.equal(left[key], right[key]) for key in left)


# 1. Export → load round trip --------------------------------------------------------------------


def test_export_writes_the_original_layout(tiny_file: Path) -> None:
    tensors = load_file(str(tiny_file))
    prefixes = ("model.diffusion_model.", "first_stage_model.", "cond_stage_model.transformer.")
    assert all(key.startswith(prefixes) for key in tensors)
    assert all(any(key.startswith(prefix) for key in tensors) for prefix in prefixes)
    # The VAE's mid-block attention is a 1×1 convolution in the original layout.
    assert tensors["first_stage_model.encoder.mid.attn_1.q.weight"].ndim == 4
    assert tensors["first_stage_model.decoder.mid.attn_1.proj_out.weight"].ndim == 4
    assert "cond_stage_model.transformer.text_model.final_layer_norm.weight" in tensors
    assert not list(tiny_file.parent.glob("*.partial"))


def test_exported_tiny_is_detected_and_renders_identically(
    tiny_pipe: StableDiffusionPipeline, tiny_file: Path
) -> None:
    assert detect_family(read_checkpoint_shapes(tiny_file)) == "tiny"
    loaded = load_single_file(tiny_file, family=None, torch_dtype=torch.float32)
    assert type(loaded) is StableDiffusionPipeline
    for name in ("unet", "vae", "text_encoder"):
        assert_same_weights(getattr(tiny_pipe, name), getattr(loaded, name))
    assert np.array_equal(render(tiny_pipe), render(loaded))


def test_load_engine_on_the_exported_file_matches_the_tiny_engine(
    tiny_engine: Engine, tiny_file: Path
) -> None:
    engine = load_engine(str(tiny_file), device="cpu")
    assert engine.family == "tiny"
    args: dict[str, Any] = {"width": 64, "height": 64, "steps": 2, "seed": 42}
    expected = np.asarray(tiny_engine.txt2img(PROMPT, **args).images[0])
    assert np.array_equal(np.asarray(engine.txt2img(PROMPT, **args).images[0]), expected)


def test_pickled_ckpt_with_a_nested_state_dict(
    tiny_pipe: StableDiffusionPipeline, tiny_file: Path, tmp_path: Path
) -> None:
    ckpt = tmp_path / "tiny.ckpt"
    torch.save({"state_dict": load_file(str(tiny_file)), "global_step": 1}, ckpt)
    loaded = load_single_file(ckpt, family="tiny", torch_dtype=torch.float32)
    assert_same_weights(tiny_pipe.unet, loaded.unet)


def test_a_nine_channel_unet_loads_as_an_inpainting_pipeline(
    tiny_pipe: StableDiffusionPipeline, tmp_path: Path
) -> None:
    unet = UNet2DConditionModel.from_config({**tiny_pipe.unet.config, "in_channels": 9})
    inpainting = StableDiffusionInpaintPipeline(**{**tiny_pipe.components, "unet": unet})
    path = export_single_file(inpainting, tmp_path / "tiny-inpainting.safetensors")
    assert resolve_family(read_checkpoint_shapes(path), None, name=path.name) == ("tiny", True)
    loaded = load_single_file(path, family=None, torch_dtype=torch.float32)
    assert type(loaded) is StableDiffusionInpaintPipeline
    assert loaded.unet.config.in_channels == 9
    assert loaded.vae.config.in_channels == 3
    assert_same_weights(unet, loaded.unet)


def test_a_v_prediction_marker_switches_the_scheduler(tiny_file: Path, tmp_path: Path) -> None:
    marked = tmp_path / "tiny-vpred.safetensors"
    save_file({**load_file(str(tiny_file)), "v_pred": torch.zeros(0)}, str(marked))
    loaded = load_single_file(marked, family=None, torch_dtype=torch.float32)
    assert loaded.scheduler.config.prediction_type == "v_prediction"


def test_export_refuses_an_sdxl_pipeline(tmp_path: Path) -> None:
    fake = SimpleNamespace(components={"unet": 1, "vae": 1, "text_encoder": 1, "text_encoder_2": 1})
    with pytest.raises(UserError, match="SDXL"):
        export_single_file(fake, tmp_path / "x.safetensors")


# 2. Family detection on the telling keys ------------------------------------------------------

UNET = "model.diffusion_model."
CONV_IN = UNET + "input_blocks.0.0.weight"


def shapes_of(family: str, in_channels: int = 4) -> Shapes:
    """Only the telling keys of a real checkpoint of ``family``, with their real shapes."""
    vae = {"first_stage_model.encoder.conv_in.weight": (128, 3, 3, 3)}
    if family == "sd1":
        return {
            CONV_IN: (320, in_channels, 3, 3),
            UNET + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": (320, 768),
            "cond_stage_model.transformer.text_model.final_layer_norm.weight": (768,),
            **vae,
        }
    if family == "sd2":
        return {
            CONV_IN: (320, in_channels, 3, 3),
            UNET + "input_blocks.2.1.transformer_blocks.0.attn2.to_k.weight": (320, 1024),
            "cond_stage_model.model.ln_final.weight": (1024,),
            **vae,
        }
    assert family == "sdxl"
    return {
        CONV_IN: (320, in_channels, 3, 3),
        UNET + "input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight": (640, 2048),
        UNET + "label_emb.0.0.weight": (1280, 2816),
        "conditioner.embedders.0.transformer.text_model.final_layer_norm.weight": (768,),
        "conditioner.embedders.1.model.ln_final.weight": (1280,),
        **vae,
    }


@pytest.mark.parametrize("family", ["sd1", "sd2", "sdxl"])
def test_detects_each_family_from_its_keys(family: str) -> None:
    assert resolve_family(shapes_of(family), None, name="x") == (family, False)


@pytest.mark.parametrize("family", ["sd1", "sd2", "sdxl"])
def test_detects_inpainting_unets(family: str) -> None:
    assert resolve_family(shapes_of(family, in_channels=9), None, name="x") == (family, True)


def test_a_v_prediction_marker_makes_sd2_sd2_v() -> None:
    assert detect_family({**shapes_of("sd2"), "v_pred": ()}) == "sd2-v"


def test_sd2_v_is_accepted_for_sd2_weights() -> None:
    # 512-base and 768-v weights have the same shapes: only the operator can tell them apart.
    assert resolve_family(shapes_of("sd2"), "sd2-v", name="x") == ("sd2-v", False)


def test_garbage_names_what_was_missing() -> None:
    with pytest.raises(UserError) as caught:
        detect_family({"encoder.layer.0.weight": (3, 3)}, name="weird.safetensors")
    message = str(caught.value)
    assert message.startswith("weird.safetensors: not a Stable Diffusion checkpoint I recognise")
    assert "'model.diffusion_model.*'" in message
    assert "set [model] family to sd1, sd2, sd2-v or sdxl" in message


def test_unknown_widths_are_described() -> None:
    shapes = {**shapes_of("sd1"), CONV_IN: (384, 4, 3, 3)}
    with pytest.raises(UserError, match="UNet width 384, cross-attention width 768"):
        detect_family(shapes, name="x")


def test_sdxl_refiner_is_refused_by_name() -> None:
    shapes = {CONV_IN: (384, 4, 3, 3), "conditioner.embedders.0.model.ln_final.weight": (1280,)}
    with pytest.raises(UserError, match="SDXL refiner"):
        detect_family(shapes, name="x")


def test_other_unet_input_widths_are_refused() -> None:
    with pytest.raises(UserError, match="takes 8 input channels"):
        resolve_family(shapes_of("sd1", in_channels=8), None, name="pix2pix.safetensors")


def test_a_family_that_contradicts_the_weights() -> None:
    with pytest.raises(UserError) as caught:
        resolve_family(shapes_of("sd2"), "sd1", name="model.safetensors")
    message = str(caught.value)
    assert "model.safetensors: [model] family = 'sd1' does not match the weights" in message
    assert "cross-attention width is 1024 (sd1 has 768)" in message
    assert "The weights look like sd2." in message


def test_a_contradicting_family_fails_before_loading(tiny_file: Path) -> None:
    with pytest.raises(UserError, match=r"family = 'sd1' does not match.*UNet width is 32"):
        load_single_file(tiny_file, family="sd1", torch_dtype=torch.float32)


def test_an_unknown_family_is_a_config_error(tiny_file: Path) -> None:
    with pytest.raises(ConfigError, match="sd3"):
        load_single_file(tiny_file, family="sd3", torch_dtype=torch.float32)


# 3. Files that are not (whole) checkpoints ---------------------------------------------------


def test_a_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.safetensors"
    with pytest.raises(UserError, match="no such checkpoint file") as caught:
        load_single_file(missing, family=None, torch_dtype=torch.float32)
    assert str(missing) in str(caught.value)


def test_a_corrupt_file_is_a_user_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x00not a safetensors file")
    with pytest.raises(UserError, match=r"broken\.safetensors: cannot read it as a checkpoint"):
        load_single_file(broken, family=None, torch_dtype=torch.float32)


def test_a_file_of_other_weights_is_not_recognised(tmp_path: Path) -> None:
    other = tmp_path / "lora.safetensors"
    save_file({"lora_unet_down.alpha": torch.ones(1)}, str(other))
    with pytest.raises(UserError, match=r"lora\.safetensors: not a Stable Diffusion checkpoint"):
        load_single_file(other, family=None, torch_dtype=torch.float32)


def test_a_unet_only_file_names_the_missing_parts(tiny_file: Path, tmp_path: Path) -> None:
    unet_only = tmp_path / "unet-only.safetensors"
    tensors = load_file(str(tiny_file))
    save_file({k: v for k, v in tensors.items() if k.startswith(UNET)}, str(unet_only))
    with pytest.raises(UserError, match=r"no VAE \(first_stage_model\.\*\) and no text encoder"):
        load_single_file(unet_only, family=None, torch_dtype=torch.float32)


def test_missing_weights_are_reported_not_left_uninitialised(
    tiny_file: Path, tmp_path: Path
) -> None:
    truncated = tmp_path / "truncated.safetensors"
    tensors = load_file(str(tiny_file))
    del tensors["first_stage_model.decoder.conv_out.weight"]
    save_file(tensors, str(truncated))
    with pytest.raises(UserError, match=r"lacks 1 of the \d+ UNet/VAE weights.*decoder\.conv_out"):
        load_single_file(truncated, family=None, torch_dtype=torch.float32)


def test_missing_text_encoder_weights_are_caught_after_loading(
    tiny_file: Path, tmp_path: Path
) -> None:
    # diffusers leaves a missing text encoder weight on the meta device without a word.
    truncated = tmp_path / "truncated.safetensors"
    tensors = load_file(str(tiny_file))
    del tensors["cond_stage_model.transformer.text_model.final_layer_norm.weight"]
    save_file(tensors, str(truncated))
    with pytest.raises(UserError, match=r"lacks 1 weights.*text_encoder\.final_layer_norm"):
        load_single_file(truncated, family=None, torch_dtype=torch.float32)


# 4. The bundled configs ------------------------------------------------------------------------


def load_json(family: str, relative: str) -> dict[str, Any]:
    return json.loads((config_folder(family) / relative).read_text())


@pytest.mark.parametrize("family", ["sd1", "sd2", "sd2-v", "sdxl", "tiny"])
def test_config_folders_parse(family: str) -> None:
    folder = str(config_folder(family))
    index = DiffusionPipeline.load_config(folder)
    assert UNet2DConditionModel.load_config(folder, subfolder="unet")["in_channels"] == 4
    assert AutoencoderKL.load_config(folder, subfolder="vae")["latent_channels"] == 4
    for name in [name for name in ("text_encoder", "text_encoder_2") if name in index]:
        assert CLIPTextConfig.from_pretrained(folder, subfolder=name).vocab_size == 49408
    scheduler = load_json(family, "scheduler/scheduler_config.json")
    assert scheduler["_class_name"] == index["scheduler"][1]


# Values of the published configs: stable-diffusion-v1-5, stable-diffusion-2-1-base,
# stable-diffusion-2-1 (768-v) and stable-diffusion-xl-base-1.0 on the Hugging Face hub.
PUBLISHED = [
    ("sd1", "unet/config.json", "cross_attention_dim", 768),
    ("sd1", "unet/config.json", "block_out_channels", [320, 640, 1280, 1280]),
    ("sd1", "unet/config.json", "attention_head_dim", 8),
    ("sd1", "unet/config.json", "use_linear_projection", None),  # conv proj_in, as SD 1.x
    ("sd1", "text_encoder/config.json", "hidden_act", "quick_gelu"),
    ("sd1", "text_encoder/config.json", "num_hidden_layers", 12),
    ("sd1", "scheduler/scheduler_config.json", "_class_name", "PNDMScheduler"),
    ("sd1", "scheduler/scheduler_config.json", "beta_start", 0.00085),
    ("sd1", "scheduler/scheduler_config.json", "beta_end", 0.012),
    ("sd1", "scheduler/scheduler_config.json", "beta_schedule", "scaled_linear"),
    ("sd1", "scheduler/scheduler_config.json", "steps_offset", 1),
    ("sd1", "scheduler/scheduler_config.json", "timestep_spacing", None),
    ("sd1", "tokenizer/tokenizer_config.json", "pad_token", "<|endoftext|>"),
    ("sd2", "unet/config.json", "attention_head_dim", [5, 10, 20, 20]),
    ("sd2", "unet/config.json", "use_linear_projection", True),
    ("sd2", "unet/config.json", "cross_attention_dim", 1024),
    ("sd2", "unet/config.json", "upcast_attention", False),
    ("sd2", "text_encoder/config.json", "hidden_size", 1024),
    ("sd2", "text_encoder/config.json", "num_hidden_layers", 23),  # penultimate OpenCLIP layer
    ("sd2", "text_encoder/config.json", "hidden_act", "gelu"),
    ("sd2", "scheduler/scheduler_config.json", "prediction_type", "epsilon"),
    ("sd2", "tokenizer/tokenizer_config.json", "pad_token", "!"),
    ("sd2-v", "unet/config.json", "sample_size", 96),
    ("sd2-v", "unet/config.json", "upcast_attention", True),
    ("sd2-v", "vae/config.json", "sample_size", 768),
    ("sd2-v", "scheduler/scheduler_config.json", "_class_name", "DDIMScheduler"),
    ("sd2-v", "scheduler/scheduler_config.json", "prediction_type", "v_prediction"),
    ("sdxl", "model_index.json", "_class_name", "StableDiffusionXLPipeline"),
    ("sdxl", "model_index.json", "force_zeros_for_empty_prompt", True),
    ("sdxl", "unet/config.json", "addition_embed_type", "text_time"),
    ("sdxl", "unet/config.json", "cross_attention_dim", 2048),
    ("sdxl", "unet/config.json", "transformer_layers_per_block", [1, 2, 10]),
    ("sdxl", "unet/config.json", "projection_class_embeddings_input_dim", 2816),
    ("sdxl", "vae/config.json", "scaling_factor", 0.13025),
    ("sdxl", "vae/config.json", "force_upcast", True),
    ("sdxl", "text_encoder_2/config.json", "hidden_size", 1280),
    ("sdxl", "text_encoder_2/config.json", "num_hidden_layers", 32),
    ("sdxl", "text_encoder_2/config.json", "projection_dim", 1280),
    ("sdxl", "scheduler/scheduler_config.json", "_class_name", "EulerDiscreteScheduler"),
    ("sdxl", "tokenizer_2/tokenizer_config.json", "pad_token", "!"),
]


@pytest.mark.parametrize(("family", "relative", "key", "value"), PUBLISHED)
def test_bundled_configs_have_the_published_values(
    family: str, relative: str, key: str, value: Any
) -> None:
    assert load_json(family, relative).get(key) == value


def test_family_tokenizers_pad_like_the_published_ones() -> None:
    assert family_tokenizers("sd1")["tokenizer"].pad_token_id == 49407
    assert family_tokenizers("sd2")["tokenizer"].pad_token_id == 0
    sdxl = family_tokenizers("sdxl")
    assert (sdxl["tokenizer"].pad_token_id, sdxl["tokenizer_2"].pad_token_id) == (49407, 0)
    assert all(t.model_max_length == 77 for t in sdxl.values())


def _public(config: Any) -> dict[str, Any]:
    """A config without bookkeeping keys (class names, library versions, source paths)."""
    as_dict = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    return {
        k: v
        for k, v in as_dict.items()
        if not k.startswith("_") and k not in ("transformers_version", "architectures")
    }


def test_bundled_tiny_config_matches_the_built_tiny_model(
    tiny_pipe: StableDiffusionPipeline, tmp_path: Path
) -> None:
    hint = "configs/tiny is stale: regenerate it with export.write_config_folder(tiny pipeline)"
    built = write_config_folder(tiny_pipe, tmp_path / "tiny")
    bundled = config_folder("tiny")
    for relative in (
        "model_index.json",
        "scheduler/scheduler_config.json",
        "unet/config.json",
        "vae/config.json",
        "text_encoder/config.json",
        "tokenizer/tokenizer_config.json",
    ):
        fresh = json.loads((built / relative).read_text())
        kept = json.loads((bundled / relative).read_text())
        assert _public(fresh) == _public(kept), f"{relative}: {hint}"


# 5. Real SD shapes, on the meta device ---------------------------------------------------------


@pytest.mark.parametrize("family", ["sd1", "sd2", "sdxl"])
def test_export_mapping_inverts_diffusers_on_real_shapes(family: str) -> None:
    folder = str(config_folder(family))
    with torch.device("meta"):  # real configs, no memory
        unet = UNet2DConditionModel.from_config(
            UNet2DConditionModel.load_config(folder, subfolder="unet")
        )
        vae = AutoencoderKL.from_config(AutoencoderKL.load_config(folder, subfolder="vae"))
    ldm_unet = unet_to_ldm(unet.state_dict(), unet.config)
    ldm_vae = vae_to_ldm(vae.state_dict(), vae.config)
    # diffusers' own converter takes the original layout back to exactly the model's weights.
    for model, converted in (
        (unet, convert_ldm_unet_checkpoint(ldm_unet, unet.config)),
        (vae, convert_ldm_vae_checkpoint(ldm_vae, vae.config)),
    ):
        expected = {key: tensor.shape for key, tensor in model.state_dict().items()}
        assert {key: tensor.shape for key, tensor in converted.items()} == expected
    shapes = {key: tuple(t.shape) for key, t in {**ldm_unet, **ldm_vae}.items()}
    assert detect_family(shapes) == family
    if family == "sdxl":
        assert vae.config.scaling_factor == 0.13025


def test_sd15_shapes_match_the_published_checkpoint_layout() -> None:
    folder = str(config_folder("sd1"))
    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(
            UNet2DConditionModel.load_config(folder, subfolder="unet")
        )
        vae = AutoencoderKL.from_config(AutoencoderKL.load_config(folder, subfolder="vae"))
        text = CLIPTextModel(CLIPTextConfig.from_pretrained(folder, subfolder="text_encoder"))
    ldm_text = clip_text_to_ldm(text.state_dict())
    shapes = {
        key: tuple(t.shape)
        for key, t in {
            **unet_to_ldm(unet.state_dict(), unet.config),
            **vae_to_ldm(vae.state_dict(), vae.config),
            **ldm_text,
        }.items()
    }
    # Names and shapes as they appear in v1-5-pruned-emaonly.safetensors.
    assert shapes[UNET + "input_blocks.1.1.proj_in.weight"] == (320, 320, 1, 1)
    assert shapes[UNET + "input_blocks.3.0.op.weight"] == (320, 320, 3, 3)
    assert shapes[UNET + "middle_block.1.transformer_blocks.0.attn2.to_k.weight"] == (1280, 768)
    assert shapes[UNET + "output_blocks.2.1.conv.weight"] == (1280, 1280, 3, 3)
    assert shapes[UNET + "output_blocks.11.0.skip_connection.weight"] == (320, 640, 1, 1)
    assert shapes[UNET + "out.2.weight"] == (4, 320, 3, 3)
    assert shapes["first_stage_model.encoder.mid.attn_1.q.weight"] == (512, 512, 1, 1)
    assert shapes["first_stage_model.quant_conv.weight"] == (8, 8, 1, 1)
    assert shapes["cond_stage_model.transformer.text_model.embeddings.token_embedding.weight"] == (
        49408,
        768,
    )
    assert convert_ldm_clip_checkpoint(ldm_text).keys() == {
        f"text_model.{key}" for key in text.state_dict()
    }
    assert detect_family(shapes) == "sd1"
    assert vae.config.scaling_factor == 0.18215
