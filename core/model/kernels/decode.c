/* Kernels for decoding one token on the CPU, built and loaded by core/model/kernels/native.py.
 *
 * Batch-1 matrix-vector products, y = W x (+ b):
 * W is (rows, cols), row-major, float32 or bfloat16; x, b and y are float32; b may be NULL. Each OpenMP
 * thread streams its own contiguous block of rows, and each row is one vectorised dot
 * product (a bfloat16 weight is widened to float32 by a 16-bit shift, so the sum is
 * float32 throughout).
 */
#include <stdint.h>
#include <math.h>
#include <string.h>

static inline float bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

void glassbox_matvec_f32(const float *restrict w, const float *restrict x,
                         const float *restrict b, float *restrict y, int64_t rows, int64_t cols) {
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const float *row = w + r * cols;
        float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
        for (int64_t i = 0; i < cols; i++) acc += row[i] * x[i];
        y[r] = b ? acc + b[r] : acc;
    }
}

void glassbox_matvec_bf16(const uint16_t *restrict w, const float *restrict x,
                          const float *restrict b, float *restrict y, int64_t rows, int64_t cols) {
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const uint16_t *row = w + r * cols;
        float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
        for (int64_t i = 0; i < cols; i++) acc += bf16_to_f32(row[i]) * x[i];
        y[r] = b ? acc + b[r] : acc;
    }
}

/* One decoding step of causal self-attention for one sequence, on a float32 KV cache.
 *
 * qkv is the fused projection of the new token, laid out (3, heads, head_dim): queries,
 * then keys, then values. Its key and value are written at position `pos` of the caches
 * (heads, max_len, head_dim), then each head attends over positions 0..pos:
 * softmax(q.k / sqrt(head_dim)) weighted sum of v, written to out (heads, head_dim).
 * Scores live on the stack up to 4096 positions; longer caches are refused (returns 1).
 */
int glassbox_decode_attention(const float *restrict qkv, float *restrict k_cache,
                              float *restrict v_cache, int64_t pos, int64_t heads,
                              int64_t head_dim, int64_t max_len, float *restrict out) {
    if (pos < 0 || pos >= max_len || pos >= 4096) return 1;
    const float scale = 1.0f / sqrtf((float)head_dim);
#pragma omp parallel for schedule(static)
    for (int64_t h = 0; h < heads; h++) {
        const float *q = qkv + h * head_dim;
        float *keys = k_cache + h * max_len * head_dim;
        float *values = v_cache + h * max_len * head_dim;
        memcpy(keys + pos * head_dim, qkv + (heads + h) * head_dim, head_dim * sizeof(float));
        memcpy(values + pos * head_dim, qkv + (2 * heads + h) * head_dim,
               head_dim * sizeof(float));
        float scores[4096];
        float top = -INFINITY;
        for (int64_t t = 0; t <= pos; t++) {
            const float *key = keys + t * head_dim;
            float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
            for (int64_t i = 0; i < head_dim; i++) dot += q[i] * key[i];
            scores[t] = dot * scale;
            if (scores[t] > top) top = scores[t];
        }
        float total = 0.0f;
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
    return 0;
}
