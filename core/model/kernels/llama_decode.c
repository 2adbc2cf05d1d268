/* One decoding step of a Llama on the CPU, built and loaded by core/model/kernels/llama.py.
 *
 * glassbox_llama_decode_token runs a whole token in one call and one OpenMP parallel
 * region: the embedding row, then for every layer
 *   h = RMSNorm(x); q, k, v = Wqkv h; rotate q and k (RoPE); write k, v into the KV cache;
 *   grouped-query attention of each query head over its key/value head's cache -> ctx;
 *   x += Wo ctx; h = RMSNorm(x); f = silu(Wgate h) * (Wup h); x += Wdown f,
 * and finally logits = Whead RMSNorm(x). A layer is three steps with a barrier after each:
 *   1. q, k and v: their rows shared out by chunks (about 64 KB of weights each);
 *   2. each query head (shared out): its attention, then its context times its block of
 *      Wo's columns, a part of Wo ctx written beside the other heads';
 *   3. the feed-forward by chunks of hidden units: a chunk's rows of Wgate and Wup, SiLU,
 *      then its f times its block of Wdown's columns, a part of Wdown f.
 * Every thread then adds the parts to its own copy of x, all in the same order, so the
 * copies stay equal. Wo ctx and Wdown f taken by columns need no barrier between the step
 * that makes their vector and their product: 3 barriers a layer, not 5 (each costs a
 * sleeping thread's wake-up, about 30 us on a VM; 150 of them were about 5 ms of an 18 ms
 * bf16 token). float32 weights keep o and down by rows (see layer_step). A Llama of
 * SmolLM2's size multiplies 210 matrices of 0.2-3.5 MB per token, then the output head (57
 * MB in bf16). Products read four rows per pass over the vector; before each barrier a
 * thread prefetches the start of what it will probably read next, so the memory stream
 * does not restart cold.
 *
 * Weights are row-major (out, in), all float32 (bf16 = 0) or all bfloat16 (bf16 = 1), and
 * the KV cache has the weights' dtype; norm weights, rotary tables, activations and sums
 * are float32. With bfloat16 weights on a CPU with AVX512-BF16 each product's vector is
 * rounded to bfloat16 and multiplied in pairs (vdpbf16ps) where its width is a multiple of
 * 64, as PyTorch's bfloat16 products round their inputs; elsewhere the weight is widened to
 * float32 in registers. Compiled with the flags of decode.c (-O3 -march=native -fopenmp);
 * the dot products are dot.h's, which decode.c includes too.
 */
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>

#include "dot.h"

/* 1 when bfloat16 products round their vector to bfloat16 (widths that are multiples of
 * 64), 0 when they widen the weights instead. */
int glassbox_llama_bf16_pairs(void) { return GLASSBOX_DPBF16; }

/* The vector of one product as every row's dot product reads it: float32 v, and (pairs = 1)
 * v rounded to bfloat16 in vb. */
typedef struct {
    const float *v;
    const uint16_t *vb;
    int pairs;
} operand;

/* Prepare v (n values) for products with weights of this dtype; vb has room for n. */
static inline operand make_operand(const float *v, uint16_t *vb, int bf16, int64_t n) {
    operand op = {v, vb, GLASSBOX_DPBF16 && bf16 && n % 64 == 0};
    if (op.pairs) round_bf16(v, vb, n);
    return op;
}

/* The same operand from its value `at` on. */
static inline operand operand_at(operand op, int64_t at) {
    operand part = {op.v + at, op.pairs ? op.vb + at : op.vb, op.pairs};
    return part;
}

