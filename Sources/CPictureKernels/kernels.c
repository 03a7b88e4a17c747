#include "CPictureKernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(AURA_TO_GAMMA_SIZE == (AURA_TO_GAMMA_OCTAVES << AURA_TO_GAMMA_MANTISSA_BITS) + 1, "table size");

/// One output row: the column sums of the block's rows (`sums`, src_width long), then the means of `FACTOR` sums, each
/// shifted right by `shift` (fewer bits out: the mean of a block of 10-bit samples as an 8-bit one, rounded once).
/// Means past the output's largest value (1023 / 4 rounds to 256) are clamped, as zscale does. The factor is a constant
/// in each copy, so the division is a multiplication and the loops vectorise; SUM is 16 bits
/// where the block's sum fits (8-bit samples), twice as many to a vector. floor(floor(a / b) / c) = floor(a / (b c)), so
/// dividing by the area and then shifting rounds as dividing by both at once would.
#define AURA_BOX_ROW(NAME, IN, OUT, SUM, FACTOR, ATTRIBUTES)                                                           \
    ATTRIBUTES static void NAME(const uint8_t *const *rows, int src_width, uint32_t *sum_buffer, OUT *out,             \
                                int dst_width, int shift) {                                                            \
        SUM *sums = (SUM *)sum_buffer;                                                                                 \
        const IN *r0 = (const IN *)rows[0];                                                                            \
        for (int x = 0; x < src_width; x++) sums[x] = r0[x];                                                           \
        for (int r = 1; r < FACTOR; r++) {                                                                             \
            const IN *row = (const IN *)rows[r];                                                                       \
            for (int x = 0; x < src_width; x++) sums[x] += row[x];                                                     \
        }                                                                                                              \
        const uint32_t half = ((uint32_t)(FACTOR * FACTOR) << shift) / 2, top = (OUT)~(OUT)0;                          \
        const int whole = src_width / FACTOR < dst_width ? src_width / FACTOR : dst_width;                            \
        for (int x = 0; x < whole; x++) {                                                                              \
            uint32_t sum = half;                                                                                       \
            for (int c = 0; c < FACTOR; c++) sum += sums[x * FACTOR + c];                                              \
            const uint32_t mean = (sum / (FACTOR * FACTOR)) >> shift;                                                  \
            out[x] = (OUT)(mean < top ? mean : top);                                                                   \
        }                                                                                                              \
        for (int x = whole; x < dst_width; x++) {                                                                      \
            uint32_t sum = half;                                                                                       \
            for (int c = 0; c < FACTOR; c++) {                                                                         \
                const int sx = x * FACTOR + c;                                                                         \
                sum += sums[sx < src_width ? sx : src_width - 1];                                                      \
            }                                                                                                          \
            const uint32_t mean = (sum / (FACTOR * FACTOR)) >> shift;                                                  \
            out[x] = (OUT)(mean < top ? mean : top);                                                                   \
        }                                                                                                              \
    }

typedef void (*AuraBoxRow)(const uint8_t *const *rows, int src_width, uint32_t *sums, void *out, int dst_width,
                           int shift);

