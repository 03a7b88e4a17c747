import Foundation
import JSONRPC
import TestSupport
import Testing

/// Footage as professionals shoot it, through the real binary, each against an independent reference made by the
/// ffmpeg CLI: HDR (PQ and HLG) made from a known SDR clip comes back as that clip in proxies and frames; 1080i50
/// comes back deinterlaced as `bwdif` does it, one picture per frame; each of three audio streams has its own
/// waveform, analysed on import and cleared with its source.
@Suite(.timeLimit(.minutes(10)))
struct ProfessionalFootageEndToEndTests {
    // MARK: - Fixtures

    /// The known SDR clip: 2 s of 1280x720 BT.709 (testsrc2's colours at 70 % saturation, inside every gamut).
    static func sdrOriginal() async throws -> URL {
        try await MediaFixtures.mediaOffPool(
            "footage-sdr.mp4",
            [
                "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25,hue=s=0.7", "-t", "2", "-c:v", "libx264", "-crf", "12",
                "-pix_fmt", "yuv420p", "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709",
            ])
    }

    /// The SDR clip as HDR, the way BT.2408 places SDR in HDR: SDR white at reference white (203 cd/m²), BT.2020
    /// primaries, 10-bit HEVC. The PQ clip carries HDR10 metadata (mastering display 1000 cd/m², MaxCLL 1000).
    /// `bt2020-10` makes wide-gamut SDR instead: BT.2020 primaries with BT.2020's SDR transfer.
    static func hdr(_ transfer: String) async throws -> URL {
        let original = try await sdrOriginal()
        let metadata =
            transfer == "smpte2084"
            ? ":hdr10=1:master-display=G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1):max-cll=1000,400" : ""
        return try await MediaFixtures.mediaOffPool(
            "footage-\(transfer).mp4",
            [
                "-i", original.path, "-vf",
                "zscale=t=linear:npl=203,format=gbrpf32le,zscale=p=bt2020:t=\(transfer == "bt2020-10" ? "2020_10" : transfer)"
                    + ":m=bt2020nc:r=tv:npl=203,format=yuv420p10le",
                "-c:v", "libx265", "-x265-params", "log-level=error:crf=12\(metadata)",
                "-color_primaries", "bt2020", "-color_trc", transfer, "-colorspace", "bt2020nc",
            ])
    }

    /// 1 s of 1080i50 with motion, top field first: testsrc2 at 50 pictures a second woven into 25 frames. `flagged`:
    /// coded interlaced and tagged so; otherwise coded and tagged progressive (a source flagged wrong).
    static func interlaced(flagged: Bool) async throws -> URL {
        try await MediaFixtures.mediaOffPool(
            "footage-1080i50-\(flagged ? "flagged" : "unflagged").mp4",
            [
                "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=50", "-t", "1",
                "-vf", "tinterlace=mode=interleave_top,setfield=\(flagged ? "tff" : "prog")",
                "-c:v", "libx264", "-crf", "14", "-pix_fmt", "yuv420p",
            ] + (flagged ? ["-flags", "+ildct+ilme", "-x264-params", "tff=1"] : []))
    }

    /// 0.4 s of a 10-bit 4:2:2 luma ramp over 80 codes (20 8-bit levels) across the picture, lossless (FFV1), tagged
    /// BT.709 or BT.2020 (wide gamut).
    static func tenBitRamp(_ primaries: String) async throws -> URL {
        try await MediaFixtures.mediaOffPool(
            "footage-ramp-\(primaries).mkv",
            [
                "-f", "lavfi", "-i", "color=c=gray:s=1280x720:r=25:d=0.4,format=yuv422p10le,geq=lum='400+X*80/W':cb=512:cr=512",
                "-c:v", "ffv1", "-color_primaries", primaries, "-color_trc", "bt709",
                "-colorspace", primaries == "bt709" ? "bt709" : "bt2020nc",
            ])
    }

    // MARK: - Measures (the ffmpeg CLI)

