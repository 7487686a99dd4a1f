"""The CLIP ViT-L/14 tokenizer (SD 1.x) built offline from the vocabulary bundled in ``data/``.

The vocabulary is OpenAI's CLIP BPE (the ``bpe_simple_vocab_16e6.txt.gz`` that open_clip ships),
converted once by :func:`write_vocab_files` into the ``vocab.json`` + ``merges.txt`` pair that
``transformers.CLIPTokenizer`` reads. The converted files are committed gzipped, so nothing here
needs open_clip or the network at run time.
"""

from __future__ import annotations

import gzip
import json
import tempfile
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import CLIPTokenizer

MODEL_MAX_LENGTH = 77
VOCAB_FILE = "clip_vocab.json.gz"
MERGES_FILE = "clip_merges.txt.gz"

# OpenAI's tokenizer uses the first 49152 - 256 - 2 merges of the BPE file (after its header).
_N_MERGES = 49152 - 256 - 2
_SPECIAL_TOKENS = ("<|startoftext|>", "<|endoftext|>")


def _bytes_to_unicode() -> dict[int, str]:
    """CLIP's reversible byte → printable character map (as in OpenAI's ``simple_tokenizer``)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    chars = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return {byte: chr(char) for byte, char in zip(printable, chars, strict=True)}


def clip_vocabulary(bpe_path: Path) -> tuple[dict[str, int], list[str]]:
    """The ``vocab.json`` mapping and the merges of OpenAI's CLIP BPE file (``*.txt.gz``)."""
    lines = gzip.decompress(bpe_path.read_bytes()).decode("utf-8").split("\n")
    merges = lines[1:_N_MERGES + 1]
    # Token ids follow OpenAI's order: bytes, bytes ending a word, merged pairs, special tokens.
    symbols = list(_bytes_to_unicode().values())
    tokens = [*symbols, *(f"{symbol}</w>" for symbol in symbols),
              *("".join(merge.split()) for merge in merges), *_SPECIAL_TOKENS]
    return {token: index for index, token in enumerate(tokens)}, merges


def write_vocab_files(bpe_path: Path, out_dir: Path) -> None:
    """Convert open_clip's BPE file into gzipped ``vocab.json``/``merges.txt`` in ``out_dir``.

    Run once by hand (see ``data/README.md``); the output is byte-for-byte reproducible.
    """
    vocab, merges = clip_vocabulary(bpe_path)
    vocab_text = json.dumps(vocab, ensure_ascii=False)
    merges_text = "#version: 0.2\n" + "\n".join(merges) + "\n"
    for name, text in ((VOCAB_FILE, vocab_text), (MERGES_FILE, merges_text)):
        # mtime=0 keeps the gzip header stable, so regenerating changes nothing in git.
        (out_dir / name).write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))


def clip_tokenizer() -> CLIPTokenizer:
    """A fresh ``CLIPTokenizer`` with the real CLIP ViT-L/14 vocabulary and 77-token context."""
    from transformers import CLIPTokenizer

    data = resources.files("bot.inference") / "data"
    # from_pretrained on a folder of plain files is the one constructor that both the slow
    # (transformers 4) and the tokenizers-backed (transformers 5) CLIPTokenizer accept.
    with tempfile.TemporaryDirectory(prefix="neurostream-clip-") as folder:
        for packed, plain in ((VOCAB_FILE, "vocab.json"), (MERGES_FILE, "merges.txt")):
            text = gzip.decompress((data / packed).read_bytes())
            (Path(folder) / plain).write_bytes(text)
        return CLIPTokenizer.from_pretrained(folder, model_max_length=MODEL_MAX_LENGTH)
