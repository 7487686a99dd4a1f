"""The wall's one page: a calm slideshow (or a mosaic) of the newest images, for a projector.

The newest images are in the HTML itself; a small script follows the server-sent events and
adds each new image as it arrives. Prompts and names go in through ``html.escape`` (the page)
and ``textContent`` (the script), never as markup: a prompt with ``<script>`` shows as text.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from bot.domain.party import VotedImage

_STYLE = """
html,body{margin:0;height:100%;background:#000;color:#eee;font:18px/1.4 system-ui,sans-serif;
overflow:hidden}
#stage{position:absolute;inset:0 0 4.5rem 0;display:flex;align-items:center;justify-content:center}
#stage figure{margin:0;height:100%;display:flex;flex-direction:column;align-items:center;
justify-content:center;transition:opacity 1.2s}
#stage img{max-height:calc(100vh - 9rem);max-width:96vw;object-fit:contain;
image-rendering:auto;border-radius:4px}
figcaption{text-align:center;margin-top:.6rem;max-width:90vw}
.words{font-size:1.5rem}.who{color:#999;font-size:1rem}
#strip{position:absolute;left:0;right:0;bottom:0;height:4.5rem;display:flex;gap:4px;
overflow:hidden;justify-content:center;opacity:.7}
#strip figure{margin:0;height:100%}#strip img{height:100%;width:auto}
#strip figcaption{display:none}
body.mosaic #stage{display:none}body.mosaic #strip{position:static;height:auto;flex-wrap:wrap;
opacity:1;overflow:auto;max-height:100vh}
body.mosaic #strip figure{width:24vw;height:auto}body.mosaic #strip img{width:100%;height:auto}
body.mosaic #strip figcaption{display:block;font-size:.8rem}
#empty{position:absolute;inset:0;display:flex;align-items:center;justify-content:center;
color:#666}
"""

# Plain DOM calls only: text goes in through textContent, never innerHTML.
_SCRIPT = """
(function () {
  var config = JSON.parse(document.getElementById("wall-config").textContent);
  var strip = document.getElementById("strip"), stage = document.getElementById("stage");
  var shown = 0;
  function figure(item) {
    var fig = document.createElement("figure");
    fig.dataset.job = item.id;
    var img = document.createElement("img");
    img.src = item.src; img.alt = item.words; img.width = item.width; img.height = item.height;
    var cap = document.createElement("figcaption");
    var words = document.createElement("div"); words.className = "words";
    words.textContent = item.words;
    var who = document.createElement("div"); who.className = "who";
    who.textContent = item.author;
    cap.appendChild(words); cap.appendChild(who);
    fig.appendChild(img); fig.appendChild(cap);
    return fig;
  }
  function show(fig) {
    var copy = fig.cloneNode(true);
    copy.dataset.stage = "1";
    stage.replaceChildren(copy);
    var empty = document.getElementById("empty"); if (empty) { empty.remove(); }
  }
  function add(item) {
    if (strip.querySelector('[data-job="' + item.id + '"]')) { return; }
    var fig = figure(item);
    strip.prepend(fig);
    while (strip.children.length > config.keep) { strip.lastElementChild.remove(); }
    shown = 0;
    show(fig);
  }
  setInterval(function () {
    if (strip.children.length < 2) { return; }
    shown = (shown + 1) % strip.children.length;
    show(strip.children[shown]);
  }, config.slide * 1000);
  var url = config.events;
  if (config.since !== null) {
    url += (url.indexOf("?") < 0 ? "?" : "&") + "since=" + encodeURIComponent(config.since);
  }
  var source = new EventSource(url);
  source.addEventListener("image", function (event) { add(JSON.parse(event.data)); });
})();
"""


def image_item(image: VotedImage, token: str) -> dict[str, Any]:
    """What the page and an event say about one image (the token rides on the image URL)."""
    suffix = f"?token={quote(token)}" if token else ""
    return {"id": image.job_id, "words": image.words, "author": image.author_name,
            "src": f"image/{image.job_id}{suffix}", "width": image.recipe.width,
            "height": image.recipe.height, "at": image.finished_at}


def _figure(item: dict[str, Any]) -> str:
    e = html.escape
    return (f'<figure data-job="{item["id"]}"><img src="{e(item["src"])}" alt="{e(item["words"])}" '
            f'width="{item["width"]}" height="{item["height"]}"><figcaption>'
            f'<div class="words">{e(item["words"])}</div><div class="who">{e(item["author"])}'
            f"</div></figcaption></figure>")


def render_page(images: Sequence[VotedImage], *, token: str, slide_seconds: float, keep: int,
                mosaic: bool, title: str = "neurostream wall") -> str:
    """The page with the newest ``images`` (oldest first in, newest shown first)."""
    items = [image_item(image, token) for image in reversed(images)]
    events = "events" + (f"?token={quote(token)}" if token else "")
    # JSON inside <script type="application/json">: "</" is escaped so no text ends the block.
    # ``since``: the newest image's finish time, so the events start where the page ends.
    since = max((image.finished_at or 0.0 for image in images), default=None)
    config = json.dumps({"events": events, "slide": slide_seconds, "keep": keep,
                         "since": since}).replace("</", "<\\/")
    stage = _figure(items[0]).replace("<figure ", '<figure data-stage="1" ', 1) if items else ""
    empty = "" if items else '<div id="empty">Waiting for the first image…</div>'
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
            f"<body class=\"{'mosaic' if mosaic else 'slideshow'}\">{empty}"
            f"<div id=\"stage\">{stage}</div>"
            f"<div id=\"strip\">{''.join(_figure(item) for item in items)}</div>"
            f"<script type=\"application/json\" id=\"wall-config\">{config}</script>"
            f"<script>{_SCRIPT}</script></body></html>\n")
