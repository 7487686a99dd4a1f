"""Schedulers by our short names (the keys of ``bot.domain.recipe.SCHEDULERS``).

Each is built ``from_config`` of the model's own scheduler config, so betas, prediction type
(epsilon or v) and timestep offsets stay the model's; only the sampling algorithm changes. The
mapping follows diffusers' table of A1111/k-diffusion equivalents.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bot.domain.errors import ValidationError
from bot.domain.recipe import SCHEDULERS

if TYPE_CHECKING:
    from diffusers import SchedulerMixin

# key → (diffusers class name, config overrides)
SCHEDULER_CLASSES: dict[str, tuple[str, dict[str, Any]]] = {
    "euler_a": ("EulerAncestralDiscreteScheduler", {}),
    "euler": ("EulerDiscreteScheduler", {}),
    "dpm++_2m": ("DPMSolverMultistepScheduler",
                 {"algorithm_type": "dpmsolver++", "solver_order": 2, "use_karras_sigmas": False}),
    "dpm++_2m_karras": ("DPMSolverMultistepScheduler",
                        {"algorithm_type": "dpmsolver++", "solver_order": 2,
                         "use_karras_sigmas": True}),
    "ddim": ("DDIMScheduler", {}),
    # A1111's "PLMS" is PNDM without its Runge-Kutta warm-up steps.
    "pndm": ("PNDMScheduler", {"skip_prk_steps": True}),
    "lms": ("LMSDiscreteScheduler", {}),
    "heun": ("HeunDiscreteScheduler", {}),
    "unipc": ("UniPCMultistepScheduler", {}),
    # Few-step samplers: made for LCM / TCD distilled models and LoRAs (2-8 steps, guidance
    # 1-2). On an ordinary model they run but give blurred images.
    "lcm": ("LCMScheduler", {}),
    "tcd": ("TCDScheduler", {}),
}


@functools.cache
def _lms_scheduler_class() -> type[SchedulerMixin]:
    """diffusers' LMS scheduler; without scipy, one that integrates its coefficients with numpy.

    diffusers needs scipy only for ``integrate.quad`` over LMS's Lagrange basis polynomial.
    That polynomial has degree ``order - 1``, so Gauss–Legendre quadrature with ``order`` nodes
    is exact, and the project need not carry scipy for one scheduler.
    """
    import numpy as np
    from diffusers.schedulers.scheduling_lms_discrete import LMSDiscreteScheduler
    from diffusers.utils import is_scipy_available

    if is_scipy_available():
        return LMSDiscreteScheduler

    class NumpyLMSDiscreteScheduler(LMSDiscreteScheduler):  # type: ignore[misc]
        """LMSDiscreteScheduler with exact Gauss–Legendre coefficients instead of scipy."""

        def get_lms_coefficient(self, order: int, t: int, current_order: int) -> float:
            """The integral of the ``current_order`` Lagrange basis over ``[σ_t, σ_t+1]``."""
            sigmas = [float(self.sigmas[t - k]) for k in range(order)]
            low, high = float(self.sigmas[t]), float(self.sigmas[t + 1])
            nodes, weights = np.polynomial.legendre.leggauss(max(order, 1))
            taus = (high - low) / 2 * nodes + (high + low) / 2
            basis = np.ones_like(taus)
            for k in range(order):
                if k != current_order:
                    basis *= (taus - sigmas[k]) / (sigmas[current_order] - sigmas[k])
            return float((high - low) / 2 * np.sum(weights * basis))

    return NumpyLMSDiscreteScheduler


def make_scheduler(key: str, base_config: Mapping[str, Any]) -> SchedulerMixin:
    """A fresh scheduler of kind ``key`` from a model's scheduler config (cheap: no weights)."""
    import diffusers

    if key not in SCHEDULER_CLASSES:
        raise ValidationError(f"scheduler must be one of {', '.join(SCHEDULERS)}, got {key!r}")
    class_name, overrides = SCHEDULER_CLASSES[key]
    scheduler_class = _lms_scheduler_class() if key == "lms" else getattr(diffusers, class_name)
    # Karras sigmas are a property of the chosen key, not inherited from the model's config.
    config = {k: v for k, v in base_config.items() if k != "use_karras_sigmas"}
    return scheduler_class.from_config(config, **overrides)
