// actlab's fused CPU kernels: the exact-limit activations in one pass each way.
//
// The catalog's modules call PyTorch's op only where its values and gradients are
// the definition's; elsewhere (an infinity, a NaN, an overflow) they take the
// definition's own formula. Deciding that in Python costs one extra read of x
// (catalog/module.py, native_is_exact_on). These kernels decide it per vector,
// inside the one pass that computes the op, so they cost what PyTorch's own
// kernel costs:
//
//   forward:  read x, write f(x)             (the op's formula, then the exact
//                                              limit in the lanes that need it)
//   backward: read grad and x, write grad * f'(x)
//
// Semantics (tested against mpmath in tests/test_fused.py):
//   * f(+-inf) and f'(+-inf) are the limits; NaN in gives NaN out, and a NaN's
//     gradient is NaN; no finite input overflows;
//   * a chunk's tail runs through the same vector code as its body (a masked
//     load and store), so nothing depends on a tensor's length or on where an
//     element sits;
//   * at a kink, f'(k) is the catalog's convention (PyTorch's backward).
// Finite inputs follow PyTorch's formula for the op step by step, except where
// a better one is also faster (GELU's erf in float32, GELU-tanh's forward: see
// there); tests/test_catalog_verify.py checks each is no less accurate than
// PyTorch's op against the definition in float64.
//
// Built for the CPU's vector width at `make` (actlab kernels build); catalog/fused.py
// loads it when present and says why when not.
// float32 and float64, and float16/bfloat16 computed in float32; CUDA keeps the Python guard.
// No -ffast-math: it would let the compiler assume there is no NaN or inf.

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/saved_variable.h>
#include <torch/library.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <limits>
#include <vector>

namespace {

using at::Tensor;
template <typename T>
using Vec = at::vec::Vectorized<T>;

// The per-vector helpers are always inlined into the loops (a call per vector costs the cheap ops dearly).
#define ACTLAB_INLINE inline __attribute__((always_inline))
#define ACTLAB_INLINE_LAMBDA __attribute__((always_inline))  // the ops' per-vector lambdas, likewise

// ---------------------------------------------------------------------------
// One pass over x (and grad), the tail through the same vector code.
// ---------------------------------------------------------------------------
// Blocks of BLOCK elements (L1-sized), each split by each_vector.
constexpr int64_t BLOCK = 2048;

// step(i, count, full): `full` is std::true_type for a whole vector (plain loads and stores; a masked
// load with a run-time count costs the cheap ops 3-4%), std::false_type for the tail (count lanes).
template <typename T, typename F>
ACTLAB_INLINE void each_vector(int64_t begin, int64_t end, const F& step) {
  const int64_t S = Vec<T>::size();
  int64_t i = begin;
  for (; i + 2 * S <= end; i += 2 * S) {  // two independent vectors per step, as ATen's loops
    step(i, S, std::true_type{});
    step(i + S, S, std::true_type{});
  }
  for (; i + S <= end; i += S) step(i, S, std::true_type{});
  if (i < end) step(i, end - i, std::false_type{});
}

template <typename T, typename Full>
ACTLAB_INLINE Vec<T> load(const T* p, int64_t count, Full) {
  if constexpr (Full::value) return Vec<T>::loadu(p);
  else return Vec<T>::loadu(p, count);
}
template <typename T, typename Full>
ACTLAB_INLINE void store(const Vec<T>& v, T* p, int64_t count, Full) {
  if constexpr (Full::value) v.store(p);
  else v.store(p, count);
}

// Streaming (non-temporal) stores for outputs too large to stay in cache, as glibc's memcpy does past
// 3/4 of a CPU's share of the last-level cache: the write goes to memory without first reading the line
// in (a third of an elementwise forward's traffic). The threshold in bytes is set once at load by
// catalog/fused.py (set_stream_threshold; -1: never). float32 and float64 on AVX-512 and AVX2, whole
// aligned vectors; everything else stores normally. Each block ends with a store fence, so the values
// are visible like any store's once the parallel region joins.
std::atomic<int64_t> stream_threshold{-1};

template <typename S>
constexpr bool can_stream() {
#if defined(CPU_CAPABILITY_AVX512) || defined(CPU_CAPABILITY_AVX2)
  return std::is_same_v<S, float> || std::is_same_v<S, double>;
#else
  return false;
#endif
}
bool stream_for(int64_t bytes) {
  const int64_t t = stream_threshold.load(std::memory_order_relaxed);
  return t >= 0 && bytes >= t;
}
template <typename S, bool Stream, typename Full>
ACTLAB_INLINE void put(const Vec<S>& v, S* p, int64_t count, Full full) {
  if constexpr (Stream && can_stream<S>() && Full::value) {
    if (reinterpret_cast<uintptr_t>(p) % sizeof(Vec<S>) == 0) {
#if defined(CPU_CAPABILITY_AVX512)
      if constexpr (std::is_same_v<S, float>) _mm512_stream_ps(p, v);
      else _mm512_stream_pd(p, v);
#elif defined(CPU_CAPABILITY_AVX2)
      if constexpr (std::is_same_v<S, float>) _mm256_stream_ps(p, v);
      else _mm256_stream_pd(p, v);
#endif
      return;
    }
  }
  store(v, p, count, full);
}
ACTLAB_INLINE void fence_streams() {
#if defined(CPU_CAPABILITY_AVX512) || defined(CPU_CAPABILITY_AVX2)
  _mm_sfence();
#endif
}

template <typename F>
void each_block(int64_t n, const F& block) {
  at::parallel_for(0, n, at::internal::GRAIN_SIZE, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; b += BLOCK) block(b, std::min(end, b + BLOCK));
  });
}

Tensor dense(const Tensor& t) {
  return t.is_non_overlapping_and_dense() ? t : t.contiguous();
}
// An uninitialised tensor with x's strides (x dense). at::empty for the contiguous case: empty_like's
// memory-format logic costs ~1.5 us a call, a third of the whole op on a small tensor.
Tensor empty_as(const Tensor& x) {
  return x.is_contiguous() ? at::empty(x.sizes(), x.options()) : at::empty_like(x);
}

