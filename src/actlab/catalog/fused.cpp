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
// a better one is also faster or as fast (GELU's Phi from one exponential in float32 and its pieces in float16 and
// bfloat16, GELU-tanh's forward: see there); tests/test_catalog_verify.py checks each is no less accurate than
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

// value(i, count, full) computes the vector at i, put(i, v, count, full) stores it. `full` is std::true_type
// for a whole vector (plain loads and stores; a masked load with a run-time count costs the cheap ops 3-4%),
// std::false_type for the tail (count lanes). Two vectors per step, both loaded and computed before either
// is stored: the compiler may not move the second vector's loads above the first one's store (the output
// might alias the input), so storing in between kept their arithmetic from overlapping; and on AVX2 the two
// are the halves of one 64-byte line, which a streaming store then fills at once (stored a computation
// apart, the half-written lines made a compute-bound op's streamed forward, SiLU's, far slower than its
// plain one).
template <typename T, typename V, typename P>
ACTLAB_INLINE void each_vector(int64_t begin, int64_t end, const V& value, const P& put) {
  const int64_t S = Vec<T>::size();
  int64_t i = begin;
  for (; i + 2 * S <= end; i += 2 * S) {
    const auto a = value(i, S, std::true_type{});
    const auto b = value(i + S, S, std::true_type{});
    put(i, a, S, std::true_type{});
    put(i + S, b, S, std::true_type{});
  }
  for (; i + S <= end; i += S) put(i, value(i, S, std::true_type{}), S, std::true_type{});
  if (i < end) put(i, value(i, end - i, std::false_type{}), end - i, std::false_type{});
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
// Whether a forward pass may stream its output: only where autograd records a backward (apply sets it per
// call, in the calling thread, which decides before the parallel region). Forward only (inference) the
// output is written with ordinary stores: in a loop of calls on 16 MiB (input and output together the size
// of the last-level cache) they leave part of it in cache for the next write, and streaming cost Hard-Swish
// 1.28x PyTorch's op at two threads against 1.03x without (bench_activations, 2026-11-30); in training,
// where the backward's reads push the output out anyway, streaming both passes reads 0.80-0.94x against
// 1.00-1.09x without (that evening, the clips, shrinks and Hard-Swish).
thread_local bool forward_may_stream = true;
struct ForwardStreams {
  bool before;
  explicit ForwardStreams(bool on) : before(forward_may_stream) { forward_may_stream = on; }
  ~ForwardStreams() { forward_may_stream = before; }
};
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

// out[i] = value(i, ...) over [b, e), with streaming stores (and a fence at the end) or plain ones.
template <typename S, typename V>
ACTLAB_INLINE void write_block(int64_t b, int64_t e, bool stream, S* out, const V& value) {
  const auto pass = [&](auto streamed) ACTLAB_INLINE_LAMBDA {
    each_vector<S>(b, e, value, [&](int64_t i, const Vec<S>& v, int64_t c, auto full) ACTLAB_INLINE_LAMBDA {
      put<S, decltype(streamed)::value>(v, out + i, c, full);
    });
  };
  if (stream) {
    pass(std::true_type{});
    fence_streams();
  } else {
    pass(std::false_type{});
  }
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

// Two float32 vectors rounded to one float16 or bfloat16 vector (round to nearest even). bfloat16 with
// AVX512-BF16's VCVTNE2PS2BF16 where the build has it (fused.py adds -mavx512bf16 where the CPU does): one
// instruction in place of ATen's dozen, the same rounding, except that it flushes subnormal inputs to zero,
// so a vector with a subnormal lane takes ATen's conversion.
template <typename S>
ACTLAB_INLINE Vec<S> from_float(const Vec<float>& a, const Vec<float>& b) {
#if defined(CPU_CAPABILITY_AVX512) && defined(__AVX512BF16__)
  if constexpr (std::is_same_v<S, c10::BFloat16>) {
    constexpr int kSubnormal = 0x20;  // VFPCLASSPS category: denormal
    if ((_mm512_fpclass_ps_mask(a, kSubnormal) | _mm512_fpclass_ps_mask(b, kSubnormal)) == 0)
      return Vec<S>((__m512i)_mm512_cvtne2ps_pbh(b, a));  // a in the low half
  }
#endif
  return at::vec::convert_from_float<S>(a, b);
}

// f on one stored vector: directly for float and double; for float16 and bfloat16 on its two float32
// halves, rounded once on the store (as PyTorch's half kernels compute).
template <typename S, typename F>
ACTLAB_INLINE Vec<S> on_vector(const Vec<S>& v, const F& f) {
  if constexpr (std::is_same_v<S, float> || std::is_same_v<S, double>) {
    return f(v);
  } else {
    auto [lo, hi] = at::vec::convert_to_float<S>(v);
    return from_float<S>(f(lo), f(hi));
  }
}
template <typename S, typename F>
ACTLAB_INLINE Vec<S> grad_on_vector(const Vec<S>& g, const Vec<S>& v, const F& df) {
  if constexpr (std::is_same_v<S, float> || std::is_same_v<S, double>) {
    return g * df(v);
  } else {
    auto [x0, x1] = at::vec::convert_to_float<S>(v);
    auto [g0, g1] = at::vec::convert_to_float<S>(g);
    return from_float<S>(g0 * df(x0), g1 * df(x1));
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
    const bool stream = can_stream<S>() && forward_may_stream && stream_for(y.nbytes());
    each_block(x.numel(), [&](int64_t b, int64_t e) {
      // Copies local to the block: reached through the parallel region's captures, f's constants and
      // the pointers would be reloaded from memory after every store (which might alias them).
      const F fl = f;
      const S* const xp = xp0;
      S* const yp = yp0;
      write_block<S>(b, e, stream, yp, [&](int64_t i, int64_t c, auto full) ACTLAB_INLINE_LAMBDA {
        return on_vector<S>(load(xp + i, c, full), fl);
      });
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
      write_block<S>(b, e, stream, op, [&](int64_t i, int64_t c, auto full) ACTLAB_INLINE_LAMBDA {
        return grad_on_vector<S>(load(gp + i, c, full), load(xp + i, c, full), dfl);
      });
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
// reduction by ln 2 in two parts, then a polynomial for e^r on |r| <= ln2/2; Shibata and Petrogalli,
// "SLEEF", IEEE TPDS 2020), with 2^n applied by VSCALEFPS, which overflows to inf and underflows gradually
// to 0 by itself, and e^r summed as 1 + (r + r^2 u(r)) so that 1 + ... rounds once: at most 1 ulp
// (tests/test_fused.py checks it against float64 over the whole range). u has degree 4, one less than
// Sleef's (tools/fit_exp_f32.py: within 3e-9 of e^r before the rounding, 0.84 ulp after it).
// exp_small takes |x| <= 104 in float32, 746 in float64 (or NaN); exp_of any x; exp_small_lo(x, lo) is
// e^(x + lo) for a correction lo below x's last bit (it joins the reduced argument). AVX2 and float64
// below; the generic build: ATen's.
template <typename T>
ACTLAB_INLINE Vec<T> exp_of(const Vec<T>& x) {
  return x.exp();
}
template <typename T>
ACTLAB_INLINE Vec<T> exp_small(const Vec<T>& x) {
  return x.exp();
}
template <typename T>
ACTLAB_INLINE Vec<T> exp_small_lo(const Vec<T>& x, const Vec<T>& lo) {
  const Vec<T> e = x.exp();
  return at::vec::fmadd(e, lo, e);  // e^x (1 + lo)
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
// e^r = 1 + (r + r^2 u(r)) on |r| <= ln2/2 (tools/fit_exp_f32.py); one rounding at the end.
// The intrinsics are passed in, so AVX-512 and AVX2 share it.
template <typename V>
ACTLAB_INLINE V exp_poly_f32(V r, V (*fma)(V, V, V), V (*mul)(V, V), V (*add)(V, V), V (*set)(float)) {
  V u = set(0.00138145627f);
  u = fma(u, r, set(0.00836870819f));
  u = fma(u, r, set(0.041668389f));
  u = fma(u, r, set(0.166665211f));
  u = fma(u, r, set(0.49999994f));
  return add(fma(mul(r, r), u, r), set(1.f));
}
#if defined(CPU_CAPABILITY_AVX512)
template <bool kLo>
ACTLAB_INLINE __m512 exp512(__m512 x, __m512 lo) {
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.442695040888963407359924681001892137f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);  // x - n ln2, ln2 in two parts
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187045e-06f), r);
  if constexpr (kLo) r = _mm512_add_ps(r, lo);
  const __m512 u = exp_poly_f32<__m512>(r, _mm512_fmadd_ps, _mm512_mul_ps, _mm512_add_ps, _mm512_set1_ps);
  return _mm512_scalef_ps(u, n);
}
template <>
ACTLAB_INLINE Vec<float> exp_small<float>(const Vec<float>& x) {
  return Vec<float>(exp512<false>(x, x));
}
template <>
ACTLAB_INLINE Vec<float> exp_small_lo<float>(const Vec<float>& x, const Vec<float>& lo) {
  return Vec<float>(exp512<true>(x, lo));
}
#elif defined(CPU_CAPABILITY_AVX2)
// The same on AVX2, which has no VSCALEFPS: 2^n (|n| <= 150) as two normal powers of two, 2^(n - n/2) and
// 2^(n/2), built in the exponent field; (u 2^a) is exact and the second product rounds once, also into
// the subnormals, and overflows to inf as a product does.
template <bool kLo>
ACTLAB_INLINE __m256 exp256(__m256 x, __m256 lo) {
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.442695040888963407359924681001892137f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428606765330187045e-06f), r);
  if constexpr (kLo) r = _mm256_add_ps(r, lo);
  const __m256 u = exp_poly_f32<__m256>(r, _mm256_fmadd_ps, _mm256_mul_ps, _mm256_add_ps, _mm256_set1_ps);
  const __m256i ni = _mm256_cvtps_epi32(n);
  const __m256i half = _mm256_srai_epi32(ni, 1);
  const __m256i rest = _mm256_sub_epi32(ni, half);
  const __m256i bias = _mm256_set1_epi32(127);
  const __m256 a = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(rest, bias), 23));
  const __m256 b = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(half, bias), 23));
  return _mm256_mul_ps(_mm256_mul_ps(u, a), b);
}
template <>
ACTLAB_INLINE Vec<float> exp_small<float>(const Vec<float>& x) {
  return Vec<float>(exp256<false>(x, x));
}
template <>
ACTLAB_INLINE Vec<float> exp_small_lo<float>(const Vec<float>& x, const Vec<float>& lo) {
  return Vec<float>(exp256<true>(x, lo));
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
  const Vec<T> l((T)l_), ml((T)-l_), zero(0);
  if (soft) {
    // x - clip(x, -l, l): x - l above l, x + l below -l, x - x = +0 between (three operations where two
    // selects and a NaN test cost seven); clamp passes NaN on, and x - NaN is NaN.
    return map_x<T>(x, [=](const Vec<T>& v) ACTLAB_INLINE_LAMBDA { return v - at::vec::clamp(v, ml, l); });
  }
  return map_x<T>(x, [=](const Vec<T>& v) ACTLAB_INLINE_LAMBDA { return where(v.abs() <= l, zero, v); });  // NaN fails <=: kept
}
template <typename T>
Tensor shrink_backward(const Tensor& g, const Tensor& x, double l_) {
  const Vec<T> l((T)l_), one(1);
  return map_grad_x<T>(g, x, [=](const Vec<T>& v) ACTLAB_INLINE_LAMBDA { return keep_nan(v, (v.abs() > l) & one); });
}

