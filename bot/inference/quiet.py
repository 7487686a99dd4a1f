"""Drop the libraries' log lines that tell a user of this project nothing, and only those.

Each filter sits on the one logger that emits its line and drops records by their text, so
every other warning and error of the same logger (and of the library) still shows.
"""

from __future__ import annotations

import logging

# The inpainting and image-to-image modules of both families log the same truncation line.
_DIFFUSERS_PIPELINES = tuple(
    f"diffusers.pipelines.{package}.pipeline_{name}{mode}"
    for package, name in (("stable_diffusion", "stable_diffusion"),
                          ("stable_diffusion_xl", "stable_diffusion_xl"))
    for mode in ("", "_img2img", "_inpaint")
)

# logger name → fragments of the messages dropped there, each with the reason.
NOISE: dict[str, tuple[str, ...]] = {
    # transformers 5 warns, once per class, on import of every image processor the diffusers
    # pipelines name (CLIP, SigLIP, SigLIP2), though SD never uses them without a safety checker.
    "transformers.utils.import_utils": ("requires torchvision (not installed); falling back",),
    # The pipeline tokenizes the untruncated prompt on purpose to find what it cuts; the
    # "indexing errors" it warns of cannot happen, since the encoder gets the truncated ids.
    "transformers.tokenization_utils_base": (
        "Token indices sequence length is longer than the specified maximum",),
    # diffusers' list of cut tokens is decoded BPE ("2 8 w 2 9 …"); the engine logs the words
    # instead, and the bot and the CLI tell the user in their own words.
    **dict.fromkeys(_DIFFUSERS_PIPELINES,
                    ("The following part of your input was truncated because CLIP",)),
    # from_single_file casts each loaded model with `.to(dtype)`, and diffusers 0.42 warns on
    # every such cast even when the list of modules to keep in float32 is empty.
    "diffusers.models.modeling_utils": ("should be kept in float32: []",),
    # The engine runs the model's safety checker on stand-ins: no image is blackened (the bot
    # withholds or spoilers a flagged one, and bot.inference.safety logs what it flagged).
    "diffusers.pipelines.stable_diffusion.safety_checker": (
        "A black image will be returned instead",),
}


class DropMessages(logging.Filter):
    """Drops the records whose message contains one of ``fragments``."""

    def __init__(self, fragments: tuple[str, ...]) -> None:
        super().__init__()
        self.fragments = fragments

    def filter(self, record: logging.LogRecord) -> bool:
        """False (drop) for a record with a noise fragment in its message."""
        message = record.getMessage()
        return not any(fragment in message for fragment in self.fragments)


def silence_library_noise() -> None:
    """Install the filters of :data:`NOISE` (idempotent: one filter per logger, however often)."""
    for name, fragments in NOISE.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropMessages) for f in logger.filters):
            logger.addFilter(DropMessages(fragments))