// f on one stored vector: directly for float and double; for float16 and bfloat16 on its two float32
// halves, rounded once on the store (as PyTorch's half kernels compute).
template <typename S, typename F>
ACTLAB_INLINE Vec<S> on_vector(const Vec<S>& v, const F& f) {
  if constexpr (std::is_same_v<S, float> || std::is_same_v<S, double>) {
    return f(v);
  } else {
    auto [lo, hi] = at::vec::convert_to_float<S>(v);
    return at::vec::convert_from_float<S>(f(lo), f(hi));
  }
}
template <typename S, typename F>
ACTLAB_INLINE Vec<S> grad_on_vector(const Vec<S>& g, const Vec<S>& v, const F& df) {
  if constexpr (std::is_same_v<S, float> || std::is_same_v<S, double>) {
    return g * df(v);
  } else {
    auto [x0, x1] = at::vec::convert_to_float<S>(v);
    auto [g0, g1] = at::vec::convert_to_float<S>(g);
    return at::vec::convert_from_float<S>(g0 * df(x0), g1 * df(x1));
  }
}

// Calls body(Storage<S>{}) with S the tensor's storage type: T itself, or for T = float (the type the
// formulas compute in) also c10::BFloat16 and c10::Half.
template <typename S>
struct Storage {
  using type = S;
};
template <typename T, typename Body>
Tensor by_storage(const Tensor& x, const Body& body) {
  if constexpr (std::is_same_v<T, float>) {
    if (x.scalar_type() == at::kBFloat16) return body(Storage<c10::BFloat16>{});
    if (x.scalar_type() == at::kHalf) return body(Storage<c10::Half>{});
  }
  return body(Storage<T>{});
}

// y = f(x): one formula, exact everywhere (the clamps below keep inf * 0 out of it).
template <typename T, typename F>
Tensor map_x(const Tensor& x_, const F& f) {
  Tensor x = dense(x_);
  Tensor y = empty_as(x);  // the same strides: x's and y's elements pair up in memory order
  return by_storage<T>(x, [&](auto storage) {
    using S = typename decltype(storage)::type;
    const S* xp0 = x.const_data_ptr<S>();
    S* yp0 = y.mutable_data_ptr<S>();
    const bool stream = can_stream<S>() && stream_for(y.nbytes());
    each_block(x.numel(), [&](int64_t b, int64_t e) {
      // Copies local to the block: reached through the parallel region's captures, f's constants and
      // the pointers would be reloaded from memory after every store (which might alias them).
      const F fl = f;
      const S* const xp = xp0;
      S* const yp = yp0;
      if (stream) {
        each_vector<S>(b, e, [&](int64_t i, int64_t c, auto full) {
          put<S, true>(on_vector<S>(load(xp + i, c, full), fl), yp + i, c, full);
        });
        fence_streams();
      } else {
        each_vector<S>(b, e, [&](int64_t i, int64_t c, auto full) {
          put<S, false>(on_vector<S>(load(xp + i, c, full), fl), yp + i, c, full);
        });
      }
    });
    return y;
  });
}

// grad * f'(x), the same way (a gradient with other strides than x is copied to x's first).
template <typename T, typename F>
Tensor map_grad_x(const Tensor& g_, const Tensor& x_, const F& df) {
  Tensor x = dense(x_);
  Tensor g = g_.strides() == x.strides() ? g_ : empty_as(x).copy_(g_);
  Tensor out = empty_as(x);
  return by_storage<T>(x, [&](auto storage) {
    using S = typename decltype(storage)::type;
    const S* xp0 = x.const_data_ptr<S>();
    const S* gp0 = g.const_data_ptr<S>();
    S* op0 = out.mutable_data_ptr<S>();
    const bool stream = can_stream<S>() && stream_for(out.nbytes());
    each_block(x.numel(), [&](int64_t b, int64_t e) {
      const F dfl = df;  // local copies, as in map_x
      const S* const xp = xp0;
      const S* const gp = gp0;
      S* const op = op0;
      if (stream) {
        each_vector<S>(b, e, [&](int64_t i, int64_t c, auto full) {
          put<S, true>(grad_on_vector<S>(load(gp + i, c, full), load(xp + i, c, full), dfl), op + i, c, full);
        });
        fence_streams();
      } else {
        each_vector<S>(b, e, [&](int64_t i, int64_t c, auto full) {
          put<S, false>(grad_on_vector<S>(load(gp + i, c, full), load(xp + i, c, full), dfl), op + i, c, full);
        });
      }
    });
    return out;
  });
}

// Lane helpers. Comparisons give all-ones or all-zeros lanes; "& one" turns them into 1 or 0.
// v where mask is set, else w
template <typename T>
ACTLAB_INLINE Vec<T> where(const Vec<T>& mask, const Vec<T>& v, const Vec<T>& w) {
  return Vec<T>::blendv(w, v, mask);
}
// NaN lanes of x carried into d (the derivative at NaN is NaN)
template <typename T>
ACTLAB_INLINE Vec<T> keep_nan(const Vec<T>& x, const Vec<T>& d) {
  return where(x.isnan(), x, d);
}
// x with +-inf replaced by +-max (and NaN kept: ATen's clamp passes NaN on every width). Where x only
// multiplies a factor that is exactly 0 at that end, this turns inf * 0 (NaN) into the limit 0.
template <typename T>
ACTLAB_INLINE Vec<T> finite(const Vec<T>& x) {
  const T big = std::numeric_limits<T>::max();
  return at::vec::clamp(x, Vec<T>(-big), Vec<T>(big));
}
template <typename T>
ACTLAB_INLINE Vec<T> no_neg_inf(const Vec<T>& x) {
  return at::vec::clamp_min(x, Vec<T>(-std::numeric_limits<T>::max()));
}

