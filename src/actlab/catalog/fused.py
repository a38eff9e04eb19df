"""actlab's fused CPU kernels for the exact-limit activations: build, load, call.

Twelve catalog activations call a PyTorch op that is wrong at an infinity or a
NaN on some CPUs, or overflows (GELU, GELU-tanh, SiLU, Mish, Hard-Swish, ELU,
CELU, SELU, hardtanh, ReLU6, the shrinks). Their modules guard it in Python
with one extra read of x (:func:`actlab.catalog.module.native_is_exact_on`),
10-30% of the op's time in training. ``fused.cpp`` does the same work inside
the op's own pass: forward and backward each read and write what PyTorch's
kernel does, and put the exact limit in the lanes that need it.

The kernels are compiled once per machine, by ``make`` (which runs ``actlab
kernels build``), into a cache folder keyed by the source, the torch version
and the CPU's vector width; a module loads them at its first call. Nothing is compiled at run time: without a build (no C++ compiler, a
different CPU, ``ACTLAB_FUSED=0``) the modules keep the Python guard, with the
same values and gradients, only slower. ``actlab kernels`` says which is in
use and why.

Used for float32, float64, bfloat16 and float16 tensors on the CPU (the half types computed
in float32, as PyTorch's kernels do), outside ``torch.compile``,
``torch.func`` transforms and forward-mode AD; everything else keeps the
guard. docs/precision.md explains how the kernels are exact and what they cost.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.machinery
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Callable, Optional

import torch

SOURCE = Path(__file__).with_name("fused.cpp")
DTYPES = (torch.float32, torch.float64, torch.bfloat16, torch.float16)

# ATen's Vectorized<T> picks its width from CPU_CAPABILITY_*; the flags are the ones PyTorch builds that
# width with. A CPU that is not x86 (ARM) gets ATen's generic Vectorized, which the compiler vectorises.
_ISA_FLAGS = {
    "AVX512": ["-DCPU_CAPABILITY=AVX512", "-DCPU_CAPABILITY_AVX512",
               "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mfma"],
    "AVX2": ["-DCPU_CAPABILITY=AVX2", "-DCPU_CAPABILITY_AVX2", "-mavx2", "-mfma", "-mf16c"],
}

_state: dict = {}


def capability() -> str:
    """This process's CPU kernel width as PyTorch sees it ("AVX512", "AVX2", "DEFAULT", ...)."""
    return torch.backends.cpu.get_cpu_capability()


def _flags(cap: str) -> list[str]:
    return ["-O3", "-std=c++17", "-fPIC", "-shared", "-fopenmp", "-fno-fast-math", "-ffp-contract=off",
            f"-D_GLIBCXX_USE_CXX11_ABI={int(torch._C._GLIBCXX_USE_CXX11_ABI)}",
            *_ISA_FLAGS.get(cap, ["-DCPU_CAPABILITY=DEFAULT", "-DCPU_CAPABILITY_DEFAULT"]), *_extensions(cap)]


def _extensions(cap: str) -> list[str]:
    """Instruction-set extensions the build uses beyond the width, where this CPU has them.

    AVX512-BF16 on an AVX-512 build: float32 to bfloat16 in one instruction (VCVTNE2PS2BF16),
    where the compiler knows the flag too (GCC 10 on; an older one builds without it).
    ``ACTLAB_FUSED_AVX512BF16=0`` leaves it out. The flags are part of the build key, so a cache
    shared by CPUs with and without it keeps one library for each.
    """
    if cap != "AVX512" or os.environ.get("ACTLAB_FUSED_AVX512BF16", "1") == "0":
        return []
    try:
        has_bf16 = torch.cpu._is_avx512_bf16_supported()
    except AttributeError:  # a torch without the query: leave it out
        has_bf16 = False
    return ["-mavx512bf16"] if has_bf16 and _compiler_takes(compiler(), "-mavx512bf16") else []


