import Media
import TestSupport
import Testing

@Suite struct TranscodeGeometryTests {
    let preview = TranscodeTarget.box(width: 1280, height: 720)

    func size(_ w: Int, _ h: Int, sar: (Int, Int)? = nil, rotation: Int = 0, _ target: TranscodeTarget) -> [Int] {
        let r = TranscodeGeometry.outputSize(
            sourceWidth: w, sourceHeight: h, sampleAspectRatio: sar.map { (num: $0.0, den: $0.1) },
            rotationDegrees: rotation, target: target)
        return [r.width, r.height]
    }

    @Test func landscapeFitsTheBox() {
        #expect(size(1920, 1080, preview) == [1280, 720])
        #expect(size(3840, 2160, preview) == [1280, 720])
        // Wider than 16:9: width-limited, height keeps the aspect (1280 / 2.39 ≈ 535.6 → 536).
        #expect(size(4096, 1716, preview) == [1280, 536])
    }

    @Test func portraitUsesTheBoxAsLongSideByShortSide() {
        #expect(size(1080, 1920, preview) == [720, 1280])
        #expect(size(1920, 1080, rotation: 90, preview) == [720, 1280])
        #expect(size(1920, 1080, rotation: 270, preview) == [720, 1280])
        #expect(size(1920, 1080, rotation: 180, preview) == [1280, 720])
        // A box given portrait-first means the same thing.
        #expect(size(1920, 1080, .box(width: 720, height: 1280)) == [1280, 720])
    }

    @Test func anamorphicBecomesSquarePixels() {
        // DV NTSC widescreen: 720x480 with SAR 32:27 displays as 853.3x480.
        #expect(size(720, 480, sar: (32, 27), preview) == [852, 480])  // 854 would exceed 853.3
        // HDV 1440x1080 with SAR 4:3 is 1920x1080 on screen.
        #expect(size(1440, 1080, sar: (4, 3), preview) == [1280, 720])
    }

    @Test func neverUpscales() {
        #expect(size(640, 360, preview) == [640, 360])
        #expect(size(641, 361, preview) == [640, 360])
        #expect(size(320, 240, .scalePercent(200)) == [320, 240])
    }

    @Test func dimensionsAreEven() {
        for (w, h) in [(1919, 1079), (1001, 999), (333, 777), (3, 3)] {
            let r = size(w, h, preview)
            #expect(r[0] % 2 == 0 && r[1] % 2 == 0, "\(w)x\(h) gave \(r)")
            #expect(r[0] >= 2 && r[1] >= 2)
        }
    }

    @Test func scalePercent() {
        #expect(size(1920, 1080, .scalePercent(50)) == [960, 540])
        #expect(size(1920, 1080, .scalePercent(25)) == [480, 270])
        #expect(size(1080, 1920, rotation: 90, .scalePercent(50)) == [960, 540])
    }
}