// e^x. On AVX-512 in float32, computed inline here: ATen's Vectorized::exp calls Sleef's expf16_u10, a
// function call per vector with its own range checks, about half of SiLU's time. The same method (Cody-Waite
// reduction by ln 2 in two parts, then a degree-6 polynomial for e^r on |r| <= ln2/2 with Sleef's minimax
// coefficients; Shibata and Petrogalli, "SLEEF", IEEE TPDS 2020), with 2^n applied by VSCALEFPS, which
// overflows to inf and underflows gradually to 0 by itself, and e^r summed as 1 + (r + r^2 p(r)) so that
// 1 + ... rounds once: at most 1 ulp (tests/test_fused.py checks it against float64 over the whole range).
// exp_small takes |x| <= 104 in float32, 746 in float64 (or NaN); exp_of any x. AVX2 and float64 below;
// the generic build: ATen's.
template <typename T>
ACTLAB_INLINE Vec<T> exp_of(const Vec<T>& x) {
  return x.exp();
}
template <typename T>
ACTLAB_INLINE Vec<T> exp_small(const Vec<T>& x) {
  return x.exp();
}
// x clamped to [-b, b], NaN kept (ATen's clamp passes NaN on every width)
template <typename T>
ACTLAB_INLINE Vec<T> clamp_abs(const Vec<T>& x, T b) {
  return at::vec::clamp(x, Vec<T>(-b), Vec<T>(b));
}
// Beyond +-exp_limit, e^x is inf or 0 in T (float32: e^-104 is below the least subnormal; float64: e^-746).
template <typename T>
constexpr T exp_limit() {
  return std::is_same_v<T, float> ? T(104) : T(746);
}
// e^r = 1 + (r + r^2 u(r)) on |r| <= ln2/2, u Sleef's float32 minimax polynomial; one rounding at the end.
// The intrinsics are passed in, so AVX-512 and AVX2 share it.
template <typename V>
ACTLAB_INLINE V exp_poly_f32(V r, V (*fma)(V, V, V), V (*mul)(V, V), V (*add)(V, V), V (*set)(float)) {
  V u = set(0.000198527617612853646278381f);
  u = fma(u, r, set(0.00139304355252534151077271f));
  u = fma(u, r, set(0.00833336077630519866943359f));
  u = fma(u, r, set(0.0416664853692054748535156f));
  u = fma(u, r, set(0.166666671633720397949219f));
  u = fma(u, r, set(0.5f));
  return add(fma(mul(r, r), u, r), set(1.f));
}
#if defined(CPU_CAPABILITY_AVX512)
template <>
ACTLAB_INLINE Vec<float> exp_small<float>(const Vec<float>& xv) {
  const __m512 x = xv;
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.442695040888963407359924681001892137f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);  // x - n ln2, ln2 in two parts
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187045e-06f), r);
  const __m512 u = exp_poly_f32<__m512>(r, _mm512_fmadd_ps, _mm512_mul_ps, _mm512_add_ps, _mm512_set1_ps);
  return Vec<float>(_mm512_scalef_ps(u, n));
}
#elif defined(CPU_CAPABILITY_AVX2)
// The same on AVX2, which has no VSCALEFPS: 2^n (|n| <= 150) as two normal powers of two, 2^(n - n/2) and
// 2^(n/2), built in the exponent field; (u 2^a) is exact and the second product rounds once, also into
// the subnormals, and overflows to inf as a product does.
template <>
ACTLAB_INLINE Vec<float> exp_small<float>(const Vec<float>& xv) {
  const __m256 x = xv;
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.442695040888963407359924681001892137f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428606765330187045e-06f), r);
  const __m256 u = exp_poly_f32<__m256>(r, _mm256_fmadd_ps, _mm256_mul_ps, _mm256_add_ps, _mm256_set1_ps);
  const __m256i ni = _mm256_cvtps_epi32(n);
  const __m256i half = _mm256_srai_epi32(ni, 1);
  const __m256i rest = _mm256_sub_epi32(ni, half);
  const __m256i bias = _mm256_set1_epi32(127);
  const __m256 a = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(rest, bias), 23));
  const __m256 b = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(half, bias), 23));
  return Vec<float>(_mm256_mul_ps(_mm256_mul_ps(u, a), b));
}
#endif
// e^x in float64 the same way: ln 2 in two parts (Sleef's split), e^r = 1 + r + r^2 u(r) with u the degree-10
// Chebyshev fit to (e^r - 1 - r) / r^2 on |r| <= ln2/2 (mpmath.chebyfit at 50 digits: error 1.4e-18),
// 2^n by VSCALEFPD or two exponent-field powers of two (|n| <= 1076).
template <typename V>
ACTLAB_INLINE V exp_poly_f64(V r, V (*fma)(V, V, V), V (*mul)(V, V), V (*add)(V, V), V (*set)(double)) {
  V u = set(2.091467937658393509979e-09);
  u = fma(u, r, set(2.510520637395701111604e-08));
  u = fma(u, r, set(2.75572736613486362187e-07));
  u = fma(u, r, set(2.755725542574643428182e-06));
  u = fma(u, r, set(2.480158732553336381896e-05));
  u = fma(u, r, set(1.984126987480049198076e-04));
  u = fma(u, r, set(1.388888888888375241661e-03));
  u = fma(u, r, set(8.333333333326140883979e-03));
  u = fma(u, r, set(4.166666666666666975154e-02));
  u = fma(u, r, set(1.666666666666667098633e-01));
  u = fma(u, r, set(0.5));
  return add(fma(mul(r, r), u, r), set(1.0));  // 1 + (r + r^2 u): one rounding at the end
}
#if defined(CPU_CAPABILITY_AVX512)
template <>
ACTLAB_INLINE Vec<double> exp_small<double>(const Vec<double>& xv) {
  const __m512d x = xv;
  const __m512d n = _mm512_roundscale_pd(_mm512_mul_pd(x, _mm512_set1_pd(1.442695040888963407359924681001892137)),
                                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512d r = _mm512_fnmadd_pd(n, _mm512_set1_pd(0.69314718055966295651160180568695068359375), x);
  r = _mm512_fnmadd_pd(n, _mm512_set1_pd(0.28235290563031577122588448175013436025525412068e-12), r);
  const __m512d u = exp_poly_f64<__m512d>(r, _mm512_fmadd_pd, _mm512_mul_pd, _mm512_add_pd, _mm512_set1_pd);
  return Vec<double>(_mm512_scalef_pd(u, n));
}
#elif defined(CPU_CAPABILITY_AVX2)
template <>
ACTLAB_INLINE Vec<double> exp_small<double>(const Vec<double>& xv) {
  const __m256d x = xv;
  const __m256d n = _mm256_round_pd(_mm256_mul_pd(x, _mm256_set1_pd(1.442695040888963407359924681001892137)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256d r = _mm256_fnmadd_pd(n, _mm256_set1_pd(0.69314718055966295651160180568695068359375), x);
  r = _mm256_fnmadd_pd(n, _mm256_set1_pd(0.28235290563031577122588448175013436025525412068e-12), r);
  const __m256d u = exp_poly_f64<__m256d>(r, _mm256_fmadd_pd, _mm256_mul_pd, _mm256_add_pd, _mm256_set1_pd);
  // n = half + rest, half = floor(n / 2): both within the normal exponents for |n| <= 1076
  const __m256i ni = _mm256_cvtepi32_epi64(_mm256_cvtpd_epi32(n));
  const __m256i half64 = _mm256_cvtepi32_epi64(_mm256_cvtpd_epi32(_mm256_round_pd(
      _mm256_mul_pd(n, _mm256_set1_pd(0.5)), _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC)));
  const __m256i rest64 = _mm256_sub_epi64(ni, half64);
  const __m256i bias = _mm256_set1_epi64x(1023);
  const __m256d a = _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_add_epi64(rest64, bias), 52));
  const __m256d b = _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_add_epi64(half64, bias), 52));
  return Vec<double>(_mm256_mul_pd(_mm256_mul_pd(u, a), b));
}
#endif
#if defined(CPU_CAPABILITY_AVX512) || defined(CPU_CAPABILITY_AVX2)
template <>
ACTLAB_INLINE Vec<float> exp_of<float>(const Vec<float>& x) {
  return exp_small<float>(clamp_abs<float>(x, exp_limit<float>()));
}
template <>
ACTLAB_INLINE Vec<double> exp_of<double>(const Vec<double>& x) {
  return exp_small<double>(clamp_abs<double>(x, exp_limit<double>()));
}
#endif