// GELU (erf): x Phi(x), f' = Phi(x) + x phi(x), with x as a factor clamped to +-max: at -inf the gate is
// exactly 0 (and phi at +-inf), so the value is the limit, not inf * 0. gauss(x) gives Phi(x) and phi(x).
// float64: ATen's (Sleef's) erf, PyTorch's formula, Phi = (1 + erf(x/sqrt 2))/2, and phi from e^(-x^2/2).
// float32: both from one exponential, by the same formula on every lane (an element's value never depends
// on its neighbours, and the cost never on the input's spread):
//   a = min(|x|, 14.4), e = e^(-a^2/2), Phi(-a) = e m(a), Phi(x) = Phi(-a) for x < 0 and 1 - Phi(-a) otherwise,
//   phi(x) = e / sqrt(2 pi),
// with m(a) = e^(a^2/2) Phi(-a) = erfcx(a/sqrt 2)/2, smooth and bounded on [0, inf), a rational function of
// degree 4 over 5 fitted by tools/fit_gauss_mills.py (relative error 6e-9; 3.1e-7 evaluated in float32,
// against scipy's erfcx). -a^2/2 = a (-a/2) is split exactly in two (an fma), the low part joining e^x's
// reduced argument, so e keeps its relative precision and Phi its own down to float32's underflow near
// x = -14. From a = 14.4 on, e m(a) is below half the least subnormal: Phi is 0 or 1 there, hence the clamp,
// which also keeps inf out (and -a^2/2 within exp_small's range). No 1 + erf, so no cancellation left of 0.
template <typename T>
struct Gauss {
  Vec<T> cdf, pdf;
};
template <typename T>
ACTLAB_INLINE Gauss<T> gauss(const Vec<T>& x) {
  const Vec<T> cdf = Vec<T>((T)0.5) * (Vec<T>(1) + (x * Vec<T>((T)M_SQRT1_2)).erf());
  return {cdf, Vec<T>((T)(M_2_SQRTPI * M_SQRT1_2 * 0.5)) * exp_of<T>(x * x * Vec<T>((T)-0.5))};
}
template <>
ACTLAB_INLINE Gauss<float> gauss<float>(const Vec<float>& x) {
  using V = Vec<float>;
  V a = at::vec::clamp_max(x.abs(), V(14.4f));  // NaN stays NaN; e^(-14.4^2/2) rounds to the least subnormal
  // -a^2/2 = hi + lo exactly
#if defined(CPU_CAPABILITY_AVX512) || defined(CPU_CAPABILITY_AVX2)
  V b = a * V(-0.5f);  // exact
  V hi = a * b;
  V lo = at::vec::fmsub(a, b, hi);  // the product's rounding error, exact
#else
  // The generic build's fmsub may round twice: Dekker's exact product instead, from Veltkamp's split of a
  // into two 12-bit halves whose products are exact (a <= 14.4: no overflow in the split).
  V a2 = a * a;
  V c = a * V(4097.f);
  V h = c - (c - a);
  V t = a - h;
  V hi = a2 * V(-0.5f);
  V lo = (((h * h - a2) + V(2.f) * h * t) + t * t) * V(-0.5f);
#endif
  V e = exp_small_lo<float>(hi, lo);  // hi >= -103.7: within exp_small's range
  V n(0.00415322371f);
  n = at::vec::fmadd(n, a, V(0.0408810936f));
  n = at::vec::fmadd(n, a, V(0.183969036f));
  n = at::vec::fmadd(n, a, V(0.439283311f));
  n = at::vec::fmadd(n, a, V(0.5f));
  V d(0.0104104765f);
  d = at::vec::fmadd(d, a, V(0.102479823f));
  d = at::vec::fmadd(d, a, V(0.471408427f));
  d = at::vec::fmadd(d, a, V(1.20554793f));
  d = at::vec::fmadd(d, a, V(1.67645156f));
  d = at::vec::fmadd(d, a, V(1.f));  // >= 1: never 0
  V q = e * (n / d);  // Phi(-a). A division: the divider, not the multiply-add units that the rest keeps busy
  return {where(x < V(0.f), q, V(1.f) - q), e * V(0.3989422804014327f)};  // NaN: 1 - NaN
}

