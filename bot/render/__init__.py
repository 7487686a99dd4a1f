"""Rendering results: PNGs with A1111 metadata, previews, file names."""

from bot.render.png import encode_png, encode_preview, read_parameters, result_filename, write_png

__all__ = ["encode_png", "encode_preview", "read_parameters", "result_filename", "write_png"]