// ---------------------------------------------------------------------------
// The ops. Each: f(x) and f'(x) on one vector, PyTorch's differentiable backward
// (used only when the backward itself is differentiated), and the range where
// that backward is exact.
// ---------------------------------------------------------------------------

// ELU family: x * pos for x > 0, neg * expm1(x * inp) otherwise (ELU: neg = alpha; CELU: inp = 1/alpha;
// SELU: pos = scale, neg = scale * alpha). NaN fails x > 0 and takes expm1, which keeps it; expm1(-inf) = -1.
struct EluCoef {
  double pos, neg, inp;
};
EluCoef elu_coef(const std::string& name, c10::ArrayRef<double> p) {
  if (name == "selu") {
    const double alpha = 1.6732632423543772848170429916717, scale = 1.0507009873554804934193349852946;
    return {scale, alpha * scale, 1.0};
  }
  if (name == "celu") return {1.0, p[0], 1.0 / p[0]};
  return {1.0, p[0], 1.0};  // elu
}

template <typename T>
Tensor elu_forward(const Tensor& x, const EluCoef& k) {
  const Vec<T> pos((T)k.pos), neg((T)k.neg), inp((T)k.inp), zero(0);
  return map_x<T>(x, [=](const Vec<T>& v) ACTLAB_INLINE_LAMBDA {
    Vec<T> up = v > zero;
    if (up.zero_mask() == 0) return v * pos;  // every lane positive: no expm1 (as PyTorch's kernel)
    return where(up, v * pos, (v * inp).expm1() * neg);
  });
}
template <typename T>
Tensor elu_backward(const Tensor& g, const Tensor& x, const EluCoef& k) {
  const Vec<T> pos((T)k.pos), slope((T)(k.neg * k.inp)), inp((T)k.inp), zero(0);
  return map_grad_x<T>(g, x, [=](const Vec<T>& v) ACTLAB_INLINE_LAMBDA {
    Vec<T> up = v > zero;
    if (up.zero_mask() == 0) return pos;
    return where(up, pos, exp_of<T>(v * inp) * slope);  // exp(-inf) = 0; f'(0) is the left piece, as PyTorch's
  });
}

// hardtanh / ReLU6: clip to [lo, hi] (clamp propagates NaN). f' = 1 strictly inside, else 0.
template <typename T>
Tensor clip_forward(const Tensor& x, double lo_, double hi_) {
  const Vec<T> lo((T)lo_), hi((T)hi_);
  return map_x<T>(x, [=](const Vec<T>& v) ACTLAB_INLINE_LAMBDA { return at::vec::clamp(v, lo, hi); });
}
template <typename T>
Tensor clip_backward(const Tensor& g, const Tensor& x, double lo_, double hi_) {
  const Vec<T> lo((T)lo_), hi((T)hi_), one(1);
  return map_grad_x<T>(g, x, [=](const Vec<T>& v) ACTLAB_INLINE_LAMBDA { return keep_nan(v, (v > lo) & (v < hi) & one); });
}

// shrinks: 0 inside [-l, l]; hardshrink keeps x outside, softshrink moves it l towards 0. f' = 1 outside.
template <typename T>
Tensor shrink_forward(const Tensor& x, double l_, bool soft) {
  const Vec<T> l((T)l_), zero(0);
  if (soft) {
    return map_x<T>(x, [=](const Vec<T>& v) ACTLAB_INLINE_LAMBDA {
      Vec<T> r = where(v > l, v - l, where(v < -l, v + l, zero));
      return keep_nan(v, r);
    });
  }
  return map_x<T>(x, [=](const Vec<T>& v) ACTLAB_INLINE_LAMBDA { return where(v.abs() <= l, zero, v); });  // NaN fails <=: kept
}
template <typename T>
Tensor shrink_backward(const Tensor& g, const Tensor& x, double l_) {
  const Vec<T> l((T)l_), one(1);
  return map_grad_x<T>(g, x, [=](const Vec<T>& v) ACTLAB_INLINE_LAMBDA { return keep_nan(v, (v.abs() > l) & one); });
}

