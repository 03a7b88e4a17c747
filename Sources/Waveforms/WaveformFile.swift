import FileErrors
import Foundation
import Media
import MediaCache

/// The on-disk form of a `WaveformPyramid`: one file per source content and audio stream, named by its key
/// (`WaveformStore.key`).
///
/// Layout (little-endian):
/// ```
/// "AURAWAVE"                      8 bytes
/// version                         UInt32 (2; version 1 files, which have no audio stream field, are stream 0's)
/// fingerprint key                 16 ASCII bytes
/// audioStream                     UInt32 (version 2)
/// sampleRate, channelCount        UInt32, UInt32
/// sampleCount                     UInt64
/// startSeconds                    Float64
/// levelCount                      UInt32
/// per level: bucketSamples        UInt32, bucketCount UInt64
/// per level, per series:          min Int16 × bucketCount, max Int16 × bucketCount, rms UInt16 × bucketCount
/// checksum                        UInt64: FNV-1a over 8-byte words of everything before it
/// ```
/// A file whose length, header or checksum is wrong (cut short by a crash or a full disk, or damaged) is refused
/// by `decode`, and the cache rebuilds it; it is never served.
enum WaveformFile {
    static let magic = Array("AURAWAVE".utf8)
    static let version: UInt32 = 2

    /// Why a file was refused.
    struct Invalid: Error, CustomStringConvertible {
        var reason: String
        var description: String { "invalid waveform file: \(reason)" }
    }

    /// Writes the file's bytes piece by piece (the level arrays as they are in memory, never copied whole),
    /// the checksum computed on the way.
    static func encode(_ pyramid: WaveformPyramid, key: String, to file: inout DurableFile.Writer) throws(FileError) {
        var checksum = Checksum()
        var header: [UInt8] = magic
        append(&header, version)
        let (fingerprint, audioStream) = WaveformStore.parts(of: key)
        precondition(fingerprint.utf8.count == 16)
        header += Array(fingerprint.utf8)
        append(&header, UInt32(audioStream))
        append(&header, UInt32(pyramid.sampleRate))
        append(&header, UInt32(pyramid.channelCount))
        append(&header, UInt64(pyramid.sampleCount))
        append(&header, pyramid.startSeconds.bitPattern)
        append(&header, UInt32(pyramid.levels.count))
        for level in pyramid.levels {
            append(&header, UInt32(level.bucketSamples))
            append(&header, UInt64(level.bucketCount))
        }
        header.withUnsafeBytes { checksum.update($0) }
        try file.write(header)
        // Little-endian hosts only (x86_64, arm64): the arrays are written as they are in memory.
        for level in pyramid.levels {
            for series in level.series {
                series.min.withUnsafeBytes { checksum.update($0) }
                try file.write(series.min)
                series.max.withUnsafeBytes { checksum.update($0) }
                try file.write(series.max)
                series.rms.withUnsafeBytes { checksum.update($0) }
                try file.write(series.rms)
            }
        }
        try file.write([checksum.value.littleEndian])
    }

