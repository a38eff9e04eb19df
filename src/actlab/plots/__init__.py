"""actlab.plots: figures and text pages of the catalog.

``actlab.plots.catalog``: one figure per activation, a gallery, a slideshow;
``actlab.plots.text``: the ``actlab list`` table, ``actlab show`` page and docs/catalog.md;
``actlab.plots.style``: the light and dark looks.
"""