// GELU (erf): x Phi(x), f' = Phi(x) + x phi(x), with x as a factor clamped to +-max: at -inf the gate is
// exactly 0 (and phi at +-inf), so the value is the limit, not inf * 0. Phi(x) = (1 + erf(x/sqrt 2))/2.
// float64: ATen's (Sleef's) erf, PyTorch's formula. float32, chosen per lane (an element's value never
// depends on its neighbours):
//  * x >= -3: erf by a rational approximation without exp (the coefficients Eigen and XLA use for float
//    erf, argument clamped to +-4: within 1e-7 of erf);
//  * x < -3, where 1 + erf cancels: Phi(x) = phi(x) g(t) / |x|, t = 1/x^2, g = |x| times Mills' ratio
//    (1 - Phi(a)) / phi(a) at a = |x|, a degree-7 polynomial in t fitted to it (relative error 2.3e-8 on
//    t <= 1/9, against scipy's erfcx); phi(x) from e^(-x^2/2) with x^2 split exactly in two (an fma), so
//    Phi keeps its relative precision down to float32's underflow at x ~ -14. Computed only for vectors
//    with such a lane.
template <typename T>
ACTLAB_INLINE Vec<T> gauss_cdf(const Vec<T>& x) {
  return Vec<T>((T)0.5) * (Vec<T>(1) + (x * Vec<T>((T)M_SQRT1_2)).erf());
}
// 1/q in float32 without a division where the CPU has a reciprocal estimate (VRCP14PS: 14 bits; VRCPPS:
// 12 bits) and one Newton step, r (2 - q r): within about an ulp, where GELU's erf approximation is already
// within 1e-7. A division costs GELU's rational ~10-30% (float32 and, two float vectors per half vector,
// bfloat16 and float16).
ACTLAB_INLINE Vec<float> recip(const Vec<float>& q) {
#if defined(CPU_CAPABILITY_AVX512)
  const __m512 qv = q;
  const __m512 r = _mm512_rcp14_ps(qv);
  return Vec<float>(_mm512_mul_ps(r, _mm512_fnmadd_ps(qv, r, _mm512_set1_ps(2.f))));
#elif defined(CPU_CAPABILITY_AVX2)
  const __m256 qv = q;
  const __m256 r = _mm256_rcp_ps(qv);
  const __m256 r1 = _mm256_mul_ps(r, _mm256_fnmadd_ps(qv, r, _mm256_set1_ps(2.f)));
  return Vec<float>(_mm256_mul_ps(r1, _mm256_fnmadd_ps(qv, r1, _mm256_set1_ps(2.f))));  // 12 bits: two steps
#else
  return Vec<float>(1.f) / q;
#endif
}
ACTLAB_INLINE Vec<float> gauss_cdf_left_tail(const Vec<float>& x_) {
  using V = Vec<float>;
  V x = at::vec::clamp_min(x_, V(-20.f));  // Phi(-20) ~ 3e-89 underflows float32 (and keeps -inf out)
  V x2 = x * x;
#if defined(CPU_CAPABILITY_AVX512) || defined(CPU_CAPABILITY_AVX2)
  V lo = at::vec::fmsub(x, x, x2);  // x^2 = x2 + lo exactly
#else
  // The generic build's fmsub may round twice: Dekker's exact product instead, from Veltkamp's split of x
  // into two 12-bit halves whose products are exact (|x| <= 20: no overflow in the split).
  V c = x * V(4097.f);
  V hi = c - (c - x);
  V lw = x - hi;
  V lo = ((hi * hi - x2) + V(2.f) * hi * lw) + lw * lw;  // x^2 = x2 + lo exactly
#endif
  V e = exp_of<float>(x2 * V(-0.5f));
  e = at::vec::fnmadd(e, lo * V(0.5f), e);  // e^(-x2/2 - lo/2) = e^(-x2/2) (1 - lo/2)
  V t = recip(x2);  // 9 <= x2 <= 400 (x clamped above)
  V p(-3418.185234756146f);
  p = at::vec::fmadd(p, t, V(1886.778631449903f));
  p = at::vec::fmadd(p, t, V(-490.701910007624f));
  p = at::vec::fmadd(p, t, V(88.073176988382f));
  p = at::vec::fmadd(p, t, V(-14.618078934295f));
  p = at::vec::fmadd(p, t, V(2.995617931965f));
  p = at::vec::fmadd(p, t, V(-0.999982193452f));
  V g = at::vec::fmadd(p, t, V(1.f));
  // phi g / |x| = e / sqrt(2 pi) * g * (|x| t)
  return e * V(0.3989422804014327f) * g * (x.neg() * t);
}
template <>
ACTLAB_INLINE Vec<float> gauss_cdf<float>(const Vec<float>& x) {
  using V = Vec<float>;
  V c = at::vec::clamp(x * V((float)M_SQRT1_2), V(-4.f), V(4.f));
  V c2 = c * c;
  V p(-2.72614225801306e-10f);
  p = at::vec::fmadd(p, c2, V(2.77068142495902e-08f));
  p = at::vec::fmadd(p, c2, V(-2.10102402082508e-06f));
  p = at::vec::fmadd(p, c2, V(-5.69250639462346e-05f));
  p = at::vec::fmadd(p, c2, V(-7.34990630326855e-04f));
  p = at::vec::fmadd(p, c2, V(-2.95459980854025e-03f));
  p = at::vec::fmadd(p, c2, V(-1.60960333262415e-02f));
  V q(-1.45660718464996e-05f);
  q = at::vec::fmadd(q, c2, V(-2.13374055278905e-04f));
  q = at::vec::fmadd(q, c2, V(-1.68282697438203e-03f));
  q = at::vec::fmadd(q, c2, V(-7.37332916720468e-03f));
  q = at::vec::fmadd(q, c2, V(-1.42647390514189e-02f));
  V r = V(0.5f) * (V(1.f) + c * p * recip(q));  // q <= -0.0142 < 0: never 0
  V tail = x < V(-3.f);
  if (tail.zero_mask() == (1 << V::size()) - 1) return r;  // no lane below -3
  return where(tail, gauss_cdf_left_tail(x), r);
}

