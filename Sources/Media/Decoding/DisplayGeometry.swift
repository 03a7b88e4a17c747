import CFFmpeg

/// The picture a player shows for a video stream: the coded size with the sample aspect ratio applied (square
/// pixels) and turned by the display rotation. Proxies and frames are both sized from it.
public struct DisplayGeometry: Sendable, Equatable {
    public let codedWidth: Int
    public let codedHeight: Int
    /// Width over height of one coded pixel (1 for square pixels).
    public let pixelAspect: Double
    /// The clockwise rotation a player applies: 0, 90, 180 or 270.
    public let clockwiseRotation: Int

    public init(codedWidth: Int, codedHeight: Int, sampleAspectRatio: (num: Int, den: Int)?, clockwiseRotation: Int) {
        self.codedWidth = codedWidth
        self.codedHeight = codedHeight
        if let sar = sampleAspectRatio, sar.num > 0, sar.den > 0 {
            pixelAspect = Double(sar.num) / Double(sar.den)
        } else {
            pixelAspect = 1
        }
        self.clockwiseRotation = ((clockwiseRotation % 360) + 360) % 360 / 90 * 90
    }

    /// The geometry of a decoded stream (its display matrix and sample aspect ratio).
    init(stream: UnsafeMutablePointer<AVStream>) {
        let par = stream.pointee.codecpar.pointee
        let sar = stream.pointee.sample_aspect_ratio.num > 0 ? stream.pointee.sample_aspect_ratio : par.sample_aspect_ratio
        let ccw = aura_stream_display_rotation(stream)
        self.init(
            codedWidth: Int(par.width), codedHeight: Int(par.height),
            sampleAspectRatio: sar.num > 0 ? (Int(sar.num), Int(sar.den)) : nil,
            clockwiseRotation: ccw.isNaN ? 0 : MediaProbe.clockwiseRotation(fromCounterClockwise: ccw))
    }

    /// Whether the rotation swaps width and height.
    public var isQuarterTurned: Bool { clockwiseRotation == 90 || clockwiseRotation == 270 }

    /// The upright, square-pixel size, unrounded.
    public var displaySize: (width: Double, height: Double) {
        let width = Double(codedWidth) * pixelAspect, height = Double(codedHeight)
        return isQuarterTurned ? (height, width) : (width, height)
    }

    /// A picture size from an optional width and height: both given are used as they are; one alone keeps the
    /// display aspect ratio; none is the display size. Sides are at least 1.
    public func pictureSize(width: Int?, height: Int?) -> (width: Int, height: Int) {
        let display = displaySize
        switch (width, height) {
        case (let width?, let height?):
            return (width, height)
        case (let width?, nil):
            return (width, max(1, Int((Double(width) * display.height / display.width).rounded())))
        case (nil, let height?):
            return (max(1, Int((Double(height) * display.width / display.height).rounded())), height)
        case (nil, nil):
            return (max(1, Int(display.width.rounded())), max(1, Int(display.height.rounded())))
        }
    }
}