    static func decode(_ bytes: [UInt8], key expected: String) throws(Invalid) -> WaveformPyramid {
        var reader = Reader(bytes: bytes)
        guard bytes.count >= 8 + 8, Array(bytes[0..<8]) == magic else { throw Invalid(reason: "not a waveform file") }
        reader.offset = 8
        let fileVersion = try reader.read(UInt32.self)
        guard fileVersion == 1 || fileVersion == version else { throw Invalid(reason: "unknown version") }
        let key = try reader.bytes(16)
        let audioStream = fileVersion == 1 ? 0 : Int(try reader.read(UInt32.self))
        let (fingerprint, stream) = WaveformStore.parts(of: expected)
        guard String(decoding: key, as: UTF8.self) == fingerprint else { throw Invalid(reason: "made for other content") }
        guard audioStream == stream else { throw Invalid(reason: "made for another audio stream") }
        let sampleRate = Int(try reader.read(UInt32.self))
        let channelCount = Int(try reader.read(UInt32.self))
        let sampleCount = Int64(try reader.read(UInt64.self))
        let startSeconds = Double(bitPattern: try reader.read(UInt64.self))
        let levelCount = Int(try reader.read(UInt32.self))
        guard sampleRate > 0, (1...64).contains(channelCount), sampleCount >= 0, (1...64).contains(levelCount) else {
            throw Invalid(reason: "impossible header values")
        }
        let seriesCount = channelCount > 1 ? channelCount + 1 : 1
        var shapes: [(bucketSamples: Int, bucketCount: Int)] = []
        var expected = reader.offset + levelCount * 12 + 8
        for index in 0..<levelCount {
            let bucketSamples = Int(try reader.read(UInt32.self))
            let bucketCount = try reader.read(UInt64.self)
            guard bucketSamples == WaveformPyramid.baseBucketSamples << index, bucketCount < 1 << 40 else {
                throw Invalid(reason: "impossible level \(index)")
            }
            shapes.append((bucketSamples, Int(bucketCount)))
            expected += Int(bucketCount) * 6 * seriesCount
        }
        guard bytes.count == expected else { throw Invalid(reason: "\(bytes.count) bytes where \(expected) belong (cut short?)") }
        let stored = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: bytes.count - 8, as: UInt64.self) }
        guard UInt64(littleEndian: stored) == checksum(bytes[..<(bytes.count - 8)]) else { throw Invalid(reason: "checksum mismatch") }
        var levels: [WaveformPyramid.Level] = []
        for shape in shapes {
            var series: [WaveformPyramid.Series] = []
            for _ in 0..<seriesCount {
                let min: [Int16] = reader.array(shape.bucketCount)
                let max: [Int16] = reader.array(shape.bucketCount)
                let rms: [UInt16] = reader.array(shape.bucketCount)
                series.append(.init(min: min, max: max, rms: rms))
            }
            levels.append(.init(bucketSamples: shape.bucketSamples, series: series))
        }
        return WaveformPyramid(
            sampleRate: sampleRate, channelCount: channelCount, sampleCount: sampleCount,
            startSeconds: startSeconds, levels: levels)
    }

    /// FNV-1a over little-endian 8-byte words (the tail zero-padded): fast enough to check tens of MB on every load.
    static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt64 {
        var checksum = Checksum()
        bytes.withUnsafeBytes { checksum.update($0) }
        return checksum.value
    }

    /// The checksum of bytes that arrive in pieces of any length: equal to `checksum` of them all at once.
    struct Checksum {
        private var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        /// Bytes of a word not yet complete (fewer than 8), in the low bytes first.
        private var pending: UInt64 = 0
        private var pendingCount = 0

        mutating func update(_ raw: UnsafeRawBufferPointer) {
            var index = 0
            while pendingCount > 0, pendingCount < 8, index < raw.count {
                pending |= UInt64(raw[index]) << (UInt64(pendingCount) * 8)
                pendingCount += 1
                index += 1
            }
            if pendingCount == 8 {
                mix(pending)
                pending = 0
                pendingCount = 0
            }
            let words = (raw.count - index) / 8
            for word in 0..<words {
                mix(UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: index + word * 8, as: UInt64.self)))
            }
            index += words * 8
            while index < raw.count {
                pending |= UInt64(raw[index]) << (UInt64(pendingCount) * 8)
                pendingCount += 1
                index += 1
            }
        }

        /// The hash so far, the tail (possibly empty) mixed in as one zero-padded word.
        var value: UInt64 {
            var copy = self
            copy.mix(pending)
            return copy.hash
        }

        private mutating func mix(_ word: UInt64) {
            hash = (hash ^ word) &* 0x0000_0100_0000_01b3
        }
    }

    private static func append<T: FixedWidthInteger>(_ bytes: inout [UInt8], _ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
    }

    private struct Reader {
        let bytes: [UInt8]
        var offset = 0

        mutating func read<T: FixedWidthInteger>(_ type: T.Type) throws(Invalid) -> T {
            guard offset + MemoryLayout<T>.size <= bytes.count else { throw Invalid(reason: "cut short in the header") }
            let value = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: T.self) }
            offset += MemoryLayout<T>.size
            return T(littleEndian: value)
        }

        mutating func bytes(_ count: Int) throws(Invalid) -> [UInt8] {
            guard offset + count <= bytes.count else { throw Invalid(reason: "cut short in the header") }
            defer { offset += count }
            return Array(bytes[offset..<(offset + count)])
        }

        /// `count` values (the length was checked against the header beforehand).
        mutating func array<T: FixedWidthInteger>(_ count: Int) -> [T] {
            let values = [T](unsafeUninitializedCapacity: count) { buffer, initialized in
                bytes.withUnsafeBytes { raw in
                    UnsafeMutableRawBufferPointer(buffer).copyMemory(
                        from: UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + count * MemoryLayout<T>.size)]))
                }
                initialized = count
            }
            offset += count * MemoryLayout<T>.size
            return values
        }
    }
}
