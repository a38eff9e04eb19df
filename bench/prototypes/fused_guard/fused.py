"""Prototype: fused float32 CPU kernels for hardshrink and ELU with exact edge semantics.

One pass forward (read x, write y), one pass backward (read grad and x, write
grad_in), the same memory traffic as PyTorch's own kernels, with the edges
built in:

* NaN in -> NaN out, and NaN gradient, at every length: the tail of a chunk
  goes through the same vector code (masked load/store), never a scalar loop;
* hardshrink(+-inf) = +-inf with gradient grad; elu(-inf) = -alpha with
  gradient 0; elu(+inf) = +inf with gradient grad;
* f'(kink) as the catalog defines it: hardshrink'(+-lambda) = 0, elu'(0) = alpha.

Built with torch.utils.cpp_extension.load_inline at first use. Variants:
``avx512`` / ``avx2`` (ATen's at::vec::Vectorized<float>, Sleef expm1/exp from
libtorch_cpu), ``default`` (ATen's generic Vectorized, plain arrays the
compiler may vectorise) and ``plain`` (hand loops with ``#pragma omp simd``).
No -ffast-math anywhere: it lets the compiler assume no NaN/inf.
"""
from __future__ import annotations

import os
import time

import torch
from torch.utils.cpp_extension import load_inline

HERE = os.path.dirname(os.path.abspath(__file__))

