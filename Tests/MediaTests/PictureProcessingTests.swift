import CFFmpeg
import Foundation
import TestSupport
import Testing

@testable import Media

/// What a source's pictures need (colour conversion, deinterlacing), decided from its tags and what its pictures show.
@Suite(.timeLimit(.minutes(5)))
struct PictureProcessingTests {
    /// 2 s of 576i50 (PAL SD): testsrc2 at 50 pictures a second woven into 25 frames, coded progressive and tagged so
    /// (a source flagged wrong). `bottomFirst` moves the fields so the bottom one comes first, as DV records.
    static func woven(bottomFirst: Bool) throws -> String {
        let order = bottomFirst ? ",fieldorder=bff" : ""
        return try MediaFixtures.media(
            "woven-576i-\(bottomFirst ? "bff" : "tff").mp4",
            [
                "-f", "lavfi", "-i", "testsrc2=size=720x576:rate=50", "-t", "2",
                "-vf", "tinterlace=mode=interleave_top,setfield=tff\(order),setfield=prog",
                "-c:v", "libx264", "-crf", "14", "-pix_fmt", "yuv420p",
            ]
        ).path
    }

    /// The 576i clip coded interlaced and tagged top field first.
    static func taggedInterlaced() throws -> String {
        try MediaFixtures.media(
            "tagged-576i.mp4",
            [
                "-f", "lavfi", "-i", "testsrc2=size=720x576:rate=50", "-t", "1",
                "-vf", "tinterlace=mode=interleave_top,setfield=tff", "-c:v", "libx264", "-crf", "14",
                "-flags", "+ildct+ilme", "-x264-params", "tff=1", "-pix_fmt", "yuv420p",
            ]
        ).path
    }

    /// 2 s of a 160x120 test card: every detail one pixel high, which libavfilter's idet took for top field first.
    static func tinyCard() throws -> String {
        try MediaFixtures.media(
            "tiny-card.mp4",
            ["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25", "-t", "2", "-c:v", "libx264", "-crf", "10", "-pix_fmt", "yuv420p"]
        ).path
    }

    /// The converter's own Möbius loop gives libavfilter's `tonemap` pictures: every sample within one level, on
    /// every plane of every picture.
    @Test func theToneMapperMakesLibavfiltersPictures() async throws {
        let worst = try await OffPool.run { () throws -> Int in
            let source = try MediaSource(path: MediaFixtures.pqSmall)
            let stream = try source.pictureStream()
            let decoder = try StreamDecoder(stream, of: source, threads: 1)
            let processing = PictureProcessing(stream: stream, fieldOrder: .progressive)
            #expect(processing.toneMaps && processing.colour.peakLuminance == nil, "x265 puts MaxCLL in the frames")
            let converter = try PictureConverter(
                width: 640, height: 360, clockwiseRotation: 0, pixelFormat: AV_PIX_FMT_YUV420P, fullRange: false, threads: 1,
                processing: processing, timeBase: stream.pointee.time_base)
            let packet = try Packet(), expected = try Frame()
            var reference: FilterGraph?
            var worst = 0, compared = 0
            func compare(_ frame: UnsafeMutablePointer<AVFrame>) throws(MediaError) {
                if reference == nil {
                    let peak = aura_frame_peak_luminance(frame)
                    #expect(peak == 1000)
                    let description =
                        processing.filterDescription(width: 640, height: 360, output: .video(AV_PIX_FMT_YUV420P), peakLuminance: peak) ?? ""
                    reference = try FilterGraph(description, input: frame, timeBase: stream.pointee.time_base, threads: 1)
                }
                try reference!.push(frame)
                expected.unref()
                guard try reference!.pull(into: expected.pointer) else { return }
                try converter.convert(frame) { ours throws(MediaError) in
                    compared += 1
                    for plane in 0..<3 {
                        let rows = plane == 0 ? 360 : 180, columns = plane == 0 ? 640 : 320
                        let a = withUnsafeBytes(of: ours.pointee.data) { $0.load(fromByteOffset: plane * 8, as: UnsafeMutablePointer<UInt8>.self) }
                        let b = withUnsafeBytes(of: expected.pointer.pointee.data) {
                            $0.load(fromByteOffset: plane * 8, as: UnsafeMutablePointer<UInt8>.self)
                        }
                        let strideA = Int(withUnsafeBytes(of: ours.pointee.linesize) { $0.load(fromByteOffset: plane * 4, as: Int32.self) })
                        let strideB = Int(
                            withUnsafeBytes(of: expected.pointer.pointee.linesize) { $0.load(fromByteOffset: plane * 4, as: Int32.self) })
                        for row in 0..<rows {
                            for column in 0..<columns {
                                worst = max(worst, abs(Int(a[row * strideA + column]) - Int(b[row * strideB + column])))
                            }
                        }
                    }
                }
            }
            while try source.read(into: packet) {
                defer { packet.unref() }
                guard decoder.accepts(packet) else { continue }
                try decoder.decode(packet.pointer) { frame throws(MediaError) in try compare(frame) }
            }
            try decoder.decode(nil) { frame throws(MediaError) in try compare(frame) }
            #expect(compared == 10)
            return worst
        }
        #expect(worst <= 1, "largest difference from libavfilter's tonemap: \(worst) levels")
    }

