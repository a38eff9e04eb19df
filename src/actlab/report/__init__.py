"""HTML pages: the study report of ``actlab compare`` and the browsable activation catalog.

Both are static, self-contained files (styles, scripts, figures and math
inlined) that make no network request.

    write_study_report("runs/mnist")   # -> runs/mnist/report.html
    write_catalog_site("site")         # -> site/index.html and one page per activation
"""
from .catalog_site import write_catalog_site
from .study_data import ReportError, load_study
from .study_page import write_study_report

__all__ = ["ReportError", "load_study", "write_catalog_site", "write_study_report"]
