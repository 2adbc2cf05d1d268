/* Kernels for decoding one token on the CPU, built and loaded by core/model/kernels/native.py.
 *
 * Batch-1 matrix-vector products, y = W x (+ b): W is (rows, cols), row-major, float32 or
 * bfloat16; x, b and y are float32; b may be NULL. Each OpenMP thread streams its own
 * contiguous block of rows, and each row is one vectorised dot product, summed in float32.
 * For bfloat16 weights on a CPU with AVX512-BF16 (and cols a multiple of 64) x is rounded
 * to bfloat16 and multiplied pairwise (vdpbf16ps), as PyTorch's bfloat16 products do;
 * elsewhere the weight is widened to float32 by a 16-bit shift.
 */
#include <stdint.h>
#include <math.h>
#include <string.h>
#include <omp.h>

#include "dot.h"

/* Each parallel loop calls one dot function, picked before the loop (see NAME##_64). */
#define GLASSBOX_MATVEC(NAME, WTYPE, DOT)                                                   \
    void NAME(const WTYPE *restrict w, const float *restrict x, const float *restrict b,    \
              float *restrict y, int64_t rows, int64_t cols) {                              \
        if (cols % 64 == 0) {                                                               \
            _Pragma("omp parallel for schedule(static)")                                    \
            for (int64_t r = 0; r < rows; r++)                                              \
                y[r] = DOT##_64(w + r * cols, x, cols) + (b ? b[r] : 0.0f);                 \
        } else {                                                                            \
            _Pragma("omp parallel for schedule(static)")                                    \
            for (int64_t r = 0; r < rows; r++)                                              \
                y[r] = DOT(w + r * cols, x, cols) + (b ? b[r] : 0.0f);                      \
        }                                                                                   \
    }
GLASSBOX_MATVEC(glassbox_matvec_f32, float, dot_f32)
GLASSBOX_MATVEC(matvec_bf16_widened, uint16_t, dot_bf16)

/* 1 when bfloat16 products round their vector to bfloat16 (widths that are multiples of
 * 64), 0 when they widen the weights instead. */
int glassbox_bf16_pairs(void) { return GLASSBOX_DPBF16; }

/* bfloat16 weights: x rounded to bfloat16 and multiplied in pairs where the CPU can (see
 * the top of this file), else the widening form above. */
void glassbox_matvec_bf16(const uint16_t *restrict w, const float *restrict x,
                          const float *restrict b, float *restrict y, int64_t rows,
                          int64_t cols) {
    if (!GLASSBOX_DPBF16 || cols % 64 != 0 || cols > 16384) {
        matvec_bf16_widened(w, x, b, y, rows, cols);
        return;
    }
    uint16_t xb[cols];
    round_bf16(x, xb, cols);
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; r++)
        y[r] = dot_bf16_pairs(w + r * cols, xb, cols) + (b ? b[r] : 0.0f);
}

/* Positions one attention step reads: its scores live on the stack. */
#define MAX_POSITIONS 4096

/* One decoding step of causal self-attention for one head h of one sequence, on a float32
 * KV cache.
 *
 * qkv is the fused projection of the new token, laid out (3, heads, head_dim): queries,
 * then keys, then values. Its key and value are written at position `pos` of the caches
 * (heads, max_len, head_dim), then the head attends over positions 0..pos (< MAX_POSITIONS):
 * softmax(q.k / sqrt(head_dim)) weighted sum of v, written to out (heads, head_dim).
 */
static void attend_head(const float *restrict qkv, float *restrict k_cache,
                        float *restrict v_cache, int64_t pos, int64_t heads, int64_t head_dim,
                        int64_t max_len, int64_t h, float *restrict out) {
    const float scale = 1.0f / sqrtf((float)head_dim);
    const float *q = qkv + h * head_dim;
    float *keys = k_cache + h * max_len * head_dim;
    float *values = v_cache + h * max_len * head_dim;
    memcpy(keys + pos * head_dim, qkv + (heads + h) * head_dim, head_dim * sizeof(float));
    memcpy(values + pos * head_dim, qkv + (2 * heads + h) * head_dim, head_dim * sizeof(float));
    float scores[MAX_POSITIONS];
    float top = -INFINITY, total = 0.0f;
    for (int64_t t = 0; t <= pos; t++) {
        scores[t] = dot_f32(keys + t * head_dim, q, head_dim) * scale;
        if (scores[t] > top) top = scores[t];
    }
    for (int64_t t = 0; t <= pos; t++) {
        scores[t] = expf(scores[t] - top);
        total += scores[t];
    }
    float *o = out + h * head_dim;
    for (int64_t i = 0; i < head_dim; i++) o[i] = 0.0f;
    for (int64_t t = 0; t <= pos; t++) {
        const float p = scores[t] / total;
        const float *value = values + t * head_dim;
#pragma omp simd
        for (int64_t i = 0; i < head_dim; i++) o[i] += p * value[i];
    }
}

