import Foundation
import TestSupport

/// The end-to-end suites' own clips and scratch folders, made by the shared fixture maker (TestSupport).
extension MediaFixtures {
    /// A fresh directory, removed with the test process's scratch root.
    static func temporaryDirectory(named name: String) -> URL {
        TestFiles.scratch(name)
    }

    /// 2 s of 320x240 25 fps H.264 with stereo AAC, moov at the front.
    static func shortClip() async throws -> URL {
        try media(
            "short.mp4",
            [
                "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2",
                "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=2",
                "-ac", "2", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac",
                "-movflags", "+faststart", "-shortest",
            ])
    }
}
