// The parts of FFmpeg 5.1's C API that Swift cannot import directly (function-like macros,
// compound literals), re-exported as static inline functions. Everything else comes from the headers.
#ifndef AURA_CFFMPEG_SHIM_H
#define AURA_CFFMPEG_SHIM_H

#include <libavformat/avformat.h>
#include <libavcodec/avcodec.h>
#include <libavutil/avutil.h>
#include <libavutil/opt.h>
#include <libavutil/imgutils.h>
#include <libavutil/channel_layout.h>
#include <libavutil/display.h>
#include <libavutil/audio_fifo.h>
#include <libavutil/pixdesc.h>
#include <libavutil/hwcontext.h>
#include <libswscale/swscale.h>
#include <libswresample/swresample.h>
#include <libavfilter/avfilter.h>
#include <libavfilter/buffersrc.h>
#include <libavfilter/buffersink.h>
#include <libavutil/mastering_display_metadata.h>
#include <errno.h>
#include <math.h>

/// Bytes of one pooled picture buffer for `format` at `width` x `height`: every plane in one buffer, rows aligned
/// to 64 bytes, the height rounded up to 32 rows and 128 bytes more, the slack `av_frame_get_buffer` leaves for
/// SIMD that reads past a row's end. Negative (an AVERROR) for a format that has no planes in memory.
static inline int aura_picture_buffer_size(int format, int width, int height) {
    int size = av_image_get_buffer_size((enum AVPixelFormat)format, width, (height + 31) & ~31, 64);
    return size < 0 ? size : size + 128;
}

/// Gives `frame` (unreferenced, its width, height and format set) a picture buffer from `pool`, whose buffers
/// hold `aura_picture_buffer_size` bytes: planes laid out with 64-byte rows. 0, or a negative AVERROR.
static inline int aura_frame_take_picture_buffer(AVFrame *frame, AVBufferPool *pool) {
    AVBufferRef *buffer = av_buffer_pool_get(pool);
    if (!buffer) return AVERROR(ENOMEM);
    int ret = av_image_fill_arrays(frame->data, frame->linesize, buffer->data, (enum AVPixelFormat)frame->format,
                                   frame->width, frame->height, 64);
    if (ret < 0) {
        av_buffer_unref(&buffer);
        return ret;
    }
    frame->buf[0] = buffer;
    frame->extended_data = frame->data;
    return 0;
}

/// AVERROR(e): a POSIX errno as an FFmpeg error code.
static inline int aura_averror(int e) { return AVERROR(e); }
/// AVERROR_EOF.
static inline int aura_averror_eof(void) { return AVERROR_EOF; }
/// AVERROR(EAGAIN), the send/receive API's "call the other side first".
static inline int aura_averror_eagain(void) { return AVERROR(EAGAIN); }
/// AVERROR_INVALIDDATA.
static inline int aura_averror_invaliddata(void) { return AVERROR_INVALIDDATA; }
/// AV_NOPTS_VALUE: "no timestamp".
static inline int64_t aura_nopts_value(void) { return AV_NOPTS_VALUE; }
/// AV_TIME_BASE_Q as a value.
static inline AVRational aura_time_base_q(void) { return AV_TIME_BASE_Q; }
/// AV_CHANNEL_LAYOUT_STEREO as a value (a compound literal in C).
static inline AVChannelLayout aura_channel_layout_stereo(void) {
    AVChannelLayout layout = AV_CHANNEL_LAYOUT_STEREO;
    return layout;
}
/// The layout libavcodec's native AAC encoder takes for `channels` (1 to 8): mono, stereo, 3.0, 4.0, 5.0, 5.1 (back
/// surrounds), and 7.1 for 7 and 8 (it has no 6.1); stereo otherwise.
static inline AVChannelLayout aura_channel_layout_for_aac(int channels) {
    AVChannelLayout layouts[8] = {AV_CHANNEL_LAYOUT_MONO,         AV_CHANNEL_LAYOUT_STEREO,
                                  AV_CHANNEL_LAYOUT_SURROUND,     AV_CHANNEL_LAYOUT_4POINT0,
                                  AV_CHANNEL_LAYOUT_5POINT0_BACK, AV_CHANNEL_LAYOUT_5POINT1_BACK,
                                  AV_CHANNEL_LAYOUT_7POINT1,      AV_CHANNEL_LAYOUT_7POINT1};
    return channels >= 1 && channels <= 8 ? layouts[channels - 1] : layouts[1];
}
/// The human-readable message of an FFmpeg error code, written into `buffer`.
static inline const char *aura_error_string(int code, char *buffer, size_t size) {
    av_make_error_string(buffer, size, code);
    return buffer;
}

/// Rotates one image plane clockwise by `clockwise_degrees` (90, 180 or 270) into `dst`.
/// `src` is `width` x `height` elements of `bytes_per_element` bytes (1 for planar 8-bit planes,
/// 2 for an interleaved NV12 chroma plane); `dst` must hold the rotated size (height x width for 90/270).
/// Done in C because a per-pixel loop over a 1280x720 frame is too slow in a debug Swift build.
static inline void aura_rotate_plane(const uint8_t *src, int src_stride, int width, int height,
                                     uint8_t *dst, int dst_stride, int bytes_per_element,
                                     int clockwise_degrees) {
    const int bpe = bytes_per_element;
    for (int y = 0; y < height; y++) {
        const uint8_t *row = src + (ptrdiff_t)y * src_stride;
        for (int x = 0; x < width; x++) {
            int dx, dy;
            switch (clockwise_degrees) {
            case 90:  dx = height - 1 - y; dy = x; break;
            case 180: dx = width - 1 - x;  dy = height - 1 - y; break;
            case 270: dx = y;              dy = width - 1 - x; break;
            default:  dx = x;              dy = y; break;
            }
            uint8_t *out = dst + (ptrdiff_t)dy * dst_stride + (ptrdiff_t)dx * bpe;
            const uint8_t *in = row + (ptrdiff_t)x * bpe;
            for (int b = 0; b < bpe; b++) out[b] = in[b];
        }
    }
}

