/// Best-effort detection of files that were cut short (an interrupted copy or recording).
///
/// libav happily demuxes the part of a cut file that is there, so a truncated file otherwise looks like
/// a shorter valid one until decoding runs dry. What is checked, per container:
/// - MP4/MOV: top-level boxes are walked; a box whose declared size runs past the end of the file
///   (typically `mdat`) means the file was cut. A non-faststart file cut in half has lost its `moov`
///   index, so libav cannot open it at all; the walk turns that into `.truncated` with a clear reason.
///   After opening, the sample index is also checked: an entry whose pos+size is beyond EOF.
/// - Matroska/WebM: the Segment element's declared size (written when the muxer finalises) must fit in
///   the file. Live-written files with an "unknown" size cannot be checked this way.
/// - MPEG-TS: the size must be a whole number of 188- (or 192-, M2TS) byte packets. A TS cut on a packet
///   boundary is indistinguishable from a shorter recording and is not reported.
/// Other containers are not checked.
enum ContainerIntegrity {
    /// Returns a reason when the top-level MP4 box structure says bytes are missing, `nil` otherwise.
    /// Returns `nil` for files that do not start like an ISO-BMFF file.
    static func mp4BoxProblem(path: String, fileSize: Int64) -> String? {
        let head = SourceFile.readBytes(path, offset: 0, count: 12)
        guard head.count >= 8, String(decoding: head[4..<8], as: UTF8.self) == "ftyp" else { return nil }
        var offset: Int64 = 0
        var sawMoov = false
        var boxes = 0
        while offset < fileSize, boxes < 10_000 {
            boxes += 1
            let header = SourceFile.readBytes(path, offset: offset, count: 16)
            guard header.count >= 8 else { return "the box at byte \(offset) is cut off" }
            var size = Int64(be32(header, 0))
            let type = String(decoding: header[4..<8].map { (0x20...0x7e).contains($0) ? $0 : 0x3f }, as: UTF8.self)
            if type == "moov" { sawMoov = true }
            if size == 1 {
                guard header.count >= 16 else { return "the '\(type)' box header is cut off" }
                size = Int64(bitPattern: (UInt64(be32(header, 8)) << 32) | UInt64(be32(header, 12)))
            } else if size == 0 {
                size = fileSize - offset // "extends to end of file"
            }
            guard size >= 8 else { return nil } // not a sane box structure; let libav judge
            if offset + size > fileSize {
                return "the '\(type)' box declares \(size) bytes at offset \(offset) but the file ends at \(fileSize)"
                    + (sawMoov ? "" : " and the 'moov' index is missing")
            }
            offset += size
        }
        return sawMoov ? nil : "the 'moov' index box is missing (the recording or copy was not finished)"
    }

    /// Returns a reason when a Matroska/WebM segment declares more bytes than the file holds.
    static func matroskaProblem(path: String, fileSize: Int64) -> String? {
        let head = SourceFile.readBytes(path, offset: 0, count: 4096)
        guard head.count >= 4, head[0] == 0x1A, head[1] == 0x45, head[2] == 0xDF, head[3] == 0xA3 else { return nil }
        var pos = 4
        guard let (ebmlSize, ebmlLen, _) = vint(head, pos) else { return nil }
        pos += ebmlLen + Int(ebmlSize)
        guard pos + 4 <= head.count, head[pos] == 0x18, head[pos + 1] == 0x53, head[pos + 2] == 0x80,
              head[pos + 3] == 0x67 else { return nil }
        pos += 4
        guard let (segmentSize, sizeLen, unknown) = vint(head, pos), !unknown else { return nil }
        let end = Int64(pos + sizeLen) + Int64(segmentSize)
        if end > fileSize {
            return "the Matroska segment declares \(end) bytes but the file has \(fileSize)"
        }
        return nil
    }

    /// Returns a reason when an MPEG-TS file is not a whole number of packets.
    static func transportStreamProblem(fileSize: Int64) -> String? {
        if fileSize % 188 != 0 && fileSize % 192 != 0 {
            return "the last MPEG-TS packet is incomplete (\(fileSize) bytes is not a multiple of 188)"
        }
        return nil
    }

    private static func be32(_ b: [UInt8], _ i: Int) -> UInt32 {
        UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3])
    }

    /// An EBML variable-length integer: (value, encoded length, all-ones "unknown size").
    private static func vint(_ b: [UInt8], _ i: Int) -> (UInt64, Int, Bool)? {
        guard i < b.count, b[i] != 0 else { return nil }
        let length = b[i].leadingZeroBitCount + 1
        guard i + length <= b.count else { return nil }
        var value = UInt64(b[i] & (0xFF >> length))
        var allOnes = value == UInt64(0xFF >> length)
        for k in 1..<max(length, 1) where length > 1 {
            value = value << 8 | UInt64(b[i + k])
            allOnes = allOnes && b[i + k] == 0xFF
        }
        return (value, length, allOnes)
    }
}
