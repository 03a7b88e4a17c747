import CFFmpeg

/// A frame's planes by index (`data[i]` and `linesize[i]`): C's fixed arrays come to Swift as tuples.
extension UnsafeMutablePointer where Pointee == AVFrame {
    /// The start of plane `index` (nil past the format's planes).
    func plane(_ index: Int) -> UnsafeMutablePointer<UInt8>? {
        withUnsafeBytes(of: pointee.data) { $0.bindMemory(to: UnsafeMutablePointer<UInt8>?.self)[index] }
    }

    /// The bytes from one row of plane `index` to the next.
    func stride(_ index: Int) -> Int32 {
        withUnsafeBytes(of: pointee.linesize) { $0.bindMemory(to: Int32.self)[index] }
    }
}
