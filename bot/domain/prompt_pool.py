"""Prompt pools with variety: ``{a|b|c}`` alternatives and ``__name__`` wildcards.

The syntax of the dynamic-prompts extension SD users know. Expansion is a pure function of the
template, the wildcard lists and a seed, so every stream image can be reproduced from the seed
recorded with it. Alternatives nest (``{a {red|blue}|green} cat``); a wildcard's lines may use
the syntax too.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.domain.errors import ValidationError

MAX_DEPTH = 8  # wildcards that refer to each other stop here
SEED_MAX = 2**32 - 1

_WILDCARD = re.compile(r"__([A-Za-z0-9][\w./-]*?)__")

Wildcards = Mapping[str, Sequence[str]]


class TemplateError(ValidationError):
    """A pool entry's syntax is wrong (unbalanced braces, unknown wildcard)."""


@dataclass(frozen=True, slots=True)
class _Choice:
    options: tuple[tuple[_Node, ...], ...]


@dataclass(frozen=True, slots=True)
class _Wildcard:
    name: str


_Node = str | _Choice | _Wildcard


def _parse(template: str) -> tuple[_Node, ...]:
    """The template as literal text, choices and wildcards; TemplateError if unbalanced."""
    nodes, position = _parse_sequence(template, 0, inside=False)
    if position != len(template):
        raise TemplateError(f"unmatched '}}' at character {position + 1} of {template!r}")
    return nodes


def _parse_sequence(text: str, position: int, *, inside: bool) -> tuple[tuple[_Node, ...], int]:
    nodes: list[_Node] = []
    literal = ""
    while position < len(text):
        char = text[position]
        if char == "{":
            options: list[tuple[_Node, ...]] = []
            position += 1
            while True:
                option, position = _parse_sequence(text, position, inside=True)
                options.append(option)
                if position >= len(text):
                    raise TemplateError(f"unmatched '{{' in {text!r}")
                if text[position] == "}":
                    position += 1
                    break
                position += 1  # "|"
            nodes += _literal_nodes(literal)
            literal = ""
            nodes.append(_Choice(tuple(options)))
            continue
        if char in "|}":
            if inside:
                break
            if char == "}":
                break
        literal += char
        position += 1
    nodes += _literal_nodes(literal)
    return tuple(nodes), position


def _literal_nodes(text: str) -> list[_Node]:
    """Literal text split around ``__wildcards__``."""
    nodes: list[_Node] = []
    last = 0
    for match in _WILDCARD.finditer(text):
        if match.start() > last:
            nodes.append(text[last:match.start()])
        nodes.append(_Wildcard(match[1]))
        last = match.end()
    if last < len(text):
        nodes.append(text[last:])
    return nodes


def wildcard_names(template: str) -> set[str]:
    """The wildcard names a template uses directly."""
    names: set[str] = set()

    def walk(nodes: Sequence[_Node]) -> None:
        for node in nodes:
            if isinstance(node, _Wildcard):
                names.add(node.name)
            elif isinstance(node, _Choice):
                for option in node.options:
                    walk(option)

    walk(_parse(template))
    return names


def check_template(template: str, wildcards: Wildcards | None = None) -> None:
    """Refuse (TemplateError) unbalanced braces and, given the lists, unknown wildcards."""
    names = wildcard_names(template)
    if wildcards is not None:
        unknown = sorted(name for name in names if not wildcards.get(name))
        if unknown:
            known = ", ".join(sorted(wildcards)) or "none"
            raise TemplateError(f"unknown wildcard __{unknown[0]}__ (known: {known})")


def expand(template: str, wildcards: Wildcards, seed: int) -> str:
    """The prompt ``template`` becomes with ``seed``: the same inputs always give the same text.

    An unknown wildcard expands to its name (so a removed list degrades, never crashes).
    """
    rng = random.Random(seed)

    def render(nodes: Sequence[_Node], depth: int) -> str:
        out = []
        for node in nodes:
            if isinstance(node, str):
                out.append(node)
            elif isinstance(node, _Choice):
                out.append(render(node.options[rng.randrange(len(node.options))], depth))
            else:
                lines = wildcards.get(node.name) or ()
                if not lines or depth >= MAX_DEPTH:
                    out.append(node.name.rsplit("/", 1)[-1].replace("_", " "))
                else:
                    line = lines[rng.randrange(len(lines))]
                    try:
                        out.append(render(_parse(line), depth + 1))
                    except TemplateError:
                        out.append(line)
        return "".join(out)

    return " ".join(render(_parse(template), 0).split())


def parse_wildcard_file(text: str) -> list[str]:
    """The entries of a wildcard list: one per line; blank lines and ``#`` comments skipped."""
    return [line.strip() for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def draw_seed(rng: random.Random | None = None) -> int:
    """A fresh expansion seed (recorded with the image)."""
    return (rng or random.Random()).randint(0, SEED_MAX)
