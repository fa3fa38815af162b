"""The page: what a visitor sees and does, drawn from the request layer's results (never a model).

state.py      the settings record and the ordered description of the views; every positional
              list an event takes or returns is derived from them
views.py      the description itself: one entry per view (id, component, drawing, blank, slot)
layout.py     building the page: components by id, a view placed in its slot; translated labels
handlers.py   widgets <-> one call of the request layer (app.py wires them to events)
html.py       the HTML kit: pictures, titles, stat lines, tables, empty states (all escaped)
parts.py      words and pieces several tabs share
photo.py      the top of the page: photo, samples, status, download, share
compare.py, probe.py, maps.py, ablation.py, lessons.py (+ upsampling.py), replay.py,
exercise.py, metrics.py
              one module per tab: its layout, its views, its lesson texts
api.py        the API endpoints' JSON
share.py      share links: parse and check the settings they name
viz.py        pictures: overlays, error maps, heatmaps, curves, the replay payload
theme.py      the Gradio theme;  web/  CSS, head and the page's scripts
"""