    /// Mean luma and mean saturation (signalstats' YAVG and SATAVG, 8-bit YUV 4:2:0) over every picture of `path`.
    static func meanLumaAndSaturation(_ path: String) throws -> (luma: Double, saturation: Double) {
        let output = try ReferenceTools.ffmpeg([
            "-v", "error", "-i", path, "-vf", "format=yuv420p,signalstats,metadata=print:file=-", "-f", "null", "-",
        ])
        var luma: [Double] = [], saturation: [Double] = []
        for line in String(decoding: output.stdout, as: UTF8.self).split(separator: "\n") {
            let parts = line.split(separator: "=")
            guard parts.count == 2, let value = Double(parts[1]) else { continue }
            if parts[0].hasSuffix(".YAVG") { luma.append(value) }
            if parts[0].hasSuffix(".SATAVG") { saturation.append(value) }
        }
        try #require(!luma.isEmpty && luma.count == saturation.count, "signalstats of \(path): \(output.stderr)")
        return (luma.reduce(0, +) / Double(luma.count), saturation.reduce(0, +) / Double(saturation.count))
    }

    /// SSIM (all planes) of `path` against `reference`, picture by picture, both as 8-bit YUV 4:2:0.
    static func ssim(_ path: String, _ reference: String) throws -> Double {
        let output = try ReferenceTools.ffmpeg([
            "-i", path, "-i", reference, "-lavfi", "[0:v]format=yuv420p[a];[1:v]format=yuv420p[b];[a][b]ssim", "-f", "null", "-",
        ])
        let value = output.stderr.components(separatedBy: "All:").last?.split(separator: " ").first.flatMap { Double($0) }
        return try #require(value, "ssim: \(output.stderr)")
    }

    /// PSNR (average over the frames; every plane, or luma alone with `lumaOnly`) of `path` against `reference`
    /// after `filter` (the reference's processing), as the CLI's psnr filter reports it.
    static func psnr(_ path: String, _ reference: String, filter: String, lumaOnly: Bool = false) throws -> Double {
        let graph =
            lumaOnly ? "[0:v]format=gray[a];[1:v]\(filter),format=gray[r];[a][r]psnr" : "[1:v]\(filter)[r];[0:v][r]psnr"
        let output = try ReferenceTools.ffmpeg(["-i", path, "-i", reference, "-lavfi", graph, "-f", "null", "-"])
        let value = output.stderr.components(separatedBy: "average:").last?.split(separator: " ").first.flatMap { Double($0) }
        return try #require(value, "psnr: \(output.stderr)")
    }

    /// The CLI's picture of `source` at frame `index` after `filter`, as RGB PNG (BT.709 YUV read as BT.709).
    static func referencePicture(_ source: String, frame index: Int, filter: String, name: String) throws -> String {
        let output = MediaFixtures.temporaryDirectory(named: "footage-references").appendingPathComponent(name).path
        let result = try ReferenceTools.ffmpeg([
            "-v", "error", "-y", "-i", source, "-vf",
            "\(filter),select=eq(n\\,\(index)),scale=in_color_matrix=bt709:in_range=tv,format=rgb24", "-frames:v", "1", output,
        ])
        try #require(result.status == 0, "\(result.stderr)")
        return output
    }

    /// The picture of a `requestFrame` answer, written to a file.
    static func write(_ answer: JSONValue, as name: String) throws -> String {
        let data = try #require(answer["data"]?.stringValue.flatMap { Data(base64Encoded: $0) })
        let url = MediaFixtures.temporaryDirectory(named: "footage-frames").appendingPathComponent(name)
        try data.write(to: url)
        return url.path
    }

    /// The issue's goals for pictures made from HDR against the SDR original: mean luma and mean saturation within
    /// 10 % of the original's, SSIM at least 0.85.
    static func expectLooksLike(_ path: String, _ original: String, _ what: String) async throws {
        let (stats, originalStats, ssim) = try await OffPool.run {
            (try Self.meanLumaAndSaturation(path), try Self.meanLumaAndSaturation(original), try Self.ssim(path, original))
        }
        #expect(Self.near(stats.luma, originalStats.luma, 0.10), "\(what) luma \(stats) against \(originalStats)")
        #expect(Self.near(stats.saturation, originalStats.saturation, 0.10), "\(what) saturation \(stats) against \(originalStats)")
        #expect(ssim >= 0.85, "\(what) SSIM \(ssim)")
    }

    /// Whether `value` is within `fraction` of `reference`.
    static func near(_ value: Double, _ reference: Double, _ fraction: Double) -> Bool {
        abs(value - reference) <= abs(reference) * fraction
    }

    // MARK: - HDR

