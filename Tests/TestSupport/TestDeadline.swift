import Foundation

/// Deadlines of waits in tests. A wait in a test catches a hang; it never measures speed. Every deadline is the time a
/// step may take on the developers' machines times `TestFiles.slowdown`, so the suite passes on machines that are two
/// to three times slower and busy (CI: 2 cores shared by every suite of a `swift test` process), and a step that never
/// ends still fails the test.
public enum TestDeadline {
    /// The instant `duration × TestFiles.slowdown` from now.
    public static func after(_ duration: Duration) -> ContinuousClock.Instant {
        .now + duration * TestFiles.slowdown
    }

    /// The same, as a `Date` (for waits written with `Date`).
    public static func date(after seconds: TimeInterval) -> Date {
        Date().addingTimeInterval(seconds * Double(TestFiles.slowdown))
    }
}