@functools.lru_cache(maxsize=None)
def _compiler_takes(cxx: Optional[str], flag: str) -> bool:
    """Does the C++ compiler accept ``flag`` (preprocessing an empty file with it)? Asked once per process."""
    if not cxx:
        return False
    try:
        done = subprocess.run([cxx, flag, "-E", "-x", "c++", "-"], input="", capture_output=True, text=True,
                              timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _python_flags() -> list[str]:
    """The flags that make the library a Python extension too (fused.cpp's ``Kernel``), where this Python's
    headers are installed (Debian: python3-dev) and ``ACTLAB_FUSED_PYTHON`` is not 0; else none, and the
    modules call the kernels through ``torch.ops`` (the same results, about 1 us more a call)."""
    include = sysconfig.get_paths().get("include")
    if os.environ.get("ACTLAB_FUSED_PYTHON", "1") == "0" or not include or not Path(include, "Python.h").exists():
        return []
    return ["-DACTLAB_PYTHON", f"-I{include}"]


def cache_root() -> Path:
    """Where builds are kept: $ACTLAB_FUSED_DIR, else $XDG_CACHE_HOME/actlab/fused (~/.cache/actlab/fused)."""
    if os.environ.get("ACTLAB_FUSED_DIR"):
        return Path(os.environ["ACTLAB_FUSED_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "actlab" / "fused"


def build_key(cap: Optional[str] = None) -> str:
    """The build's identity: source, torch version, CPU width and flags. A change in any rebuilds."""
    cap = cap or capability()
    h = hashlib.sha256(SOURCE.read_bytes())
    python = _python_flags()  # a Python extension is built for one Python ABI
    h.update(json.dumps([torch.__version__, cap, _flags(cap), sys.platform]
                        + ([python, sysconfig.get_config_var("EXT_SUFFIX")] if python else [])).encode())
    return f"torch{torch.__version__.replace('+', '_')}-{cap.lower()}-{h.hexdigest()[:12]}"


def library_path(cap: Optional[str] = None) -> Path:
    return cache_root() / build_key(cap) / "libactlab_fused.so"


def compiler() -> Optional[str]:
    return os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")


def build(verbose: bool = False) -> Path:
    """Compile fused.cpp for this CPU into :func:`library_path`; returns it (already built: no work).

    Raises:
        RuntimeError: no C++ compiler, or the compiler failed (its output is in the message).
    """
    out = library_path()
    if out.exists():
        return out
    cxx = compiler()
    if cxx is None:
        raise RuntimeError("no C++ compiler found (looked for $CXX, g++, c++); install g++ "
                           "(Debian: apt-get install g++) and run `actlab kernels build`")
    from torch.utils.cpp_extension import include_paths, library_paths

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    lib = library_paths()[0]
    python = _python_flags()
    cmd = [cxx, *_flags(capability()), *python, *[f"-I{p}" for p in include_paths()],
           str(SOURCE), "-o", str(tmp), f"-L{lib}", "-lc10", "-ltorch_cpu", "-ltorch",
           *(["-ltorch_python"] if python else []), f"-Wl,-rpath,{lib}"]
    if verbose:
        print(" ".join(cmd), file=sys.stderr)
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"compiling {SOURCE.name} failed ({cxx}, exit {done.returncode}):\n"
                           + (done.stderr or done.stdout)[-4000:])
    os.replace(tmp, out)  # atomic: a parallel build or a reader never sees half a library
    _state.clear()  # an earlier "not built" in this process no longer holds
    _KERNELS.clear()
    (out.parent / "build.json").write_text(json.dumps(
        {"torch": torch.__version__, "capability": capability(), "compiler": cxx,
         "flags": _flags(capability()) + python, "python": sysconfig.get_platform()}, indent=1))
    return out


def ops():
    """``torch.ops.actlab_fused`` when the kernels are built for this CPU and torch, else None.

    Loaded once per process, at the first call. ``ACTLAB_FUSED=0`` turns them off.
    """
    if "ops" not in _state:
        _state["ops"], _state["why"] = _load()
    return _state["ops"]


def _load():
    if os.environ.get("ACTLAB_FUSED", "1") == "0":
        return None, "turned off (ACTLAB_FUSED=0)"
    path = library_path()
    if not path.exists():
        return None, (f"not built for this CPU ({capability()}) and torch {torch.__version__}: "
                      f"run `actlab kernels build` (make does) to build {path}")
    try:
        torch.ops.load_library(str(path))
    except (OSError, RuntimeError) as e:  # a library for another torch or libc: keep the guard, say why
        return None, f"could not load {path}: {e}"
    try:
        _state["stream"] = stream_threshold()
    except ValueError as e:  # a mistyped setting: keep the guard (the same values) and say why
        return None, str(e)
    torch.ops.actlab_fused.set_stream_threshold(_state["stream"])
    _state["binding"], _state["binding_why"] = _binding(path)
    return torch.ops.actlab_fused, f"loaded {path}"


def _binding(path: Path):
    """(fused.cpp's ``Kernel`` class, "") where the library was built as a Python extension too; else
    (None, why not).

    Imported from the file torch.ops just loaded: the dynamic loader hands back the same library, so the
    op registrations are not run twice."""
    if not _python_flags():
        return None, ("ACTLAB_FUSED_PYTHON=0" if os.environ.get("ACTLAB_FUSED_PYTHON", "1") == "0"
                      else "built without Python's headers")
    loader = importlib.machinery.ExtensionFileLoader("libactlab_fused", str(path))
    spec = importlib.util.spec_from_loader("libactlab_fused", loader)
    try:
        module = importlib.util.module_from_spec(spec)
        loader.exec_module(module)
    except ImportError as e:  # built with the binding, yet it does not import here: say so, keep the op
        return None, f"its Python binding did not import: {e}"
    return module.Kernel, ""


def _cache_share(root: Path) -> Optional[int]:
    """Bytes of the last-level cache per CPU sharing it, from Linux's sysfs under ``root``; None if unknown."""
    levels = []
    for index in sorted(root.glob("index*")):
        try:
            level = int((index / "level").read_text())
            kind = (index / "type").read_text().strip()
            size = (index / "size").read_text().strip()
            shared = (index / "shared_cpu_list").read_text().strip()
        except (OSError, ValueError):
            continue
        if kind not in ("Unified", "Data") or not size:
            continue
        units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
        nbytes = int(size[:-1]) * units[size[-1]] if size[-1] in units else int(size)
        cpus = 0
        for part in shared.split(","):
            lo, _, hi = part.partition("-")
            cpus += int(hi or lo) - int(lo) + 1
        levels.append((level, nbytes // max(cpus, 1)))
    return max(levels)[1] if levels else None


def stream_threshold(root: Path = Path("/sys/devices/system/cpu/cpu0/cache")) -> int:
    """Bytes from which the kernels write their output with streaming stores; -1 for never.

    glibc's memcpy rule: 3/4 of one CPU's share of the last-level cache. Past it the output cannot
    stay in cache for the next layer anyway, and a streaming store skips reading each line in
    first. ``ACTLAB_FUSED_STREAM`` overrides: a number of bytes, or ``never``. Unknown cache
    (no sysfs): never.
    """
    env = os.environ.get("ACTLAB_FUSED_STREAM", "").strip().lower()
    if env:
        if env == "never":
            return -1
        try:
            return max(int(env), 0)
        except ValueError:
            raise ValueError(f"ACTLAB_FUSED_STREAM={env!r}: expected a number of bytes or 'never'") from None
    share = _cache_share(root)
    return -1 if share is None else 3 * share // 4


def apply_op():
    """The C++ function behind ``torch.ops.actlab_fused.apply.default``: the overload itself (no overload
    resolution per call), without its Python ``__call__``, which only forwards to it (0.3 us a call)."""
    op = _state.get("apply")
    if op is None:
        overload = ops().apply.default
        op = _state["apply"] = getattr(overload, "_op", overload)
    return op


_KERNELS: dict[tuple, Callable[[torch.Tensor], torch.Tensor]] = {}


def kernel(key: tuple) -> Callable[[torch.Tensor], torch.Tensor]:
    """``x -> apply(x, name, p)`` for ``key = (name, *p)``, made once per key: fused.cpp's ``Kernel`` where
    the library has it, else a call of the op. Takes plain ``torch.Tensor``s (see fused.cpp on subclasses)."""
    call = _KERNELS.get(key)
    if call is None:
        binding = _state.get("binding") if ops() is not None else None
        name, p = key[0], list(key[1:])
        if binding is not None:
            call = binding(name, p)
        else:
            op = apply_op()

            def call(x, op=op, name=name, p=p):
                return op(x, name, p)
        call = _KERNELS[key] = call
    return call


def status() -> str:
    """One line: whether the fused kernels are in use here, and why."""
    if ops() is None:
        return "fused kernels NOT in use: " + _state["why"]
    threshold = _state["stream"]
    streams = ("no streaming stores" if threshold < 0 else
               f"outputs from {threshold / 2**20:.3g} MiB written with streaming stores (forward: in training)")
    bf16 = "; bfloat16 rounded by AVX512-BF16" if "-mavx512bf16" in _flags(capability()) else ""
    called = ("; called directly from Python" if _state.get("binding") is not None else
              f"; called through torch.ops ({_state.get('binding_why')}: about 1 us more a call)")
    return f"fused kernels in use: {_state['why']} ({streams}){bf16}{called}"


_KINDS = frozenset(DTYPES)
# Looked up once: applies() runs on every module call, where each attribute lookup costs tens of ns
# (torch.compile recognises is_compiling by the function itself, not by the name it is called by).
_current_transform = torch._C._functorch.peek_interpreter_stack
_compiling = torch.compiler.is_compiling
_forward_ad = torch.autograd.forward_ad
_STRIDED = torch.strided


def applies(x: torch.Tensor) -> bool:
    """Does a module with a kernel run it on x (dtype, device, built here, no transform in the way)?

    Not under ``torch.compile`` or a ``torch.func`` transform (vmap, grad, jvp), nor inside
    ``torch.autograd.forward_ad.dual_level`` (the kernels define no forward-mode derivative):
    the module's analytic Function serves those.
    """
    return (x.dtype in _KINDS and x.is_cpu and x.layout == _STRIDED
            and ops() is not None
            and _forward_ad._current_level < 0 and not _compiling() and _current_transform() is None)


def kernel_params(spec, params: dict) -> list[float]:
    """The kernel's parameter list for a module's resolved ``params`` (the definition's ``fused`` names)."""
    return [float(params[name]) for name in spec.fused]


def build_and_report(optional: bool = False, verbose: bool = False) -> int:
    """``actlab kernels build``: build, print where (or why not), and return the exit status.

    1 when the kernels cannot be built (no compiler, a failed compile, an unwritable cache
    folder), 0 with ``optional`` (``make`` then carries on with the Python guard).
    """
    try:
        path = build(verbose=verbose)
    except (RuntimeError, OSError) as e:
        print(f"actlab: fused kernels not built: {e}\nThe modules keep their Python guard "
              "(the same values, 10-30% slower in training).", file=sys.stderr)
        return 0 if optional else 1
    print(f"actlab: fused kernels built for {capability()}: {path}")
    return 0
