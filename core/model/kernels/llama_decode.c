/* One decoding step of a Llama on the CPU, built and loaded by core/model/kernels/llama.py.
 *
 * glassbox_llama_decode_token runs a whole token in one call and one OpenMP parallel
 * region: the embedding row, then for every layer
 *   h = RMSNorm(x); q, k, v = Wqkv h; rotate q and k (RoPE); write k, v into the KV cache;
 *   grouped-query attention of each query head over its key/value head's cache -> ctx;
 *   x += Wo ctx; h = RMSNorm(x); f = silu(Wgate h) * (Wup h); x += Wdown f,
 * and finally logits = Whead RMSNorm(x). The threads share out every product by chunks of
 * rows (about 64 KB of weights each, four rows per pass over the vector) and the query
 * heads, with a barrier between dependent steps; before each barrier a thread prefetches
 * the start of the chunk it will probably take next, so the memory stream does not restart
 * cold after every small product (a Llama of SmolLM2's size multiplies 210 matrices of
 * 0.4-3.5 MB each in float32 per token, in 150 steps, then the 113 MB output head).
 *
 * Weights are row-major (out, in), all float32 (bf16 = 0) or all bfloat16 (bf16 = 1), and
 * the KV cache has the weights' dtype; norm weights, rotary tables, activations and sums
 * are float32. With bfloat16 weights on a CPU with AVX512-BF16 each product's vector is
 * rounded to bfloat16 and multiplied in pairs (vdpbf16ps) where its width is a multiple of
 * 64, as PyTorch's bfloat16 products round their inputs; elsewhere the weight is widened to
 * float32 in registers. Compiled with the flags of decode.c (-O3 -march=native -fopenmp);
 * the dot products below are that file's.
 */
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>

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
static inline __m512 widen_bf16(const uint16_t *p) {
    __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
}

/* Four independent 16-lane sums (64 weights per iteration), then the remainder. */
#define LLAMA_DOT(NAME, WTYPE, LOAD, SCALAR)                                                \
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
    }
#define LLAMA_IDENTITY(value) (value)
LLAMA_DOT(dot_f32, float, _mm512_loadu_ps, LLAMA_IDENTITY)
LLAMA_DOT(dot_bf16, uint16_t, widen_bf16, bf16_to_f32)
#else
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
#endif

#if defined(__AVX512BF16__)
#define LLAMA_DPBF16 1
/* v (n values, a multiple of 16) rounded to bfloat16, to nearest even. */
static inline void round_bf16(const float *restrict v, uint16_t *restrict out, int64_t n) {
    for (int64_t i = 0; i < n; i += 16) {
        __m256bh rounded = _mm512_cvtneps_pbh(_mm512_loadu_ps(v + i));
        _mm256_storeu_si256((__m256i *)(out + i), (__m256i)rounded);
    }
}

/* Sum of w[i] * v[i] for bfloat16 w and v, n a multiple of 64, accumulated in float32. */
static inline float dot_bf16_pairs(const uint16_t *restrict w, const uint16_t *restrict v,
                                   int64_t n) {
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 64) {
        a0 = _mm512_dpbf16_ps(a0, (__m512bh)_mm512_loadu_si512(w + i),
                              (__m512bh)_mm512_loadu_si512(v + i));
        a1 = _mm512_dpbf16_ps(a1, (__m512bh)_mm512_loadu_si512(w + i + 32),
                              (__m512bh)_mm512_loadu_si512(v + i + 32));
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}
#else
#define LLAMA_DPBF16 0
static inline void round_bf16(const float *v, uint16_t *out, int64_t n) {
    (void)v, (void)out, (void)n;
}
static inline float dot_bf16_pairs(const uint16_t *w, const uint16_t *v, int64_t n) {
    (void)w, (void)v, (void)n;
    return 0.0f;
}
#endif