VEC_SRC = r"""
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/vec.h>

using Vec = at::vec::Vectorized<float>;

static torch::Tensor checked(const torch::Tensor& t, const char* what) {
  TORCH_CHECK(t.device().is_cpu() && t.scalar_type() == at::kFloat,
              what, ": fused kernel takes float32 CPU tensors, got ", t.scalar_type(), " on ", t.device());
  return t.contiguous();
}

// f(i, count): the same vector code for the body (count = Vec::size()) and the tail (count < size),
// so a NaN's value and gradient cannot depend on where it sits or on the tensor's length.

// keep_outside(v, lam): v where |v| > lam or v is NaN, else +0. One unordered "not <=" compare: NaN fails
// "<=", so it is kept (ATen's vector body uses ordered compares and zeroes NaN; its scalar tail keeps it).
static inline Vec keep_outside(const Vec& v, const Vec& lam) {
#if defined(CPU_CAPABILITY_AVX512)
  __mmask16 k = _mm512_cmp_ps_mask(v.abs(), lam, _CMP_NLE_UQ);
  return _mm512_maskz_mov_ps(k, v);
#elif defined(CPU_CAPABILITY_AVX2)
  return _mm256_and_ps(_mm256_cmp_ps(v.abs(), lam, _CMP_NLE_UQ), v);
#else
  return Vec::blendv(v, Vec(0.f), v.abs() <= lam);
#endif
}
// hardshrink'(x): 1 where |x| > lam, 0 inside the band and at +-lam, NaN at NaN (the NaN itself).
static inline Vec hardshrink_slope(const Vec& v, const Vec& lam) {
#if defined(CPU_CAPABILITY_AVX512)
  __m512 one = _mm512_set1_ps(1.f);
  __mmask16 out = _mm512_cmp_ps_mask(v.abs(), lam, _CMP_GT_OQ);
  __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  return _mm512_mask_mov_ps(_mm512_maskz_mov_ps(out, one), nan, v);
#else
  Vec d = Vec::blendv(Vec(1.f), Vec(0.f), v.abs() <= lam);
  return Vec::blendv(d, v, v.isnan());
#endif
}

template <typename F>
static void for_each_vec(int64_t n, const F& f) {
  at::parallel_for(0, n, at::internal::GRAIN_SIZE, [&](int64_t begin, int64_t end) {
    const int64_t S = Vec::size();
    int64_t i = begin;
#ifndef NO_UNROLL
    for (; i + 2 * S <= end; i += 2 * S) { f(i, S); f(i + S, S); }  // two independent vectors per step, as ATen
#endif
    for (; i + S <= end; i += S) f(i, S);
    if (i < end) f(i, end - i);
  });
}

torch::Tensor hardshrink_forward(torch::Tensor x, double lambd) {
  x = checked(x, "hardshrink");
  auto y = torch::empty_like(x);
  const float* xp = x.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  const Vec lam((float)lambd), zero(0.f);
  for_each_vec(x.numel(), [&](int64_t i, int64_t c) {
    Vec v = Vec::loadu(xp + i, c);
    keep_outside(v, lam).store(yp + i, c);
  });
  return y;
}

torch::Tensor hardshrink_backward(torch::Tensor g, torch::Tensor x, double lambd) {
  x = checked(x, "hardshrink"); g = checked(g, "hardshrink grad");
  auto gi = torch::empty_like(x);
  const float* xp = x.data_ptr<float>(); const float* gp = g.data_ptr<float>();
  float* op = gi.data_ptr<float>();
  const Vec lam((float)lambd), zero(0.f), one(1.f);
  for_each_vec(x.numel(), [&](int64_t i, int64_t c) {
    Vec v = Vec::loadu(xp + i, c);
    Vec gv = Vec::loadu(gp + i, c);
    (gv * hardshrink_slope(v, lam)).store(op + i, c);   // grad * f'(x), the definition's product
  });
  return gi;
}

torch::Tensor elu_forward(torch::Tensor x, double alpha) {
  x = checked(x, "elu");
  auto y = torch::empty_like(x);
  const float* xp = x.data_ptr<float>(); float* yp = y.data_ptr<float>();
  const Vec a((float)alpha), zero(0.f);
  for_each_vec(x.numel(), [&](int64_t i, int64_t c) {
    Vec v = Vec::loadu(xp + i, c);
    Vec pos = v > zero;                                 // false for NaN: NaN takes expm1, which keeps it
    if (c == Vec::size() && pos.zero_mask() == 0) { v.store(yp + i, c); return; }  // all positive: skip expm1 (as ATen does)
    Vec::blendv(v.expm1() * a, v, pos).store(yp + i, c);  // expm1(-inf) = -1
  });
  return y;
}

torch::Tensor elu_backward(torch::Tensor g, torch::Tensor x, double alpha) {
  x = checked(x, "elu"); g = checked(g, "elu grad");
  auto gi = torch::empty_like(x);
  const float* xp = x.data_ptr<float>(); const float* gp = g.data_ptr<float>();
  float* op = gi.data_ptr<float>();
  const Vec a((float)alpha), zero(0.f);
  for_each_vec(x.numel(), [&](int64_t i, int64_t c) {
    Vec v = Vec::loadu(xp + i, c);
    Vec gv = Vec::loadu(gp + i, c);
    Vec pos = v > zero;
    if (c == Vec::size() && pos.zero_mask() == 0) { gv.store(op + i, c); return; }
    Vec d = Vec::blendv(v.EXP() * a, Vec(1.f), pos);    // exp(-inf) = 0, exp(NaN) = NaN, elu'(0) = alpha
    (gv * d).store(op + i, c);
  });
  return gi;
}

// The same as a C++ autograd::Function: no Python in the autograd node.
struct HardshrinkFn : public torch::autograd::Function<HardshrinkFn> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor x, double lambd) {
    ctx->save_for_backward({x});
    ctx->saved_data["p"] = lambd;
    return hardshrink_forward(x, lambd);
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::tensor_list g) {
    auto x = ctx->get_saved_variables()[0];
    return {hardshrink_backward(g[0], x, ctx->saved_data["p"].toDouble()), torch::Tensor()};
  }
};
struct EluFn : public torch::autograd::Function<EluFn> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor x, double alpha) {
    ctx->save_for_backward({x});
    ctx->saved_data["p"] = alpha;
    return elu_forward(x, alpha);
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::tensor_list g) {
    auto x = ctx->get_saved_variables()[0];
    return {elu_backward(g[0], x, ctx->saved_data["p"].toDouble()), torch::Tensor()};
  }
};
torch::Tensor hardshrink_autograd(torch::Tensor x, double lambd) { return HardshrinkFn::apply(x, lambd); }
torch::Tensor elu_autograd(torch::Tensor x, double alpha) { return EluFn::apply(x, alpha); }

std::string capability() {
#if defined(CPU_CAPABILITY_AVX512)
  return "AVX512 (Vectorized<float> is 16 lanes)";
#elif defined(CPU_CAPABILITY_AVX2)
  return "AVX2 (Vectorized<float> is 8 lanes)";
#else
  return "DEFAULT (generic Vectorized<float>, " + std::to_string(Vec::size()) + " lanes)";
#endif
}
"""