    @Test func interlacingIsFoundFromTagsOrFromThePictures() async throws {
        let verdicts = try await OffPool.run {
            (
                tagged: try ScanDetector.fieldOrder(path: Self.taggedInterlaced()),
                top: try ScanDetector.fieldOrder(path: Self.woven(bottomFirst: false)),
                bottom: try ScanDetector.fieldOrder(path: Self.woven(bottomFirst: true)),
                card: try ScanDetector.fieldOrder(path: Self.tinyCard()),
                clip: try ScanDetector.fieldOrder(path: MediaFixtures.h264AAC),
                rotated: try ScanDetector.fieldOrder(path: MediaFixtures.rotated)
            )
        }
        #expect(verdicts.tagged == .topFieldFirst)
        #expect(verdicts.top == .topFieldFirst, "woven top field first, tagged progressive")
        #expect(verdicts.bottom == .bottomFieldFirst, "woven bottom field first, tagged progressive")
        #expect(verdicts.card == .progressive && verdicts.clip == .progressive && verdicts.rotated == .progressive)
    }

    @Test func theFilterGraphFollowsTheTagsAndTheOutput() throws {
        let pq = SourceColour(
            primaries: Int32(AVCOL_PRI_BT2020.rawValue), transfer: Int32(AVCOL_TRC_SMPTE2084.rawValue),
            matrix: Int32(AVCOL_SPC_BT2020_NCL.rawValue), range: Int32(AVCOL_RANGE_MPEG.rawValue), peakLuminance: 1015)
        let hdr = PictureProcessing(colour: pq, fieldOrder: .progressive, sourceHeight: 2160, bitDepth: 10)
        #expect(hdr.toneMaps && !hdr.deinterlaces && pq.hdr == .pq)
        let graph = hdr.filterDescription(width: 1280, height: 720, output: .video(AV_PIX_FMT_YUV420P), peakLuminance: pq.peakLuminance)
        #expect(graph?.hasPrefix("scale=w=1280:h=720:flags=bicubic:in_color_matrix=bt2020,") == true, "\(graph ?? "")")
        #expect(graph?.contains("pin=9:tin=16:min=9:rin=limited:t=linear:npl=203.0:p=709") == true, "\(graph ?? "")")
        #expect(graph?.contains("tonemap=tonemap=mobius:param=0.9:desat=0:peak=5.0") == true, "MaxCLL 1015 / 203: \(graph ?? "")")
        #expect(graph?.hasSuffix("zscale=tin=linear:pin=709:t=709:m=709:r=limited:f=bicubic,format=yuv420p") == true, "\(graph ?? "")")
        // The plan: the same graph around tone mapping done in place.
        let plan = try #require(hdr.filterPlan(width: 1280, height: 720, output: .video(AV_PIX_FMT_YUV420P), peakLuminance: 1015))
        #expect(plan.graph.hasSuffix("format=gbrpf32le") && plan.toneMapping?.knee == 0.9 && plan.toneMapping?.peak == 5)
        #expect(plan.finish == "zscale=tin=linear:pin=709:t=709:m=709:r=limited:f=bicubic,format=yuv420p")
        // No metadata: 1000 cd/m²; HLG.
        var hlg = pq
        hlg.transfer = Int32(AVCOL_TRC_ARIB_STD_B67.rawValue)
        hlg.peakLuminance = nil
        let phone = PictureProcessing(colour: hlg, fieldOrder: .progressive, sourceHeight: 1080, bitDepth: 10)
        #expect(
            phone.filterDescription(width: 1280, height: 720, output: .rgb(AV_PIX_FMT_RGBA), peakLuminance: nil)?
                .contains("peak=\(1000 / 203.0)") == true)