/* The model's blocks for one decoding step, all in a single OpenMP parallel region.
 *
 * Each is a pre-LayerNorm GPT-2 block on the residual x (d), updated in place:
 *   h = LN1(x); qkv = Wqkv h + bqkv; attention step over the caches (as above) -> ctx;
 *   x += Wproj ctx + bproj; h = LN2(x); f = GELU(Wfc h + bfc); x += Wout f + bout.
 * Weights are row-major (out, in), all float32 (bf16 = 0) or all bfloat16 (bf16 = 1);
 * LayerNorm parameters, biases (any may be NULL except LayerNorm's), caches and scratch
 * buffers are float32 (with bf16 weights, a width that is a multiple of 64 and AVX512-BF16,
 * each product's vector is rounded to bf16 first, as at the top of this file). Each
 * thread streams its own contiguous rows of every product and takes a share of the heads,
 * with a barrier between dependent steps, so the whole stack costs one fork and join
 * instead of about twenty separate operations per layer. Every
 * thread computes the LayerNorms itself (d values, on its stack) rather than waiting for
 * one thread to do it, and before each barrier it prefetches the first rows it will read of
 * the next matrix (the last step of a layer: the next layer's), so the memory stream does
 * not restart cold after every step.
 */
static inline float row_dot(const void *w, int bf16, int pairs, int64_t row, const float *v,
                            const uint16_t *vb, int64_t n) {
    if (pairs) /* bf16 weights, vb = v rounded to bf16 */
        return dot_bf16_pairs((const uint16_t *)w + row * n, vb, n);
    if (n % 64 == 0)
        return bf16 ? dot_bf16_64((const uint16_t *)w + row * n, v, n)
                    : dot_f32_64((const float *)w + row * n, v, n);
    return bf16 ? dot_bf16((const uint16_t *)w + row * n, v, n)
                : dot_f32((const float *)w + row * n, v, n);
}

static void layer_norm(const float *x, const float *g, const float *b, float eps, float *out,
                       int64_t d) {
    float mean = 0.0f, var = 0.0f;
    for (int64_t i = 0; i < d; i++) mean += x[i];
    mean /= (float)d;
    for (int64_t i = 0; i < d; i++) var += (x[i] - mean) * (x[i] - mean);
    const float inv = 1.0f / sqrtf(var / (float)d + eps);
    for (int64_t i = 0; i < d; i++) out[i] = (x[i] - mean) * inv * g[i] + b[i];
}

static inline float gelu_tanh(float v) {
    const float c = 0.7978845608028654f; /* sqrt(2 / pi) */
    return 0.5f * v * (1.0f + tanhf(c * (v + 0.044715f * v * v * v)));
}

/* This thread's contiguous share [lo, hi) of `rows` rows (the split of schedule(static)). */
static inline void thread_rows(int64_t rows, int64_t *lo, int64_t *hi) {
    const int64_t t = omp_get_thread_num(), n = omp_get_num_threads();
    const int64_t q = rows / n, r = rows % n;
    *lo = t * q + (t < r ? t : r);
    *hi = *lo + q + (t < r);
}

/* Ask for the first 16 KB of rows [lo, hi) of a (rows, cols) matrix ahead of their use. */
static inline void prefetch_rows(const void *w, int bf16, int64_t lo, int64_t hi, int64_t cols) {
    const int64_t size = bf16 ? 2 : 4, span = (hi - lo) * cols * size;
    const char *p = (const char *)w + lo * cols * size;
    for (int64_t off = 0; off < span && off < 16384; off += 64) __builtin_prefetch(p + off, 0, 3);
}

#define MAX_WIDTH 16384

/* One layer's parameters and KV caches: the pointers the block step reads (biases may be
 * NULL). glassbox_decode_token takes an array of these, one per layer, from Python. */
typedef struct {
    const float *ln1_g, *ln1_b;
    const void *w_qkv;
    const float *b_qkv;
    const void *w_proj;
    const float *b_proj;
    const float *ln2_g, *ln2_b;
    const void *w_fc;
    const float *b_fc;
    const void *w_out;
    const float *b_out;
    float *k_cache, *v_cache;
} glassbox_layer;

/* The block step, run by every thread of an enclosing parallel region; `next` (or NULL) is
 * the matrix read after this block, (next_rows, d): the following layer's QKV weight or the
 * output head, whose first rows are prefetched before the closing barrier. */