/* 1 when bfloat16 products round their vector to bfloat16 (widths that are multiples of
 * 64), 0 when they widen the weights instead. */
int glassbox_llama_bf16_pairs(void) { return LLAMA_DPBF16; }

/* The vector of one product as every row's dot product reads it: float32 v, and (pairs = 1)
 * v rounded to bfloat16 in vb. */
typedef struct {
    const float *v;
    const uint16_t *vb;
    int pairs;
} operand;

/* Prepare v (n values) for products with weights of this dtype; vb has room for n. */
static inline operand make_operand(const float *v, uint16_t *vb, int bf16, int64_t n) {
    operand op = {v, vb, LLAMA_DPBF16 && bf16 && n % 64 == 0};
    if (op.pairs) round_bf16(v, vb, n);
    return op;
}

static inline float row_dot(const void *w, int bf16, int64_t row, operand op, int64_t n) {
    if (op.pairs) return dot_bf16_pairs((const uint16_t *)w + row * n, op.vb, n);
    return bf16 ? dot_bf16((const uint16_t *)w + row * n, op.v, n)
                : dot_f32((const float *)w + row * n, op.v, n);
}

#if defined(__AVX512F__)
/* The sums of four 16-lane vectors, as one 4-lane vector (a, b, c, d). */
static inline __m128 reduce4(__m512 a, __m512 b, __m512 c, __m512 d) {
#define LLAMA_HALVES(v) \
    _mm256_add_ps(_mm512_castps512_ps256(v), \
                  _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)))
    const __m256 ab = _mm256_hadd_ps(LLAMA_HALVES(a), LLAMA_HALVES(b));
    const __m256 cd = _mm256_hadd_ps(LLAMA_HALVES(c), LLAMA_HALVES(d));
    const __m256 abcd = _mm256_hadd_ps(ab, cd); /* a b c d of each 128-bit half */
#undef LLAMA_HALVES
    return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

/* Four rows at once: one load of the vector serves four weight streams, and the four sums
 * are reduced together. Rows of n values, n a multiple of 16 (32 for bf16 pairs). */
#define LLAMA_ROWS4(NAME, WTYPE, VTYPE, STEP, BODY)                                          \
    static inline void NAME(const WTYPE *restrict w, const VTYPE *restrict v, int64_t n,     \
                            float *restrict out) {                                           \
        const WTYPE *w0 = w, *w1 = w + n, *w2 = w + 2 * n, *w3 = w + 3 * n;                   \
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();                           \
        __m512 a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();                           \
        for (int64_t i = 0; i < n; i += STEP) { BODY }                                       \
        _mm_storeu_ps(out, reduce4(a0, a1, a2, a3));                                         \
    }
