"""fcn_demo.page.html, the page's HTML kit: every text it is given is escaped; tables are accessible."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

from fcn_demo.page import html

EVIL = '<script>alert("x")</script>'


def test_a_table_has_a_caption_headers_and_escapes_its_text():
    t = html.table(EVIL, ["who", EVIL], [[EVIL, "0.500"], ["b", '<td class="na">none</td>']], row_header=True)
    assert "<script>" not in t and t.count("&lt;script&gt;") == 3
    assert t.startswith('<table class="data"><caption>&lt;script')
    assert '<th scope="col">who</th>' in t and '<th scope="row">b</th>' in t
    assert "<td>0.500</td>" in t and '<td class="na">none</td>' in t and "<td><td" not in t
    plain = html.table("c", ["a", "b"], [["<b>x</b>", "1"]], cls="data confusion")
    assert '<table class="data confusion">' in plain and "<td><b>x</b></td><td>1</td>" in plain  # cells are HTML
    assert 'scope="row"' not in plain


def test_a_picture_is_inlined_with_its_alt_text_escaped():
    rgb = np.zeros((4, 6, 3), np.uint8)
    rgb[:, :3] = 255
    tag = html.img_tag(rgb, EVIL, fmt="png", cls="panel-img")
    assert 'alt="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"' in tag and 'class="panel-img"' in tag
    data = tag.split("base64,", 1)[1].split('"', 1)[0]
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(base64.b64decode(data)))), rgb)  # PNG: lossless
    assert html.img_tag(rgb, "a photo").startswith('<img class="" src="data:image/jpeg;base64,')


def test_titles_stats_and_empty_states():
    assert html.title("fcn8s") == '<div class="panel-title"><i style="background:#047857"></i>FCN-8s</div>'
    assert html.empty(EVIL) == '<div class="empty">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</div>'
    assert html.stats(html.stat("k", "<b>1</b>")) == (
        '<div class="panel-stats"><span class="stat"><span class="k">k</span> <b><b>1</b></b></span></div>'
    )
    assert html.grid([html.card("x")], EVIL).startswith('<div class="lesson-grid" data-image="&lt;script&gt;')
