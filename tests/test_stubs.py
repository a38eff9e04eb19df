"""The stub files are what tools/make_stubs.py makes from today's definitions, and they say what the code does."""
import ast
import importlib.util
import inspect
from pathlib import Path

import actlab.functional as AF
import actlab.modules
from actlab.catalog import CLASSES, DEFINITIONS

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location("make_stubs", ROOT / "tools" / "make_stubs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_stub_files_match_the_definitions():
    for path, text in _tool().render().items():
        assert path.exists(), f"{path} is missing; run `make stubs`"
        assert path.read_text() == text, f"{path} is stale; run `make stubs` (python tools/make_stubs.py)"


def test_check_mode_reports_nothing_stale():
    assert _tool().main(["--check"]) == 0


def _stub(name):
    return ast.parse((ROOT / "src" / "actlab" / name).read_text())


def test_every_class_is_declared_with_its_docstring_and_keyword_parameters():
    classes = {n.name: n for n in _stub("modules.pyi").body if isinstance(n, ast.ClassDef)}
    assert set(classes) == {c.__name__ for c in CLASSES.values()}
    for name, cls in CLASSES.items():
        node = classes[cls.__name__]
        assert ast.get_docstring(node) == inspect.cleandoc(cls.__doc__)
        init = next(n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
        declared = [a.arg for a in init.args.kwonlyargs]
        assert declared == [q.name for q in DEFINITIONS[name].params]
        assert [ast.literal_eval(d) for d in init.args.kw_defaults] == [q.default for q in DEFINITIONS[name].params]
        cls(**{q.name: q.default for q in DEFINITIONS[name].params})  # the declared call works


def test_every_function_is_declared_with_the_runtime_signature():
    functions = {n.name: n for n in _stub("functional.pyi").body if isinstance(n, ast.FunctionDef)}
    assert set(functions) == set(AF.__all__)
    for fname in AF.__all__:
        node, fn = functions[fname], getattr(AF, fname)
        args = [a.arg for a in node.args.args] + [a.arg for a in node.args.kwonlyargs]
        assert args == list(inspect.signature(fn).parameters), fname
        assert ast.get_docstring(node) == inspect.cleandoc(fn.__doc__)


def test_grep_for_a_class_lands_on_its_formula():
    text = (ROOT / "src" / "actlab" / "modules.pyi").read_text()
    at = text.index("class ELU(")
    assert r"\alpha (e^{x} - 1)" in text[at:at + 2000]
    assert "def gelu(x: Tensor) -> Tensor:" in (ROOT / "src" / "actlab" / "functional.pyi").read_text()
