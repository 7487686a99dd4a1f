"""A party's exploration tree as one image: thumbnails with their changed words, one row per
step, edges coloured by how each image came from its parent."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw

from bot.domain.lineage import LinkKind
from bot.domain.party import TreeNode, walk
from bot.render.grid import font_measure, label_font, wrap_text

BACKGROUND = (24, 24, 30)
TEXT = (235, 235, 235)
MUTED = (150, 150, 160)
EDGE_COLOURS: dict[LinkKind | None, tuple[int, int, int]] = {
    LinkKind.REROLL: (120, 170, 255),
    LinkKind.VARIATION: (120, 220, 160),
    LinkKind.UPSCALE: (200, 200, 200),
    LinkKind.ZOOM: (200, 160, 255),
    LinkKind.REMIX: (255, 170, 90),
    LinkKind.REFINE: (255, 215, 80),
    LinkKind.MORPH: (255, 120, 200),
    LinkKind.CELL: (160, 160, 160),
    None: MUTED,
}
MAX_WIDTH = 8192
LABEL_LINES = 2


@dataclass(frozen=True, slots=True)
class TreeLayout:
    """Where each node's thumbnail goes, and the picture's size."""

    thumb: int
    slot: int  # horizontal room per leaf
    row: int  # vertical room per depth
    positions: Mapping[int, tuple[int, int]]  # job id → thumbnail's top-left corner
    size: tuple[int, int]


def layout(roots: Sequence[TreeNode], *, thumb: int = 96, gutter: int = 16) -> TreeLayout:
    """A tidy layout: leaves side by side, each parent centred above its children (so no two
    edges cross), one row per depth. Thumbnails shrink (down to 24 px) for wide trees."""
    nodes = walk(roots)
    leaves = sum(1 for node in nodes if not node.children) or 1
    thumb = max(24, min(thumb, MAX_WIDTH // leaves - gutter))
    slot = thumb + gutter
    label = label_font_size(thumb)
    row = thumb + LABEL_LINES * (label + 2) + 3 * gutter
    centres: dict[int, float] = {}
    next_leaf = 0

    def place(node: TreeNode) -> float:
        nonlocal next_leaf
        if not node.children:
            centres[node.job_id] = next_leaf * slot + slot / 2
            next_leaf += 1
        else:
            xs = [place(child) for child in node.children]
            centres[node.job_id] = (xs[0] + xs[-1]) / 2
        return centres[node.job_id]

    for root in roots:
        place(root)
    depth = max((node.depth for node in nodes), default=0) + 1
    positions = {node.job_id: (round(centres[node.job_id] - thumb / 2), gutter + node.depth * row)
                 for node in nodes}
    return TreeLayout(thumb, slot, row, positions, (max(slot, next_leaf * slot), depth * row))


def label_font_size(thumb: int) -> int:
    """Label text size for thumbnails of ``thumb`` pixels."""
    return max(9, min(14, thumb // 7))


def draw_tree(roots: Sequence[TreeNode], thumbnails: Mapping[int, Image.Image | None]
              ) -> Image.Image:
    """The tree as a picture (``thumbnails``: job id → its image, or None if it is gone)."""
    plan = layout(roots)
    thumb = plan.thumb
    picture = Image.new("RGB", plan.size, BACKGROUND)
    draw = ImageDraw.Draw(picture)
    size = label_font_size(thumb)
    font, measure = label_font(size), font_measure(size)
    nodes = walk(roots)
    for node in nodes:  # edges first, under the thumbnails
        if node.parent_id is None:
            continue
        px, py = plan.positions[node.parent_id]
        cx, cy = plan.positions[node.job_id]
        start = (px + thumb // 2, py + thumb + LABEL_LINES * (size + 2) + 4)
        end = (cx + thumb // 2, cy - 2)
        colour = EDGE_COLOURS.get(node.kind, MUTED)
        draw.line([start, end], fill=colour, width=2)
        if node.kind is not None:
            mid = ((start[0] + end[0]) // 2 + 3, (start[1] + end[1]) // 2 - size // 2)
            draw.text(mid, node.kind.value, fill=colour, font=font)
    for node in nodes:
        x, y = plan.positions[node.job_id]
        image = thumbnails.get(node.job_id)
        if image is not None:
            picture.paste(_square(image, thumb), (x, y))
        else:
            draw.rectangle([x, y, x + thumb - 1, y + thumb - 1], outline=MUTED)
        lines = wrap_text(f"#{node.job_id} {node.label}", plan.slot - 4, LABEL_LINES, measure)
        for index, line in enumerate(lines):
            width = measure(line)
            draw.text((x + thumb / 2 - width / 2, y + thumb + 2 + index * (size + 2)), line,
                      fill=TEXT if index == 0 else MUTED, font=font)
    return picture


def _square(image: Image.Image, side: int) -> Image.Image:
    copy = image.convert("RGB")
    copy.thumbnail((side, side))
    square = Image.new("RGB", (side, side), BACKGROUND)
    square.paste(copy, ((side - copy.width) // 2, (side - copy.height) // 2))
    return square


def tree_png(roots: Sequence[TreeNode], thumbnails: Mapping[int, Image.Image | None]) -> bytes:
    """The tree picture as PNG bytes (blocking: run it off the event loop)."""
    out = io.BytesIO()
    draw_tree(roots, thumbnails).save(out, "PNG", compress_level=6)
    return out.getvalue()
