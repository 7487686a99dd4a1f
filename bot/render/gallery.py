"""A party's published gallery: one self-contained HTML file (or a .zip with index.html and the
images when the file would pass the upload limit).

Readable without scripts or a network: images are embedded as ``data:`` URIs (in the .zip, files
beside index.html), styles are inline, there is no script at all. Every text a person typed —
the topic, prompts, names, associations — goes through ``html.escape``: a prompt such as
``<script>…</script>`` is a legitimate prompt, and it shows as text.
"""

from __future__ import annotations

import base64
import html
import io
import time
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from PIL import Image

from bot.domain.party import BoardEntry, PartySummary, TreeNode, VotedImage, edges, ranked

JPEG_QUALITY = 85

_STYLE = """
body{margin:0;font:16px/1.45 system-ui,sans-serif;background:#14141a;color:#eee}
header,section,footer{max-width:1100px;margin:0 auto;padding:1rem 1.5rem}
h1{font-size:2.4rem;margin:.2rem 0}h2{border-bottom:1px solid #444;padding-bottom:.3rem}
.meta{color:#aaa}.best{display:flex;gap:1rem;flex-wrap:wrap}
.best figure{flex:1 1 300px;margin:0}
figure.image{margin:0 0 2rem}figure img{max-width:100%;height:auto;border-radius:6px;display:block}
figcaption{margin-top:.4rem}.prompt{font-size:1.15rem;margin:.2rem 0}
.final,.recipe,.when{color:#aaa;font-size:.85rem;margin:.1rem 0}
.votes{color:#f5c542}.kind{font-size:.75rem;padding:0 .3rem;border-radius:3px;background:#333}
ul.tree,ul.tree ul{list-style:none;padding-left:1.2rem;border-left:1px dashed #555}
ul.tree{border:0;padding:0}ul.tree li{margin:.25rem 0}a{color:#8ab4ff}
.board li{display:inline-block;margin:.2rem .6rem .2rem 0}
"""


@dataclass(frozen=True, slots=True)
class Gallery:
    """The published files: the HTML always; the zip only when the HTML passes the limit."""

    html: bytes
    zip: bytes | None = None

    @property
    def fits(self) -> bool:
        """Whether the HTML itself is small enough to upload (else see ``zip``)."""
        return self.zip is None


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(timestamp))


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def _figure(image: VotedImage, src: str | None, rank: int) -> str:
    recipe = image.recipe
    picture = (f'<img src="{_e(src)}" width="{recipe.width}" height="{recipe.height}" '
               f'alt="{_e(image.words)}">' if src else "")
    final = (f'<p class="final">final prompt: {_e(recipe.prompt)}</p>'
             if recipe.prompt != image.words else "")
    negative = f'<p class="final">negative: {_e(recipe.negative)}</p>' if recipe.negative else ""
    pick = " · 🏅 the Art Expert's pick" if image.picked else ""
    link = f' · <a href="{_e(image.jump_url)}">on Discord</a>' if image.jump_url else ""
    return (f'<figure class="image" id="job-{image.job_id}" data-job="{image.job_id}" '
            f'data-rank="{rank}">{picture}<figcaption>'
            f'<p class="prompt">{_e(image.words)}</p>{final}{negative}'
            f'<p class="when">by {_e(image.author_name)} · <span class="votes">★ {image.votes}'
            f'</span>{pick} · {_e(_when(image.finished_at or image.created_at))} · job '
            f'#{image.job_id}{link}</p><p class="recipe">{_e(image.recipe_line)}</p>'
            f'</figcaption></figure>')


def _tree(nodes: Sequence[TreeNode]) -> str:
    if not nodes:
        return ""
    items = []
    for node in nodes:
        kind = node.kind.value if node.kind is not None else "first words"
        parent = f' data-parent="{node.parent_id}"' if node.parent_id is not None else ""
        items.append(f'<li data-job="{node.job_id}"{parent} data-kind="{_e(kind)}">'
                     f'<span class="kind">{_e(kind)}</span> <a href="#job-{node.job_id}">'
                     f'#{node.job_id}</a> {_e(node.label)}{_tree(node.children)}</li>')
    return f"<ul>{''.join(items)}</ul>"


