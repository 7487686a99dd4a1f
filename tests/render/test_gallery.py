"""The published gallery: self-contained, escaped, best first, the tree's edges, a .zip past
the limit."""

from __future__ import annotations

import io
import zipfile
from html.parser import HTMLParser
from pathlib import Path

from PIL import Image

from bot.domain.lineage import Link, LinkKind
from bot.domain.party import (
    Association,
    Party,
    PartySummary,
    TreeNode,
    VotedImage,
    board,
    build_tree,
)
from bot.domain.recipe import Recipe
from bot.render.gallery import Gallery, build_gallery, render_html
from bot.render.tree import draw_tree, layout

HOSTILE = '<script>document.title="pwned"</script> & "quotes"'


class GalleryPage(HTMLParser):
    """What a reader of the page sees: images (src, alt), figures by job, tree edges, text."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.images: list[dict[str, str]] = []
        self.figures: list[int] = []
        self.edges: set[str] = set()
        self.tree_parents: dict[int, int] = {}
        self.scripts = 0
        self.text: list[str] = []
        self.external: list[str] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Collect what matters of each element."""
        found = {key: value or "" for key, value in attrs}
        if tag == "img":
            self.images.append(found)
        if tag == "script":
            self.scripts += 1
        if tag == "figure" and "data-job" in found:
            self.figures.append(int(found["data-job"]))
        if tag == "li" and "data-edge" in found:
            self.edges.add(found["data-edge"])
        if tag == "li" and "data-parent" in found:
            self.tree_parents[int(found["data-job"])] = int(found["data-parent"])
        for key in ("src", "href"):
            if found.get(key, "").startswith(("http:", "https:", "//")) and tag != "a":
                self.external.append(found[key])

    def handle_data(self, data: str) -> None:
        """Collect the visible text."""
        self.text.append(data)

    @property
    def visible(self) -> str:
        """All the page's text as a reader sees it."""
        return "".join(self.text)


def _png(path: Path, colour: tuple[int, int, int]) -> str:
    Image.new("RGB", (64, 64), colour).save(path)
    return str(path)


def _summary(tmp_path: Path, count: int = 4) -> tuple[PartySummary, list[TreeNode]]:
    party = Party(id=3, guild_id=1, channel_id=2, topic="loneliness <b>bold</b>", group_id=9,
                  started_by=1, started_at=1_700_000_000.0)
    prompts = ["loneliness", HOSTILE, "two old people", "two old people looking away"]
    images = tuple(
        VotedImage(job_id=10 + i, recipe=Recipe(prompt=prompts[i % 4], seed=i, width=64,
                                                height=64, steps=2),
                   author_id=100 + i % 3, author_name=f"<i>user{i % 3}</i>",
                   created_at=1_700_000_100.0 + i, votes=(0, 3, 1, 5)[i % 4],
                   output_path=_png(tmp_path / f"{i}.png", (40 * (i % 6), 90, 200)),
                   guild_id=1, channel_id=2, message_id=900 + i)
        for i in range(count))
    links = {11: [Link(10, LinkKind.REROLL)], 12: [Link(10, LinkKind.REFINE)],
             13: [Link(12, LinkKind.REMIX)]}
    roots = build_tree([(image.job_id, image.words) for image in images], links)
    return PartySummary(party, images, ("<i>user0</i>", "bob"), 1_700_003_700.0), roots


def _read(image: VotedImage) -> bytes | None:
    path = Path(image.output_path or "")
    return path.read_bytes() if path.is_file() else None