LLAMA_ROWS4(rows4_f32, float, float, 16, {
    const __m512 x = _mm512_loadu_ps(v + i);
    a0 = _mm512_fmadd_ps(_mm512_loadu_ps(w0 + i), x, a0);
    a1 = _mm512_fmadd_ps(_mm512_loadu_ps(w1 + i), x, a1);
    a2 = _mm512_fmadd_ps(_mm512_loadu_ps(w2 + i), x, a2);
    a3 = _mm512_fmadd_ps(_mm512_loadu_ps(w3 + i), x, a3);
})
LLAMA_ROWS4(rows4_bf16, uint16_t, float, 16, {
    const __m512 x = _mm512_loadu_ps(v + i);
    a0 = _mm512_fmadd_ps(widen_bf16(w0 + i), x, a0);
    a1 = _mm512_fmadd_ps(widen_bf16(w1 + i), x, a1);
    a2 = _mm512_fmadd_ps(widen_bf16(w2 + i), x, a2);
    a3 = _mm512_fmadd_ps(widen_bf16(w3 + i), x, a3);
})
#if defined(__AVX512BF16__)
LLAMA_ROWS4(rows4_bf16_pairs, uint16_t, uint16_t, 32, {
    const __m512bh x = (__m512bh)_mm512_loadu_si512(v + i);
    a0 = _mm512_dpbf16_ps(a0, (__m512bh)_mm512_loadu_si512(w0 + i), x);
    a1 = _mm512_dpbf16_ps(a1, (__m512bh)_mm512_loadu_si512(w1 + i), x);
    a2 = _mm512_dpbf16_ps(a2, (__m512bh)_mm512_loadu_si512(w2 + i), x);
    a3 = _mm512_dpbf16_ps(a3, (__m512bh)_mm512_loadu_si512(w3 + i), x);
})
#endif
#define LLAMA_ROWS4_OK(n) ((n) % 16 == 0)
#else
#define LLAMA_ROWS4_OK(n) 0
static inline void rows4_f32(const float *w, const float *v, int64_t n, float *out) {
    for (int k = 0; k < 4; k++) out[k] = dot_f32(w + k * n, v, n);
}
static inline void rows4_bf16(const uint16_t *w, const float *v, int64_t n, float *out) {
    for (int k = 0; k < 4; k++) out[k] = dot_bf16(w + k * n, v, n);
}
#endif
#if !defined(__AVX512BF16__)
static inline void rows4_bf16_pairs(const uint16_t *w, const uint16_t *v, int64_t n,
                                    float *out) {
    for (int k = 0; k < 4; k++) out[k] = dot_bf16_pairs(w + k * n, v, n);
}
#endif

/* out[r] = row r of w (rows of n values) . v, for r in [lo, hi): four rows at a time
 * where the width allows, then one by one. */
static void matvec_rows(const void *w, int bf16, int64_t lo, int64_t hi, operand op, int64_t n,
                        float *restrict out) {
    int64_t r = lo;
    if (LLAMA_ROWS4_OK(n)) {
        for (; r + 4 <= hi; r += 4) {
            if (op.pairs)
                rows4_bf16_pairs((const uint16_t *)w + r * n, op.vb, n, out + r);
            else if (bf16)
                rows4_bf16((const uint16_t *)w + r * n, op.v, n, out + r);
            else
                rows4_f32((const float *)w + r * n, op.v, n, out + r);
        }
    }
    for (; r < hi; r++) out[r] = row_dot(w, bf16, r, op, n);
}

/* Rows are handed to the threads in chunks of about 64 KB of weights (a multiple of 4
 * rows), each thread taking the next chunk when it is done with its last (an atomic
 * counter: OpenMP's dynamic schedule). On a machine whose cores other processes also use,
 * a thread that is not running holds up the others by one chunk at most, not by its whole
 * share of the matrix. */
static inline int64_t chunk_rows(int64_t cols, int bf16) {
    const int64_t rows = (65536 / (cols * (bf16 ? 2 : 4))) / 4 * 4;
    return rows < 4 ? 4 : rows;
}

static inline int64_t count_chunks(int64_t rows, int64_t per_chunk) {
    return (rows + per_chunk - 1) / per_chunk;
}

/* Ask for the first 16 KB of the chunk this thread probably takes first in a (rows, cols)
 * matrix (the chunk of its own number), so the stream does not start cold after a barrier. */
static inline void prefetch_chunk(const void *w, int bf16, int64_t rows, int64_t cols) {
    const int64_t per_chunk = chunk_rows(cols, bf16), size = bf16 ? 2 : 4;
    const int64_t lo = omp_get_thread_num() * per_chunk;
    if (lo >= rows) return;
    const int64_t hi = lo + per_chunk < rows ? lo + per_chunk : rows;
    const int64_t span = (hi - lo) * cols * size;
    const char *p = (const char *)w + lo * cols * size;
    for (int64_t off = 0; off < span && off < 16384; off += 64) __builtin_prefetch(p + off, 0, 3);
}

