/* The dot products of both decoding kernels (decode.c for the GPT, llama_decode.c for the
 * Llama), included by each: float32 and bfloat16 weights times a float32 vector, and
 * bfloat16 pairs. core/model/kernels/build.py hashes this file into both libraries' cache
 * keys, so a change here rebuilds both.
 */
#ifndef GLASSBOX_DOT_H
#define GLASSBOX_DOT_H
#include <stdint.h>
#include <string.h>

static inline float bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* float32 -> bfloat16, rounded to nearest even (NaN kept a NaN), as torch's .to() rounds. */
static inline uint16_t f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

#if defined(__AVX512F__)
#include <immintrin.h>
/* AVX-512: four independent 16-lane sums (64 weights per iteration) keep the fused
 * multiply-adds from waiting on each other; a bfloat16 weight becomes a float32 by
 * zero-extending to 32 bits and shifting left by 16. About 1.6x the compiler's own
 * vectorisation of the loops below for bfloat16 weights in cache, 1.1x from memory. */
static inline __m512 widen_bf16(const uint16_t *p) {
    __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
}

#define GLASSBOX_DOT(NAME, WTYPE, LOAD, SCALAR)                                             \
    static inline float NAME(const WTYPE *restrict w, const float *restrict v, int64_t n) { \
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();                          \
        __m512 a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();                          \
        int64_t i = 0;                                                                      \
        for (; i + 64 <= n; i += 64) {                                                      \
            a0 = _mm512_fmadd_ps(LOAD(w + i), _mm512_loadu_ps(v + i), a0);                  \
            a1 = _mm512_fmadd_ps(LOAD(w + i + 16), _mm512_loadu_ps(v + i + 16), a1);        \
            a2 = _mm512_fmadd_ps(LOAD(w + i + 32), _mm512_loadu_ps(v + i + 32), a2);        \
            a3 = _mm512_fmadd_ps(LOAD(w + i + 48), _mm512_loadu_ps(v + i + 48), a3);        \
        }                                                                                   \
        for (; i + 16 <= n; i += 16) a0 = _mm512_fmadd_ps(LOAD(w + i), _mm512_loadu_ps(v + i), a0); \
        float acc = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3))); \
        for (; i < n; i++) acc += SCALAR(w[i]) * v[i];                                      \
        return acc;                                                                         \
    }                                                                                       \
    /* The same sum when n is a multiple of 64 (every GPT width here): with no remainder   \
     * loops in the function, GCC 12-14 schedule the loads so that on AMD Zen 5 a float32  \
     * row streams about 1.3x faster when memory is busy (bench/bench_decode.py). */       \
    static inline float NAME##_64(const WTYPE *restrict w, const float *restrict v, int64_t n) { \
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();                          \
        __m512 a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();                          \
        for (int64_t i = 0; i < n; i += 64) {                                               \
            a0 = _mm512_fmadd_ps(LOAD(w + i), _mm512_loadu_ps(v + i), a0);                  \
            a1 = _mm512_fmadd_ps(LOAD(w + i + 16), _mm512_loadu_ps(v + i + 16), a1);        \
            a2 = _mm512_fmadd_ps(LOAD(w + i + 32), _mm512_loadu_ps(v + i + 32), a2);        \
            a3 = _mm512_fmadd_ps(LOAD(w + i + 48), _mm512_loadu_ps(v + i + 48), a3);        \
        }                                                                                   \
        return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3))); \
    }
#define GLASSBOX_IDENTITY(value) (value)
GLASSBOX_DOT(dot_f32, float, _mm512_loadu_ps, GLASSBOX_IDENTITY)
GLASSBOX_DOT(dot_bf16, uint16_t, widen_bf16, bf16_to_f32)
#else
/* Elsewhere: let the compiler vectorise the sums. */
static inline float dot_f32(const float *restrict w, const float *restrict v, int64_t n) {
    float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
    for (int64_t i = 0; i < n; i++) acc += w[i] * v[i];
    return acc;
}

static inline float dot_bf16(const uint16_t *restrict w, const float *restrict v, int64_t n) {
    float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
    for (int64_t i = 0; i < n; i++) acc += bf16_to_f32(w[i]) * v[i];
    return acc;
}
#define dot_f32_64 dot_f32
#define dot_bf16_64 dot_bf16
#endif

#if defined(__AVX512BF16__)
/* AVX512-BF16 (Zen 4 and later, Cooper Lake and later): vdpbf16ps multiplies 32 pairs of
 * bfloat16 values and adds each pair's sum into 16 float32 lanes, one instruction per 64
 * bytes of weights where widening takes three. The vector is rounded to bfloat16 first
 * (to nearest even), as PyTorch's bfloat16 matrix products round their inputs. */
#define GLASSBOX_DPBF16 1
/* v (n values) rounded to bfloat16, to nearest even. */
static inline void round_bf16(const float *restrict v, uint16_t *restrict out, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256bh rounded = _mm512_cvtneps_pbh(_mm512_loadu_ps(v + i));
        _mm256_storeu_si256((__m256i *)(out + i), (__m256i)rounded);
    }
    for (; i < n; i++) out[i] = f32_to_bf16(v[i]);
}

/* Sum of w[i] * v[i] for bfloat16 w and v, accumulated in float32 (a product of two
 * bfloat16 values is exact in float32, so the remainder after the pairs is the same sum). */
static inline float dot_bf16_pairs(const uint16_t *restrict w, const uint16_t *restrict v,
                                   int64_t n) {
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        a0 = _mm512_dpbf16_ps(a0, (__m512bh)_mm512_loadu_si512(w + i),
                              (__m512bh)_mm512_loadu_si512(v + i));
        a1 = _mm512_dpbf16_ps(a1, (__m512bh)_mm512_loadu_si512(w + i + 32),
                              (__m512bh)_mm512_loadu_si512(v + i + 32));
    }
    for (; i + 32 <= n; i += 32)
        a0 = _mm512_dpbf16_ps(a0, (__m512bh)_mm512_loadu_si512(w + i),
                              (__m512bh)_mm512_loadu_si512(v + i));
    float acc = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
    for (; i < n; i++) acc += bf16_to_f32(w[i]) * bf16_to_f32(v[i]);
    return acc;
}
#else
#define GLASSBOX_DPBF16 0
static inline void round_bf16(const float *v, uint16_t *out, int64_t n) {
    (void)v, (void)out, (void)n;
}
static inline float dot_bf16_pairs(const uint16_t *w, const uint16_t *v, int64_t n) {
    (void)w, (void)v, (void)n;
    return 0.0f;
}
#endif

#endif /* GLASSBOX_DOT_H */
