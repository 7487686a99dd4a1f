"""neurostream: Stable Diffusion images for Discord, themed streams and an offline CLI."""

__version__ = "0.1.0"