/// The rows for factors 2 to 4, 8-bit in and out, 16-bit in and out, 16-bit in and 8-bit out; `SUFFIX` and
/// `ATTRIBUTES` make the copy for one instruction set.
#define AURA_BOX_ROWS(SUFFIX, ATTRIBUTES)                                                                              \
    AURA_BOX_ROW(box_8_8_2##SUFFIX, uint8_t, uint8_t, uint16_t, 2, ATTRIBUTES)                                         \
    AURA_BOX_ROW(box_8_8_3##SUFFIX, uint8_t, uint8_t, uint16_t, 3, ATTRIBUTES)                                         \
    AURA_BOX_ROW(box_8_8_4##SUFFIX, uint8_t, uint8_t, uint16_t, 4, ATTRIBUTES)                                         \
    AURA_BOX_ROW(box_16_16_2##SUFFIX, uint16_t, uint16_t, uint32_t, 2, ATTRIBUTES)                                     \
    AURA_BOX_ROW(box_16_16_3##SUFFIX, uint16_t, uint16_t, uint32_t, 3, ATTRIBUTES)                                     \
    AURA_BOX_ROW(box_16_16_4##SUFFIX, uint16_t, uint16_t, uint32_t, 4, ATTRIBUTES)                                     \
    AURA_BOX_ROW(box_16_8_2##SUFFIX, uint16_t, uint8_t, uint32_t, 2, ATTRIBUTES)                                       \
    AURA_BOX_ROW(box_16_8_3##SUFFIX, uint16_t, uint8_t, uint32_t, 3, ATTRIBUTES)                                       \
    AURA_BOX_ROW(box_16_8_4##SUFFIX, uint16_t, uint8_t, uint32_t, 4, ATTRIBUTES)                                       \
    static const AuraBoxRow box_rows##SUFFIX[3][3] = {                                                                 \
        {(AuraBoxRow)box_8_8_2##SUFFIX, (AuraBoxRow)box_8_8_3##SUFFIX, (AuraBoxRow)box_8_8_4##SUFFIX},                 \
        {(AuraBoxRow)box_16_16_2##SUFFIX, (AuraBoxRow)box_16_16_3##SUFFIX, (AuraBoxRow)box_16_16_4##SUFFIX},           \
        {(AuraBoxRow)box_16_8_2##SUFFIX, (AuraBoxRow)box_16_8_3##SUFFIX, (AuraBoxRow)box_16_8_4##SUFFIX},              \
    };

AURA_BOX_ROWS(, )

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#define AURA_HAVE_AVX2_PATH 1
/// The same rows compiled for AVX2: the block sums take half the instructions (measured 1.5-2x faster on a 4K frame).
AURA_BOX_ROWS(_avx2, __attribute__((target("avx2"))))

static int have_avx2(void) {
    static int known = -1;
    if (known < 0) {
        __builtin_cpu_init();
        known = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return known;
}
#endif

/// Any other factor (up to 16), or samples in and out of other sizes: the same with a division per sample.
static void box_row_any(const uint8_t *const *rows, int src_width, uint32_t *sums, uint8_t *out, int dst_width,
                        int factor, int in_bytes, int out_bytes, int shift) {
    for (int x = 0; x < src_width; x++) {
        uint32_t sum = 0;
        for (int r = 0; r < factor; r++)
            sum += in_bytes == 2 ? ((const uint16_t *)rows[r])[x] : rows[r][x];
        sums[x] = sum;
    }
    const uint32_t area = (uint32_t)(factor * factor);
    for (int x = 0; x < dst_width; x++) {
        uint32_t sum = 0;
        for (int c = 0; c < factor; c++) {
            const int sx = x * factor + c;
            sum += sums[sx < src_width ? sx : src_width - 1];
        }
        const uint32_t mean = ((sum + (area << shift) / 2) / area) >> shift;
        if (out_bytes == 2) ((uint16_t *)out)[x] = (uint16_t)(mean < 65535 ? mean : 65535);
        else out[x] = (uint8_t)(mean < 255 ? mean : 255);
    }
}

void aura_box_reduce_plane(const uint8_t *src, ptrdiff_t src_stride, int src_width, int src_height, uint8_t *dst,
                           ptrdiff_t dst_stride, int dst_width, int dst_height, int factor, int bytes_per_sample) {
    aura_box_reduce_plane_bits(src, src_stride, src_width, src_height, dst, dst_stride, dst_width, dst_height, factor,
                               bytes_per_sample, bytes_per_sample, 0);
}

void aura_box_reduce_plane_bits(const uint8_t *src, ptrdiff_t src_stride, int src_width, int src_height, uint8_t *dst,
                                ptrdiff_t dst_stride, int dst_width, int dst_height, int factor, int in_bytes,
                                int out_bytes, int shift) {
    if (factor < 1 || factor > 16 || src_width < 1 || src_height < 1 || shift < 0 || shift > 8) return;
    if ((in_bytes != 1 && in_bytes != 2) || (out_bytes != 1 && out_bytes != 2) || out_bytes > in_bytes) return;
    uint32_t *sums = malloc(sizeof(uint32_t) * (size_t)src_width);
    if (!sums) return;
    // The row copy for this factor and these sizes, or none (the general loop).
    AuraBoxRow row = NULL;
    const int kind = in_bytes == 1 ? 0 : out_bytes == 2 ? 1 : 2;
    if (factor >= 2 && factor <= 4 && (kind != 0 || shift == 0)) {
        row = box_rows[kind][factor - 2];
#ifdef AURA_HAVE_AVX2_PATH
        if (have_avx2()) row = box_rows_avx2[kind][factor - 2];
#endif
    }
    for (int y = 0; y < dst_height; y++) {
        // Rows of the block, the last row repeated where the picture ends inside it.
        const uint8_t *rows[16];
        for (int r = 0; r < factor; r++) {
            const int sy = y * factor + r < src_height ? y * factor + r : src_height - 1;
            rows[r] = src + (ptrdiff_t)sy * src_stride;
        }
        uint8_t *out = dst + (ptrdiff_t)y * dst_stride;
        if (row) row(rows, src_width, sums, out, dst_width, shift);
        else box_row_any(rows, src_width, sums, out, dst_width, factor, in_bytes, out_bytes, shift);
    }
    free(sums);
}

float aura_to_gamma_value_at(int index) {
    if (index >= AURA_TO_GAMMA_SIZE - 1) return 1.0f;
    const int octave = index >> AURA_TO_GAMMA_MANTISSA_BITS;
    const int step = index & ((1 << AURA_TO_GAMMA_MANTISSA_BITS) - 1);
    // The middle of the values that share this index.
    return ldexpf(1.0f + ((float)step + 0.5f) / (float)(1 << AURA_TO_GAMMA_MANTISSA_BITS), octave - AURA_TO_GAMMA_OCTAVES);
}

AuraMobius aura_mobius(float knee, float peak) {
    const float j = knee;
    AuraMobius curve;
    curve.knee = j;
    curve.a = -j * j * (peak - 1.0f) / (j * j - 2.0f * j + peak);
    curve.b = (j * j - 2.0f * j * peak + peak) / fmaxf(peak - 1.0f, 1e-6f);
    curve.scale = (curve.b * curve.b + 2.0f * curve.b * j + j * j) / (curve.b - curve.a);
    return curve;
}

/// The factor a pixel whose brightest component is `brightest` is scaled by. Computed always and selected (no branch
/// to mispredict), one division.
static inline float mobius_factor(AuraMobius c, float brightest) {
    brightest = fmaxf(brightest, 1e-6f);
    const float mapped = c.scale * (brightest + c.a) / ((brightest + c.b) * brightest);
    return brightest > c.knee ? mapped : 1.0f;
}

void aura_tonemap_mobius(float *const planes[3], const ptrdiff_t stride[3], int width, int height, AuraMobius curve) {
    for (int y = 0; y < height; y++) {
        float *p0 = (float *)((uint8_t *)planes[0] + (ptrdiff_t)y * stride[0]);
        float *p1 = (float *)((uint8_t *)planes[1] + (ptrdiff_t)y * stride[1]);
        float *p2 = (float *)((uint8_t *)planes[2] + (ptrdiff_t)y * stride[2]);
        for (int x = 0; x < width; x++) {
            const float factor = mobius_factor(curve, fmaxf(fmaxf(p0[x], p1[x]), p2[x]));
            p0[x] *= factor;
            p1[x] *= factor;
            p2[x] *= factor;
        }
    }
}

static inline float to_linear(const float *table, float v) {
    v = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
    return table[(int)(v * (float)(AURA_TO_LINEAR_SIZE - 1) + 0.5f)];
}

static inline float to_gamma(const float *table, float v) {
    static const float smallest = 1.0f / (float)(1 << AURA_TO_GAMMA_OCTAVES);
    if (v >= 1.0f) return table[AURA_TO_GAMMA_SIZE - 1];
    if (v <= smallest) return v <= 0.0f ? 0.0f : v * (table[0] / smallest);
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    const int exponent = (int)(bits >> 23) - 127 + AURA_TO_GAMMA_OCTAVES;
    const int mantissa = (int)((bits >> (23 - AURA_TO_GAMMA_MANTISSA_BITS)) & ((1u << AURA_TO_GAMMA_MANTISSA_BITS) - 1));
    return table[(exponent << AURA_TO_GAMMA_MANTISSA_BITS) | mantissa];
}

static inline uint8_t clamp_byte(float v) {
    v += 0.5f;
    return v <= 0.0f ? 0 : v >= 255.0f ? 255 : (uint8_t)v;
}

/// One pixel: its 8-bit luma, and its BT.709 R'G'B' (for the chroma of its block).
static inline uint8_t hdr_pixel(const AuraHDRToSDR *k, float luma, float dr, float dg, float db, float *out_r,
                                float *out_g, float *out_b) {
    const float *m = k->primaries;
    const float lr = to_linear(k->to_linear, luma + dr);
    const float lg = to_linear(k->to_linear, luma + dg);
    const float lb = to_linear(k->to_linear, luma + db);
    float r709 = m[0] * lr + m[1] * lg + m[2] * lb;
    float g709 = m[3] * lr + m[4] * lg + m[5] * lb;
    float b709 = m[6] * lr + m[7] * lg + m[8] * lb;
    const float factor = mobius_factor(k->curve, fmaxf(fmaxf(r709, g709), b709));
    r709 *= factor;
    g709 *= factor;
    b709 *= factor;
    *out_r = to_gamma(k->to_gamma, r709);
    *out_g = to_gamma(k->to_gamma, g709);
    *out_b = to_gamma(k->to_gamma, b709);
    return clamp_byte(16.0f + 219.0f * (k->kr * *out_r + k->kg * *out_g + k->kb * *out_b));
}

/// Luma of pixels [from, width) of one row, and their R'G'B' into the row's scratch.
static void hdr_row_scalar(const AuraHDRToSDR *k, const uint16_t *y_in, const uint16_t *cb_in, const uint16_t *cr_in,
                           uint8_t *y_out, float *gr, float *gg, float *gb, int from, int width) {
    for (int x = from; x < width; x++) {
        const float cb = ((float)cb_in[x / 2] - k->c_offset) * k->c_scale;
        const float cr = ((float)cr_in[x / 2] - k->c_offset) * k->c_scale;
        const float luma = ((float)y_in[x] - k->y_offset) * k->y_scale;
        y_out[x] = hdr_pixel(k, luma, k->cr_r * cr, k->cb_g * cb + k->cr_g * cr, k->cb_b * cb, &gr[x], &gg[x], &gb[x]);
    }
}

#ifdef AURA_HAVE_AVX2_PATH
#include <immintrin.h>

__attribute__((target("avx2,fma"))) static inline __m256 lookup_linear(const float *table, __m256 v) {
    v = _mm256_min_ps(_mm256_max_ps(v, _mm256_setzero_ps()), _mm256_set1_ps(1.0f));
    const __m256 position = _mm256_fmadd_ps(v, _mm256_set1_ps((float)(AURA_TO_LINEAR_SIZE - 1)), _mm256_set1_ps(0.5f));
    return _mm256_i32gather_ps(table, _mm256_cvttps_epi32(position), 4);
}

__attribute__((target("avx2,fma"))) static inline __m256 lookup_gamma(const float *table, __m256 v) {
    const float smallest = 1.0f / (float)(1 << AURA_TO_GAMMA_OCTAVES);
    const __m256 clamped = _mm256_min_ps(v, _mm256_set1_ps(1.0f));
    const __m256i bits = _mm256_castps_si256(_mm256_max_ps(clamped, _mm256_set1_ps(smallest)));
    __m256i index = _mm256_sub_epi32(_mm256_srli_epi32(bits, 23 - AURA_TO_GAMMA_MANTISSA_BITS),
                                     _mm256_set1_epi32((127 - AURA_TO_GAMMA_OCTAVES) << AURA_TO_GAMMA_MANTISSA_BITS));
    index = _mm256_min_epi32(index, _mm256_set1_epi32(AURA_TO_GAMMA_SIZE - 1));
    const __m256 looked = _mm256_i32gather_ps(table, index, 4);
    // Under the table's range: a straight line to 0 (and 0 for negative values).
    const __m256 ramp = _mm256_mul_ps(_mm256_max_ps(v, _mm256_setzero_ps()), _mm256_set1_ps(table[0] / smallest));
    return _mm256_blendv_ps(looked, ramp, _mm256_cmp_ps(v, _mm256_set1_ps(smallest), _CMP_LE_OQ));
}

/// `hdr_row_scalar` eight pixels at a time; returns where the scalar tail starts.
__attribute__((target("avx2,fma"))) static int hdr_row_avx2(const AuraHDRToSDR *k, const uint16_t *y_in,
                                                          const uint16_t *cb_in, const uint16_t *cr_in, uint8_t *y_out,
                                                          float *gr, float *gg, float *gb, int width) {
    const float *m = k->primaries;
    const __m256 y_offset = _mm256_set1_ps(k->y_offset), y_scale = _mm256_set1_ps(k->y_scale);
    const __m256 c_offset = _mm256_set1_ps(k->c_offset), c_scale = _mm256_set1_ps(k->c_scale);
    const __m256 cr_r = _mm256_set1_ps(k->cr_r), cb_g = _mm256_set1_ps(k->cb_g), cr_g = _mm256_set1_ps(k->cr_g),
                 cb_b = _mm256_set1_ps(k->cb_b);
    const __m256 knee = _mm256_set1_ps(k->curve.knee), a = _mm256_set1_ps(k->curve.a), b = _mm256_set1_ps(k->curve.b),
                 scale = _mm256_set1_ps(k->curve.scale), tiny = _mm256_set1_ps(1e-6f), one = _mm256_set1_ps(1.0f);
    const __m256 kr = _mm256_set1_ps(219.0f * k->kr), kg = _mm256_set1_ps(219.0f * k->kg),
                 kb = _mm256_set1_ps(219.0f * k->kb), black = _mm256_set1_ps(16.5f);
    int x = 0;
    for (; x + 8 <= width; x += 8) {
        const __m256 luma = _mm256_mul_ps(
            _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(y_in + x)))), y_offset),
            y_scale);
        // Four chroma samples, each for two pixels.
        const __m128i cb4 = _mm_loadl_epi64((const __m128i *)(cb_in + x / 2));
        const __m128i cr4 = _mm_loadl_epi64((const __m128i *)(cr_in + x / 2));
        const __m256 cb = _mm256_mul_ps(
            _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_cvtepu16_epi32(_mm_unpacklo_epi16(cb4, cb4))), c_offset), c_scale);
        const __m256 cr = _mm256_mul_ps(
            _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_cvtepu16_epi32(_mm_unpacklo_epi16(cr4, cr4))), c_offset), c_scale);
        const __m256 lr = lookup_linear(k->to_linear, _mm256_fmadd_ps(cr_r, cr, luma));
        const __m256 lg = lookup_linear(k->to_linear, _mm256_fmadd_ps(cr_g, cr, _mm256_fmadd_ps(cb_g, cb, luma)));
        const __m256 lb = lookup_linear(k->to_linear, _mm256_fmadd_ps(cb_b, cb, luma));
        __m256 r = _mm256_fmadd_ps(_mm256_set1_ps(m[2]), lb, _mm256_fmadd_ps(_mm256_set1_ps(m[1]), lg, _mm256_mul_ps(_mm256_set1_ps(m[0]), lr)));
        __m256 g = _mm256_fmadd_ps(_mm256_set1_ps(m[5]), lb, _mm256_fmadd_ps(_mm256_set1_ps(m[4]), lg, _mm256_mul_ps(_mm256_set1_ps(m[3]), lr)));
        __m256 bl = _mm256_fmadd_ps(_mm256_set1_ps(m[8]), lb, _mm256_fmadd_ps(_mm256_set1_ps(m[7]), lg, _mm256_mul_ps(_mm256_set1_ps(m[6]), lr)));
        {  // mobius_factor, eight at a time
            const __m256 brightest = _mm256_max_ps(_mm256_max_ps(_mm256_max_ps(r, g), bl), tiny);
            const __m256 mapped = _mm256_div_ps(_mm256_mul_ps(scale, _mm256_add_ps(brightest, a)),
                                                _mm256_mul_ps(_mm256_add_ps(brightest, b), brightest));
            const __m256 factor = _mm256_blendv_ps(one, mapped, _mm256_cmp_ps(brightest, knee, _CMP_GT_OQ));
            r = _mm256_mul_ps(r, factor);
            g = _mm256_mul_ps(g, factor);
            bl = _mm256_mul_ps(bl, factor);
        }
        const __m256 vr = lookup_gamma(k->to_gamma, r), vg = lookup_gamma(k->to_gamma, g), vb = lookup_gamma(k->to_gamma, bl);
        _mm256_storeu_ps(gr + x, vr);
        _mm256_storeu_ps(gg + x, vg);
        _mm256_storeu_ps(gb + x, vb);
        const __m256 y = _mm256_fmadd_ps(kb, vb, _mm256_fmadd_ps(kg, vg, _mm256_fmadd_ps(kr, vr, black)));
        const __m256i yi = _mm256_cvttps_epi32(_mm256_max_ps(y, _mm256_setzero_ps()));
        const __m128i words = _mm_packus_epi32(_mm256_castsi256_si128(yi), _mm256_extracti128_si256(yi, 1));
        _mm_storel_epi64((__m128i *)(y_out + x), _mm_packus_epi16(words, words));
    }
    return x;
}

#endif

void aura_hdr_to_sdr_420(const AuraHDRToSDR *conversion, const uint8_t *const src[3], const ptrdiff_t src_stride[3],
                         uint8_t *const dst[3], const ptrdiff_t dst_stride[3], int width, int height, int row_start,
                         int row_end) {
    // A local copy: the byte stores below could alias the parameters, which would be reloaded at every pixel.
    const AuraHDRToSDR params = *conversion;
    const AuraHDRToSDR *k = &params;
    // Each row's BT.709 R'G'B', for the chroma of its blocks: two rows of three channels.
    float *scratch = malloc(sizeof(float) * 6 * (size_t)(width + 8));
    if (!scratch) return;
    for (int y = row_start; y < row_end && y < height; y += 2) {
        const int rows = y + 1 < height ? 2 : 1;
        const uint16_t *cb_in = (const uint16_t *)(src[1] + (ptrdiff_t)(y / 2) * src_stride[1]);
        const uint16_t *cr_in = (const uint16_t *)(src[2] + (ptrdiff_t)(y / 2) * src_stride[2]);
        for (int r = 0; r < rows; r++) {
            const uint16_t *y_in = (const uint16_t *)(src[0] + (ptrdiff_t)(y + r) * src_stride[0]);
            uint8_t *y_out = dst[0] + (ptrdiff_t)(y + r) * dst_stride[0];
            float *gr = scratch + (size_t)(3 * r) * (size_t)(width + 8);
            float *gg = gr + width + 8, *gb = gg + width + 8;
            int from = 0;
#ifdef AURA_HAVE_AVX2_PATH
            if (have_avx2()) from = hdr_row_avx2(k, y_in, cb_in, cr_in, y_out, gr, gg, gb, width);
#endif
            hdr_row_scalar(k, y_in, cb_in, cr_in, y_out, gr, gg, gb, from, width);
        }
        uint8_t *cb_out = dst[1] + (ptrdiff_t)(y / 2) * dst_stride[1];
        uint8_t *cr_out = dst[2] + (ptrdiff_t)(y / 2) * dst_stride[2];
        const size_t row = (size_t)(width + 8);
        const float *r0 = scratch, *g0 = r0 + row, *b0 = g0 + row;
        // A single row (the picture's last, odd) counts twice.
        const float *r1 = rows == 2 ? b0 + row : r0, *g1 = r1 + row, *b1 = g1 + row;
        for (int cx = 0; cx < width / 2; cx++) {
            const float ar = 0.25f * (r0[2 * cx] + r0[2 * cx + 1] + r1[2 * cx] + r1[2 * cx + 1]);
            const float ag = 0.25f * (g0[2 * cx] + g0[2 * cx + 1] + g1[2 * cx] + g1[2 * cx + 1]);
            const float ab = 0.25f * (b0[2 * cx] + b0[2 * cx + 1] + b1[2 * cx] + b1[2 * cx + 1]);
            const float luma = k->kr * ar + k->kg * ag + k->kb * ab;
            cb_out[cx] = clamp_byte(128.0f + 224.0f * (ab - luma) * k->cb_scale);
            cr_out[cx] = clamp_byte(128.0f + 224.0f * (ar - luma) * k->cr_scale);
        }
        if (width % 2) {
            const int x = width - 1, cx = width / 2;
            const float ar = 0.5f * (r0[x] + r1[x]), ag = 0.5f * (g0[x] + g1[x]), ab = 0.5f * (b0[x] + b1[x]);
            const float luma = k->kr * ar + k->kg * ag + k->kb * ab;
            cb_out[cx] = clamp_byte(128.0f + 224.0f * (ab - luma) * k->cb_scale);
            cr_out[cx] = clamp_byte(128.0f + 224.0f * (ar - luma) * k->cr_scale);
        }
    }
    free(scratch);
}