    /// PQ, HLG and wide-gamut (BT.2020 SDR) proxies and frames are SDR BT.709, tagged so, and look like the SDR clip
    /// they were made from: mean luma and mean saturation within 10 %, SSIM at least 0.85 (untouched, the PQ proxy had
    /// −15 % luma and −72 % saturation).
    @Test(arguments: ["smpte2084", "arib-std-b67", "bt2020-10"])
    func hdrProxiesAndFramesLookLikeTheSDROriginal(transfer: String) async throws {
        let original = try await Self.sdrOriginal().path
        let source = try await Self.hdr(transfer).path
        let server = try ServerProcess()
        _ = try await server.initialize()
        let document = try OpenRPCDocument.load()

        let probe = try await server.call("probe", ["path": .string(source)])
        #expect(document.validateResult(of: "probe", probe) == [])
        let video = probe["streams"]?.arrayValue?.first { $0["type"] == .string("video") }
        let hdr: JSONValue = ["smpte2084": .string("pq"), "arib-std-b67": .string("hlg")][transfer] ?? .null
        #expect(video?["hdr"] == hdr, "\(String(describing: video))")
        let sdrVideo = try await server.call("probe", ["path": .string(original)])["streams"]?.arrayValue?.first
        #expect(sdrVideo?["hdr"] == .null, "an SDR video stream says hdr: null")

        // requestFrame of the source (no proxy yet): one picture against the CLI's picture of the original.
        let answer = try await server.call(
            "requestFrame", ["sourcePath": .string(source), "time": .double(1.0), "format": .string("png")], timeout: .seconds(60))
        #expect(answer["fromProxy"] == .bool(false) && answer["width"] == .int(1280))
        let picture = try Self.write(answer, as: "\(transfer)-1s.png")
        let reference = try await OffPool.run { try Self.referencePicture(original, frame: 25, filter: "null", name: "sdr-1s.png") }
        try await Self.expectLooksLike(picture, reference, "frame")

        let generated = try await server.call(
            "generate", ["sourcePath": .string(source), "backgroundGeneration": .bool(false)], timeout: .seconds(120))
        let record = try #require(generated["proxy"])
        #expect(document.validateResult(of: "generate", generated) == [])
        #expect(record["toneMapped"] == .bool(hdr != .null) && record["deinterlaced"] == .bool(false), "\(record)")
        let proxy = try #require(record["proxyPath"]?.stringValue)
        let tags = ProxyE2E.stream(try await ProxyE2E.ffprobe(proxy), "video")
        #expect(tags?["color_primaries"] == .string("bt709") && tags?["color_transfer"] == .string("bt709"))
        #expect(tags?["color_space"] == .string("bt709") && tags?["pix_fmt"] == .string("yuv420p"), "\(String(describing: tags))")
        try await Self.expectLooksLike(proxy, original, "proxy")
        // An SDR source is not tone-mapped.
        let sdr = try await server.call(
            "generate", ["sourcePath": .string(original), "backgroundGeneration": .bool(false)], timeout: .seconds(120))
        #expect(sdr["proxy"]?["toneMapped"] == .bool(false))
    }

    /// 10-bit 4:2:2 pictures keep every 8-bit level a ramp crosses, as an 8-bit source of the same ramp would: no
    /// level skipped, no step back, in RGBA and in JPEG (swscale's 10-bit path to RGB skipped 3 of 24 levels).
    @Test(arguments: ["bt709", "bt2020"])
    func highBitDepthRampsKeepEveryLevel(primaries: String) async throws {
        let source = try await Self.tenBitRamp(primaries).path
        let server = try ServerProcess()
        _ = try await server.initialize()
        for format in ["rgba", "jpeg"] {
            let answer = try await server.call(
                "requestFrame", ["sourcePath": .string(source), "time": .double(0.1), "format": .string(format), "quality": .int(100)],
                timeout: .seconds(60))
            let width = try #require(answer["width"]?.intValue)
            var row: [UInt8]
            if format == "rgba" {
                let pixels = try #require(answer["data"]?.stringValue.flatMap { Data(base64Encoded: $0) })
                row = (0..<width).map { pixels[(360 * width + $0) * 4 + 1] }  // green
            } else {
                let image = try Self.write(answer, as: "ramp-\(primaries).jpg")
                let gray = try await OffPool.run {
                    try ReferenceTools.ffmpeg(["-v", "error", "-i", image, "-f", "rawvideo", "-pix_fmt", "gray", "-"]).stdout
                }
                row = Array(gray[(360 * width)..<(361 * width)])
            }
            let steps = zip(row, row.dropFirst()).map { Int($1) - Int($0) }
            let levels = Int(row.max()!) - Int(row.min()!) + 1
            #expect(levels >= 20 && Set(row).count == levels, "\(format): \(Set(row).count) of \(levels) levels")
            #expect(steps.allSatisfy { $0 == 0 || $0 == 1 }, "\(format): steps \(Set(steps).sorted())")
        }
    }

