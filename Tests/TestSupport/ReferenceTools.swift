import Foundation

/// The ffmpeg CLI and ffprobe: the tests' independent reference and fixture maker (the product never runs them).
/// Found one way: `$AURA_FFMPEG` / `$AURA_FFPROBE` when set, else the first on `PATH`, else `/usr/bin`.
public enum ReferenceTools {
    public static let ffmpeg: String = locate("ffmpeg", override: "AURA_FFMPEG")
    public static let ffprobe: String = locate("ffprobe", override: "AURA_FFPROBE")

    /// Runs the ffmpeg CLI with `arguments` (quiet unless something fails) to completion.
    public static func ffmpeg(_ arguments: [String]) throws -> Spawn.Output {
        try Spawn.run(ffmpeg, ["-hide_banner", "-nostdin"] + arguments)
    }

    /// ffprobe's JSON for `path` with `arguments` (e.g. ["-show_streams"]).
    public static func ffprobeJSON(_ path: String, _ arguments: [String]) throws -> Data {
        try Spawn.run(ffprobe, ["-v", "error", "-of", "json"] + arguments + [path]).stdout
    }

    /// `ffprobeJSON` as a dictionary (empty when ffprobe fails).
    public static func ffprobe(_ path: String, _ arguments: [String]) -> [String: Any] {
        guard let data = try? ffprobeJSON(path, arguments) else { return [:] }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
    }

    /// The presentation times (milliseconds, in order) of every packet of a file's first video stream, by ffprobe.
    public static func videoPacketTimes(_ path: String) -> [Int] {
        let json = ffprobe(path, ["-select_streams", "v:0", "-show_entries", "packet=pts_time"])
        return (json["packets"] as? [[String: Any]] ?? []).compactMap { ($0["pts_time"] as? String).flatMap(Double.init) }
            .map { Int(($0 * 1000).rounded()) }.sorted()
    }

    private static func locate(_ name: String, override: String) -> String {
        let environment = ProcessInfo.processInfo.environment
        if let path = environment[override], !path.isEmpty { return path }
        for directory in (environment["PATH"] ?? "").split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return "/usr/bin/" + name
    }
}
