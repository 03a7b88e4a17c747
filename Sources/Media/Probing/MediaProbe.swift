import CFFmpeg

/// Reads what a file contains without decoding it (container + stream parameters), like `ffprobe`.
///
/// Errors are precise: missing path, directory, unreadable, empty, not media, truncated (see
/// `ContainerIntegrity` for what is detected) and corrupt are distinct `MediaError` cases.
/// Only local files are read, so nothing can block indefinitely.
public enum MediaProbe {
    public static func probe(path: String) throws -> MediaInfo {
        let demuxer = try Demuxer(path: path)
        return info(of: demuxer)
    }

    static func info(of demuxer: Demuxer) -> MediaInfo {
        let ctx = demuxer.context.pointee
        let format = ctx.iformat.pointee
        return MediaInfo(
            formatName: String(cString: format.name),
            formatLongName: format.long_name.map { String(cString: $0) },
            durationSeconds: ctx.duration > 0 ? Double(ctx.duration) / Double(AV_TIME_BASE) : nil,
            startTimeSeconds: ctx.start_time != aura_nopts_value() ? Double(ctx.start_time) / Double(AV_TIME_BASE) : nil,
            sizeBytes: demuxer.fileSize,
            bitRate: ctx.bit_rate > 0 ? ctx.bit_rate : nil,
            streams: numberingAudio(demuxer.streams.map(streamInfo))
        )
    }

    /// Numbers the audio streams 0, 1, 2… in container order (`StreamInfo.audioStream`).
    static func numberingAudio(_ streams: [StreamInfo]) -> [StreamInfo] {
        var next = 0
        return streams.map { stream in
            guard stream.type == "audio" else { return stream }
            var numbered = stream
            numbered.audioStream = next
            next += 1
            return numbered
        }
    }

    static func streamInfo(_ stream: UnsafeMutablePointer<AVStream>) -> StreamInfo {
        let st = stream.pointee
        let par = st.codecpar.pointee
        let descriptor = avcodec_descriptor_get(par.codec_id)
        var info = StreamInfo(
            index: Int(st.index),
            type: typeName(par.codec_type),
            codec: String(cString: avcodec_get_name(par.codec_id)),
            codecLongName: descriptor.flatMap { $0.pointee.long_name.map { String(cString: $0) } },
            profile: avcodec_profile_name(par.codec_id, par.profile).map { String(cString: $0) },
            bitRate: par.bit_rate > 0 ? par.bit_rate : nil,
            durationSeconds: st.duration != aura_nopts_value() && st.duration > 0 && st.time_base.num > 0 && st.time_base.den > 0
                ? seconds(st.duration, st.time_base) : nil,
            frameCount: st.nb_frames > 0 ? st.nb_frames : nil,
            isAttachedPicture: (st.disposition & aura_disposition_attached_pic()) != 0
        )
        info.language = tag("language", of: st)
        info.title = tag("title", of: st) ?? trackName(of: st)
        switch par.codec_type {
        case AVMEDIA_TYPE_VIDEO:
            if par.width > 0 { info.width = Int(par.width) }
            if par.height > 0 { info.height = Int(par.height) }
            let sar = st.sample_aspect_ratio.num > 0 ? st.sample_aspect_ratio : par.sample_aspect_ratio
            if sar.num > 0 && sar.den > 0 {
                var num = sar.num, den = sar.den
                av_reduce(&num, &den, Int64(sar.num), Int64(sar.den), Int64(Int32.max))
                info.sampleAspectRatio = "\(num):\(den)"
            }
            info.pixelFormat = av_get_pix_fmt_name(AVPixelFormat(rawValue: par.format)).map { String(cString: $0) }
            if let rate = rationalValue(st.avg_frame_rate) ?? rationalValue(st.r_frame_rate) { info.frameRate = rate }
            let ccw = aura_stream_display_rotation(stream)
            if !ccw.isNaN { info.rotation = Double(clockwiseRotation(fromCounterClockwise: ccw)) }
            if par.color_primaries != AVCOL_PRI_UNSPECIFIED {
                info.colorPrimaries = av_color_primaries_name(par.color_primaries).map { String(cString: $0) }
            }
            if par.color_trc != AVCOL_TRC_UNSPECIFIED {
                info.colorTransfer = av_color_transfer_name(par.color_trc).map { String(cString: $0) }
            }
            if par.color_space != AVCOL_SPC_UNSPECIFIED {
                info.colorSpace = av_color_space_name(par.color_space).map { String(cString: $0) }
            }
            if par.color_range != AVCOL_RANGE_UNSPECIFIED {
                info.colorRange = av_color_range_name(par.color_range).map { String(cString: $0) }
            }
            info.hdr = SourceColour(stream: stream).hdr
        case AVMEDIA_TYPE_AUDIO:
            if par.sample_rate > 0 { info.sampleRate = Int(par.sample_rate) }
            var layout = par.ch_layout
            if layout.nb_channels > 0 {
                info.channels = Int(layout.nb_channels)
                var buffer = [CChar](repeating: 0, count: 128)
                if av_channel_layout_describe(&layout, &buffer, buffer.count) > 0 {
                    info.channelLayout = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
                }
            }
        default:
            break
        }
        return info
    }

    /// A stream's metadata tag (`language`, `title`), nil when absent, empty or "und" for a language.
    private static func tag(_ key: String, of stream: AVStream) -> String? {
        tag(key, in: stream.metadata)
    }

    /// A metadata tag of a stream's or a file's dictionary, nil when absent, empty or "und" for a language.
    static func tag(_ key: String, in dictionary: OpaquePointer?) -> String? {
        guard let entry = av_dict_get(dictionary, key, nil, 0), let value = entry.pointee.value else { return nil }
        let text = String(cString: value)
        return text.isEmpty || (key == "language" && text == "und") ? nil : text
    }

    /// An MP4/MOV track's name, which those containers keep as the handler name, unless it is a muxer's default
    /// ("SoundHandler", "Apple Sound Media Handler", "Core Media Audio", "GPAC ISO Audio Handler"…).
    private static func trackName(of stream: AVStream) -> String? {
        guard let name = tag("handler_name", of: stream) else { return nil }
        let lowered = name.lowercased()
        return lowered.contains("handler") || lowered.hasPrefix("core media") ? nil : name
    }

    /// Converts FFmpeg's counter-clockwise display-matrix angle to the clockwise rotation a player applies,
    /// snapped to 0/90/180/270 (phones only write quarter turns; other angles are rounded).
    static func clockwiseRotation(fromCounterClockwise ccw: Double) -> Int {
        let quarterTurns = Int((-ccw / 90).rounded())
        return ((quarterTurns % 4) + 4) % 4 * 90
    }

    static func typeName(_ type: AVMediaType) -> String {
        switch type {
        case AVMEDIA_TYPE_VIDEO: return "video"
        case AVMEDIA_TYPE_AUDIO: return "audio"
        case AVMEDIA_TYPE_SUBTITLE: return "subtitle"
        case AVMEDIA_TYPE_DATA: return "data"
        case AVMEDIA_TYPE_ATTACHMENT: return "attachment"
        default: return "unknown"
        }
    }

    static func seconds(_ value: Int64, _ timeBase: AVRational) -> Double {
        Double(value) * Double(timeBase.num) / Double(timeBase.den)
    }

    static func rationalValue(_ r: AVRational) -> Double? {
        r.num > 0 && r.den > 0 ? Double(r.num) / Double(r.den) : nil
    }
}