// GELU for float16 and bfloat16 storage on AVX-512: computed in float32 and rounded to 8 or 11 bits, Phi
// and GELU' need not cost an exponential and a rational function. On x in [-3, 5) each comes from 32 polynomials of
// degree 4, one per interval of 1/4 (u = 4x + 12, i = floor(u), r = u - i - 1/2), the interval's
// coefficients picked per lane by VPERMT2PS from two registers. Fitted by tools/fit_gelu_pieces.py (scipy's
// ndtr the reference): Phi within 1.2e-6 relative, GELU' within 1.7e-6 relative (1.7e-8 absolute near its
// zero at -0.75), far below half a float16 ulp (2.4e-4): every finite bfloat16 and float16 input comes
// out correctly rounded (tests/test_fused.py checks all of them). Above 5 the last interval's value at
// r = 1/2 stands (Phi(5) = 1 - 2.9e-7, GELU'(5) = 1 + 7e-6); below -3 the float32 formulas.
#if defined(CPU_CAPABILITY_AVX512)
alignas(64) constexpr float kGeluPieces[2][5][32] = {
    {  // cdf: power 4 down to 0, interval 0 to 31
        {1.5654974e-05f, 2.10323833e-05f, 2.4169587e-05f, 2.18391997e-05f, 1.09011808e-05f, -9.91574871e-06f, -3.81522186e-05f, -6.68856228e-05f, -8.61917943e-05f, -8.68484058e-05f, -6.48313871e-05f, -2.41817816e-05f, 2.37153781e-05f, 6.44978209e-05f, 8.67353956e-05f, 8.63143578e-05f, 6.71861271e-05f, 3.85274216e-05f, 1.0257776e-05f, -1.06679654e-05f, -2.17403376e-05f, -2.4185747e-05f, -2.11192873e-05f, -1.57667546e-05f, -1.04179435e-05f, -6.20206038e-06f, -3.36179937e-06f, -1.6704837e-06f, -7.64510219e-07f, -3.23346285e-07f, -1.26707292e-07f, -4.60934722e-08f},
        {0.000121405777f, 0.000195481378f, 0.000287337723f, 0.000381575373f, 0.00044962918f, 0.000453600194f, 0.000357657642f, 0.000144960752f, -0.000166738915f, -0.000520088535f, -0.000830142235f, -0.00101180223f, -0.001011802f, -0.00083014206f, -0.000520089816f, -0.000166742961f, 0.000144953709f, 0.000357648823f, 0.000453591783f, 0.00044962333f, 0.000381573307f, 0.000287339237f, 0.000195485569f, 0.000121411023f, 6.92949907e-05f, 3.65089109e-05f, 1.78132159e-05f, 8.0679747e-06f, 3.39824032e-06f, 1.3329942e-06f, 4.87506327e-07f, 1.66383828e-07f},
        {0.000574858685f, 0.00104380574f, 0.00176433381f, 0.0027705247f, 0.00403040648f, 0.00541007891f, 0.0066605988f, 0.00744870678f, 0.00743894698f, 0.006409375f, 0.00435769791f, 0.00154629245f, -0.0015461758f, -0.00435761455f, -0.00640934706f, -0.00743897725f, -0.00744878175f, -0.00666069239f, -0.00541016413f, -0.00403046468f, -0.00277054938f, -0.00176432985f, -0.00104378408f, -0.000574830861f, -0.000295140315f, -0.000141443728f, -6.3329222e-05f, -2.65099334e-05f, -1.03813973e-05f, -3.80503479e-06f, -1.30585352e-06f, -4.19771027e-07f},
        {0.00159950904f, 0.00318102771f, 0.00594297191f, 0.0104302708f, 0.0171966311f, 0.0266346652f, 0.0387531817f, 0.052969262f, 0.0680137947f, 0.0820401981f, 0.0929636434f, 0.0989592373f, 0.0989592373f, 0.0929636434f, 0.0820401981f, 0.0680137947f, 0.052969262f, 0.0387531854f, 0.0266346671f, 0.0171966311f, 0.0104302708f, 0.00594297191f, 0.00318102702f, 0.00159950799f, 0.00075554545f, 0.000335265999f, 0.000139756768f, 5.47280833e-05f, 2.01326657e-05f, 6.95737708e-06f, 2.25861709e-06f, 6.88798082e-07f},
        {0.00202013669f, 0.00433244742f, 0.00877447519f, 0.0167933069f, 0.0303963628f, 0.0520812832f, 0.0845657215f, 0.130294517f, 0.190786958f, 0.265985519f, 0.353830218f, 0.450261772f, 0.549738228f, 0.646169782f, 0.734014452f, 0.809213042f, 0.869705498f, 0.915434301f, 0.947918713f, 0.969603658f, 0.983206689f, 0.991225541f, 0.995667577f, 0.997979879f, 0.999110997f, 0.999630928f, 0.999855518f, 0.999946713f, 0.999981463f, 0.99999392f, 0.999998152f, 0.999999464f},
    },
    {  // slope: power 4 down to 0, interval 0 to 31
        {1.35738946e-05f, 5.56207378e-05f, 0.000111662179f, 0.000161884658f, 0.000173555498f, 0.000113902912f, -2.79434698e-05f, -0.000221951384f, -0.000399417884f, -0.000460416341f, -0.00037515341f, -0.000146114631f, 0.000140439923f, 0.000370792404f, 0.000460254261f, 0.000392517337f, 0.000220259637f, 2.77973049e-05f, -0.000113587404f, -0.000173438151f, -0.000162198776f, -0.000112286274f, -5.62845089e-05f, -1.40612001e-05f, 8.91245963e-06f, 1.64135945e-05f, 1.51736831e-05f, 1.08149925e-05f, 6.52758035e-06f, 3.46367688e-06f, 1.64711275e-06f, 7.09982373e-07f},
        {-0.000238930821f, -0.000104386076f, 0.000230650374f, 0.00078657578f, 0.00147655269f, 0.00207763002f, 0.00227374001f, 0.00178503583f, 0.000539905566f, -0.00121151598f, -0.00292896526f, -0.00399359083f, -0.00399356289f, -0.00292889704f, -0.00121162983f, 0.000539434608f, 0.0017850697f, 0.00227376656f, 0.00207764003f, 0.00147655664f, 0.000786584045f, 0.000230665362f, -0.000104368686f, -0.00023891707f, -0.000243165312f, -0.000188514779f, -0.000123525053f, -7.11936882e-05f, -3.68175606e-05f, -1.72832024e-05f, -7.41943586e-06f, -2.92755772e-06f},
        {-0.00245192437f, -0.00301703322f, -0.00289441738f, -0.0014284075f, 0.00195233792f, 0.0073544737f, 0.0140500125f, 0.0203682166f, 0.0240621679f, 0.0231337138f, 0.0168185178f, 0.00616155425f, -0.00616013538f, -0.0168174282f, -0.0231336616f, -0.0240604132f, -0.0203677919f, -0.0140499761f, -0.00735455286f, -0.00195236714f, 0.00142848596f, 0.00289457315f, 0.00301719899f, 0.00245204591f, 0.00170170644f, 0.00104538968f, 0.000578891544f, 0.000292037614f, 0.000135128168f, 5.76144921e-05f, 2.2711376e-05f, 8.29777309e-06f},
        {-0.0100221802f, -0.0155574968f, -0.0216363668f, -0.0262387302f, -0.026063472f, -0.0170623697f, 0.00423930958f, 0.0389000066f, 0.083954908f, 0.132033482f, 0.172853872f, 0.19637154f, 0.196371526f, 0.172853857f, 0.132033497f, 0.0839549974f, 0.0388999991f, 0.00423930492f, -0.0170623716f, -0.0260634739f, -0.026238732f, -0.0216363687f, -0.0155575005f, -0.0100221829f, -0.00586748589f, -0.00314849359f, -0.00155705982f, -0.000712364796f, -0.000302326662f, -0.000119263845f, -4.38002062e-05f, -1.49937487e-05f},
        {-0.0163744614f, -0.0290685333f, -0.0476837941f, -0.0718637928f, -0.0985779092f, -0.121043406f, -0.128576145f, -0.108066723f, -0.0472612269f, 0.0608849265f, 0.214384556f, 0.400782049f, 0.599217892f, 0.785615444f, 0.939115047f, 1.04726112f, 1.10806668f, 1.12857616f, 1.12104344f, 1.09857786f, 1.07186377f, 1.04768384f, 1.02906847f, 1.01637447f, 1.00855553f, 1.00415719f, 1.00188208f, 1.00079501f, 1.00031364f, 1.00011575f, 1.00003994f, 1.00001287f},
    },
};
struct GeluPieces {
  __m512 lo[5], hi[5];  // coefficient k of intervals 0-15 and 16-31
  explicit GeluPieces(int which) {
    for (int k = 0; k < 5; ++k) {
      lo[k] = _mm512_load_ps(kGeluPieces[which][k]);
      hi[k] = _mm512_load_ps(kGeluPieces[which][k] + 16);
    }
  }
};
constexpr int kPiecesCdf = 0, kPiecesSlope = 1;
ACTLAB_INLINE Vec<float> by_pieces(const Vec<float>& x, const GeluPieces& P) {
  __m512 u = _mm512_fmadd_ps(x, _mm512_set1_ps(4.f), _mm512_set1_ps(12.f));
  // Into [0, 32): max and min return their second operand when one is NaN, so NaN stays NaN
  u = _mm512_min_ps(_mm512_set1_ps(31.999998f), _mm512_max_ps(_mm512_setzero_ps(), u));
  const __m512i i = _mm512_cvttps_epi32(u);  // NaN: index 0 (any would do), r NaN
  const __m512 r = _mm512_sub_ps(_mm512_sub_ps(u, _mm512_cvtepi32_ps(i)), _mm512_set1_ps(0.5f));
  __m512 p = _mm512_permutex2var_ps(P.lo[0], i, P.hi[0]);
  for (int k = 1; k < 5; ++k) p = _mm512_fmadd_ps(p, r, _mm512_permutex2var_ps(P.lo[k], i, P.hi[k]));
  return Vec<float>(p);
}
inline bool half_storage(const Tensor& x) {
  return x.scalar_type() == at::kBFloat16 || x.scalar_type() == at::kHalf;
}
#endif

