import Foundation
import Locking
import MediaCache

/// The settings a user saved with `updateSettings`, kept across restarts in `<directory>/settings.json`: a
/// settings patch (only the members ever changed), written atomically (a partial file, fsync, rename).
///
/// A file that cannot be read, is not JSON, or holds unknown members or invalid values is *damaged*: it is reported
/// and the defaults are used. It is never overwritten: the first save moves it aside to `settings.json.damaged`
/// (replacing an older one) and says so.
///
/// Lock: `state` guards what was saved and whether the file on disk is damaged; saves are serialised by it.
public final class SettingsFile: Sendable {
    public let url: URL
    private let state = Mutex<(saved: ServerSettings.Patch, damaged: Bool)>((ServerSettings.Patch(), false))

    public enum Loaded: Sendable, Equatable {
        case missing
        case loaded(ServerSettings.Patch)
        /// The file is unusable; the reason names the file and what is wrong.
        case damaged(String)
    }

    public init(directory: URL) {
        url = directory.appendingPathComponent("settings.json")
    }

    /// `$AURA_MEDIA_CONFIG_DIR`, else `$XDG_CONFIG_HOME/aura-media`, else `~/.config/aura-media` (relative values
    /// of the variables are ignored, as the XDG specification says).
    public static func defaultDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        if let explicit = environment["AURA_MEDIA_CONFIG_DIR"], explicit.hasPrefix("/") {
            return URL(fileURLWithPath: explicit)
        }
        if let xdg = environment["XDG_CONFIG_HOME"], xdg.hasPrefix("/") {
            return URL(fileURLWithPath: xdg).appendingPathComponent("aura-media")
        }
        let home = environment["HOME"].flatMap { $0.hasPrefix("/") ? $0 : nil } ?? NSHomeDirectory()
        return URL(fileURLWithPath: home).appendingPathComponent(".config/aura-media")
    }

    /// Reads the file (once, at start).
    public func load() -> Loaded {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch let error as CocoaError where error.code == .fileReadNoSuchFile {
            return .missing
        } catch {
            return damaged("cannot be read (\(error.localizedDescription))")
        }
        let patch: ServerSettings.Patch
        do {
            patch = try JSONDecoder().decode(ServerSettings.Patch.self, from: data)
            _ = try ServerSettings().applying(patch, field: "settings")
        } catch let error as SettingsError {
            return damaged(error.message)
        } catch {
            return damaged("is not a JSON object of settings (\(Self.describe(error)))")
        }
        state.withLock { $0 = (patch, false) }
        return .loaded(patch)
    }

    /// Adds `patch` to what is saved and writes the file. Returns a notice when a damaged file was moved aside.
    @discardableResult
    public func save(_ patch: ServerSettings.Patch) throws -> String? {
        try state.withLock { state -> String? in
            let merged = state.saved.merged(with: patch)
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700])
            var notice: String?
            if state.damaged {
                let aside = url.appendingPathExtension("damaged")
                _ = try? FileManager.default.removeItem(at: aside)
                if (try? FileManager.default.moveItem(at: url, to: aside)) != nil {
                    notice = "the damaged settings file was moved to \(aside.path); \(url.path) now holds the settings saved since"
                }
                state.damaged = false
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let bytes = [UInt8](try encoder.encode(merged)) + [0x0A]
            let partial = url.deletingLastPathComponent().appendingPathComponent(".settings.json.\(getpid()).partial")
            try DurableFile.write(bytes, to: url, via: partial)
            state.saved = merged
            return notice
        }
    }

    private func damaged(_ reason: String) -> Loaded {
        state.withLock { $0.damaged = true }
        return .damaged("the settings file \(url.path) \(reason)")
    }

    private static func describe(_ error: any Error) -> String {
        if let error = error as? DecodingError {
            switch error {
            case .dataCorrupted(let context):
                let path = context.codingPath.map(\.stringValue).joined(separator: ".")
                return path.isEmpty ? "not valid JSON" : "'\(path)' is invalid"
            case .typeMismatch(_, let context), .valueNotFound(_, let context):
                return "'\(context.codingPath.map(\.stringValue).joined(separator: "."))' has the wrong type"
            case .keyNotFound(let key, _):
                return "'\(key.stringValue)' is missing"
            @unknown default:
                return "\(error)"
            }
        }
        return "\(error)"
    }
}