    // MARK: - Interlaced

    /// 1080i50, tagged interlaced or tagged progressive by mistake: the proxy is deinterlaced as the CLI's `bwdif`
    /// after the same scaling (PSNR ≥ 40 dB; scaled as progressive it is about 33), one picture per source frame; so
    /// are `requestFrame` pictures (luma PSNR ≥ 40 dB to the CLI's, about 35 to the woven frame).
    @Test(arguments: [true, false])
    func interlacedSourcesAreDeinterlacedOnePicturePerFrame(flagged: Bool) async throws {
        let source = try await Self.interlaced(flagged: flagged).path
        let server = try ServerProcess()
        _ = try await server.initialize()
        let reference = "bwdif=mode=send_frame:parity=tff:deint=all,scale=1280:720:flags=bicubic"

        // Every frame's time gives its own picture: 25 pictures for 25 frames.
        var times: Set<String> = []
        for frame in 0..<25 {
            let answer = try await server.call(
                "requestFrame", ["sourcePath": .string(source), "time": .double(Double(frame) / 25 + 0.001), "width": .int(320)],
                timeout: .seconds(60))
            times.insert(answer["time"].map { "\($0)" } ?? "")
        }
        #expect(times.count == 25, "one picture per frame: \(times.sorted())")
        // A picture in the middle, at the proxy's size, against the CLI's deinterlaced one and the woven one.
        let answer = try await server.call(
            "requestFrame", ["sourcePath": .string(source), "time": .double(12.0 / 25), "format": .string("png"), "width": .int(1280)],
            timeout: .seconds(60))
        let picture = try Self.write(answer, as: "1080i-\(flagged)-12.png")
        let (deinterlaced, woven) = try await OffPool.run {
            let clean = try Self.referencePicture(source, frame: 12, filter: reference, name: "1080i-\(flagged)-bwdif-12.png")
            let combed = try Self.referencePicture(
                source, frame: 12, filter: "scale=1280:720:flags=bicubic", name: "1080i-\(flagged)-woven-12.png")
            return (
                try Self.psnr(picture, clean, filter: "null", lumaOnly: true), try Self.psnr(picture, combed, filter: "null", lumaOnly: true)
            )
        }
        // Luma: the RGB pictures' chroma went through different conversions on the two sides.
        #expect(deinterlaced >= 40 && deinterlaced > woven + 5, "requestFrame picture: \(deinterlaced) dB to bwdif, \(woven) dB to the woven frame")

        let generated = try await server.call(
            "generate", ["sourcePath": .string(source), "backgroundGeneration": .bool(false)], timeout: .seconds(120))
        let record = try #require(generated["proxy"])
        #expect(record["deinterlaced"] == .bool(true) && record["toneMapped"] == .bool(false), "\(record)")
        #expect(record["frameRate"] == .int(25), "the source's frame rate: \(record)")
        let proxy = try #require(record["proxyPath"]?.stringValue)
        let frames = ProxyE2E.stream(try await ProxyE2E.ffprobe(proxy), "video")?["nb_frames"]
        #expect(frames == .string("25"), "one picture per source frame: \(String(describing: frames))")
        let psnr = try await OffPool.run { try Self.psnr(proxy, source, filter: reference) }
        #expect(psnr >= 40, "proxy against bwdif: \(psnr) dB")
    }

    // MARK: - Audio streams

