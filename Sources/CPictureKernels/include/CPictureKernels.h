#ifndef AURA_PICTURE_KERNELS_H
#define AURA_PICTURE_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/// Per-pixel loops over raw picture planes that libav has no fast equivalent for. They know nothing of libav's types:
/// `Media` hands them plane pointers and strides (in bytes).

/// Area reduction by an integer `factor`: every output sample is the rounded mean of a `factor`×`factor` block of
/// input samples (blocks cut by the right and bottom edges repeat the last column and row). `bytes_per_sample` is 1
/// (8-bit) or 2 (9 to 16 bits in 16-bit words, native order). One plane per call.
void aura_box_reduce_plane(const uint8_t *src, ptrdiff_t src_stride, int src_width, int src_height, uint8_t *dst,
                           ptrdiff_t dst_stride, int dst_width, int dst_height, int factor, int bytes_per_sample);

/// The same with samples of `in_bytes` in and `out_bytes` out (1 or 2, no more out than in), each mean shifted right
/// by `shift` bits and rounded once (and kept within the output's range: 1023 / 4 rounds to 256, which is 255): 10-bit
/// samples reduced to 8-bit ones with `shift` 2.
void aura_box_reduce_plane_bits(const uint8_t *src, ptrdiff_t src_stride, int src_width, int src_height, uint8_t *dst,
                                ptrdiff_t dst_stride, int dst_width, int dst_height, int factor, int in_bytes,
                                int out_bytes, int shift);

/// The Möbius tone curve of libavfilter's `tonemap=tonemap=mobius:param=knee:desat=0:peak=peak`, on linear light
/// with reference white at 1.0: values up to `knee` pass unchanged; above, a pixel's brightest component m goes to
/// scale · (m + a) / (m + b), which takes `peak` to 1, and the pixel is scaled by that over m (hue and saturation
/// kept). libavfilter works out the coefficients per pixel in double precision; here once.
typedef struct {
    float knee, a, b, scale;
} AuraMobius;

/// The curve for a knee and a peak (both relative to reference white).
AuraMobius aura_mobius(float knee, float peak);

/// The curve applied in place to three planes of linear-light float samples (gbrpf32's), `stride` in bytes.
void aura_tonemap_mobius(float *const planes[3], const ptrdiff_t stride[3], int width, int height, AuraMobius curve);

/// Length of `AuraHDRToSDR.to_linear`: the transfer function sampled over [0, 1], read at the nearest sample (steps
/// of 1/16384: a sixteenth of a 10-bit code value).
#define AURA_TO_LINEAR_SIZE 16385
/// `AuraHDRToSDR.to_gamma` covers linear values from 2^-AURA_TO_GAMMA_OCTAVES to 1, indexed by a float's exponent and
/// its top AURA_TO_GAMMA_MANTISSA_BITS mantissa bits (relative steps of 1/512: far below one 8-bit level).
#define AURA_TO_GAMMA_OCTAVES 20
#define AURA_TO_GAMMA_MANTISSA_BITS 9
/// (AURA_TO_GAMMA_OCTAVES << AURA_TO_GAMMA_MANTISSA_BITS) + 1, written out for Swift.
#define AURA_TO_GAMMA_SIZE 10241

/// One HDR picture's way to SDR BT.709, all in one pass: the work of zscale (to linear light, primaries), the Möbius
/// tone mapping and zscale again (to BT.709's transfer and matrix, 8 bits) done per pixel in float, with the transfer
/// functions as tables built once per source.
typedef struct {
    /// Input samples to normalised values: luma (v - y_offset) * y_scale, chroma (v - c_offset) * c_scale.
    float y_offset, y_scale, c_offset, c_scale;
    /// Normalised Y'CbCr to the source's R'G'B': R' = Y' + cr_r Cr, G' = Y' + cb_g Cb + cr_g Cr, B' = Y' + cb_b Cb.
    float cr_r, cb_g, cr_g, cb_b;
    /// The source's transfer function from R' in [0, 1] to linear light (1.0 = HDR reference white), sampled at
    /// AURA_TO_LINEAR_SIZE evenly spaced points.
    const float *to_linear;
    /// Linear RGB in the source's primaries to BT.709's (row-major 3×3).
    float primaries[9];
    /// The tone curve, in BT.709's primaries.
    AuraMobius curve;
    /// BT.709's transfer (linear light in [0, 1] to R'), see AURA_TO_GAMMA_SIZE.
    const float *to_gamma;
    /// R'G'B' to BT.709 Y'CbCr: the luma weights (kr, kg, kb); Cb = (B' - Y') * cb_scale, Cr = (R' - Y') * cr_scale.
    float kr, kg, kb, cb_scale, cr_scale;
} AuraHDRToSDR;

/// Converts 4:2:0 planar pictures of 9 to 16 bits (16-bit words) to 8-bit 4:2:0 BT.709 limited range, as
/// `AuraHDRToSDR` says. Chroma is taken as constant over its 2×2 block on the way in and averaged over it on the way
/// out. Rows [`row_start`, `row_end`) of luma (both even, except at the picture's end): threads may share a picture by
/// rows.
void aura_hdr_to_sdr_420(const AuraHDRToSDR *conversion, const uint8_t *const src[3], const ptrdiff_t src_stride[3],
                         uint8_t *const dst[3], const ptrdiff_t dst_stride[3], int width, int height, int row_start,
                         int row_end);

/// The linear value `AuraHDRToSDR.to_gamma` holds the transfer of at `index` (the middle of the values read there),
/// to build the table.
float aura_to_gamma_value_at(int index);

#endif
