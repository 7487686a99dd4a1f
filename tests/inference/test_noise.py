"""Spherical interpolation and noise plans, without a model."""

from __future__ import annotations

import torch
from diffusers.utils.torch_utils import randn_tensor

from bot.inference.noise import ImageNoise, NoisePlan, slerp


def _noise(seed: int, shape: tuple[int, ...] = (1, 4, 8, 8)) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def test_slerp_ends_are_the_inputs_themselves() -> None:
    a, b = _noise(1), _noise(2)
    assert slerp(0.0, a, b) is a
    assert slerp(1.0, a, b) is b


def test_slerp_keeps_the_norm_of_gaussian_noise_where_a_line_would_lose_it() -> None:
    a, b = _noise(1, (1, 4, 64, 64)), _noise(2, (1, 4, 64, 64))
    middle = slerp(0.5, a, b)
    line = 0.5 * a + 0.5 * b
    # Two independent noises are nearly orthogonal: the straight middle is ~0.71 as long.
    assert abs(float(middle.norm() / a.norm()) - 1) < 0.02
    assert float(line.norm() / a.norm()) < 0.75


def test_slerp_of_parallel_vectors_falls_back_to_a_line() -> None:
    a = _noise(1)
    assert torch.allclose(slerp(0.3, a, 2 * a), 1.3 * a, atol=1e-5)


def test_the_plan_draws_the_seed_noise_as_diffusers_does() -> None:
    shape = (2, 4, 8, 8)
    plan = NoisePlan([ImageNoise(5), ImageNoise(6)], torch.device("cpu"))
    planned = plan.initial(shape, device=torch.device("cpu"), dtype=torch.float32)
    generators = [torch.Generator().manual_seed(5), torch.Generator().manual_seed(6)]
    own = randn_tensor(shape, generator=generators, device=torch.device("cpu"),
                       dtype=torch.float32)
    assert torch.equal(planned, own)
    # The generators moved on as diffusers' would have: the next draws agree too.
    assert torch.equal(plan.step(shape, device=None, dtype=torch.float32),
                       randn_tensor(shape, generator=generators, dtype=torch.float32))


def test_a_morph_frame_at_one_is_the_other_ends_noise_with_its_variation() -> None:
    shape = (1, 4, 8, 8)
    frame = NoisePlan([ImageNoise(5, blend=1.0, blend_seed=6, blend_variation_seed=7,
                                  blend_variation_strength=0.4)], torch.device("cpu"))
    other = NoisePlan([ImageNoise(6, variation_seed=7, variation_strength=0.4)],
                      torch.device("cpu"))
    kwargs = {"device": torch.device("cpu"), "dtype": torch.float32}
    assert torch.equal(frame.initial(shape, **kwargs), other.initial(shape, **kwargs))
    assert torch.equal(frame.step(shape, **kwargs), other.step(shape, **kwargs))


def test_the_plan_answers_only_for_its_own_generators() -> None:
    plan = NoisePlan([ImageNoise(5)], torch.device("cpu"))
    assert plan.owns(plan.generators) and plan.owns(plan.generators[0])
    assert not plan.owns([torch.Generator().manual_seed(5)]) and not plan.owns(None)
