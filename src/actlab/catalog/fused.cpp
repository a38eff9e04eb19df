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
#include <torch/library.h>

#include <cmath>
#include <type_traits>
#include <limits>
#include <vector>

namespace {

using at::Tensor;
template <typename T>
using Vec = at::vec::Vectorized<T>;

// ---------------------------------------------------------------------------
// One pass over x (and grad), the tail through the same vector code.
// ---------------------------------------------------------------------------
// Blocks of BLOCK elements (L1-sized), each split by each_vector.
constexpr int64_t BLOCK = 2048;

// step(i, count, full): `full` is std::true_type for a whole vector (plain loads and stores; a masked
// load with a run-time count costs the cheap ops 3-4%), std::false_type for the tail (count lanes).
template <typename T, typename F>
void each_vector(int64_t begin, int64_t end, const F& step) {
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
Vec<T> load(const T* p, int64_t count, Full) {
  if constexpr (Full::value) return Vec<T>::loadu(p);
  else return Vec<T>::loadu(p, count);
}
template <typename T, typename Full>
void store(const Vec<T>& v, T* p, int64_t count, Full) {
  if constexpr (Full::value) v.store(p);
  else v.store(p, count);
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

// f on one stored vector: directly for float and double; for float16 and bfloat16 on its two float32
// halves, rounded once on the store (as PyTorch's half kernels compute).
template <typename S, typename F>
Vec<S> on_vector(const Vec<S>& v, const F& f) {
  if constexpr (std::is_same_v<S, float> || std::is_same_v<S, double>) {
    return f(v);
  } else {
    auto [lo, hi] = at::vec::convert_to_float<S>(v);
    return at::vec::convert_from_float<S>(f(lo), f(hi));
  }
}
template <typename S, typename F>
Vec<S> grad_on_vector(const Vec<S>& g, const Vec<S>& v, const F& df) {
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
  Tensor y = at::empty_like(x);  // the same strides: x's and y's elements pair up in memory order
  return by_storage<T>(x, [&](auto storage) {
    using S = typename decltype(storage)::type;
    const S* xp = x.const_data_ptr<S>();
    S* yp = y.mutable_data_ptr<S>();
    each_block(x.numel(), [&](int64_t b, int64_t e) {
      each_vector<S>(b, e, [&](int64_t i, int64_t c, auto full) {
        store(on_vector<S>(load(xp + i, c, full), f), yp + i, c, full);
      });
    });
    return y;
  });
}

// grad * f'(x), the same way (a gradient with other strides than x is copied to x's first).
template <typename T, typename F>
Tensor map_grad_x(const Tensor& g_, const Tensor& x_, const F& df) {
  Tensor x = dense(x_);
  Tensor g = g_.strides() == x.strides() ? g_ : at::empty_like(x).copy_(g_);
  Tensor out = at::empty_like(x);
  return by_storage<T>(x, [&](auto storage) {
    using S = typename decltype(storage)::type;
    const S* xp = x.const_data_ptr<S>();
    const S* gp = g.const_data_ptr<S>();
    S* op = out.mutable_data_ptr<S>();
    each_block(x.numel(), [&](int64_t b, int64_t e) {
      each_vector<S>(b, e, [&](int64_t i, int64_t c, auto full) {
        store(grad_on_vector<S>(load(gp + i, c, full), load(xp + i, c, full), df), op + i, c, full);
      });
    });
    return out;
  });
}

// Lane helpers. Comparisons give all-ones or all-zeros lanes; "& one" turns them into 1 or 0.
// v where mask is set, else w
template <typename T>
Vec<T> where(const Vec<T>& mask, const Vec<T>& v, const Vec<T>& w) {
  return Vec<T>::blendv(w, v, mask);
}
// NaN lanes of x carried into d (the derivative at NaN is NaN)
template <typename T>
Vec<T> keep_nan(const Vec<T>& x, const Vec<T>& d) {
  return where(x.isnan(), x, d);
}
// x with +-inf replaced by +-max (and NaN kept: ATen's clamp passes NaN on every width). Where x only
// multiplies a factor that is exactly 0 at that end, this turns inf * 0 (NaN) into the limit 0.
template <typename T>
Vec<T> finite(const Vec<T>& x) {
  const T big = std::numeric_limits<T>::max();
  return at::vec::clamp(x, Vec<T>(-big), Vec<T>(big));
}
template <typename T>
Vec<T> no_neg_inf(const Vec<T>& x) {
  return at::vec::clamp_min(x, Vec<T>(-std::numeric_limits<T>::max()));
}

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
  return map_x<T>(x, [&](const Vec<T>& v) {
    Vec<T> up = v > zero;
    if (up.zero_mask() == 0) return v * pos;  // every lane positive: no expm1 (as PyTorch's kernel)
    return where(up, v * pos, (v * inp).expm1() * neg);
  });
}
template <typename T>
Tensor elu_backward(const Tensor& g, const Tensor& x, const EluCoef& k) {
  const Vec<T> pos((T)k.pos), slope((T)(k.neg * k.inp)), inp((T)k.inp), zero(0);
  return map_grad_x<T>(g, x, [&](const Vec<T>& v) {
    Vec<T> up = v > zero;
    if (up.zero_mask() == 0) return pos;
    return where(up, pos, (v * inp).exp() * slope);  // exp(-inf) = 0; f'(0) is the left piece, as PyTorch's
  });
}

// hardtanh / ReLU6: clip to [lo, hi]; maximum/minimum propagate NaN. f' = 1 strictly inside, else 0.
template <typename T>
Tensor clip_forward(const Tensor& x, double lo_, double hi_) {
  const Vec<T> lo((T)lo_), hi((T)hi_);
  return map_x<T>(x, [&](const Vec<T>& v) { return at::vec::minimum(at::vec::maximum(v, lo), hi); });
}
template <typename T>
Tensor clip_backward(const Tensor& g, const Tensor& x, double lo_, double hi_) {
  const Vec<T> lo((T)lo_), hi((T)hi_), one(1);
  return map_grad_x<T>(g, x, [&](const Vec<T>& v) { return keep_nan(v, (v > lo) & (v < hi) & one); });
}

// shrinks: 0 inside [-l, l]; hardshrink keeps x outside, softshrink moves it l towards 0. f' = 1 outside.
template <typename T>
Tensor shrink_forward(const Tensor& x, double l_, bool soft) {
  const Vec<T> l((T)l_), zero(0);
  if (soft) {
    return map_x<T>(x, [&](const Vec<T>& v) {
      Vec<T> r = where(v > l, v - l, where(v < -l, v + l, zero));
      return keep_nan(v, r);
    });
  }
  return map_x<T>(x, [&](const Vec<T>& v) { return where(v.abs() <= l, zero, v); });  // NaN fails <=: kept
}
template <typename T>
Tensor shrink_backward(const Tensor& g, const Tensor& x, double l_) {
  const Vec<T> l((T)l_), one(1);
  return map_grad_x<T>(g, x, [&](const Vec<T>& v) { return keep_nan(v, (v.abs() > l) & one); });
}

// GELU (erf): x/2 (1 + erf(x/sqrt 2)), f' = Phi(x) + x phi(x), PyTorch's formulas, with x as a factor
// clamped to +-max: at -inf the gate is exactly 0 (and phi at +-inf), so the value is the limit, not
// inf * 0. erf in float32: a rational approximation without exp for x >= -3 (the coefficients Eigen and
// XLA use for float erf, argument clamped to +-4: within 1e-7 of erf), ATen's erf below -3, which holds
// 1 + erf better in the far left tail; chosen per lane, so an element's value never depends on its
// neighbours (ATen's erf is computed only for vectors with such a lane). float64: ATen's (Sleef's).
template <typename T>
Vec<T> erf_of(const Vec<T>& z, const Vec<T>& x) {
  return z.erf();
}
template <>
Vec<float> erf_of<float>(const Vec<float>& z, const Vec<float>& x) {
  using V = Vec<float>;
  V c = at::vec::clamp(z, V(-4.f), V(4.f));
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
  V r = c * p / q;
  V tail = x < V(-3.f);
  if (tail.zero_mask() == (1 << V::size()) - 1) return r;  // no lane below -3
  return where(tail, z.erf(), r);
}

template <typename T>
Tensor gelu_forward(const Tensor& x) {
  const Vec<T> a((T)M_SQRT1_2), half((T)0.5), one(1);
  return map_x<T>(x, [&](const Vec<T>& v) { return no_neg_inf(v) * half * (one + erf_of<T>(v * a, v)); });
}
template <typename T>
Tensor gelu_backward(const Tensor& g, const Tensor& x) {
  const Vec<T> a((T)M_SQRT1_2), half((T)0.5), one(1), mhalf((T)-0.5);
  const Vec<T> beta((T)(M_2_SQRTPI * M_SQRT1_2 * 0.5));
  return map_grad_x<T>(g, x, [&](const Vec<T>& v) {
    return half * (one + erf_of<T>(v * a, v)) + finite(v) * (beta * (v * v * mhalf).exp());
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
  return map_x<T>(x, [&](const Vec<T>& v) {
    Vec<T> w = m2beta * (v + kappa * (v * v * v));  // -2u
    return no_neg_inf(v) / (one + w.exp());
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
  return map_grad_x<T>(g, x, [&](const Vec<T>& v) {
    Vec<T> c = at::vec::clamp(v, lo, hi);
    Vec<T> sq = c * c;
    Vec<T> e = (m2beta * (c + kappa * (sq * c))).exp();
    Vec<T> s = one / (one + e);
    Vec<T> sm = where(s >= half, e * s, one - s);  // 1 - s
    Vec<T> du2 = twobeta * (one + three_kappa * sq);  // 2u'
    return s + c * du2 * s * sm;
  });
}

// SiLU: x / (1 + exp(-x)), f' = s (1 + x (1 - s)). x clamped to +-max: -max / (1 + inf) = -0 at -inf,
// and x (1 - s) = 0 at +inf and s (...) = 0 at -inf.
template <typename T>
Tensor silu_forward(const Tensor& x) {
  const Vec<T> one(1);
  return map_x<T>(x, [&](const Vec<T>& v) {
    Vec<T> c = no_neg_inf(v);
    return c / (one + c.neg().exp());
  });
}
template <typename T>
Tensor silu_backward(const Tensor& g, const Tensor& x) {
  const Vec<T> one(1);
  return map_grad_x<T>(g, x, [&](const Vec<T>& v) {
    Vec<T> s = one / (one + v.neg().exp());
    return s * at::vec::fmadd(finite(v), one - s, one);  // one fused multiply-add pays for one of the clamp's two
  });
}

// Mish: x tanh(log1p(exp x)); f' = t + x s (1 - t^2), t = tanh(softplus x), s = sigmoid x; x as a
// factor clamped to +-max (t = 0 at -inf, s (1 - t^2) = 0 at +-inf).
template <typename T>
Tensor mish_forward(const Tensor& x) {
  return map_x<T>(x, [&](const Vec<T>& v) { return no_neg_inf(v) * v.exp().log1p().tanh(); });
}
template <typename T>
Tensor mish_backward(const Tensor& g, const Tensor& x) {
  const Vec<T> one(1);
  return map_grad_x<T>(g, x, [&](const Vec<T>& v) {
    Vec<T> s = one / (one + v.neg().exp());
    Vec<T> t = v.exp().log1p().tanh();
    return t + finite(v) * s * (one - t * t);
  });
}

// Hard-Swish: x * (clip(x + 3, 0, 6) * (1/6)). PyTorch's (x * clip) / 6 overflows for x > max/6; scaling
// the gate first does not, and 6 * fl(1/6) rounds to 1 in float32 and float64, so the value is x from
// x = 3 on (and exactly 0 from -3 down). A product instead of a division. x clamped at -max: 0 at -inf.
// f' = 0 up to -3, 1 from 3 on, x/3 + 1/2 between (one fused multiply-add).
template <typename T>
Tensor hardswish_forward(const Tensor& x) {
  const Vec<T> three(3), six(6), zero(0), sixth((T)(1.0 / 6.0));
  return map_x<T>(x, [&](const Vec<T>& v) {
    return no_neg_inf(v) * (at::vec::clamp(v + three, zero, six) * sixth);
  });
}
template <typename T>
Tensor hardswish_backward(const Tensor& g, const Tensor& x) {
  const Vec<T> three(3), third((T)(1.0 / 3.0)), half((T)0.5), one(1), zero(0), mthree(-3);
  return map_grad_x<T>(g, x, [&](const Vec<T>& v) {
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

struct Fused : public torch::autograd::Function<Fused> {
  static Tensor forward(torch::autograd::AutogradContext* ctx, const Tensor& x, std::string name,
                        std::vector<double> p) {
    ctx->save_for_backward({x});
    ctx->saved_data["name"] = name;
    ctx->saved_data["p"] = p;
    return fused_forward(name, x, p);
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    Tensor x = ctx->get_saved_variables()[0];
    std::string name = ctx->saved_data["name"].toStringRef();
    std::vector<double> p = ctx->saved_data["p"].toDoubleVector();
    const Tensor& g = grads[0];
    if (!at::GradMode::is_enabled()) return {fused_backward(name, g, x, p), Tensor(), Tensor()};
    // create_graph: the vector-Jacobian product of PyTorch's op (differentiable again) where it is
    // exact, grad * f'(x) (exact; constant in x) in the other lanes.
    Tensor ok = native_exact(name, x.detach());
    Tensor safe_x = at::where(ok, x, at::zeros_like(x));
    Tensor d;
    {
      at::NoGradGuard no_grad;
      d = fused_backward(name, at::ones_like(x), x.detach(), p);
    }
    Tensor y = native_forward(name, safe_x, p);
    Tensor vjp = torch::autograd::grad({y}, {safe_x}, {g}, /*retain_graph=*/true, /*create_graph=*/true)[0];
    return {at::where(ok, vjp, g * d), Tensor(), Tensor()};
  }
};

Tensor apply(const Tensor& x, c10::string_view name, c10::ArrayRef<double> p) {
  return Fused::apply(x, std::string(name), p.vec());
}
Tensor forward_op(const Tensor& x, c10::string_view name, c10::ArrayRef<double> p) {
  return fused_forward(std::string(name), x, p);
}
Tensor backward_op(const Tensor& g, const Tensor& x, c10::string_view name, c10::ArrayRef<double> p) {
  return fused_backward(std::string(name), g, x, p);
}

int64_t lanes() { return Vec<float>::size(); }

}  // namespace

TORCH_LIBRARY(actlab_fused, m) {
  m.def("apply(Tensor x, str name, float[] p) -> Tensor", &apply);
  m.def("forward(Tensor x, str name, float[] p) -> Tensor", &forward_op);  // the kernels alone, no autograd
  m.def("backward(Tensor grad, Tensor x, str name, float[] p) -> Tensor", &backward_op);
  m.def("lanes() -> int", &lanes);
}