# Plain loops: the compiler vectorises them (-O3 -march=native, #pragma omp simd); no library expm1 in
# SIMD form without -ffast-math, so ELU keeps a scalar expm1f on the negative side.
PLAIN_SRC = r"""
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <cmath>

static torch::Tensor checked(const torch::Tensor& t) {
  TORCH_CHECK(t.device().is_cpu() && t.scalar_type() == at::kFloat, "fused kernel takes float32 CPU tensors");
  return t.contiguous();
}

torch::Tensor hardshrink_forward(torch::Tensor x, double lambd) {
  x = checked(x); auto y = torch::empty_like(x);
  const float* xp = x.data_ptr<float>(); float* yp = y.data_ptr<float>(); const float l = (float)lambd;
  at::parallel_for(0, x.numel(), at::internal::GRAIN_SIZE, [&](int64_t b, int64_t e) {
    #pragma omp simd
    for (int64_t i = b; i < e; ++i) { float v = xp[i]; yp[i] = (std::fabs(v) <= l) ? 0.f : v; }
  });
  return y;
}
torch::Tensor hardshrink_backward(torch::Tensor g, torch::Tensor x, double lambd) {
  x = checked(x); g = checked(g); auto gi = torch::empty_like(x);
  const float* xp = x.data_ptr<float>(); const float* gp = g.data_ptr<float>(); float* op = gi.data_ptr<float>();
  const float l = (float)lambd;
  at::parallel_for(0, x.numel(), at::internal::GRAIN_SIZE, [&](int64_t b, int64_t e) {
    #pragma omp simd
    for (int64_t i = b; i < e; ++i) {
      float v = xp[i];
      float d = (std::fabs(v) <= l) ? 0.f : 1.f;
      d = (v != v) ? v : d;
      op[i] = gp[i] * d;
    }
  });
  return gi;
}
torch::Tensor elu_forward(torch::Tensor x, double alpha) {
  x = checked(x); auto y = torch::empty_like(x);
  const float* xp = x.data_ptr<float>(); float* yp = y.data_ptr<float>(); const float a = (float)alpha;
  at::parallel_for(0, x.numel(), at::internal::GRAIN_SIZE, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) { float v = xp[i]; yp[i] = v > 0.f ? v : a * std::expm1(v); }
  });
  return y;
}
torch::Tensor elu_backward(torch::Tensor g, torch::Tensor x, double alpha) {
  x = checked(x); g = checked(g); auto gi = torch::empty_like(x);
  const float* xp = x.data_ptr<float>(); const float* gp = g.data_ptr<float>(); float* op = gi.data_ptr<float>();
  const float a = (float)alpha;
  at::parallel_for(0, x.numel(), at::internal::GRAIN_SIZE, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) { float v = xp[i]; op[i] = gp[i] * (v > 0.f ? 1.f : a * std::exp(v)); }
  });
  return gi;
}
std::string capability() { return "plain loops, -O3 -march=native, omp simd"; }
"""

VEC_FUNCS = ["hardshrink_forward", "hardshrink_backward", "elu_forward", "elu_backward",
             "hardshrink_autograd", "elu_autograd", "capability"]
PLAIN_FUNCS = ["hardshrink_forward", "hardshrink_backward", "elu_forward", "elu_backward", "capability"]

