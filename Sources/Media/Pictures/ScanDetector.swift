import CFFmpeg

/// Finds whether a video is interlaced, and its field order, the way an editor must: from the stream's tags, then
/// its decoded frames' flags, then what the pictures show.
///
/// 1. The codec parameters' field order (`tt`/`tb` top first, `bb`/`bt` bottom first) is trusted when it says
///    interlaced.
/// 2. Otherwise the first `sampleFrames` decoded frames are looked at: when most are flagged interlaced (H.264
///    PAFF/MBAFF, MPEG-2, DV), their majority field order is used.
/// 3. Otherwise libavfilter's `idet` runs on the same frames: a source flagged progressive (or not at all) whose
///    pictures are woven from two instants is caught. Interlaced when idet's multi-frame verdicts for a field order
///    outnumber progressive ones two to one, over at least 8 frames.
///
/// Steps 2 and 3 run only on pictures at most 1088 lines high: interlaced video exists at SD and HD sizes only (480i,
/// 576i, 1080i), and a UHD source is not decoded twice. They decode the source's first seconds once, on the
/// caller's thread.
public enum ScanDetector {
    /// How many frames steps 2 and 3 look at (2 s at 25 fps; idet needs a few to settle).
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
        let par = stream.pointee.codecpar.pointee
        switch par.field_order {
        case AV_FIELD_TT, AV_FIELD_TB: return .topFieldFirst
        case AV_FIELD_BB, AV_FIELD_BT: return .bottomFieldFirst
        default: break
        }
        guard par.height <= tallestInterlaced, !source.info.isStillImage else { return .progressive }
        let decoder = try StreamDecoder(stream, of: source, threads: 1)
        let packet = try Packet()
        var seen = 0, flaggedTop = 0, flaggedBottom = 0
        var detector: FilterGraph?
        let verdict = try Frame()
        var lastVerdict: (top: Int, bottom: Int, progressive: Int)?
        func look(_ frame: UnsafeMutablePointer<AVFrame>) throws(MediaError) {
            guard seen < sampleFrames else { return }
            seen += 1
            if frame.pointee.interlaced_frame != 0 {
                if frame.pointee.top_field_first != 0 { flaggedTop += 1 } else { flaggedBottom += 1 }
            }
            if detector == nil {
                detector = try FilterGraph("idet", input: frame, timeBase: stream.pointee.time_base, threads: 1)
            }
            frame.pointee.pts = Int64(seen)
            try detector!.push(frame)
            while try detector!.pull(into: verdict.pointer) {
                lastVerdict = Self.multipleFrameVerdict(of: verdict.pointer) ?? lastVerdict
                verdict.unref()
            }
        }
        while seen < sampleFrames, try source.read(into: packet) {
            defer { packet.unref() }
            guard decoder.accepts(packet) else { continue }
            try decoder.decode(packet.pointer) { frame throws(MediaError) in try look(frame) }
        }
        if seen < sampleFrames { try decoder.decode(nil) { frame throws(MediaError) in try look(frame) } }
        if flaggedTop + flaggedBottom > seen / 2 { return flaggedTop >= flaggedBottom ? .topFieldFirst : .bottomFieldFirst }
        guard let counts = lastVerdict else { return .progressive }
        let interlaced = counts.top + counts.bottom
        guard interlaced >= 8, interlaced >= 2 * counts.progressive else { return .progressive }
        return counts.top >= counts.bottom ? .topFieldFirst : .bottomFieldFirst
    }

    /// idet's running multi-frame counts, from a frame's metadata.
    private static func multipleFrameVerdict(of frame: UnsafeMutablePointer<AVFrame>) -> (top: Int, bottom: Int, progressive: Int)? {
        func count(_ key: String) -> Int? {
            guard let entry = av_dict_get(frame.pointee.metadata, "lavfi.idet.multiple." + key, nil, 0),
                let value = entry.pointee.value
            else { return nil }
            return Double(String(cString: value)).map { Int($0.rounded()) }  // idet writes "50.00"
        }
        guard let top = count("tff"), let bottom = count("bff"), let progressive = count("progressive") else { return nil }
        return (top, bottom, progressive)
    }
}