/// How well a frame's bottom field fits top fields at three instants, for telling interlaced from progressive video:
/// the mean absolute difference, over every fourth column, between each bottom-field line of `cur` and the average of
/// the two top-field lines around it, taken from `prev`, `cur` and `next` (same-sized luma planes of 8-bit samples,
/// or 16-bit when `bytes_per_sample` is 2). Progressive pictures fit their own top field best (one instant);
/// top-field-first interlaced ones fit their own and the next frame's alike (half a frame either side).
static inline void aura_field_fit(const uint8_t *prev, const uint8_t *cur, const uint8_t *next, int stride,
                                  int width, int height, int bytes_per_sample, double out[3]) {
    const uint8_t *refs[3] = {prev, cur, next};
    for (int r = 0; r < 3; r++) {
        double sum = 0;
        long count = 0;
        for (int y = 1; y + 1 < height; y += 2) {
            const uint8_t *bottom = cur + (ptrdiff_t)y * stride;
            const uint8_t *above = refs[r] + (ptrdiff_t)(y - 1) * stride;
            const uint8_t *below = refs[r] + (ptrdiff_t)(y + 1) * stride;
            for (int x = 0; x < width; x += 4) {
                int b, a, c;
                if (bytes_per_sample == 2) {
                    b = ((const uint16_t *)bottom)[x]; a = ((const uint16_t *)above)[x]; c = ((const uint16_t *)below)[x];
                } else {
                    b = bottom[x]; a = above[x]; c = below[x];
                }
                int d = 2 * b - a - c;
                sum += d < 0 ? -d : d;
                count++;
            }
        }
        out[r] = count > 0 ? sum / (2.0 * count) : 0;
    }
}

/// AV_DISPOSITION_ATTACHED_PIC (a macro; importable, but kept here so all flags come from one place).
static inline int aura_disposition_attached_pic(void) { return AV_DISPOSITION_ATTACHED_PIC; }
/// AVIO_FLAG_WRITE.
static inline int aura_avio_flag_write(void) { return AVIO_FLAG_WRITE; }
/// AV_CODEC_FLAG_GLOBAL_HEADER.
static inline int aura_codec_flag_global_header(void) { return AV_CODEC_FLAG_GLOBAL_HEADER; }
/// AVFMT_GLOBALHEADER.
static inline int aura_avfmt_globalheader(void) { return AVFMT_GLOBALHEADER; }
/// AVFMT_NOFILE.
static inline int aura_avfmt_nofile(void) { return AVFMT_NOFILE; }

static inline int aura_codec_flag_qscale(void) { return AV_CODEC_FLAG_QSCALE; }

static inline int aura_qp2lambda(void) { return FF_QP2LAMBDA; }

/// The display-matrix rotation of a stream in degrees, counter-clockwise as FFmpeg reports it,
/// or NaN when the stream has no display matrix.
static inline double aura_stream_display_rotation(const AVStream *st) {
    const uint8_t *data = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, NULL);
    if (!data) return NAN;
    return av_display_rotation_get((const int32_t *)data);
}

/// AV_BUFFERSRC_FLAG_KEEP_REF: the filter graph takes its own reference, the caller keeps its frame.
static inline int aura_buffersrc_flag_keep_ref(void) { return AV_BUFFERSRC_FLAG_KEEP_REF; }

/// The brightest light the stream says it holds, in cd/m2: the content light level's MaxCLL, else the mastering
/// display's peak; 0 when it says neither. Read from the stream's side data (MP4, Matroska).
static inline double aura_stream_peak_luminance(const AVStream *st) {
    const AVContentLightMetadata *light =
        (const AVContentLightMetadata *)av_stream_get_side_data(st, AV_PKT_DATA_CONTENT_LIGHT_LEVEL, NULL);
    if (light && light->MaxCLL > 0) return (double)light->MaxCLL;
    const AVMasteringDisplayMetadata *display =
        (const AVMasteringDisplayMetadata *)av_stream_get_side_data(st, AV_PKT_DATA_MASTERING_DISPLAY_METADATA, NULL);
    if (display && display->has_luminance && display->max_luminance.den > 0) return av_q2d(display->max_luminance);
    return 0;
}

/// The same, from a decoded frame's side data (HEVC and AV1 carry it in SEI/OBUs, per frame).
static inline double aura_frame_peak_luminance(const AVFrame *frame) {
    const AVFrameSideData *data = av_frame_get_side_data(frame, AV_FRAME_DATA_CONTENT_LIGHT_LEVEL);
    if (data && ((const AVContentLightMetadata *)data->data)->MaxCLL > 0)
        return (double)((const AVContentLightMetadata *)data->data)->MaxCLL;
    data = av_frame_get_side_data(frame, AV_FRAME_DATA_MASTERING_DISPLAY_METADATA);
    if (data) {
        const AVMasteringDisplayMetadata *display = (const AVMasteringDisplayMetadata *)data->data;
        if (display->has_luminance && display->max_luminance.den > 0) return av_q2d(display->max_luminance);
    }
    return 0;
}

#endif
