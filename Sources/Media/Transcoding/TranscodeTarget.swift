/// How big a transcoded picture should be (a proxy's size).
///
/// `.box(width:height:)` is read as **long side × short side**, not as a fixed landscape rectangle: a
/// 1280×720 box gives 1280×720 for a landscape 1920×1080 source and 720×1280 for a portrait phone clip
/// (1080×1920, or 1920×1080 with a 90° rotation), so portrait proxies are as sharp as landscape ones.
/// `.scalePercent(p)` scales both sides by p% (1…100; out-of-range values are clamped).
public enum TranscodeTarget: Sendable, Equatable {
    case box(width: Int, height: Int)
    case scalePercent(Int)
}

/// The output's pixel dimensions for a source.
///
/// Rules, in order: the sample aspect ratio is applied to the width (so the output has square pixels);
/// a 90°/270° rotation swaps width and height (the output is stored upright); the result is fitted inside
/// the target keeping the display aspect ratio, never larger than the (square-pixel) source; both sides
/// are even (required by 4:2:0 chroma) and at least 2. There is no padding: the output has the source's
/// shape, not the box's.
public enum TranscodeGeometry {
    public static func outputSize(
        sourceWidth: Int, sourceHeight: Int, sampleAspectRatio: (num: Int, den: Int)?,
        rotationDegrees: Int, target: TranscodeTarget
    ) -> (width: Int, height: Int) {
        outputSize(
            DisplayGeometry(
                codedWidth: sourceWidth, codedHeight: sourceHeight, sampleAspectRatio: sampleAspectRatio,
                clockwiseRotation: rotationDegrees), target: target)
    }

    public static func outputSize(_ geometry: DisplayGeometry, target: TranscodeTarget) -> (width: Int, height: Int) {
        guard geometry.codedWidth > 0, geometry.codedHeight > 0 else { return (2, 2) }
        let (displayWidth, displayHeight) = geometry.displaySize
        let scale: Double
        switch target {
        case .box(let width, let height):
            let longSide = Double(max(width, height, 2)), shortSide = Double(max(min(width, height), 2))
            let (boxWidth, boxHeight) = displayHeight > displayWidth ? (shortSide, longSide) : (longSide, shortSide)
            scale = min(boxWidth / displayWidth, boxHeight / displayHeight, 1)
        case .scalePercent(let percent):
            scale = Double(min(max(percent, 1), 100)) / 100
        }
        return (even(displayWidth * scale, limit: displayWidth), even(displayHeight * scale, limit: displayHeight))
    }

    /// Whether a picture of `geometry` already fits `box` (long side × short side, turned to the picture's orientation)
    /// as it is: a proxy fitted to the box would be the source's own size. Sides within half a pixel of the box count.
    public static func fits(_ geometry: DisplayGeometry, within box: (width: Int, height: Int)) -> Bool {
        let (width, height) = geometry.displaySize
        let longSide = Double(max(box.width, box.height)), shortSide = Double(min(box.width, box.height))
        return max(width, height) <= longSide + 0.5 && min(width, height) <= shortSide + 0.5
    }

    /// Nearest even integer to `value`, but not above `limit` (so rounding never upscales), at least 2.
    private static func even(_ value: Double, limit: Double) -> Int {
        var result = 2 * Int((value / 2).rounded())
        if Double(result) > limit.rounded(.down) { result -= 2 }
        return max(result, 2)
    }
}
