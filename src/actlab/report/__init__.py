"""HTML pages: the study report of ``actlab compare`` and the browsable activation catalog.

Both are static, self-contained files (styles, scripts, figures and math
inlined) that make no network request.
"""
from .catalog_site import write_catalog_site

__all__ = ["write_catalog_site"]