def render_html(summary: PartySummary, roots: Sequence[TreeNode], board: Sequence[BoardEntry],
                sources: Mapping[int, str]) -> str:
    """The gallery page; ``sources`` maps a job id to its image's ``src`` (a data: URI or a file
    name beside the page). Images without a source are shown as text only."""
    party = summary.party
    best_first = ranked(summary.images)
    facts = [f"{len(summary.images)} images", f"{len(summary.participants)} participants",
             _duration(summary.duration), f"{_when(party.started_at)} – {_when(summary.ended_at)}"]
    theme = party.theme
    if theme is not None:
        words = ", ".join(part for part in (theme.prefix, theme.suffix) if part)
        facts.append(f"theme: {words or theme.name}")
    top = "".join(_figure(image, sources.get(image.job_id), rank)
                  for rank, image in enumerate(summary.best, 1))
    everything = "".join(_figure(image, sources.get(image.job_id), rank)
                         for rank, image in enumerate(best_first, 1))
    tree = _tree(roots).replace("<ul>", '<ul class="tree">', 1)
    edge_list = "".join(f'<li data-edge="{parent}-{child}">#{parent} → #{child} '
                        f'({_e(kind.value)})</li>' for parent, child, kind in edges(roots))
    words = "".join(f"<li>{_e(entry.word)} <small>×{entry.count}</small></li>" for entry in board)
    people = ", ".join(_e(name) for name in summary.participants)
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>Party: {_e(party.topic)}</title><style>{_STYLE}</style></head><body>"
        f'<header><p class="meta">A neurogenerative party</p><h1 id="topic">{_e(party.topic)}'
        f'</h1><p class="meta">{" · ".join(_e(fact) for fact in facts)}</p></header>'
        f'<section id="best"><h2>The best</h2><div class="best">{top}</div></section>'
        f'<section id="tree"><h2>How it grew: from the first words to the final prompts</h2>'
        f'{tree}<details><summary>Every step</summary><ul class="edges">{edge_list}</ul>'
        f'</details></section>'
        f'<section id="images"><h2>Every image, best first</h2>{everything}</section>'
        f'<section id="board"><h2>Associations</h2><ul class="board">{words}</ul></section>'
        f'<section id="participants"><h2>Participants</h2><p>{people}</p></section>'
        f'<footer class="meta">Party #{party.id} · published by neurostream</footer>'
        "</body></html>\n")


def web_image(data: bytes) -> bytes:
    """A result as a JPEG for the page (a fraction of a PNG's size; the PNG keeps the recipe)."""
    with Image.open(io.BytesIO(data)) as image:
        rgb = image.convert("RGB")
    out = io.BytesIO()
    rgb.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue()


def build_gallery(summary: PartySummary, roots: Sequence[TreeNode], board: Sequence[BoardEntry],
                  read: Callable[[VotedImage], bytes | None], *, limit: int) -> Gallery:
    """The HTML with every image embedded; past ``limit`` bytes, also a .zip of index.html
    with the images as files. ``read`` returns an image's file (None: it is gone). Blocking:
    run it off the event loop."""
    jpegs: dict[int, bytes] = {}
    for image in summary.images:
        data = read(image)
        if data is None:
            continue
        try:
            jpegs[image.job_id] = web_image(data)
        except (OSError, ValueError, Image.DecompressionBombError):  # a broken file: text only
            continue
    inline = {job_id: "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")
              for job_id, data in jpegs.items()}
    page = render_html(summary, roots, board, inline).encode("utf-8")
    if len(page) <= limit:
        return Gallery(page)
    names = {job_id: f"images/{job_id}.jpg" for job_id in jpegs}
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("index.html", render_html(summary, roots, board, names),
                        compress_type=zipfile.ZIP_DEFLATED)
        for job_id, data in jpegs.items():  # JPEGs do not compress further
            zipped.writestr(names[job_id], data, compress_type=zipfile.ZIP_STORED)
    return Gallery(page, archive.getvalue())
