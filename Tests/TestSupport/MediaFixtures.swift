import Foundation

/// The one maker of media fixtures: small files made with the ffmpeg CLI (`ReferenceTools`), once per name per test
/// process, in a private temporary directory (never committed). Every test target asks here, by a name that is its
/// own; the `static let`s are the kinds several targets share (probing, transcoding, waveforms). Swift runs global
/// initialisers once, so tests running in parallel share them safely.
public enum MediaFixtures {
    public static let directory: String = TestFiles.scratch("media").path

    public static func path(_ name: String) -> String { directory + "/" + name }

    /// One fixture: the arguments that make it, and whether it is made. `lock` is held while it is made, so a name
    /// is made once even when two tests ask at the same moment; other names are made meanwhile (a 40-minute FLAC
    /// takes seconds, and a test waiting for a small clip must not wait for it).
    private final class Entry: @unchecked Sendable {
        // @unchecked: `made` is only touched under `lock`.
        let arguments: [String]
        let lock = NSLock()
        var made = false
        init(arguments: [String]) { self.arguments = arguments }
    }

    /// Every fixture asked for so far, by name. Its lock is held only to find or add an entry.
    private static let entries = Locked<[String: Entry]>([:])

    /// Runs `ffmpeg ARGUMENTS <directory>/<name>` the first time `name` is asked for; returns the file. A name asked
    /// for again with other arguments is a test bug, and stops the run.
    public static func media(_ name: String, _ arguments: [String]) throws -> URL {
        let url = URL(fileURLWithPath: path(name))
        let entry = entries.withLock { entries in
            if let entry = entries[name] { return entry }
            let entry = Entry(arguments: arguments)
            entries[name] = entry
            return entry
        }
        precondition(entry.arguments == arguments, "fixture \(name) asked for with two sets of arguments")
        try entry.lock.withLock {
            guard !entry.made else { return }
            let result = try ReferenceTools.ffmpeg(["-loglevel", "error", "-y"] + arguments + [url.path])
            guard result.status == 0 else { throw FixtureError.ffmpegFailed(name + ": " + result.stderr) }
            entry.made = true
        }
        return url
    }

    /// `media` on a thread of its own: for long fixtures (minutes of audio take seconds to encode), which must not
    /// hold one of the concurrency pool's few threads while every other test waits.
    public static func mediaOffPool(_ name: String, _ arguments: [String]) async throws -> URL {
        try await OffPool.run { try media(name, arguments) }
    }

    /// `media` for the shared `static let`s: its path, and a failure stops the run.
    @discardableResult
    public static func make(_ name: String, _ arguments: [String]) -> String {
        do {
            return try media(name, arguments).path
        } catch {
            preconditionFailure("ffmpeg failed making \(name): \(error)")
        }
    }

    public enum FixtureError: Error { case ffmpegFailed(String) }