template <typename T>
Tensor gelu_forward(const Tensor& x) {
#if defined(CPU_CAPABILITY_AVX512)
  if constexpr (std::is_same_v<T, float>) {
    if (half_storage(x)) {
      const GeluPieces cdf(kPiecesCdf);
      return map_x<T>(x, [=](const Vec<float>& v) ACTLAB_INLINE_LAMBDA {
        Vec<float> p = by_pieces(v, cdf);
        Vec<float> tail = v < Vec<float>(-3.f);
        if (tail.zero_mask() != (1 << Vec<float>::size()) - 1) p = where(tail, gauss<float>(v).cdf, p);
        return no_neg_inf(v) * p;
      });
    }
  }
#endif
  return map_x<T>(x, [=](const Vec<T>& v) ACTLAB_INLINE_LAMBDA { return no_neg_inf(v) * gauss<T>(v).cdf; });
}
template <typename T>
Tensor gelu_backward(const Tensor& g, const Tensor& x) {
  const auto slope = [=](const Vec<T>& v) ACTLAB_INLINE_LAMBDA {
    const Gauss<T> s = gauss<T>(v);
    return s.cdf + finite(v) * s.pdf;
  };
#if defined(CPU_CAPABILITY_AVX512)
  if constexpr (std::is_same_v<T, float>) {
    if (half_storage(x)) {
      const GeluPieces pieces(kPiecesSlope);
      return map_grad_x<T>(g, x, [=](const Vec<float>& v) ACTLAB_INLINE_LAMBDA {
        Vec<float> tail = v < Vec<float>(-3.f);
        if (tail.zero_mask() != (1 << Vec<float>::size()) - 1) return where(tail, slope(v), by_pieces(v, pieces));
        return by_pieces(v, pieces);
      });
    }
  }
#endif
  return map_grad_x<T>(g, x, slope);
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
#if defined(CPU_CAPABILITY_AVX512)
// Hard-Swish's forward with ordinary stores (float32 and float64), in 256-bit vectors on an AVX-512 build.
// Forward only at 16 MiB (inference), the 512-bit loop took 1.02-1.05x the time of PyTorch's x * 2, and
// 1.14x PyTorch's hardswish, which takes 0.89x (PyTorch runs AVX2 code for most CPU kernels); our AVX2
// build took 0.875x, while hardtanh took the same in both builds (one-off, 2026-11-30). With this loop the
// benchmark reads 1.00-1.01x at one and two threads (BENCHMARKS.md, guard). The same operations in the same
// order as the Vec code below, so the same values; NaN comes out NaN by the operand order (MAXPS and MINPS
// return their second operand when either is NaN: the gate keeps x's NaN, and the factor's max with -max
// only removes -inf). Outputs that stream (training, past the threshold) keep the 512-bit loop.
Tensor hardswish_forward_256(const Tensor& x_) {
  Tensor x = dense(x_);
  Tensor y = empty_as(x);
  const float* xp0 = x.const_data_ptr<float>();
  float* yp0 = y.mutable_data_ptr<float>();
  each_block(x.numel(), [&](int64_t b, int64_t e) {
    const float* const xp = xp0;
    float* const yp = yp0;
    const __m256 three = _mm256_set1_ps(3.0f), six = _mm256_set1_ps(6.0f), zero = _mm256_setzero_ps();
    const __m256 sixth = _mm256_set1_ps((float)(1.0 / 6.0)), lowest = _mm256_set1_ps(-std::numeric_limits<float>::max());
    const auto f = [&](__m256 v) ACTLAB_INLINE_LAMBDA {
      const __m256 gate = _mm256_min_ps(six, _mm256_max_ps(zero, _mm256_add_ps(v, three)));
      return _mm256_mul_ps(_mm256_max_ps(v, lowest), _mm256_mul_ps(gate, sixth));
    };
    int64_t i = b;
    for (; i + 16 <= e; i += 16) {
      const __m256 a = f(_mm256_loadu_ps(xp + i)), c = f(_mm256_loadu_ps(xp + i + 8));
      _mm256_storeu_ps(yp + i, a);
      _mm256_storeu_ps(yp + i + 8, c);
    }
    for (; i + 8 <= e; i += 8) _mm256_storeu_ps(yp + i, f(_mm256_loadu_ps(xp + i)));
    if (i < e) {
      const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(e - i)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
      _mm256_maskstore_ps(yp + i, mask, f(_mm256_maskload_ps(xp + i, mask)));
    }
  });
  return y;
}
// The same for float64, four lanes a vector (float64 at one thread read 1.12x PyTorch's op in the 512-bit loop).
Tensor hardswish_forward_256d(const Tensor& x_) {
  Tensor x = dense(x_);
  Tensor y = empty_as(x);
  const double* xp0 = x.const_data_ptr<double>();
  double* yp0 = y.mutable_data_ptr<double>();
  each_block(x.numel(), [&](int64_t b, int64_t e) {
    const double* const xp = xp0;
    double* const yp = yp0;
    const __m256d three = _mm256_set1_pd(3.0), six = _mm256_set1_pd(6.0), zero = _mm256_setzero_pd();
    const __m256d sixth = _mm256_set1_pd(1.0 / 6.0), lowest = _mm256_set1_pd(-std::numeric_limits<double>::max());
    const auto f = [&](__m256d v) ACTLAB_INLINE_LAMBDA {
      const __m256d gate = _mm256_min_pd(six, _mm256_max_pd(zero, _mm256_add_pd(v, three)));
      return _mm256_mul_pd(_mm256_max_pd(v, lowest), _mm256_mul_pd(gate, sixth));
    };
    int64_t i = b;
    for (; i + 8 <= e; i += 8) {
      const __m256d a = f(_mm256_loadu_pd(xp + i)), c = f(_mm256_loadu_pd(xp + i + 4));
      _mm256_storeu_pd(yp + i, a);
      _mm256_storeu_pd(yp + i + 4, c);
    }
    for (; i + 4 <= e; i += 4) _mm256_storeu_pd(yp + i, f(_mm256_loadu_pd(xp + i)));
    if (i < e) {
      const __m256i mask = _mm256_cmpgt_epi64(_mm256_set1_epi64x(e - i), _mm256_setr_epi64x(0, 1, 2, 3));
      _mm256_maskstore_pd(yp + i, mask, f(_mm256_maskload_pd(xp + i, mask)));
    }
  });
  return y;
}
#endif

template <typename T>
Tensor hardswish_forward(const Tensor& x) {
#if defined(CPU_CAPABILITY_AVX512)
  if (!(forward_may_stream && stream_for(x.nbytes()))) {
    if constexpr (std::is_same_v<T, float>) {
      if (x.scalar_type() == at::kFloat) return hardswish_forward_256(x);
    } else {
      return hardswish_forward_256d(x);
    }
  }
#endif
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
    ForwardStreams streams(record);  // inference: ordinary stores (see forward_may_stream)
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

// The kernel as a Python callable, where the build found Python's headers (catalog/fused.py defines
// ACTLAB_PYTHON then): `Kernel(name, p)(x)` is `torch.ops.actlab_fused.apply(x, name, p)` without the
// dispatcher's per-call parsing of a schema's arguments into a boxed stack (about 1 us a call, as much as a
// small tensor's whole op). It takes plain torch.Tensors only; fused.py sends subclasses, whose
// __torch_function__ the dispatcher honours, through the op. The GIL is released while it runs, as for
// PyTorch's own ops.
//
// `Kernel.fast(x)` is the module's whole eager decision in one call: the output the module's Python path
// would give, where that path would call the kernel or PyTorch's op unread, else None, and the Python path
// decides (and tells the Kernel with `route(x, use_kernel)`). It answers None unless x is exactly a
// torch.Tensor (not a subclass, not a Parameter) of a kernel dtype, dense, on the CPU, with no torch.func
// transform and no forward-mode AD level open, and unless Python has routed this dtype, differentiated or
// not: to the kernel, or to PyTorch's op (native_forward: ELU's forward in inference, where the run-time
// probe finds the op exact without reading x and the op is the faster at 16 MiB). The checks that
// Python made one attribute at a time cost about 20 us a call when the interpreter's and torch's data are
// out of cache (after a large layer), a few hundred ns when in cache. torch.compile is checked in Python
// before the call (Dynamo must see the check; it never traces the call).
#ifdef ACTLAB_PYTHON
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/csrc/autograd/forward_grad.h>
#include <torch/csrc/autograd/python_variable.h>
#include <torch/csrc/utils/pybind.h>

#include <array>

namespace {
// The kernel dtypes, in catalog/fused.py's DTYPES order; -1 for any other.
int dtype_slot(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return 0;
    case at::kDouble: return 1;
    case at::kBFloat16: return 2;
    case at::kHalf: return 3;
    default: return -1;
  }
}

struct Kernel {
  std::string name;
  std::vector<double> p;
  // Per dtype slot and whether autograd differentiates the call: 0 not known yet, 1 the kernel, 2 PyTorch's op.
  std::array<std::array<uint8_t, 2>, 4> routes{};
};

// The route slot of x for `fast` (dtype, differentiated), or nullptr where `fast` never calls the kernel.
uint8_t* route_of(Kernel& k, PyObject* obj) {
  if (Py_TYPE(obj) != reinterpret_cast<PyTypeObject*>(THPVariableClass)) return nullptr;
  const Tensor& x = THPVariable_Unpack(obj);
  const int slot = dtype_slot(x.scalar_type());
  if (slot < 0 || !x.is_cpu() || x.layout() != at::kStrided) return nullptr;
  return &k.routes[slot][at::GradMode::is_enabled() && x.requires_grad()];
}

// A torch.func transform (vmap, grad, jvp, ...) is open: functorch includes its front-mode key in the thread's
// dispatch keys while its layer stack is not empty (ATen/functorch/DynamicLayer.h, which is not installable
// without nlohmann/json; torch._C._functorch.peek_interpreter_stack() in Python).
bool functorch_layer_open() {
  return c10::impl::tls_is_dispatch_key_included(c10::DispatchKey::FuncTorchDynamicLayerFrontMode);
}

pybind11::object fast(Kernel& k, pybind11::handle obj) {
  const uint8_t* route = route_of(k, obj.ptr());
  if (route == nullptr || *route == 0 || functorch_layer_open() ||
      torch::autograd::ForwardADLevel::try_get_by_idx(0) != nullptr)
    return pybind11::none();
  const Tensor& x = THPVariable_Unpack(obj.ptr());
  Tensor y;
  {
    pybind11::gil_scoped_release no_gil;
    y = *route == 1 ? apply(x, k.name, k.p) : native_forward(k.name, x, k.p);
  }
  return pybind11::reinterpret_steal<pybind11::object>(THPVariable_Wrap(std::move(y)));
}
}  // namespace

PYBIND11_MODULE(libactlab_fused, m) {
  pybind11::class_<Kernel>(m, "Kernel")
      .def(pybind11::init([](std::string name, std::vector<double> p) {
             check_params(name, p);
             return Kernel{std::move(name), std::move(p), {}};
           }),
           pybind11::arg("name"), pybind11::arg("p"))
      .def("__call__", [](const Kernel& k, const Tensor& x) { return apply(x, k.name, k.p); },
           pybind11::arg("x"), pybind11::call_guard<pybind11::gil_scoped_release>())
      .def("fast", &fast, pybind11::arg("x"))
      .def("route",
           [](Kernel& k, pybind11::handle x, bool use_kernel) {
             uint8_t* route = route_of(k, x.ptr());
             if (route != nullptr) *route = use_kernel ? 1 : 2;
             return route != nullptr;
           },
           pybind11::arg("x"), pybind11::arg("use_kernel"))
      .def_readonly("name", &Kernel::name)
      .def_readonly("p", &Kernel::p);
}
#endif