template <typename T>
Tensor gelu_forward(const Tensor& x) {
  return map_x<T>(x, [=](const Vec<T>& v) ACTLAB_INLINE_LAMBDA { return no_neg_inf(v) * gauss_cdf<T>(v); });
}
template <typename T>
Tensor gelu_backward(const Tensor& g, const Tensor& x) {
  const Vec<T> mhalf((T)-0.5), beta((T)(M_2_SQRTPI * M_SQRT1_2 * 0.5));
  return map_grad_x<T>(g, x, [=](const Vec<T>& v) ACTLAB_INLINE_LAMBDA {
    return gauss_cdf<T>(v) + finite(v) * (beta * exp_of<T>(v * v * mhalf));
  });
}

// GELU, tanh form. Forward: x/2 (1 + tanh u) = x sigmoid(2u) = x / (1 + exp(-2u)), u = sqrt(2/pi) (x +
// 0.044715 x^3): the definition's own form, which does not cancel in the left tail (PyTorch's 1 + tanh u
// loses all relative precision there) and, one exp instead of a tanh, is about 3x faster than PyTorch's
// kernel; x as a factor clamped at -max (-max / inf = -0 at -inf). Backward: PyTorch's formula, which
// squares x and so overflows beyond sqrt(max) into inf * 0; beyond |x| = 10, tanh(u) is +-1 to the last
// bit in float32 and float64, so clamping x to +-1e10 there changes nothing else.
template <typename T>
Tensor gelu_tanh_forward(const Tensor& x) {
  const Vec<T> m2beta((T)(-M_SQRT2 * M_2_SQRTPI)), kappa((T)0.044715), one(1);
  return map_x<T>(x, [=](const Vec<T>& v) ACTLAB_INLINE_LAMBDA {
    Vec<T> w = m2beta * (v + kappa * (v * v * v));  // -2u
    return no_neg_inf(v) / (one + exp_of<T>(w));
  });
}
template <typename T>
Tensor gelu_tanh_backward(const Tensor& g, const Tensor& x) {
  // f' = s + 2 x u' s (1 - s), s = sigmoid(2u) = 1 / (1 + e), e = exp(-2u), u' = sqrt(2/pi) (1 + 3 *
  // 0.044715 x^2): the forward's form differentiated (one exp, no tanh). 1 - s is e * s where s >= 1/2
  // (e <= 1: no cancellation, where PyTorch's 1 - tanh^2 cancels), 1 - s below (no cancellation there,
  // and e may overflow). x clamped to +-1e10: x u' ~ x^3 stays finite, and there s (1 - s) is exactly 0.
  const Vec<T> m2beta((T)(-M_SQRT2 * M_2_SQRTPI)), twobeta((T)(M_SQRT2 * M_2_SQRTPI)), kappa((T)0.044715);
  const Vec<T> three_kappa((T)(3 * 0.044715)), one(1), half((T)0.5), lo((T)-1e10), hi((T)1e10);
  return map_grad_x<T>(g, x, [=](const Vec<T>& v) ACTLAB_INLINE_LAMBDA {
    Vec<T> c = at::vec::clamp(v, lo, hi);
    Vec<T> sq = c * c;
    Vec<T> e = exp_of<T>(m2beta * (c + kappa * (sq * c)));
    Vec<T> s = one / (one + e);
    Vec<T> sm = where(s >= half, e * s, one - s);  // 1 - s
    Vec<T> du2 = twobeta * (one + three_kappa * sq);  // 2u'
    return s + c * du2 * s * sm;
  });
}

// SiLU: x / (1 + exp(-x)), f' = s (1 + x (1 - s)). Forward: x clamped at -L as a factor, L = exp_limit
// (-L / (1 + inf) = -0 at -inf; the value is below T's range there anyway). Backward: x clamped to +-L, as
// exp's argument and as a factor: from L on s is 1 and x (1 - s) = 0, below -L s is 0 (f' is then 1 or 0
// to the last bit, as at +-inf).
template <typename T>
Tensor silu_forward(const Tensor& x) {
  const Vec<T> one(1), lo(-exp_limit<T>());
  return map_x<T>(x, [=](const Vec<T>& v) ACTLAB_INLINE_LAMBDA {
    Vec<T> c = at::vec::clamp_min(v, lo);
    return c / (one + exp_of<T>(c.neg()));
  });
}
template <typename T>
Tensor silu_backward(const Tensor& g, const Tensor& x) {
  const Vec<T> one(1);
  return map_grad_x<T>(g, x, [=](const Vec<T>& v) ACTLAB_INLINE_LAMBDA {
    Vec<T> c = clamp_abs<T>(v, exp_limit<T>());
    Vec<T> s = one / (one + exp_small<T>(c.neg()));
    return s * at::vec::fmadd(c, one - s, one);
  });
}