/* Row `row` of w (rows ld values apart) . v, over n values. */
static inline float row_dot(const void *w, int bf16, int64_t row, int64_t ld, operand op,
                            int64_t n) {
    if (op.pairs) return dot_bf16_pairs((const uint16_t *)w + row * ld, op.vb, n);
    return bf16 ? dot_bf16((const uint16_t *)w + row * ld, op.v, n)
                : dot_f32((const float *)w + row * ld, op.v, n);
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

/* Four rows at once (ld values apart, n of each read, n a multiple of 16, 32 for bf16
 * pairs): one load of the vector serves four weight streams, and the four sums are reduced
 * together. `ahead` is four rows read later (ld apart too): each step asks for their next
 * 64 bytes, so that the loads find them in the cache. Without that, the hardware streams
 * four short interleaved bf16 rows (1.2 KB each at SmolLM2's width) from memory about 1.3x
 * slower per byte than float32 rows; the software prefetch closes the gap. */
#define LLAMA_ROWS4(NAME, WTYPE, VTYPE, STEP, BODY)                                          \
    static inline void NAME(const WTYPE *restrict w, int64_t ld, const VTYPE *restrict v,    \
                            int64_t n, const WTYPE *ahead, float *restrict out) {            \
        const WTYPE *w0 = w, *w1 = w + ld, *w2 = w + 2 * ld, *w3 = w + 3 * ld;                \
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();                           \
        __m512 a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();                           \
        for (int64_t i = 0; i < n; i += STEP) {                                              \
            if (ahead)                                                                       \
                for (int k = 0; k < 4; k++) _mm_prefetch((const char *)(ahead + k * ld + i), _MM_HINT_T0); \
            BODY                                                                             \
        }                                                                                    \
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
#define LLAMA_ROWS4_OK(n, pairs) ((n) % ((pairs) ? 32 : 16) == 0)
#else
#define LLAMA_ROWS4_OK(n, pairs) 0
#define LLAMA_ROWS4_PORTABLE(NAME, WTYPE, VTYPE, DOT)                                   \
    static inline void NAME(const WTYPE *w, int64_t ld, const VTYPE *v, int64_t n,       \
                            const WTYPE *ahead, float *out) {                            \
        (void)ahead;                                                                     \
        for (int k = 0; k < 4; k++) out[k] = DOT(w + k * ld, v, n);                      \
    }
LLAMA_ROWS4_PORTABLE(rows4_f32, float, float, dot_f32)
LLAMA_ROWS4_PORTABLE(rows4_bf16, uint16_t, float, dot_bf16)
#endif
#if !defined(__AVX512BF16__)
static inline void rows4_bf16_pairs(const uint16_t *w, int64_t ld, const uint16_t *v,
                                    int64_t n, const uint16_t *ahead, float *out) {
    (void)ahead;
    for (int k = 0; k < 4; k++) out[k] = dot_bf16_pairs(w + k * ld, v, n);
}
#endif

/* How far ahead of the four rows being read rows4 prefetches: the rows that hold about 4 KB
 * of what is read, at least 8 rows (two steps). On the Xeon of docs/benchmarks.md 2 KB and
 * 16 KB streamed slower, 8 KB about the same. */
static inline int64_t ahead_rows(int64_t n, int bf16) {
    const int64_t rows = 4096 / (n * (bf16 ? 2 : 4)) / 4 * 4;
    return rows < 8 ? 8 : rows;
}

/* out[r] = row r of w . v for r in [lo, hi), the rows ld values apart, n values of each
 * read (ld = n: the whole matrix; ld > n: a block of columns); four rows at a time where
 * the width allows, prefetching rows up to hi, then one by one. */
static void matvec_rows(const void *w, int bf16, int64_t lo, int64_t hi, int64_t ld,
                        operand op, int64_t n, float *restrict out) {
    int64_t r = lo;
    if (LLAMA_ROWS4_OK(n, op.pairs)) {
        /* whole float32 rows stream well without: the hardware prefetches them */
        const int prefetch = bf16 || ld != n;
        const int64_t ahead = ahead_rows(n, bf16);
        for (; r + 4 <= hi; r += 4) {
            /* rows past hi may be another thread's: ask for the current ones again */
            const int64_t next = r + ahead + 4 <= hi ? r + ahead : r;
            if (op.pairs)
                rows4_bf16_pairs((const uint16_t *)w + r * ld, ld, op.vb, n,
                                 (const uint16_t *)w + next * ld, out + r);
            else if (bf16)
                rows4_bf16((const uint16_t *)w + r * ld, ld, op.v, n,
                           (const uint16_t *)w + next * ld, out + r);
            else
                rows4_f32((const float *)w + r * ld, ld, op.v, n,
                          prefetch ? (const float *)w + next * ld : NULL, out + r);
        }
    }
    for (; r < hi; r++) out[r] = row_dot(w, bf16, r, ld, op, n);
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

/* out = w . v for a whole (rows, cols) matrix, its rows shared out in chunks of per_chunk:
 * a worksharing loop, called by every thread of the parallel region; no barrier after. */
static void matvec_shared(const void *w, int bf16, int64_t rows, int64_t cols, operand op,
                          int64_t per_chunk, float *restrict out) {
#pragma omp for schedule(dynamic, 1) nowait
    for (int64_t c = 0; c < count_chunks(rows, per_chunk); c++) {
        const int64_t lo = c * per_chunk, hi = lo + per_chunk < rows ? lo + per_chunk : rows;
        matvec_rows(w, bf16, lo, hi, cols, op, cols, out);
    }
}

/* Ask for the first 16 KB of the chunk (of per_chunk rows) this thread probably takes first
 * in a (rows, cols) matrix (the chunk of its own number), so the stream does not start cold
 * after a barrier. */
static inline void prefetch_chunk(const void *w, int bf16, int64_t rows, int64_t cols,
                                  int64_t per_chunk) {
    const int64_t size = bf16 ? 2 : 4;
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
    float *qkv;              /* this layer's q, k and v (q_rows + 2 kv_rows) */
    float *part_o;           /* (n_head, d): Wo's columns of head h times its context */
    float *part_down;        /* (ffn chunks, d): Wdown's columns of a chunk times its f */
    float *ctx, *f, *up;     /* by rows: every head's context (q_rows); f, up (hidden) */
    float *scores;           /* (n_head, max_len) */
    void *k_cache, *v_cache; /* this layer's (n_kv_head, max_len, head_dim) */
    double *profile;         /* NULL, or seconds per phase that thread 0 adds up */
} buffers;

/* What each thread keeps to itself. x, the residual stream, is one copy per thread: every
 * thread adds the same parts in the same order, so the copies stay equal bit for bit, and
 * nobody waits for one thread to write it before normalising it. */
typedef struct {
    float *x, *normed;       /* (d) */
    float *gate, *up, *f;    /* one chunk of hidden units */
    uint16_t *vb;            /* a vector rounded to bfloat16 (the widest) */
} own;

/* Phases of the profile (each up to the end of its barrier, as thread 0 sees it). */
enum { P_QKV, P_ATTENTION_O, P_FFN, P_HEAD, P_COUNT };

static inline void lap(const buffers *B, int phase, double *since) {
    if (!B->profile || omp_get_thread_num() != 0) return;
    const double now = omp_get_wtime();
    B->profile[phase] += now - *since;
    *since = now;
}

/* Hidden units per chunk of the feed-forward: 128 of them, so that each row of the block of
 * Wdown's columns a chunk multiplies is 256 bytes (bfloat16) or 512 (float32) read in one
 * run, and SmolLM2's 1,536 make 12 chunks to share out. Blocks of 128 bytes read more
 * slowly (one row every 3 KB: a page per row and little for the prefetchers). */
static inline int64_t ffn_chunk(int bf16) {
    (void)bf16;
    return 128;
}

/* Ask for the first 16 KB of the block of columns [col, col + cols) of a (rows, ld) matrix,
 * what this thread reads first after the next barrier. */
static inline void prefetch_columns(const void *w, int bf16, int64_t rows, int64_t ld,
                                    int64_t col, int64_t cols) {
    const int64_t size = bf16 ? 2 : 4, span = cols * size;
    const char *p = (const char *)w + col * size;
    for (int64_t r = 0, asked = 0; r < rows && asked < 16384; r++, asked += span)
        for (int64_t off = 0; off < span; off += 64) __builtin_prefetch(p + r * ld * size + off, 0, 3);
}

/* x[i] += the sum over parts of part[p * d + i], parts in order (every thread alike). */
static inline void add_parts(float *restrict x, const float *restrict part, int64_t parts,
                             int64_t d) {
    for (int64_t p = 0; p < parts; p++)
#pragma omp simd
        for (int64_t i = 0; i < d; i++) x[i] += part[p * d + i];
}

/* One layer, run by every thread of the enclosing parallel region in three steps with a
 * barrier after each: q, k and v; attention and o (each query head's context times its
 * columns of Wo); the feed-forward (each chunk of hidden units: its rows of Wgate and Wup,
 * SiLU, times its columns of Wdown). float32 weights take o and down by rows instead, with
 * a barrier before each (five a layer): a float32 row of a column block is 256-512 bytes
 * at a 2.3-6 KB stride, and those blocks streamed about 6% slower than whole rows, which
 * cost more than the two barriers saved (docs/benchmarks.md, History). `next` (rows, d) is
 * the matrix read after this layer (the next layer's q, or the head), prefetched. */
static void layer_step(const llama_model *M, const llama_layer *L, const void *next,
                       int64_t next_rows, int64_t pos, buffers B, own T, double *since) {
    const int bf16 = (int)M->bf16, size = bf16 ? 2 : 4;
    const int64_t d = M->d, hd = M->head_dim, H = M->n_head, Hkv = M->n_kv_head;
    const int64_t q_rows = H * hd, kv_rows = Hkv * hd, hidden = M->hidden;
    const int64_t group = H / Hkv, max_len = M->max_len;
    const float eps = (float)M->eps;
    const int64_t thread = omp_get_thread_num();
    const int by_columns = bf16;

    /* q, k and v as one product of q_rows + 2 kv_rows rows, split over the threads */
    rms_norm(T.x, L->attn_norm, eps, T.normed, d);
    operand op = make_operand(T.normed, T.vb, bf16, d);
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
                matvec_rows(parts[m], bf16, a - starts[m], b - starts[m], d, op, d,
                            B.qkv + starts[m]);
        }
    }
    if (by_columns && thread < H) prefetch_columns(L->w_o, bf16, d, q_rows, thread * hd, hd);
#pragma omp barrier
    lap(&B, P_QKV, since);

    /* each query head: attention over its key/value head's cache, then x's share of it */
    const float *cos = M->cos + pos * hd, *ssin = M->signed_sin + pos * hd;
    const int pairs_o = GLASSBOX_DPBF16 && bf16 && q_rows % 64 == 0; /* as one product would */
#pragma omp for schedule(dynamic, 1) nowait
    for (int64_t h = 0; h < H; h++) {
        const int64_t g = h / group;
        float q[hd], k[hd], v[hd], ctx[hd];
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
        if (!by_columns) { /* o by rows, after the barrier below */
            attend(q, k, v, keys, values, bf16, pos, hd, B.scores + h * max_len, B.ctx + h * hd);
            continue;
        }
        attend(q, k, v, keys, values, bf16, pos, hd, B.scores + h * max_len, ctx);
        const operand head = {ctx, T.vb, pairs_o};
        if (pairs_o) round_bf16(ctx, T.vb, hd);
        matvec_rows((const char *)L->w_o + h * hd * size, bf16, 0, d, q_rows, head, hd,
                    B.part_o + h * d);
    }
    const int64_t fper = ffn_chunk(bf16);
    if (!by_columns) { /* one part: Wo ctx, its rows shared out */
        per = chunk_rows(q_rows, bf16);
        prefetch_chunk(L->w_o, bf16, d, q_rows, per);
#pragma omp barrier
        op = make_operand(B.ctx, T.vb, bf16, q_rows);
        matvec_shared(L->w_o, bf16, d, q_rows, op, per, B.part_o);
    }
    prefetch_chunk(L->w_gate, bf16, hidden, d, by_columns ? fper : chunk_rows(2 * d, bf16));
#pragma omp barrier
    lap(&B, P_ATTENTION_O, since);
    add_parts(T.x, B.part_o, by_columns ? H : 1, d);

    /* the feed-forward by chunks of hidden units: f = silu(gate) * up, then Wdown's
     * columns of the chunk times f */
    rms_norm(T.x, L->ffn_norm, eps, T.normed, d);
    op = make_operand(T.normed, T.vb, bf16, d);
    const int pairs_down = GLASSBOX_DPBF16 && bf16 && hidden % 64 == 0;
    if (by_columns) {
#pragma omp for schedule(dynamic, 1) nowait
        for (int64_t c = 0; c < count_chunks(hidden, fper); c++) {
            const int64_t lo = c * fper, n = lo + fper < hidden ? fper : hidden - lo;
            matvec_rows((const char *)L->w_gate + lo * d * size, bf16, 0, n, d, op, d, T.gate);
            matvec_rows((const char *)L->w_up + lo * d * size, bf16, 0, n, d, op, d, T.up);
            for (int64_t j = 0; j < n; j++) T.f[j] = silu(T.gate[j]) * T.up[j];
            const operand f = {T.f, T.vb + d, pairs_down}; /* vb's first d hold the norm's */
            if (pairs_down) round_bf16(T.f, T.vb + d, n);
            matvec_rows((const char *)L->w_down + lo * size, bf16, 0, d, hidden, f, n,
                        B.part_down + c * d);
        }
    } else { /* f by rows of Wgate and Wup, a barrier, then one part: Wdown f by rows */
        per = chunk_rows(2 * d, bf16); /* rows of two matrices in each chunk */
#pragma omp for schedule(dynamic, 1) nowait
        for (int64_t c = 0; c < count_chunks(hidden, per); c++) {
            const int64_t lo = c * per, hi = lo + per < hidden ? lo + per : hidden;
            matvec_rows(L->w_gate, bf16, lo, hi, d, op, d, B.f);
            matvec_rows(L->w_up, bf16, lo, hi, d, op, d, B.up);
            for (int64_t j = lo; j < hi; j++) B.f[j] = silu(B.f[j]) * B.up[j];
        }
        per = chunk_rows(hidden, bf16);
        prefetch_chunk(L->w_down, bf16, d, hidden, per);
#pragma omp barrier
        op = make_operand(B.f, T.vb, bf16, hidden);
        matvec_shared(L->w_down, bf16, d, hidden, op, per, B.part_down);
    }
    prefetch_chunk(next, bf16, next_rows, d, chunk_rows(d, bf16));
#pragma omp barrier /* the next layer normalises all of x */
    lap(&B, P_FFN, since);
    add_parts(T.x, B.part_down, by_columns ? count_chunks(hidden, fper) : 1, d);
}

/* Logits (vocab) of `token` at position `pos`, writing its keys and values at `pos` of
 * every layer's cache: k_cache and v_cache are (n_layer, n_kv_head, max_len, head_dim) in
 * the weights' dtype (one sequence's). profile is NULL or four float64 values to which the
 * call adds the seconds thread 0 spent in each phase, over all layers (q/k/v, attention and
 * o, the feed-forward, the head; each up to the end of its barrier). Returns 0; 1
 * (changing nothing) for arguments out of range; 2 if scratch memory could not be
 * allocated. */
int glassbox_llama_decode_token(const llama_model *M, void *k_cache, void *v_cache,
                                int64_t token, int64_t pos, float *restrict logits,
                                double *profile) {
    const int64_t d = M->d, hd = M->head_dim, H = M->n_head, Hkv = M->n_kv_head;
    if (token < 0 || token >= M->vocab || pos < 0 || pos >= M->max_len || M->n_layer < 1 ||
        H < 1 || Hkv < 1 || H % Hkv || hd < 2 || hd % 2 || hd > 1024 || d < 1 || d > 65536 ||
        M->hidden < 1 || M->hidden > 65536 || H * hd > 65536)
        return 1;
    const int64_t q_rows = H * hd, qkv_rows = q_rows + 2 * Hkv * hd, hidden = M->hidden;
    const int bf16 = (int)M->bf16;
    const int64_t layer_values = Hkv * M->max_len * hd, size = bf16 ? 2 : 4;
    const int64_t fper = ffn_chunk(bf16), chunks = count_chunks(hidden, fper);
    float *memory = malloc(sizeof(float) *
                           (qkv_rows + (H + chunks) * d + H * M->max_len + q_rows + 2 * hidden));
    if (!memory) return 2;
    buffers shared = {.qkv = memory, .profile = profile};
    shared.part_o = shared.qkv + qkv_rows;
    shared.part_down = shared.part_o + H * d;
    shared.scores = shared.part_down + chunks * d;
    shared.ctx = shared.scores + H * M->max_len;
    shared.f = shared.ctx + q_rows;
    shared.up = shared.f + hidden;
    int failed = 0;
#pragma omp parallel
    {
        own T;
        float *mine = malloc(sizeof(float) * (2 * d + 3 * fper));
        /* room for the vector of a product of width d, q_rows or hidden, or d + a chunk */
        const int64_t wide = q_rows > hidden ? q_rows : hidden;
        const int64_t widest = d + (wide > fper ? wide : fper);
        T.vb = malloc(sizeof(uint16_t) * widest);
        if (!mine || !T.vb) {
#pragma omp atomic
            failed += 1;
        }
#pragma omp barrier
        if (!failed) {
            T.x = mine, T.normed = mine + d, T.gate = mine + 2 * d;
            T.up = T.gate + fper, T.f = T.up + fper;
            if (bf16) {
                const uint16_t *row = (const uint16_t *)M->tok_emb + token * d;
                for (int64_t i = 0; i < d; i++) T.x[i] = bf16_to_f32(row[i]);
            } else {
                memcpy(T.x, (const float *)M->tok_emb + token * d, d * sizeof(float));
            }
            buffers B = shared;
            double since = omp_get_wtime();
            for (int64_t i = 0; i < M->n_layer; i++) {
                const int last = i + 1 == M->n_layer;
                B.k_cache = (char *)k_cache + i * layer_values * size;
                B.v_cache = (char *)v_cache + i * layer_values * size;
                layer_step(M, &M->layers[i], last ? M->w_head : M->layers[i + 1].w_q,
                           last ? M->vocab : q_rows, pos, B, T, &since);
            }
            rms_norm(T.x, M->norm, (float)M->eps, T.normed, d);
            operand op = make_operand(T.normed, T.vb, bf16, d);
            matvec_shared(M->w_head, bf16, M->vocab, d, op, chunk_rows(d, bf16), logits);
#pragma omp barrier
            lap(&B, P_HEAD, &since);
        }
        free(mine);
        free(T.vb);
    }
    free(memory);
    return failed ? 2 : 0;
}