/* out = x / sqrt(mean(x^2) + eps) * g, over d values (every thread computes its own). */
static void rms_norm(const float *x, const float *g, float eps, float *out, int64_t d) {
    float sum = 0.0f;
    for (int64_t i = 0; i < d; i++) sum += x[i] * x[i];
    const float inv = 1.0f / sqrtf(sum / (float)d + eps);
    for (int64_t i = 0; i < d; i++) out[i] = x[i] * inv * g[i];
}

static inline float silu(float v) { return v / (1.0f + expf(-v)); }

/* One layer's parameters (ctypes structures of the same fields in llama.py). */
typedef struct {
    const float *attn_norm;   /* (d) */
    const void *w_q;          /* n_head * head_dim rows, d columns */
    const void *w_k, *w_v;    /* n_kv_head * head_dim rows, d columns */
    const void *w_o;          /* d rows, n_head * head_dim columns */
    const float *ffn_norm;    /* (d) */
    const void *w_gate, *w_up; /* hidden rows, d columns */
    const void *w_down;       /* d rows, hidden columns */
} llama_layer;

/* The model's shape and parameters, built once per model and only read. */
typedef struct {
    int64_t n_layer, d, n_head, n_kv_head, head_dim, hidden, vocab, max_len;
    int64_t bf16;             /* 1: weights and KV cache bfloat16; 0: float32 */
    double eps;               /* RMSNorm's epsilon */
    const void *tok_emb;      /* (vocab, d), the weights' dtype */
    const float *norm;        /* final RMSNorm weight (d) */
    const void *w_head;       /* (vocab, d), the weights' dtype (tied: tok_emb) */
    const float *cos;         /* (max_len, head_dim) */
    const float *signed_sin;  /* (max_len, head_dim): sin, the first half negated */
    const llama_layer *layers; /* n_layer of them */
} llama_model;

/* Rotate one head (hd values) in place: x*cos + roll(x, hd/2)*signed_sin, i.e. each pair
 * (x_i, x_{i+hd/2}) turned by its angle (the "rotate half" layout of core/model/llama.py). */
static inline void rope(float *restrict x, const float *restrict cos, const float *restrict ssin,
                        int64_t hd) {
    const int64_t half = hd / 2;
    float rolled[hd];
    for (int64_t i = 0; i < hd; i++) rolled[i] = x[(i + half) % hd];
    for (int64_t i = 0; i < hd; i++) x[i] = x[i] * cos[i] + rolled[i] * ssin[i];
}

static inline float cache_read(const void *cache, int bf16, int64_t i) {
    return bf16 ? bf16_to_f32(((const uint16_t *)cache)[i]) : ((const float *)cache)[i];
}

/* Query head h over positions 0..pos of its key/value head g = h / group:
 * softmax(q.k / sqrt(hd)) weighted sum of v into out (hd). The new token's key and value
 * (key rotated, both rounded to the cache's dtype) come from k_new and v_new, so that the
 * thread writing them into the cache races with nobody; scores has room for pos + 1. */
static void attend(const float *restrict q, const float *restrict k_new,
                   const float *restrict v_new, const void *k_cache, const void *v_cache,
                   int bf16, int64_t pos, int64_t hd, float *restrict scores,
                   float *restrict out) {
    const float scale = 1.0f / sqrtf((float)hd);
    float top = -INFINITY, total = 0.0f;
    for (int64_t t = 0; t <= pos; t++) {
        float s;
        if (t == pos)
            s = dot_f32(k_new, q, hd);
        else if (bf16)
            s = dot_bf16((const uint16_t *)k_cache + t * hd, q, hd);
        else
            s = dot_f32((const float *)k_cache + t * hd, q, hd);
        scores[t] = s * scale;
        if (scores[t] > top) top = scores[t];
    }
    for (int64_t t = 0; t <= pos; t++) {
        scores[t] = expf(scores[t] - top);
        total += scores[t];
    }
    for (int64_t i = 0; i < hd; i++) out[i] = 0.0f;
    for (int64_t t = 0; t <= pos; t++) {
        const float p = scores[t] / total;
        if (t == pos) {
            for (int64_t i = 0; i < hd; i++) out[i] += p * v_new[i];
        } else if (bf16) {
            const uint16_t *value = (const uint16_t *)v_cache + t * hd;
#pragma omp simd
            for (int64_t i = 0; i < hd; i++) out[i] += p * bf16_to_f32(value[i]);
        } else {
            const float *value = (const float *)v_cache + t * hd;
#pragma omp simd
            for (int64_t i = 0; i < hd; i++) out[i] += p * value[i];
        }
    }
}