// Mish: x tanh(softplus x), f' = t + x s (1 - t^2), t = tanh(softplus x), s = sigmoid x. From one e = e^x
// instead of PyTorch's exp, log1p and tanh: tanh(log(1 + e)) = ((1 + e)^2 - 1) / ((1 + e)^2 + 1) = n / (n + 2),
// n = e (e + 2), and 1 - t^2 = 4 (n + 1) / (n + 2)^2; neither cancels (n > 0). e's argument is clamped at
// L = 40 (float32) or 300 (float64), where t is 1 and x s (1 - t^2) ~ 4x e^-2x is below half an ulp of 1, so
// nothing overflows; x as a factor is clamped to [-max, L] in f' (at +inf the term is 0) and at -max in f
// (t = 0 at -inf).
template <typename T>
constexpr T mish_limit() {
  return std::is_same_v<T, float> ? T(40) : T(300);
}
template <typename T>
Tensor mish_forward(const Tensor& x) {
  const Vec<T> hi(mish_limit<T>()), two(2);
  return map_x<T>(x, [=](const Vec<T>& v) ACTLAB_INLINE_LAMBDA {
    Vec<T> e = exp_of<T>(at::vec::clamp_max(v, hi));  // NaN stays NaN
    Vec<T> n = at::vec::fmadd(e, e, e + e);
    return no_neg_inf(v) * (n / (n + two));
  });
}
template <typename T>
Tensor mish_backward(const Tensor& g, const Tensor& x) {
  const Vec<T> hi(mish_limit<T>()), lo(-std::numeric_limits<T>::max()), one(1), two(2), four(4);
  return map_grad_x<T>(g, x, [=](const Vec<T>& v) ACTLAB_INLINE_LAMBDA {
    Vec<T> c = at::vec::clamp(v, lo, hi);
    Vec<T> e = exp_of<T>(c);
    Vec<T> n = at::vec::fmadd(e, e, e + e);
    Vec<T> r = one / (n + two);
    Vec<T> t = n * r;
    Vec<T> s = e / (one + e);
    return at::vec::fmadd(c * s, four * (n + one) * r * r, t);
  });
}

// Hard-Swish: x * (clip(x + 3, 0, 6) * (1/6)). PyTorch's (x * clip) / 6 overflows for x > max/6; scaling
// the gate first does not, and 6 * fl(1/6) rounds to 1 in float32 and float64, so the value is x from
// x = 3 on (and exactly 0 from -3 down). A product instead of a division. x clamped at -max: 0 at -inf.
// f' = 0 up to -3, 1 from 3 on, x/3 + 1/2 between (one fused multiply-add).
template <typename T>
Tensor hardswish_forward(const Tensor& x) {
  const Vec<T> three(3), six(6), zero(0), sixth((T)(1.0 / 6.0));
  return map_x<T>(x, [=](const Vec<T>& v) ACTLAB_INLINE_LAMBDA {
    return no_neg_inf(v) * (at::vec::clamp(v + three, zero, six) * sixth);
  });
}
template <typename T>
Tensor hardswish_backward(const Tensor& g, const Tensor& x) {
  const Vec<T> three(3), third((T)(1.0 / 3.0)), half((T)0.5), one(1), zero(0), mthree(-3);
  return map_grad_x<T>(g, x, [=](const Vec<T>& v) ACTLAB_INLINE_LAMBDA {
    Vec<T> mid = at::vec::fmadd(v, third, half);  // NaN stays NaN: it fails both comparisons
    return where(v <= mthree, zero, where(v >= three, one, mid));
  });
}

// ---------------------------------------------------------------------------
// Dispatch by name and dtype.
// ---------------------------------------------------------------------------
void check_input(const Tensor& x, const char* name) {
  TORCH_CHECK(x.device().is_cpu(), "actlab_fused.", name, ": takes CPU tensors, got one on ", x.device(),
              "; the module uses its Python guard elsewhere");
  const auto t = x.scalar_type();
  TORCH_CHECK(t == at::kFloat || t == at::kDouble || t == at::kBFloat16 || t == at::kHalf, "actlab_fused.", name,
              ": takes float32, float64, bfloat16 or float16, got ", t, "; the module uses its Python guard for others");
}

// How many parameters each kernel takes (the definitions' `fused` names, in order).
size_t param_count(const std::string& name) {
  if (name == "elu" || name == "celu" || name == "softshrink" || name == "hardshrink") return 1;
  if (name == "hardtanh") return 2;
  if (name == "selu" || name == "relu6" || name == "gelu" || name == "gelu_tanh" || name == "silu" ||
      name == "mish" || name == "hardswish")
    return 0;
  TORCH_CHECK(false, "actlab_fused: no kernel named '", name, "'; the kernels: elu, celu, selu, hardtanh, relu6, ",
              "softshrink, hardshrink, gelu, gelu_tanh, silu, mish, hardswish");
}

void check_params(const std::string& name, c10::ArrayRef<double> p) {
  const size_t n = param_count(name);
  TORCH_CHECK(p.size() == n, "actlab_fused.", name, ": expected ", n, " parameter(s), got ", p.size(),
              " (the module passes its definition's `fused` parameters)");
}

template <typename T>
Tensor forward_t(const std::string& name, const Tensor& x, c10::ArrayRef<double> p) {
  if (name == "elu" || name == "celu" || name == "selu") return elu_forward<T>(x, elu_coef(name, p));
  if (name == "hardtanh") return clip_forward<T>(x, p[0], p[1]);
  if (name == "relu6") return clip_forward<T>(x, 0.0, 6.0);
  if (name == "softshrink") return shrink_forward<T>(x, p[0], true);
  if (name == "hardshrink") return shrink_forward<T>(x, p[0], false);
  if (name == "gelu") return gelu_forward<T>(x);
  if (name == "gelu_tanh") return gelu_tanh_forward<T>(x);
  if (name == "silu") return silu_forward<T>(x);
  if (name == "mish") return mish_forward<T>(x);
  if (name == "hardswish") return hardswish_forward<T>(x);
  TORCH_CHECK(false, "actlab_fused: no kernel named '", name, "'");
}

template <typename T>
Tensor backward_t(const std::string& name, const Tensor& g, const Tensor& x, c10::ArrayRef<double> p) {
  if (name == "elu" || name == "celu" || name == "selu") return elu_backward<T>(g, x, elu_coef(name, p));
  if (name == "hardtanh") return clip_backward<T>(g, x, p[0], p[1]);
  if (name == "relu6") return clip_backward<T>(g, x, 0.0, 6.0);
  if (name == "softshrink" || name == "hardshrink") return shrink_backward<T>(g, x, p[0]);
  if (name == "gelu") return gelu_backward<T>(g, x);
  if (name == "gelu_tanh") return gelu_tanh_backward<T>(g, x);
  if (name == "silu") return silu_backward<T>(g, x);
  if (name == "mish") return mish_backward<T>(g, x);
  if (name == "hardswish") return hardswish_backward<T>(g, x);
  TORCH_CHECK(false, "actlab_fused: no kernel named '", name, "'");
}

