# The two set-up commands of the README: `make demo` (the main job) and `make test`.
# Both create .venv when it is missing. torch is pinned first so pip never resolves
# an unpinned torch into an empty environment (that would fetch a multi-GB CUDA build).
# The extras tune (Optuna) and ray are installed too, so that their tests run.
PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.actlab-installed

.PHONY: venv kernels demo test bench stubs clean

venv: $(STAMP)

# actlab's fused CPU kernels (src/actlab/catalog/fused.cpp): compiled once per machine, torch and
# source into ~/.cache/actlab/fused (about 25 s; no work when already built). Without a C++
# compiler this prints why and the modules keep their Python guard (the same values, slower).
kernels: venv
	$(VENV)/bin/actlab kernels build --optional

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check "$(TORCH)"
	$(PY) -m pip install -q --disable-pip-version-check -e ".[test,tune,ray]"
	touch $(STAMP)

demo: kernels
	$(VENV)/bin/actlab compare --out runs/demo

test: kernels
	$(PY) -m pytest -q -n 2 --dist loadfile

# The typing stubs (src/actlab/modules.pyi, functional.pyi) from the catalog definitions;
# rerun after adding or changing a definition (tests/test_stubs.py fails until then).
stubs: venv
	$(PY) tools/make_stubs.py

bench: kernels
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) runs figs site