/* Scratch shared by the threads of one call, and the KV cache of the layer being run. */
typedef struct {
    float *x, *qkv, *ctx, *gate, *up, *f, *tmp, *scores;
    void *k_cache, *v_cache; /* this layer's (n_kv_head, max_len, head_dim) */
    double *profile;         /* NULL, or seconds per phase that thread 0 adds up */
} buffers;

/* Phases of the profile (each up to the end of its barrier, as thread 0 sees it). */
enum { P_QKV, P_ATTENTION, P_O, P_GATE_UP, P_DOWN, P_HEAD, P_COUNT };

static inline void lap(const buffers *B, int phase, double *since) {
    if (!B->profile || omp_get_thread_num() != 0) return;
    const double now = omp_get_wtime();
    B->profile[phase] += now - *since;
    *since = now;
}

/* One layer, run by every thread of the enclosing parallel region; `next` (rows, d) is the
 * matrix read after this layer (the next layer's q, or the head), prefetched. */
static void layer_step(const llama_model *M, const llama_layer *L, const void *next,
                       int64_t next_rows, int64_t pos, buffers B, float *normed, uint16_t *vb,
                       double *since) {
    const int bf16 = (int)M->bf16;
    const int64_t d = M->d, hd = M->head_dim, H = M->n_head, Hkv = M->n_kv_head;
    const int64_t q_rows = H * hd, kv_rows = Hkv * hd, hidden = M->hidden;
    const int64_t group = H / Hkv, max_len = M->max_len;
    const float eps = (float)M->eps;

    /* q, k and v as one product of q_rows + 2 kv_rows rows, split over the threads */
    rms_norm(B.x, L->attn_norm, eps, normed, d);
    operand op = make_operand(normed, vb, bf16, d);
    const void *parts[3] = {L->w_q, L->w_k, L->w_v};
    const int64_t starts[4] = {0, q_rows, q_rows + kv_rows, q_rows + 2 * kv_rows};
    int64_t per = chunk_rows(d, bf16);
#pragma omp for schedule(dynamic, 1) nowait
    for (int64_t c = 0; c < count_chunks(starts[3], per); c++) {
        const int64_t lo = c * per, hi = lo + per < starts[3] ? lo + per : starts[3];
        for (int m = 0; m < 3; m++) { /* the part of q, k or v in this chunk, if any */
            const int64_t a = lo > starts[m] ? lo : starts[m];
            const int64_t b = hi < starts[m + 1] ? hi : starts[m + 1];
            if (a < b)
                matvec_rows(parts[m], bf16, a - starts[m], b - starts[m], op, d,
                            B.qkv + starts[m]);
        }
    }
    prefetch_chunk(L->w_o, bf16, d, q_rows);
#pragma omp barrier
    lap(&B, P_QKV, since);

    const float *cos = M->cos + pos * hd, *ssin = M->signed_sin + pos * hd;
#pragma omp for schedule(dynamic, 1)
    for (int64_t h = 0; h < H; h++) {
        const int64_t g = h / group;
        float q[hd], k[hd], v[hd];
        memcpy(q, B.qkv + h * hd, hd * sizeof(float));
        memcpy(k, B.qkv + q_rows + g * hd, hd * sizeof(float));
        memcpy(v, B.qkv + q_rows + kv_rows + g * hd, hd * sizeof(float));
        rope(q, cos, ssin, hd);
        rope(k, cos, ssin, hd);
        const int64_t at = (g * max_len + pos) * hd; /* this token's row of head g */
        if (bf16) {
            for (int64_t i = 0; i < hd; i++) {
                const uint16_t kb = f32_to_bf16(k[i]), vb16 = f32_to_bf16(v[i]);
                k[i] = bf16_to_f32(kb), v[i] = bf16_to_f32(vb16);
                if (h % group == 0) /* one thread writes each key/value head */
                    ((uint16_t *)B.k_cache)[at + i] = kb, ((uint16_t *)B.v_cache)[at + i] = vb16;
            }
        } else if (h % group == 0) {
            memcpy((float *)B.k_cache + at, k, hd * sizeof(float));
            memcpy((float *)B.v_cache + at, v, hd * sizeof(float));
        }
        const int64_t base = g * max_len * hd;
        const void *keys = bf16 ? (const void *)((const uint16_t *)B.k_cache + base)
                                : (const void *)((const float *)B.k_cache + base);
        const void *values = bf16 ? (const void *)((const uint16_t *)B.v_cache + base)
                                  : (const void *)((const float *)B.v_cache + base);
        attend(q, k, v, keys, values, bf16, pos, hd, B.scores + h * max_len, B.ctx + h * hd);
    } /* the implied barrier: every head's context is written */
    lap(&B, P_ATTENTION, since);

    op = make_operand(B.ctx, vb, bf16, q_rows);
    per = chunk_rows(q_rows, bf16);
#pragma omp for schedule(dynamic, 1) nowait
    for (int64_t c = 0; c < count_chunks(d, per); c++) {
        const int64_t lo = c * per, hi = lo + per < d ? lo + per : d;
        matvec_rows(L->w_o, bf16, lo, hi, op, q_rows, B.tmp);
        for (int64_t r = lo; r < hi; r++) B.x[r] += B.tmp[r];
    }
    prefetch_chunk(L->w_gate, bf16, hidden, d);
#pragma omp barrier
    lap(&B, P_O, since);

    rms_norm(B.x, L->ffn_norm, eps, normed, d);
    op = make_operand(normed, vb, bf16, d);
    per = chunk_rows(2 * d, bf16); /* rows of two matrices in each chunk */
#pragma omp for schedule(dynamic, 1) nowait
    for (int64_t c = 0; c < count_chunks(hidden, per); c++) {
        const int64_t lo = c * per, hi = lo + per < hidden ? lo + per : hidden;
        matvec_rows(L->w_gate, bf16, lo, hi, op, d, B.gate); /* gate row j and up row j */
        matvec_rows(L->w_up, bf16, lo, hi, op, d, B.up);     /* give f[j] */
        for (int64_t j = lo; j < hi; j++) B.f[j] = silu(B.gate[j]) * B.up[j];
    }
    prefetch_chunk(L->w_down, bf16, d, hidden);
#pragma omp barrier
    lap(&B, P_GATE_UP, since);

    op = make_operand(B.f, vb, bf16, hidden);
    per = chunk_rows(hidden, bf16);
#pragma omp for schedule(dynamic, 1) nowait
    for (int64_t c = 0; c < count_chunks(d, per); c++) {
        const int64_t lo = c * per, hi = lo + per < d ? lo + per : d;
        matvec_rows(L->w_down, bf16, lo, hi, op, hidden, B.tmp);
        for (int64_t r = lo; r < hi; r++) B.x[r] += B.tmp[r];
    }
    prefetch_chunk(next, bf16, next_rows, d);
#pragma omp barrier /* the next layer normalises all of x */
    lap(&B, P_DOWN, since);
}