Tensor fused_forward(const std::string& name, const Tensor& x, c10::ArrayRef<double> p) {
  check_params(name, p);
  check_input(x, name.c_str());
  return x.scalar_type() == at::kDouble ? forward_t<double>(name, x, p) : forward_t<float>(name, x, p);
}

Tensor fused_backward(const std::string& name, const Tensor& g, const Tensor& x, c10::ArrayRef<double> p) {
  check_params(name, p);
  check_input(x, name.c_str());
  Tensor gx = g.scalar_type() == x.scalar_type() ? g : g.to(x.scalar_type());
  return x.scalar_type() == at::kDouble ? backward_t<double>(name, gx, x, p) : backward_t<float>(name, gx, x, p);
}

// PyTorch's own op, whose gradient autograd can differentiate again; used only under create_graph, where
// it is exact (finite x; GELU-tanh's gradient squares x, so up to 1e10).
Tensor native_forward(const std::string& name, const Tensor& x, c10::ArrayRef<double> p) {
  if (name == "elu") return at::elu(x, p[0]);
  if (name == "celu") return at::celu(x, p[0]);
  if (name == "selu") return at::selu(x);
  if (name == "hardtanh") return at::hardtanh(x, p[0], p[1]);
  if (name == "relu6") return at::hardtanh(x, 0.0, 6.0);
  if (name == "softshrink") return at::softshrink(x, p[0]);
  if (name == "hardshrink") return at::hardshrink(x, p[0]);
  if (name == "gelu") return at::gelu(x, "none");
  if (name == "gelu_tanh") return at::gelu(x, "tanh");
  if (name == "silu") return at::silu(x);
  if (name == "mish") return at::mish(x);
  if (name == "hardswish") return at::hardswish(x);
  TORCH_CHECK(false, "actlab_fused: no kernel named '", name, "'");
}

// Where PyTorch's double backward is exact. GELU's and GELU-tanh's square x (NaN beyond sqrt(max)),
// Mish's exponentiate it (NaN beyond 88 in float32, 709 in float64); beyond 1e10 (GELU) and 80 (Mish) f'
// is 0 or 1 to the last bit, or a negligible tail, and f'' is taken as 0, as mpmath's is there.
Tensor native_exact(const std::string& name, const Tensor& x) {
  if (name == "gelu_tanh" || name == "gelu") return x.abs() <= 1e10;
  if (name == "mish") return x.abs() <= 80;
  return at::isfinite(x);
}

// The backward node. A plain autograd Node, as PyTorch's generated ops have (a custom
// torch::autograd::Function's CppNode cost ~7 us more per backward, a third of a small tensor's step).
struct FusedBackward : public torch::autograd::Node {
  std::string op;
  std::vector<double> p;
  torch::autograd::SavedVariable x_;

  torch::autograd::variable_list apply(torch::autograd::variable_list&& grads) override {
    const Tensor& g = grads[0];
    if (!g.defined()) return {Tensor()};
    Tensor x = x_.unpack();
    if (!at::GradMode::is_enabled()) return {fused_backward(op, g, x, p)};
    // create_graph: the vector-Jacobian product of PyTorch's op (differentiable again) where it is
    // exact, grad * f'(x) (exact; constant in x) in the other lanes.
    Tensor ok = native_exact(op, x.detach());
    Tensor safe_x = at::where(ok, x, at::zeros_like(x));
    Tensor d;
    {
      at::NoGradGuard no_grad;
      d = fused_backward(op, at::ones_like(x), x.detach(), p);
    }
    Tensor y = native_forward(op, safe_x, p);
    Tensor vjp = torch::autograd::grad({y}, {safe_x}, {g}, /*retain_graph=*/true, /*create_graph=*/true)[0];
    return {at::where(ok, vjp, g * d)};
  }
  std::string name() const override { return "ActlabFusedBackward"; }
  void release_variables() override {
    std::lock_guard<std::mutex> lock(mutex_);
    x_.reset_data();
  }
};

// y = f(x), recorded for autograd when x requires grad (as PyTorch's generated code does for its ops).
Tensor apply(const Tensor& x, c10::string_view name, c10::ArrayRef<double> p) {
  std::string op(name);
  const bool record = at::GradMode::is_enabled() && x.requires_grad();
  Tensor y;
  {
    at::NoGradGuard no_grad;  // dense() may copy x: not part of the graph
    y = fused_forward(op, x, p);
  }
  if (record) {
    auto node = c10::make_intrusive<FusedBackward>();
    node->set_next_edges(torch::autograd::collect_next_edges(x));
    node->op = std::move(op);
    node->p = p.vec();
    node->x_ = torch::autograd::SavedVariable(x, /*is_output=*/false);
    torch::autograd::create_gradient_edge(y, node);
  }
  return y;
}
Tensor forward_op(const Tensor& x, c10::string_view name, c10::ArrayRef<double> p) {
  return fused_forward(std::string(name), x, p);
}
Tensor backward_op(const Tensor& g, const Tensor& x, c10::string_view name, c10::ArrayRef<double> p) {
  return fused_backward(std::string(name), g, x, p);
}

int64_t lanes() { return Vec<float>::size(); }
// Outputs of at least this many bytes are written with streaming stores (-1: never); returns the old value.
int64_t set_stream_threshold(int64_t bytes) { return stream_threshold.exchange(bytes < 0 ? -1 : bytes); }

}  // namespace

TORCH_LIBRARY(actlab_fused, m) {
  m.def("apply(Tensor x, str name, float[] p) -> Tensor", &apply);
  m.def("forward(Tensor x, str name, float[] p) -> Tensor", &forward_op);  // the kernels alone, no autograd
  m.def("backward(Tensor grad, Tensor x, str name, float[] p) -> Tensor", &backward_op);
  m.def("lanes() -> int", &lanes);
  m.def("set_stream_threshold(int bytes) -> int", &set_stream_threshold);
}