AVX512_FLAGS = ["-DCPU_CAPABILITY=AVX512", "-DCPU_CAPABILITY_AVX512",
                "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mfma"]
AVX2_FLAGS = ["-DCPU_CAPABILITY=AVX2", "-DCPU_CAPABILITY_AVX2", "-mavx2", "-mfma", "-mf16c"]

VARIANTS = {
    # name: (source, functions, extra flags)
    "avx512": (VEC_SRC, VEC_FUNCS, AVX512_FLAGS),
    "avx512_u20": (VEC_SRC.replace("EXP()", "exp_u20()"), VEC_FUNCS, AVX512_FLAGS),
    "avx2": (VEC_SRC, VEC_FUNCS, AVX2_FLAGS),
    "avx512_nounroll": (VEC_SRC, VEC_FUNCS, AVX512_FLAGS + ["-DNO_UNROLL"]),
    "default": (VEC_SRC, VEC_FUNCS, ["-DCPU_CAPABILITY=DEFAULT", "-march=native"]),
    "plain": (PLAIN_SRC, PLAIN_FUNCS, ["-march=native", "-fopenmp-simd"]),
}


def build(variant: str, verbose: bool = False):
    """Compile (or load from the build cache) one variant; returns (module, seconds)."""
    src, funcs, flags = VARIANTS[variant]
    src = src.replace("EXP()", "exp()")
    build_dir = os.path.join(HERE, "build", variant)
    os.makedirs(build_dir, exist_ok=True)
    t0 = time.perf_counter()
    # -fopenmp: at::parallel_for is inline (ATen/ParallelOpenMP.h); without it the pragma is
    # ignored and the kernel runs on one thread. libgomp.so.1 resolves to the copy torch loaded.
    mod = load_inline(name=f"actlab_fused_{variant}", cpp_sources=[src], functions=funcs,
                      extra_cflags=["-O3", "-fopenmp", "-fno-fast-math"] + flags,
                      extra_ldflags=["-fopenmp"], build_directory=build_dir, verbose=verbose)
    return mod, time.perf_counter() - t0


def functions(ext):
    """Python autograd.Function wrappers around one built variant (hardshrink, elu)."""

    class Hardshrink(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, lambd=0.5):
            ctx.save_for_backward(x)
            ctx.lambd = lambd
            return ext.hardshrink_forward(x, lambd)

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return ext.hardshrink_backward(grad, x, ctx.lambd), None

    class Elu(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, alpha=1.0):
            ctx.save_for_backward(x)
            ctx.alpha = alpha
            return ext.elu_forward(x, alpha)

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return ext.elu_backward(grad, x, ctx.alpha), None

    return Hardshrink, Elu


if __name__ == "__main__":
    import sys

    for v in sys.argv[1:] or ["avx512"]:
        try:
            m, s = build(v, verbose=False)
            print(f"{v}: built/loaded in {s:.1f} s: {m.capability()}", flush=True)
        except Exception as e:  # report and go on to the next variant
            print(f"{v}: FAILED: {type(e).__name__}: {str(e)[-1500:]}", flush=True)


def load_for_this_cpu():
    """What actlab would do at first use: the variant matching PyTorch's own kernels, or None and why.

    AVX512 and AVX2 only (the variants measured); anything else (DEFAULT, ARM, no compiler, a
    failed build) returns None, and the caller keeps today's guard + native op.
    """
    import shutil

    cap = torch.backends.cpu.get_cpu_capability()
    variant = {"AVX512": "avx512", "AVX2": "avx2"}.get(cap)
    if variant is None:
        return None, f"no fused variant for CPU capability {cap}"
    if shutil.which(os.environ.get("CXX", "c++")) is None or shutil.which("ninja") is None:
        return None, "no C++ compiler or ninja on PATH"
    try:
        return build(variant)[0], variant
    except Exception as e:  # a failed build must never break training: fall back
        return None, f"build failed: {type(e).__name__}: {str(e)[-300:]}"
