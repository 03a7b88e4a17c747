import CFFmpeg
import Testing

@testable import Media

/// Pictures made one after another reuse buffers from a pool of their shape instead of fresh allocations.
@Suite(.timeLimit(.minutes(1)))
struct PicturePoolTests {
    /// The pool entry behind a frame's picture buffer (nil for a buffer FFmpeg allocated on its own).
    private static func entry(_ frame: Frame) -> UnsafeMutableRawPointer? {
        guard let buffer = frame.pointer.pointee.buf.0 else { return nil }
        return av_buffer_get_opaque(buffer)
    }

    @Test func aPictureRenewedWhileItsLastIsStillHeldTakesABufferFromThePool() throws {
        let frame = try Frame(width: 1280, height: 720, pixelFormat: AV_PIX_FMT_YUV420P)
        let held = try Frame()
        var entries = Set<UnsafeMutableRawPointer>()
        for _ in 0..<20 {
            // What the transcoder does: the last picture is kept (to repeat into gaps) while the next is made.
            held.unref()
            #expect(av_frame_ref(held.pointer, frame.pointer) == 0)
            try frame.renewIfShared()
            #expect(av_frame_is_writable(frame.pointer) != 0)
            let pooled = try #require(Self.entry(frame), "the picture buffer does not come from a pool")
            entries.insert(pooled)
        }
        // One buffer held, one being made: the pool never needs a third.
        #expect(entries.count == 2)
    }

    @Test(arguments: [
        (1280, 720, AV_PIX_FMT_YUV420P), (853, 479, AV_PIX_FMT_YUV420P), (1920, 1080, AV_PIX_FMT_YUV420P10LE),
        (161, 91, AV_PIX_FMT_RGB24), (4096, 2160, AV_PIX_FMT_NV12),
    ])
    func everyPlaneOfAPooledPictureLiesInsideItsBufferWithAlignedRows(
        _ width: Int, _ height: Int, _ format: AVPixelFormat
    ) throws {
        let frame = try Frame(width: width, height: height, pixelFormat: format)
        let buffer = try #require(frame.pointer.pointee.buf.0)
        #expect(av_buffer_get_opaque(buffer) != nil)
        let start = UnsafeRawPointer(buffer.pointee.data!)
        let end = start + buffer.pointee.size
        let descriptor = try #require(av_pix_fmt_desc_get(format))
        let planes = Int(av_pix_fmt_count_planes(format))
        let data = withUnsafeBytes(of: frame.pointer.pointee.data) { Array($0.bindMemory(to: UnsafeMutablePointer<UInt8>?.self)) }
        let linesize = withUnsafeBytes(of: frame.pointer.pointee.linesize) { Array($0.bindMemory(to: Int32.self)) }
        for plane in 0..<planes {
            let rows = plane == 0 || planes == 1 ? height : -((-height) >> Int(descriptor.pointee.log2_chroma_h))
            let bytesPerRow = Int(av_image_get_linesize(format, Int32(width), Int32(plane)))
            let first = UnsafeRawPointer(try #require(data[plane]))
            #expect(Int(linesize[plane]) >= bytesPerRow)
            #expect(linesize[plane] % 64 == 0)
            #expect(Int(bitPattern: first) % 32 == 0)
            #expect(first >= start && first + Int(linesize[plane]) * rows <= end)
        }
        // Writing every row whole touches only the buffer (the address sanitizer run would catch a stray write).
        for plane in 0..<planes {
            let rows = plane == 0 || planes == 1 ? height : -((-height) >> Int(descriptor.pointee.log2_chroma_h))
            memset(data[plane]!, 0x5A, Int(linesize[plane]) * rows)
        }
    }
}
