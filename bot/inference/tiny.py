"""The built-in ``tiny`` model: a real Stable Diffusion pipeline with small, seeded random weights.

It runs every code path of a real SD 1.x model (text encoder, UNet with cross-attention, a VAE with
the same 8× scale factor, the real CLIP tokenizer) offline, in well under a second per build and
about a tenth of a second per step at 512² on two CPU cores. Its images are not pictures of
anything, but the same seed always gives the same pixels, which is what tests and benchmarks need.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from bot.inference.tokenizer import clip_tokenizer

if TYPE_CHECKING:
    from diffusers import StableDiffusionPipeline

TINY_MODEL_ID = "tiny"
# Every build draws its weights from this seed, so two builds are bit-identical.
WEIGHTS_SEED = 20240611

# SD 1.5's scheduler config, so that scheduler choices behave as with a real model. Every value
# is explicit: a value left to the class default is dropped when another scheduler is built
# from_config, but save_pretrained writes it out, so a saved copy would sample differently.
SD15_SCHEDULER_CONFIG: dict[str, object] = {
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "set_alpha_to_one": False,
    "clip_sample": False,
    "prediction_type": "epsilon",
    "timestep_spacing": "leading",
    "trained_betas": None,
}


def build_tiny_pipeline(dtype: torch.dtype = torch.float32) -> StableDiffusionPipeline:
    """Build the seeded random-weight ``tiny`` SD pipeline on the CPU in ``dtype``."""
    from diffusers import (
        AutoencoderKL,
        PNDMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    # fork_rng restores the caller's global RNG afterwards: building a model must not change
    # which random numbers the rest of the program sees.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(WEIGHTS_SEED)
        unet = UNet2DConditionModel(
            sample_size=64,  # the pipeline's default size: 64 latents × 8 = 512 px
            in_channels=4,
            out_channels=4,
            block_out_channels=(32, 64),
            layers_per_block=1,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            cross_attention_dim=32,
            # diffusers' legacy naming: this is the number of heads (2 heads of 32 channels).
            # Eight heads of 8 channels made attention 2× slower on CPU for the same model.
            attention_head_dim=2,
            norm_num_groups=8,
        )
        # Four blocks give the 8× scale factor of real SD; two blocks (diffusers' test VAE)
        # would make a 512² image a 256² latent and one call take ~90 s on CPU.
        vae = AutoencoderKL(
            in_channels=3,
            out_channels=3,
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            block_out_channels=(8, 16, 32, 32),
            layers_per_block=1,
            latent_channels=4,
            norm_num_groups=8,
            sample_size=512,
        )
        text_encoder = CLIPTextModel(CLIPTextConfig(
            vocab_size=49408,  # the real CLIP vocabulary, so real prompts tokenize as in SD 1.x
            hidden_size=32,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=5,
            max_position_embeddings=77,
            projection_dim=32,
            bos_token_id=49406,
            eos_token_id=49407,
            pad_token_id=49407,
        ))
    for module in (unet, vae, text_encoder):
        module.eval()  # as from_pretrained leaves them
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=clip_tokenizer(),
        unet=unet,
        scheduler=PNDMScheduler.from_config(SD15_SCHEDULER_CONFIG),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    if dtype != torch.float32:
        # ModelMixin.to(dtype) warns about fp32-only modules even when there are none; these
        # freshly built modules have none, so cast them as plain torch modules.
        for module in (unet, vae, text_encoder):
            torch.nn.Module.to(module, dtype=dtype)
    return pipe
