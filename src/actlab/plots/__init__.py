"""actlab.plots: figures, and nothing else (the catalog's text pages are in ``actlab.catalog.text``).

``actlab.plots.catalog``: one figure per activation, a gallery, a slideshow;
``actlab.plots.style``: the light and dark looks.
"""