def test_the_page_holds_every_image_embedded_best_first_with_prompts_and_the_tree(
        tmp_path: Path) -> None:
    summary, roots = _summary(tmp_path)
    entries = board([Association(1, "a", "<rain>", 0.0)])
    gallery = build_gallery(summary, roots, entries, _read, limit=10 * 2**20)
    assert gallery.fits and gallery.zip is None
    page = GalleryPage(gallery.html.decode())
    assert page.scripts == 0 and page.external == []  # nothing to run, nothing to fetch
    assert all(img["src"].startswith("data:image/jpeg;base64,") for img in page.images)
    # the best three, then every image best first: 13 (5 votes), 11 (3), 12 (1), 10 (0)
    assert page.figures == [13, 11, 12, 13, 11, 12, 10]
    assert page.edges == {"10-11", "10-12", "12-13"}
    assert page.tree_parents == {11: 10, 12: 10, 13: 12}
    visible = page.visible
    assert "loneliness <b>bold</b>" in visible  # the topic, shown as typed
    assert HOSTILE in visible and "<rain>" in visible and "<i>user1</i>" in visible
    assert "Steps: 2, Sampler: Euler a" in visible
    assert "https://discord.com/channels/1/2/901" in gallery.html.decode()


def test_a_hostile_prompt_is_escaped_everywhere_it_appears(tmp_path: Path) -> None:
    summary, roots = _summary(tmp_path)
    html = render_html(summary, roots, [], {11: "x.jpg"})
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert 'alt="&lt;script&gt;document.title=&quot;pwned&quot;' in html


def test_past_the_upload_limit_a_zip_holds_index_html_and_the_images(tmp_path: Path) -> None:
    summary, roots = _summary(tmp_path)
    small = build_gallery(summary, roots, [], _read, limit=10 * 2**20)
    gallery = build_gallery(summary, roots, [], _read, limit=len(small.html) - 1)
    assert not gallery.fits and gallery.zip is not None
    assert gallery.html == small.html  # the page itself is still written whole
    with zipfile.ZipFile(io.BytesIO(gallery.zip)) as archive:
        names = set(archive.namelist())
        assert names == {"index.html", *(f"images/{job}.jpg" for job in range(10, 14))}
        page = GalleryPage(archive.read("index.html").decode())
        with Image.open(io.BytesIO(archive.read("images/12.jpg"))) as image:
            assert image.size == (64, 64)
    assert {img["src"] for img in page.images} == {f"images/{job}.jpg" for job in range(10, 14)}


def test_an_image_whose_file_is_gone_or_broken_is_listed_without_a_picture(tmp_path: Path) -> None:
    summary, roots = _summary(tmp_path)
    Path(summary.images[1].output_path or "").unlink()
    Path(summary.images[2].output_path or "").write_bytes(b"not an image")
    page = GalleryPage(build_gallery(summary, roots, [], _read, limit=2**30).html.decode())
    assert len(page.images) == 2 + 1  # two of four left, and one of the best three (13)
    assert 11 in page.figures and 12 in page.figures


def test_the_tree_picture_places_children_under_their_parents(tmp_path: Path) -> None:
    _, roots = _summary(tmp_path)
    plan = layout(roots)
    half = plan.thumb // 2
    x10, y10 = plan.positions[10]
    x12, y12 = plan.positions[12]
    assert plan.positions[11][1] == y12 > y10 and plan.positions[13][1] > y12
    assert min(plan.positions[11][0], x12) <= x10 <= max(plan.positions[11][0], x12)
    thumbs = {job: Image.new("RGB", (64, 64), (255, 0, 0)) for job in (10, 11, 12)}
    picture = draw_tree(roots, {**thumbs, 13: None})
    assert picture.size == plan.size
    assert picture.getpixel((x10 + half, y10 + half)) == (255, 0, 0)  # the thumbnail is there
    assert picture.getpixel((plan.positions[13][0] + half, plan.positions[13][1] + half)) != (
        255, 0, 0)


def test_a_wide_tree_shrinks_its_thumbnails() -> None:
    roots = build_tree([(i, f"w{i}") for i in range(400)], {})
    plan = layout(roots)
    assert plan.thumb == 24 and plan.size[0] == 400 * plan.slot


def test_gallery_fits_reports_the_html_alone() -> None:
    assert Gallery(b"x").fits and not Gallery(b"x", b"z").fits