/* Logits (vocab) of `token` at position `pos`, writing its keys and values at `pos` of
 * every layer's cache: k_cache and v_cache are (n_layer, n_kv_head, max_len, head_dim) in
 * the weights' dtype (one sequence's). profile is NULL or six float64 values to which the
 * call adds the seconds thread 0 spent in each phase, over all layers (q/k/v, attention,
 * o, gate/up, down, head; each up to the end of its barrier). Returns 0; 1 (changing
 * nothing) for arguments out of range; 2 if scratch memory could not be allocated. */
int glassbox_llama_decode_token(const llama_model *M, void *k_cache, void *v_cache,
                                int64_t token, int64_t pos, float *restrict logits,
                                double *profile) {
    const int64_t d = M->d, hd = M->head_dim, H = M->n_head, Hkv = M->n_kv_head;
    if (token < 0 || token >= M->vocab || pos < 0 || pos >= M->max_len || M->n_layer < 1 ||
        H < 1 || Hkv < 1 || H % Hkv || hd < 2 || hd % 2 || hd > 1024 || d < 1 || d > 65536 ||
        M->hidden < 1 || M->hidden > 65536 || H * hd > 65536)
        return 1;
    const int64_t q_rows = H * hd, qkv_rows = q_rows + 2 * Hkv * hd, hidden = M->hidden;
    const int64_t widest = d > q_rows ? (d > hidden ? d : hidden) : (q_rows > hidden ? q_rows : hidden);
    const int bf16 = (int)M->bf16;
    const int64_t layer_values = Hkv * M->max_len * hd, size = bf16 ? 2 : 4;
    float *memory = malloc(sizeof(float) * (d + qkv_rows + q_rows + 3 * hidden + widest +
                                            H * M->max_len));
    if (!memory) return 2;
    buffers shared = {.x = memory, .profile = profile};
    shared.qkv = shared.x + d;
    shared.ctx = shared.qkv + qkv_rows;
    shared.gate = shared.ctx + q_rows;
    shared.up = shared.gate + hidden;
    shared.f = shared.up + hidden;
    shared.tmp = shared.f + hidden;
    shared.scores = shared.tmp + widest;
    if (bf16) {
        const uint16_t *row = (const uint16_t *)M->tok_emb + token * d;
        for (int64_t i = 0; i < d; i++) shared.x[i] = bf16_to_f32(row[i]);
    } else {
        memcpy(shared.x, (const float *)M->tok_emb + token * d, d * sizeof(float));
    }
    int failed = 0;
#pragma omp parallel
    {
        float *normed = malloc(sizeof(float) * d);
        uint16_t *vb = malloc(sizeof(uint16_t) * widest);
        if (!normed || !vb) {
#pragma omp atomic
            failed += 1;
        }
#pragma omp barrier
        if (!failed) {
            buffers B = shared;
            double since = omp_get_wtime();
            for (int64_t i = 0; i < M->n_layer; i++) {
                const int last = i + 1 == M->n_layer;
                B.k_cache = (char *)k_cache + i * layer_values * size;
                B.v_cache = (char *)v_cache + i * layer_values * size;
                layer_step(M, &M->layers[i], last ? M->w_head : M->layers[i + 1].w_q,
                           last ? M->vocab : q_rows, pos, B, normed, vb, &since);
            }
            rms_norm(B.x, M->norm, (float)M->eps, normed, d);
            operand op = make_operand(normed, vb, bf16, d);
            const int64_t per = chunk_rows(d, bf16);
#pragma omp for schedule(dynamic, 1) /* and its barrier */
            for (int64_t c = 0; c < count_chunks(M->vocab, per); c++) {
                const int64_t lo = c * per, hi = lo + per < M->vocab ? lo + per : M->vocab;
                matvec_rows(M->w_head, bf16, lo, hi, op, d, logits);
            }
            lap(&B, P_HEAD, &since);
        }
        free(normed);
        free(vb);
    }
    free(memory);
    return failed ? 2 : 0;
}
