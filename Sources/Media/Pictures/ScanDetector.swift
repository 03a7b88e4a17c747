import CFFmpeg

/// Finds whether a video is interlaced, and its field order, the way an editor must: from the stream's tags, then
/// its decoded frames' flags, then what the pictures show.
///
/// 1. The codec parameters' field order (`tt`/`tb` top first, `bb`/`bt` bottom first) is trusted when it says
///    interlaced.
/// 2. Otherwise the first `sampleFrames` decoded frames are looked at: when most are flagged interlaced (H.264
///    PAFF/MBAFF, MPEG-2, DV), their majority field order is used.
/// 3. Otherwise the pictures are measured (`aura_field_fit`): how well each frame's bottom field fits the top fields
///    of the previous frame, its own and the next one. A progressive frame is one instant, so it fits its own top field
///    better than any other; a top-field-first frame's bottom field lies half a frame after its own top field and half
///    a frame before the next frame's, so it fits those two alike and the previous frame's worse (bottom first: the
///    other way). A frame votes for what its three fits show by a clear margin (`Votes.count`; still frames show
///    nothing and do not vote). The source is interlaced when at least 8 frames vote for one field order and they
///    outnumber the progressive votes three to one. libavfilter's `idet` was tried first and called sharp progressive test cards (testsrc2 at
///    160x120: 25 of 25 frames) top field first: its threshold (1.04) takes any asymmetry of motion for fields.
///
/// Steps 2 and 3 run only on pictures at most 1088 lines high: interlaced video exists at SD and HD sizes only (480i,
/// 576i, 1080i), and a UHD source is not decoded twice. They decode the source's first seconds once, on the
/// caller's thread.
public enum ScanDetector {
    /// How many frames steps 2 and 3 look at (2 s at 25 fps).
    public static let sampleFrames = 50
    /// The tallest picture steps 2 and 3 look at.
    public static let tallestInterlaced = 1088

    /// The field order of `path`'s primary video (throws the `MediaSource` errors).
    public static func fieldOrder(path: String) throws(MediaError) -> FieldOrder {
        let source = try MediaSource(path: path, quickAnalysis: true)
        return try fieldOrder(of: source)
    }

    static func fieldOrder(of source: MediaSource) throws(MediaError) -> FieldOrder {
        let stream = try source.pictureStream()
        if let tagged = FieldOrder(tagged: stream) { return tagged }
        let par = stream.pointee.codecpar.pointee
        guard par.height <= tallestInterlaced, !source.info.isStillImage else { return .progressive }
        let decoder = try StreamDecoder(stream, of: source, threads: 1)
        let packet = try Packet()
        var seen = 0, flaggedTop = 0, flaggedBottom = 0
        var votes = Votes()
        // The last three frames (oldest first), each a reference of its own.
        var window: [Frame] = []
        func look(_ frame: UnsafeMutablePointer<AVFrame>) throws(MediaError) {
            guard seen < sampleFrames else { return }
            seen += 1
            if frame.pointee.interlaced_frame != 0 {
                if frame.pointee.top_field_first != 0 { flaggedTop += 1 } else { flaggedBottom += 1 }
            }
            let kept = try Frame()
            try FFmpegResult.check(av_frame_ref(kept.pointer, frame), "av_frame_ref")
            window.append(kept)
            if window.count > 3 { window.removeFirst() }
            if window.count == 3 { votes.count(Self.fits(window[0].pointer, window[1].pointer, window[2].pointer)) }
        }
        while seen < sampleFrames, try source.read(into: packet) {
            defer { packet.unref() }
            guard decoder.accepts(packet) else { continue }
            try decoder.decode(packet.pointer) { frame throws(MediaError) in try look(frame) }
        }
        if seen < sampleFrames { try decoder.decode(nil) { frame throws(MediaError) in try look(frame) } }
        if flaggedTop + flaggedBottom > seen / 2 { return flaggedTop >= flaggedBottom ? .topFieldFirst : .bottomFieldFirst }
        return votes.verdict
    }

    /// The bottom field of `cur` against the top fields of `prev`, `cur` and `next`; nil when the frames differ in
    /// shape.
    private static func fits(
        _ prev: UnsafeMutablePointer<AVFrame>, _ cur: UnsafeMutablePointer<AVFrame>, _ next: UnsafeMutablePointer<AVFrame>
    ) -> (previous: Double, own: Double, next: Double)? {
        let frames = [prev, cur, next]
        guard
            frames.allSatisfy({
                $0.pointee.width == cur.pointee.width && $0.pointee.height == cur.pointee.height && $0.pointee.format == cur.pointee.format
            }),
            frames.allSatisfy({ $0.pointee.linesize.0 == cur.pointee.linesize.0 }),
            let p = prev.pointee.data.0, let c = cur.pointee.data.0, let n = next.pointee.data.0,
            let descriptor = av_pix_fmt_desc_get(AVPixelFormat(rawValue: cur.pointee.format))
        else { return nil }
        var out = (0.0, 0.0, 0.0)
        withUnsafeMutableBytes(of: &out) { raw in
            aura_field_fit(
                p, c, n, cur.pointee.linesize.0, cur.pointee.width, cur.pointee.height,
                descriptor.pointee.comp.0.depth > 8 ? 2 : 1, raw.baseAddress!.assumingMemoryBound(to: Double.self))
        }
        return out
    }

    /// The frames' votes.
    struct Votes {
        var progressive = 0, top = 0, bottom = 0

        /// A frame's vote, when its fits show something by a clear margin. Measured: progressive sources fit their own
        /// top field at 0.30–0.92 of the best neighbour's fit (0.92: testsrc2 at 160x120, all one-pixel detail),
        /// interlaced ones at 0.99–1.18, their neighbours 1.3–1.5 apart; frames between 0.95 and 0.97 abstain.
        mutating func count(_ fits: (previous: Double, own: Double, next: Double)?) {
            guard let fits else { return }
            let largest = max(fits.previous, fits.own, fits.next), smallest = min(fits.previous, fits.own, fits.next)
            guard largest > 0.5, largest - smallest > 0.1 * largest else { return }  // still: no information
            let nearest = min(fits.previous, fits.next)
            if fits.own < 0.95 * nearest {
                progressive += 1
            } else if fits.own >= 0.97 * nearest {
                if fits.previous > 1.15 * fits.next {
                    top += 1
                } else if fits.next > 1.15 * fits.previous {
                    bottom += 1
                }
            }
        }

        var verdict: FieldOrder {
            let order: FieldOrder = top >= bottom ? .topFieldFirst : .bottomFieldFirst
            let interlaced = max(top, bottom)
            return interlaced >= 8 && interlaced >= 3 * progressive ? order : .progressive
        }
    }
}