        // 8-bit BT.709 progressive: swscale alone, for every output.
        let bt709 = PictureProcessing(colour: .bt709, fieldOrder: .progressive, sourceHeight: 1080)
        #expect(bt709.filterDescription(width: 640, height: 360, output: .video(AV_PIX_FMT_YUV420P), peakLuminance: nil) == nil)
        #expect(bt709.filterDescription(width: 640, height: 360, output: .rgb(AV_PIX_FMT_RGB24), peakLuminance: nil) == nil)
        // …JPEG too, but its YCbCr is BT.601's: converted by swscale through RGB, not relabelled.
        #expect(bt709.filterDescription(width: 640, height: 360, output: .jpeg, peakLuminance: nil) == nil)
        #expect(bt709.convertsMatrixForJPEG)
        // Untagged SD to a proxy: the matrix becomes BT.709, the primaries stay.
        let untagged = SourceColour(
            primaries: Int32(AVCOL_PRI_UNSPECIFIED.rawValue), transfer: Int32(AVCOL_TRC_UNSPECIFIED.rawValue),
            matrix: Int32(AVCOL_SPC_UNSPECIFIED.rawValue), range: Int32(AVCOL_RANGE_UNSPECIFIED.rawValue))
        let sd = PictureProcessing(colour: untagged, fieldOrder: .bottomFieldFirst, sourceHeight: 576)
        #expect(!sd.convertsMatrixForJPEG, "SD YCbCr is JFIF's already")
        let sdGraph = sd.filterDescription(width: 854, height: 480, output: .video(AV_PIX_FMT_YUV420P), peakLuminance: nil)
        #expect(sdGraph?.hasPrefix("bwdif=mode=send_frame:parity=bff:deint=all,scale=w=854:h=480") == true, "\(sdGraph ?? "")")
        #expect(sdGraph?.contains("pin=1:tin=1:min=6:rin=limited:t=709:p=709:m=709") == true, "\(sdGraph ?? "")")
        // Display P3 SDR: mapped in linear light by zscale.
        let p3 = SourceColour(
            primaries: Int32(AVCOL_PRI_SMPTE432.rawValue), transfer: Int32(AVCOL_TRC_IEC61966_2_1.rawValue),
            matrix: Int32(AVCOL_SPC_BT709.rawValue), range: Int32(AVCOL_RANGE_MPEG.rawValue))
        #expect(p3.isWideGamut && p3.hdr == nil)
        let p3Graph = PictureProcessing(colour: p3, fieldOrder: .progressive, sourceHeight: 1080)
            .filterDescription(width: 1280, height: 720, output: .video(AV_PIX_FMT_YUV420P), peakLuminance: nil)
        #expect(p3Graph?.contains("pin=12:tin=13:min=1:rin=limited:t=709:p=709:m=709") == true, "\(p3Graph ?? "")")
    }
}