    public static let video = ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"]
    public static let sine = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]

    /// 2 s H.264 320x240@25 + mono AAC 48 kHz, faststart.
    public static let h264AAC = make(
        "av.mp4",
        video + sine + [
            "-t", "2", "-c:v", "libx264", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-movflags", "+faststart",
        ])
    /// 4 s, index at the end (no faststart), for the "cut in half" case.
    public static let notFaststart = make("nofs.mp4", video + sine + ["-t", "4", "-c:v", "libx264", "-c:a", "aac"])
    /// 2 s of 320x240 video + 5.1 AAC.
    public static let surround = make(
        "surround.mp4",
        video + sine + [
            "-t", "2", "-c:v", "libx264", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-ac", "6", "-channel_layout", "5.1",
        ])
    /// 5.1 audio only.
    public static let audioOnly = make("audio.m4a", sine + ["-t", "2", "-c:a", "aac", "-ac", "6", "-channel_layout", "5.1"])
    /// Video without audio, bt709-tagged.
    public static let videoOnly = make(
        "video.mp4",
        video + [
            "-t", "2", "-c:v", "libx264", "-pix_fmt", "yuv420p",
            "-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709",
        ])
    /// The h264AAC clip with a display matrix (FFmpeg 5.1 only writes it on stream copy).
    public static let rotated = make("rotated.mp4", ["-i", h264AAC, "-c", "copy", "-metadata:s:v", "rotate=90"])
    /// Variable frame rate: jittered timestamps and dropped frames, nominally 25 fps.
    public static let variableFrameRate = make(
        "vfr.mp4",
        video + [
            "-t", "3", "-vf",
            "select=not(eq(mod(n\\,7)\\,3)),setpts=PTS+0.3*sin(N)/25/TB",
            "-fps_mode", "vfr", "-enc_time_base", "1/1000", "-c:v", "libx264", "-pix_fmt", "yuv420p",
        ])
    public static let png = make("image.png", ["-f", "lavfi", "-i", "testsrc2=size=320x240", "-frames:v", "1"])
    public static let mkv = make("video.mkv", video + ["-t", "4", "-c:v", "libx264"])
    public static let ts = make("video.ts", video + ["-t", "4", "-c:v", "libx264"])
    /// 4 s fragmented MP4 (moof/mdat pairs of 1 s), as live recorders write.
    public static let fragmented = make(
        "fragmented.mp4",
        video + [
            "-t", "4", "-c:v", "libx264", "-g", "25",
            "-movflags", "+frag_keyframe+empty_moov",
        ])

    /// Two different tones (440 Hz, and 660 Hz at half level), one per channel, so a swapped or mixed channel shows.
    public static let twoTones = ["-f", "lavfi", "-i", "aevalsrc=sin(2*PI*440*t)|0.5*sin(2*PI*660*t):s=48000:d=2"]

    /// Audio in each format the waveform layer must read: WAV (mono, s16), FLAC (stereo), MP3 (stereo),
    /// AAC in MP4 (5.1), Opus in Ogg (stereo).
    public static let wavMono = make(
        "mono.wav",
        [
            "-f", "lavfi", "-i", "sine=frequency=300:sample_rate=44100:duration=2",
            "-c:a", "pcm_s16le",
        ])
    public static let flacStereo = make("stereo.flac", twoTones + ["-c:a", "flac"])
    /// 60 s of 24-bit stereo FLAC without a seek table: seeking in it is libav's binary search over frame headers,
    /// which can fail part-way ("read_timestamp() failed in the middle") depending on what was read before.
    public static let flacLong = make(
        "long.flac",
        [
            "-f", "lavfi", "-i", "aevalsrc=0.3*sin(2*PI*440*t)|0.3*sin(2*PI*(330+30*sin(t))*t):s=48000:d=60",
            "-c:a", "flac", "-sample_fmt", "s32",
        ])
    public static let mp3Stereo = make("stereo.mp3", twoTones + ["-c:a", "libmp3lame", "-b:a", "192k"])
    public static let aacSurround = audioOnly
    /// 2 s of 320x240 video with three audio streams, as cameras record them: mono (boom, English), stereo (a
    /// different tone in each channel, "Lav pair") and 5.1 (a tone per channel, German), AAC in MP4.
    public static let threeAudioStreams = make(
        "three-audio.mp4",
        video + [
            "-f", "lavfi", "-i", "sine=frequency=300:sample_rate=48000",
            "-f", "lavfi", "-i", "aevalsrc=0.9*sin(2*PI*440*t)|0.3*sin(2*PI*660*t):s=48000",
            "-f", "lavfi", "-i",
            "aevalsrc=0.1*sin(2*PI*200*t)|0.2*sin(2*PI*300*t)|0.3*sin(2*PI*400*t)|0.4*sin(2*PI*80*t)|0.5*sin(2*PI*500*t)|0.6*sin(2*PI*600*t):s=48000:c=5.1",
            "-map", "0:v", "-map", "1:a", "-map", "2:a", "-map", "3:a", "-t", "2",
            "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "192k",
            // MP4 keeps a track's name as its handler name.
            "-metadata:s:a:0", "language=eng", "-metadata:s:a:0", "handler_name=Boom",
            "-metadata:s:a:1", "handler_name=Lav pair", "-metadata:s:a:2", "language=ger",
        ])
    /// 0.4 s of 640x360 PQ (BT.2020, 10-bit HEVC, SDR white at 203 cd/m²) with HDR10 metadata (MaxCLL 1000) in the
    /// frames, made from a test card at 70 % saturation.
    public static let pqSmall = make(
        "pq-640.mp4",
        [
            "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25,hue=s=0.7", "-t", "0.4", "-vf",
            "format=yuv420p,setparams=range=tv:color_primaries=bt709:color_trc=bt709:colorspace=bt709,"
                + "zscale=t=linear:npl=203,format=gbrpf32le,zscale=p=bt2020:t=smpte2084:m=bt2020nc:r=tv:npl=203,format=yuv420p10le",
            "-c:v", "libx265", "-x265-params", "log-level=error:crf=16:hdr10=1:max-cll=1000,400",
            "-color_primaries", "bt2020", "-color_trc", "smpte2084", "-colorspace", "bt2020nc",
        ])
    public static let opusStereo = make("stereo.ogg", twoTones + ["-c:a", "libopus", "-b:a", "128k"])

    /// Writes the first `fraction` of `source` to `name`.
    public static func cut(_ source: String, _ name: String, fraction: Double = 0.5, extraBytes: Int = 0) -> String {
        let data = FileManager.default.contents(atPath: source)!
        let out = path(name)
        _ = FileManager.default.createFile(atPath: out, contents: data.prefix(Int(Double(data.count) * fraction) + extraBytes))
        return out
    }

    public static func write(_ name: String, _ data: Data) -> String {
        let out = path(name)
        _ = FileManager.default.createFile(atPath: out, contents: data)
        return out
    }

    /// A file named `name` among the fixtures with `bytes` as its content.
    public static func file(_ name: String, bytes: Data) throws -> URL {
        let url = URL(fileURLWithPath: path(name))
        try bytes.write(to: url)
        return url
    }

    /// The first half of `source`, as `name`.
    public static func truncatedCopy(of source: URL, name: String) throws -> URL {
        let data = try Data(contentsOf: source)
        return try file(name, bytes: data.prefix(data.count / 2))
    }
}
