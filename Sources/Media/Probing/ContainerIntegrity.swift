/// Best-effort detection of files that were cut short (an interrupted copy or recording), from media data that
/// is really missing, never from bytes a file has beyond its media.
///
/// libav happily demuxes the part of a cut file that is there, so a truncated file otherwise looks like a
/// shorter valid one until decoding runs dry. Files with extra bytes after their last box or element (padding, a
/// recovered copy, a recorder that pre-allocates) are playable and are never refused. What is checked, per
/// container:
/// - MP4/MOV: top-level boxes are walked. A file without a `moov` index (a non-faststart file cut before the index
///   was written) or whose `moov` runs past the end is truncated; so is a fragmented file whose last fragment (a
///   `moof` and the `mdat` right after it) runs past the end. Other boxes running past the end, and bytes that are not a box, are left to the sample
///   index check made after opening (`Demuxer`): an index entry whose data lies past the end of the file.
/// - Matroska/WebM: the Segment element's declared size (written when the muxer finalises) must fit in the file.
///   Live-written files with an "unknown" size cannot be checked this way.
/// - MPEG-TS: a last packet that starts with a sync byte but is incomplete. Trailing bytes that do not start a
///   packet are ignored; a TS cut on a packet boundary is indistinguishable from a shorter recording.
/// Other containers are not checked.
enum ContainerIntegrity {
    /// Returns a reason when the top-level MP4 box structure says media data is missing, `nil` otherwise.
    /// Returns `nil` for files that do not start like an ISO-BMFF file.
    static func mp4BoxProblem(path: String, fileSize: Int64) -> String? {
        let head = SourceFile.readBytes(path, offset: 0, count: 12)
        guard head.count >= 8, String(decoding: head[4..<8], as: UTF8.self) == "ftyp" else { return nil }
        var offset: Int64 = 0
        var sawMoov = false
        var previousType = ""
        var boxes = 0
        var walkedToEnd = true
        while offset < fileSize, boxes < 100_000 {
            boxes += 1
            let header = SourceFile.readBytes(path, offset: offset, count: 16)
            // Bytes that do not form a box header: after the index they are trailing bytes (ignored); before it,
            // libav judges the file.
            guard header.count >= 8, let type = boxType(header) else {
                walkedToEnd = false
                break
            }
            var size = Int64(be32(header, 0))
            if size == 1 {
                guard header.count >= 16 else {
                    walkedToEnd = false
                    break
                }
                size = Int64(bitPattern: (UInt64(be32(header, 8)) << 32) | UInt64(be32(header, 12)))
            } else if size == 0 {
                size = fileSize - offset  // "extends to end of file"
            }
            guard size >= 8 else {
                walkedToEnd = false
                break
            }
            if offset + size > fileSize {
                let cut = "the '\(type)' box declares \(size) bytes at offset \(offset) but the file ends at \(fileSize)"
                if type == "moov" { return cut + ": the 'moov' index is cut off" }
                if !sawMoov { return cut + " and the 'moov' index is missing" }
                // A fragment is a `moof` and the `mdat` right after it that holds its samples.
                if type == "moof" || (type == "mdat" && previousType == "moof") { return cut + ": the last fragment is cut off" }
                break  // Past the index: the sample index check decides whether samples are missing.
            }
            if type == "moov" { sawMoov = true }
            previousType = type
            offset += size
        }
        if !sawMoov && walkedToEnd {
            return "the 'moov' index box is missing (the recording or copy was not finished)"
        }
        return nil
    }

    /// A box type: four printable ASCII characters (the types ISO-BMFF and QuickTime use), or nil for other bytes.
    private static func boxType(_ header: [UInt8]) -> String? {
        let bytes = header[4..<8]
        guard bytes.allSatisfy({ (0x20...0x7e).contains($0) }) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Returns a reason when a Matroska/WebM segment declares more bytes than the file holds.
    static func matroskaProblem(path: String, fileSize: Int64) -> String? {
        let head = SourceFile.readBytes(path, offset: 0, count: 4096)
        guard head.count >= 4, head[0] == 0x1A, head[1] == 0x45, head[2] == 0xDF, head[3] == 0xA3 else { return nil }
        var pos = 4
        guard let (ebmlSize, ebmlLen, _) = vint(head, pos) else { return nil }
        pos += ebmlLen + Int(ebmlSize)
        guard pos + 4 <= head.count, head[pos] == 0x18, head[pos + 1] == 0x53, head[pos + 2] == 0x80,
            head[pos + 3] == 0x67
        else { return nil }
        pos += 4
        guard let (segmentSize, sizeLen, unknown) = vint(head, pos), !unknown else { return nil }
        let end = Int64(pos + sizeLen) + Int64(segmentSize)
        if end > fileSize {
            return "the Matroska segment declares \(end) bytes but the file has \(fileSize)"
        }
        return nil
    }

    /// Returns a reason when an MPEG-TS (or M2TS) file ends inside a packet: the bytes after the last whole
    /// packet start like a packet (a sync byte where one belongs) but stop short.
    static func transportStreamProblem(path: String, fileSize: Int64) -> String? {
        let head = SourceFile.readBytes(path, offset: 0, count: 5)
        guard head.count == 5 else { return nil }
        // M2TS packets carry a 4-byte timestamp before the sync byte.
        let (packetSize, syncOffset): (Int64, Int64) = head[0] == 0x47 ? (188, 0) : head[4] == 0x47 ? (192, 4) : (188, 0)
        let partial = fileSize % packetSize
        guard partial != 0 else { return nil }
        let lastPacket = fileSize - partial
        guard partial > syncOffset, SourceFile.readBytes(path, offset: lastPacket + syncOffset, count: 1) == [0x47] else {
            return nil  // Trailing bytes that are not a packet.
        }
        return "the last MPEG-TS packet is incomplete (\(partial) of its \(packetSize) bytes are there)"
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