    /// A camera file with three audio streams (mono, stereo, 5.1): probe lists them with their numbers, channels,
    /// layouts, languages and titles; import analyses all three; each is served and exported by `audioStream`; a
    /// fourth is -32602 naming `audioStream`; clearing the source removes all three.
    @Test func everyAudioStreamIsListedAnalysedServedAndCleared() async throws {
        let source = try await ProxyE2E.copy(URL(fileURLWithPath: MediaFixtures.threeAudioStreams), as: "three-audio.mp4").path
        let server = try ServerProcess()
        _ = try await server.initialize(options: ["proxyGenerationEnabled": .bool(false)])
        let document = try OpenRPCDocument.load()

        let probe = try await server.call("probe", ["path": .string(source)])
        #expect(document.validateResult(of: "probe", probe) == [])
        let audio = probe["streams"]?.arrayValue?.filter { $0["type"] == .string("audio") } ?? []
        #expect(audio.map { $0["audioStream"] } == [.int(0), .int(1), .int(2)])
        #expect(audio.map { $0["index"] } == [.int(1), .int(2), .int(3)])
        #expect(audio.map { $0["channels"] } == [.int(1), .int(2), .int(6)])
        #expect(audio.map { $0["channelLayout"] } == [.string("mono"), .string("stereo"), .string("5.1")])
        #expect(audio.map { $0["language"] } == [.string("eng"), nil, .string("ger")])
        #expect(audio.map { $0["title"] } == [.string("Boom"), .string("Lav pair"), nil])

        let imported = try await server.call("importMedia", ["paths": .array([.string(source)])])
        #expect(document.validateResult(of: "importMedia", imported) == [])
        let item = imported["items"]?.arrayValue?.first
        #expect(item?["waveform"] == .string("queued") && item?["audioStreams"] == .int(3), "\(String(describing: item))")
        let folder = URL(fileURLWithPath: server.waveformCacheDirectory).appendingPathComponent("waveforms").path
        func waves() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasSuffix(".wave") } }
        let deadline = TestDeadline.after(.seconds(30))
        while waves().count < 3, .now < deadline { try await Task.sleep(for: .milliseconds(100)) }
        #expect(waves().count == 3, "one analysis per stream: \(waves())")

        for (audioStream, channels) in [(0, 1), (1, 2), (2, 6)] {
            let range = try await server.call(
                "requestWaveformRange",
                [
                    "sourcePath": .string(source), "startTime": .int(0), "endTime": .int(2), "samplesPerPixel": .int(1024),
                    "channels": .string("all"), "windowSeconds": .int(2), "audioStream": .int(audioStream),
                ])
            #expect(range["fromCache"] == .bool(true) && range["channelCount"] == .int(channels), "stream \(audioStream): \(range)")
            let output = MediaFixtures.temporaryDirectory(named: "footage-exports").appendingPathComponent("a\(audioStream).json")
            let exported = try await server.call(
                "exportWaveform",
                [
                    "sourcePath": .string(source), "outputPath": .string(output.path), "format": .string("json"),
                    "channels": .string("all"), "audioStream": .int(audioStream),
                ])
            #expect(document.validateResult(of: "exportWaveform", exported) == [])
            #expect(exported["channels"] == .int(channels) && exported["audioStream"] == .int(audioStream), "\(exported)")
        }
        for method in ["requestWaveformRange", "exportWaveform"] {
            var params: [String: JSONValue] = ["sourcePath": .string(source), "audioStream": .int(3)]
            if method == "requestWaveformRange" {
                params.merge(["startTime": .int(0), "endTime": .int(1), "samplesPerPixel": .int(256)]) { $1 }
            } else {
                params["outputPath"] = .string(MediaFixtures.temporaryDirectory(named: "footage-exports").appendingPathComponent("a3.dat").path)
            }
            let refused = try await server.request(method, params)
            #expect(refused["error"]?["code"] == .int(-32602), "\(method): \(refused)")
            let message = refused["error"]?["message"]?.stringValue ?? ""
            #expect(message.contains("'audioStream'") && message.contains("3 audio streams"), "\(method): \(message)")
        }

        let cleared = try await server.call("clearCache", ["scope": .string("waveforms"), "sourcePath": .string(source)])
        #expect(cleared["deletedFiles"] == .int(3), "\(cleared)")
        #expect(waves().isEmpty)
    }

    /// A camera file (MOV) with three audio streams (mono, stereo, 5.1), a timecode and a creation time: its proxy
    /// carries the three, in order, each with its channels, language and title and the same sound (each stream's mean
    /// level against the source's, by the ffmpeg CLI), and the timecode (a `tmcd` track) and creation time; `probe` of
    /// the proxy and of the source agree on the audio streams.
    @Test func aProxyKeepsEveryAudioStreamAndTheTimecode() async throws {
        let source = try await MediaFixtures.mediaOffPool(
            "camera-three-audio.mov",
            [
                "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
                "-f", "lavfi", "-i", "sine=frequency=300:sample_rate=48000",
                "-f", "lavfi", "-i", "aevalsrc=0.9*sin(2*PI*440*t)|0.3*sin(2*PI*660*t):s=48000",
                "-f", "lavfi", "-i",
                "aevalsrc=0.1*sin(2*PI*200*t)|0.2*sin(2*PI*300*t)|0.3*sin(2*PI*400*t)|0.4*sin(2*PI*80*t)|0.5*sin(2*PI*500*t)|0.6*sin(2*PI*600*t):s=48000:c=5.1",
                "-map", "0:v", "-map", "1:a", "-map", "2:a", "-map", "3:a", "-t", "2",
                "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "pcm_s16le",
                "-metadata:s:a:0", "language=eng", "-metadata:s:a:0", "handler_name=Boom",
                "-metadata:s:a:1", "handler_name=Lav pair", "-metadata:s:a:2", "language=ger",
                "-timecode", "01:02:03:04", "-metadata", "creation_time=2026-05-06T07:08:09Z",
            ]
        ).path
        let server = try ServerProcess()
        _ = try await server.initialize()
        let generated = try await server.call(
            "generate", ["sourcePath": .string(source), "backgroundGeneration": .bool(false)], timeout: .seconds(120))
        let proxy = try #require(generated["proxy"]?["proxyPath"]?.stringValue, "\(generated)")
        #expect(generated["proxy"]?["hasAudio"] == .bool(true))

        // Our probe: the proxy's audio streams are the source's.
        func audioStreams(_ path: String) async throws -> [JSONValue] {
            let streams = try await server.call("probe", ["path": .string(path)])["streams"]?.arrayValue ?? []
            return streams.filter { $0["type"] == .string("audio") }
        }
        let sourceAudio = try await audioStreams(source)
        let proxyAudio = try await audioStreams(proxy)
        #expect(sourceAudio.map { $0["channels"] } == [.int(1), .int(2), .int(6)])
        #expect(sourceAudio.first?["language"] == .string("eng") && sourceAudio.first?["title"] == .string("Boom"))
        #expect(proxyAudio.count == 3)
        for key in ["audioStream", "channels", "channelLayout", "language", "title"] {
            #expect(proxyAudio.map { $0[key] } == sourceAudio.map { $0[key] }, "\(key): \(proxyAudio) against \(sourceAudio)")
        }

        // ffprobe: AAC tracks in order, the timecode track, the creation time.
        let probed = try await ProxyE2E.ffprobe(proxy)
        let streams = probed["streams"]?.arrayValue ?? []
        #expect(streams.filter { $0["codec_type"] == .string("audio") }.map { $0["codec_name"] } == Array(repeating: .string("aac"), count: 3))
        let video = try #require(ProxyE2E.stream(probed, "video"))
        #expect(video["tags"]?["timecode"] == .string("01:02:03:04"), "\(video)")
        #expect(streams.contains { $0["codec_tag_string"] == .string("tmcd") }, "a timecode track: \(streams)")
        #expect(probed["format"]?["tags"]?["creation_time"]?.stringValue?.hasPrefix("2026-05-06T07:08:09") == true, "\(probed["format"] ?? .null)")
        let videoDuration = Double(video["duration"]?.stringValue ?? "") ?? 0
        for stream in streams where stream["codec_type"] == .string("audio") {
            let duration = Double(stream["duration"]?.stringValue ?? "") ?? 0
            #expect(abs(duration - videoDuration) <= 0.05, "each track as long as the video: \(duration) against \(videoDuration)")
        }

        // The same sound in each track: mean levels within 1 dB of the source stream's.
        func meanVolume(_ path: String, _ stream: Int) async throws -> Double? {
            let output = try await OffPool.run {
                try ReferenceTools.ffmpeg(["-v", "info", "-i", path, "-map", "0:a:\(stream)", "-af", "volumedetect", "-f", "null", "-"])
            }
            let line = output.stderr.split(separator: "\n").first { $0.contains("mean_volume:") }
            let value = line?.split(separator: ":").last?.replacingOccurrences(of: "dB", with: "")
            return value.flatMap { Double($0.trimmingCharacters(in: .whitespaces)) }
        }
        for stream in 0..<3 {
            let expected = try #require(try await meanVolume(source, stream))
            let got = try #require(try await meanVolume(proxy, stream))
            #expect(abs(got - expected) <= 1, "audio stream \(stream): \(got) dB in the proxy, \(expected) dB in the source")
        }
    }
}