static void block_step(const glassbox_layer *L, const void *next, int64_t next_rows,
                       float *restrict x, int64_t d, float eps, int bf16, int64_t pos,
                       int64_t heads, int64_t max_len, float *restrict qkv, float *restrict ctx,
                       float *restrict f) {
    const int64_t head_dim = d / heads, hidden = 4 * d;
    float normed[d]; /* this thread's LN1(x), then LN2(x) */
    uint16_t vb[4 * d]; /* the vector of the next product, rounded to bf16 (bf16 weights) */
    const int dp = GLASSBOX_DPBF16 && bf16 && d % 64 == 0; /* then 4d is a multiple too */
    int64_t lo, hi;
    layer_norm(x, L->ln1_g, L->ln1_b, eps, normed, d);
    if (dp) round_bf16(normed, vb, d);
    thread_rows(3 * d, &lo, &hi);
    for (int64_t r = lo; r < hi; r++)
        qkv[r] =
            row_dot(L->w_qkv, bf16, dp, r, normed, vb, d) + (L->b_qkv ? L->b_qkv[r] : 0.0f);
    thread_rows(d, &lo, &hi);
    prefetch_rows(L->w_proj, bf16, lo, hi, d);
#pragma omp barrier
#pragma omp for schedule(static)
    for (int64_t hd = 0; hd < heads; hd++)
        attend_head(qkv, L->k_cache, L->v_cache, pos, heads, head_dim, max_len, hd, ctx);
    if (dp) round_bf16(ctx, vb, d);
    for (int64_t r = lo; r < hi; r++)
        x[r] += row_dot(L->w_proj, bf16, dp, r, ctx, vb, d) + (L->b_proj ? L->b_proj[r] : 0.0f);
    thread_rows(hidden, &lo, &hi);
    prefetch_rows(L->w_fc, bf16, lo, hi, d);
#pragma omp barrier
    layer_norm(x, L->ln2_g, L->ln2_b, eps, normed, d);
    if (dp) round_bf16(normed, vb, d);
    for (int64_t r = lo; r < hi; r++)
        f[r] = gelu_tanh(row_dot(L->w_fc, bf16, dp, r, normed, vb, d) +
                         (L->b_fc ? L->b_fc[r] : 0.0f));
    thread_rows(d, &lo, &hi);
    prefetch_rows(L->w_out, bf16, lo, hi, hidden);
#pragma omp barrier
    if (dp) round_bf16(f, vb, hidden);
    for (int64_t r = lo; r < hi; r++)
        x[r] += row_dot(L->w_out, bf16, dp, r, f, vb, hidden) + (L->b_out ? L->b_out[r] : 0.0f);
    if (next) {
        thread_rows(next_rows, &lo, &hi);
        prefetch_rows(next, bf16, lo, hi, d);
    }
#pragma omp barrier /* the next layer normalises all of x */
}

static int decode_args_ok(int64_t d, int64_t pos, int64_t heads, int64_t max_len) {
    return pos >= 0 && pos < max_len && pos < MAX_POSITIONS && heads > 0 &&
           (d / heads) * heads == d && d <= MAX_WIDTH;
}

/* The rest of the model for glassbox_decode_token: the token and position embeddings, the
 * final LayerNorm and the output head (no bias). Seven 8-byte fields: Python passes them as
 * an int64 array. */
typedef struct {
    const void *tok_emb; /* (vocab, d), float32 or bfloat16 (tok_bf16 = 1) */
    int64_t tok_bf16;
    const float *pos_emb; /* (> pos, d) float32 */
    const float *lnf_g, *lnf_b;
    const void *w_head; /* (vocab, d), the dtype of the layers' matrices */
    int64_t vocab;
} glassbox_ends;

/* One whole decoding step in one parallel region: x = tok_emb[token] + pos_emb[pos], the
 * blocks layers[0..n) (block_step above), then logits = W_head LN_f(x), each
 * thread streaming its own rows of the head. x (d) is scratch here. Returns 1 (and changes
 * nothing) for arguments out of range. */
int glassbox_decode_token(int64_t token, int64_t pos, const glassbox_ends *E,
                          const glassbox_layer *layers, int64_t n, int64_t d, float eps,
                          int bf16, int64_t heads, int64_t max_len, float *restrict x,
                          float *restrict qkv, float *restrict ctx, float *restrict f,
                          float *restrict logits) {
    if (!decode_args_ok(d, pos, heads, max_len) || token < 0 || token >= E->vocab || n < 1)
        return 1;
    const float *position = E->pos_emb + pos * d;
    if (E->tok_bf16) {
        const uint16_t *row = (const uint16_t *)E->tok_emb + token * d;
        for (int64_t i = 0; i < d; i++) x[i] = bf16_to_f32(row[i]) + position[i];
    } else {
        const float *row = (const float *)E->tok_emb + token * d;
        for (int64_t i = 0; i < d; i++) x[i] = row[i] + position[i];
    }
#pragma omp parallel
    {
        for (int64_t i = 0; i < n; i++)
            block_step(&layers[i], i + 1 < n ? layers[i + 1].w_qkv : E->w_head,
                       i + 1 < n ? 3 * d : E->vocab, x, d, eps, bf16, pos, heads, max_len, qkv,
                       ctx, f);
        float normed[d];
        uint16_t vb[d];
        const int dp = GLASSBOX_DPBF16 && bf16 && d % 64 == 0;
        int64_t lo, hi;
        layer_norm(x, E->lnf_g, E->lnf_b, eps, normed, d);
        if (dp) round_bf16(normed, vb, d);
        thread_rows(E->vocab, &lo, &hi);
        for (int64_t r = lo; r < hi; r++)
            logits[r] = row_dot(E->w_head, bf16, dp, r, normed, vb, d);
    }
    return 0;
}
