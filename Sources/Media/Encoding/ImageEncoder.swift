import CFFmpeg

/// The still-image formats a decoded picture can be delivered in.
public enum ImageFormat: String, Sendable, CaseIterable {
    /// JPEG (libavcodec's mjpeg encoder, 4:2:0 full range).
    case jpeg
    /// PNG (libavcodec's png encoder, 8-bit RGB).
    case png
    /// Raw 8-bit RGBA, rows top to bottom, no padding.
    case rgba
}

/// Turns decoded pictures into still images of one size and format: the picture converter (scaling, display
/// rotation) then libavcodec's mjpeg or png encoder, in-process. Reused for every picture of the same shape.
///
/// Not thread-safe: one caller at a time. The codec context and frames are freed with it.
package final class ImageEncoder {
    package let format: ImageFormat
    package let width: Int
    package let height: Int
    package let quality: Int
    private let converter: PictureConverter
    private let codec: CodecContext?
    private let packet: Packet
    private var nextTimestamp: Int64 = 0

    /// JPEG quality 1…100 maps to mjpeg's quantiser scale 31…2 (85, the default, is 6).
    package static func quantiser(forQuality quality: Int) -> Int {
        let clamped = min(max(quality, 1), 100)
        return min(31, max(2, Int((2 + Double(100 - clamped) * 29 / 99).rounded())))
    }

    package init(
        format: ImageFormat, width: Int, height: Int, clockwiseRotation: Int, sourceFullRange: Bool,
        quality: Int, processing: PictureProcessing? = nil
    ) throws(MediaError) {
        self.format = format
        self.width = width
        self.height = height
        self.quality = quality
        packet = try Packet()
        let pixelFormat: AVPixelFormat
        switch format {
        case .jpeg: pixelFormat = AV_PIX_FMT_YUVJ420P
        case .png: pixelFormat = AV_PIX_FMT_RGB24
        case .rgba: pixelFormat = AV_PIX_FMT_RGBA
        }
        converter = try PictureConverter(
            width: width, height: height, clockwiseRotation: clockwiseRotation,
            pixelFormat: pixelFormat, fullRange: sourceFullRange, threads: 1, processing: processing)
        switch format {
        case .rgba:
            codec = nil
        case .jpeg, .png:
            let name = format == .jpeg ? "mjpeg" : "png"
            guard let encoder = avcodec_find_encoder_by_name(name) else {
                throw MediaError.ffmpeg(operation: "avcodec_find_encoder_by_name", code: aura_averror(ENOSYS), message: "no \(name) encoder")
            }
            let context = try CodecContext(codec: encoder)
            let c = context.pointer
            c.pointee.width = Int32(width)
            c.pointee.height = Int32(height)
            c.pointee.pix_fmt = pixelFormat
            c.pointee.time_base = AVRational(num: 1, den: 25)
            c.pointee.thread_count = 1
            if format == .jpeg {
                c.pointee.flags |= aura_codec_flag_qscale()
                c.pointee.global_quality = Int32(Self.quantiser(forQuality: quality)) * aura_qp2lambda()
                c.pointee.color_range = AVCOL_RANGE_JPEG
            } else {
                c.pointee.compression_level = 3  // Fast: scrubbing wants the picture now; sizes grow a little.
            }
            let rc = context.open()
            if rc < 0 { throw MediaError.ffmpeg(operation: "avcodec_open2(\(name))", code: rc, message: FFmpegResult.message(rc)) }
            codec = context
        }
    }

    /// Whether this encoder makes images of the given shape.
    package func matches(format: ImageFormat, width: Int, height: Int, quality: Int, clockwiseRotation: Int) -> Bool {
        self.format == format && self.width == width && self.height == height
            && (format != .jpeg || self.quality == quality) && converter.clockwiseRotation == clockwiseRotation
    }

    /// The image of the picture `reader` decoded last (`VideoFrameReader.picture(at:)`). An interlaced source's
    /// picture is deinterlaced with its neighbours, as in proxies (the reader then holds the next picture).
    package func encode(currentPictureOf reader: VideoFrameReader) throws(MediaError) -> [UInt8] {
        guard converter.deinterlaces, let position = reader.currentPicturePosition else { return try encode(reader.currentFrame) }
        let (previous, current, next) = try reader.neighbourhood(of: position)
        var image: [UInt8]?
        try converter.picture(of: current.pointer, previous: previous?.pointer, next: next?.pointer) { picture throws(MediaError) in
            image = try self.encodeConverted(picture)
        }
        guard let image else { throw MediaError.corrupt(path: reader.source.path, reason: "no picture at \(position.seconds) s") }
        return image
    }

    /// The image of one decoded picture.
    func encode(_ picture: UnsafeMutablePointer<AVFrame>) throws(MediaError) -> [UInt8] {
        var image: [UInt8]?
        try converter.convert(picture) { converted throws(MediaError) in image = try self.encodeConverted(converted) }
        if image == nil { try converter.finish { converted throws(MediaError) in image = try self.encodeConverted(converted) } }
        guard let image else {
            throw MediaError.ffmpeg(operation: "PictureConverter.convert", code: aura_averror(EINVAL), message: "no picture came out")
        }
        return image
    }

    /// The image of one converted picture.
    private func encodeConverted(_ converted: UnsafeMutablePointer<AVFrame>) throws(MediaError) -> [UInt8] {
        guard let codec else { return Self.packedRows(of: converted, bytesPerRow: width * 4, height: height) }
        // mpegvideo-based encoders (mjpeg) refuse a timestamp that does not grow.
        converted.pointee.pts = nextTimestamp
        nextTimestamp += 1
        converted.pointee.quality = codec.pointer.pointee.global_quality
        var rc = avcodec_send_frame(codec.pointer, converted)
        if rc < 0 { throw MediaError.ffmpeg(operation: "avcodec_send_frame(\(codec.name))", code: rc, message: FFmpegResult.message(rc)) }
        rc = avcodec_receive_packet(codec.pointer, packet.pointer)
        if rc < 0 { throw MediaError.ffmpeg(operation: "avcodec_receive_packet(\(codec.name))", code: rc, message: FFmpegResult.message(rc)) }
        defer { packet.unref() }
        return Array(UnsafeBufferPointer(start: packet.pointer.pointee.data, count: Int(packet.pointer.pointee.size)))
    }

    /// Plane 0 of a packed frame, row by row without the line padding.
    private static func packedRows(of frame: UnsafeMutablePointer<AVFrame>, bytesPerRow: Int, height: Int) -> [UInt8] {
        let stride = Int(frame.pointee.linesize.0)
        guard let base = frame.pointee.data.0 else { return [] }
        return [UInt8](unsafeUninitializedCapacity: bytesPerRow * height) { buffer, initialized in
            for row in 0..<height {
                (buffer.baseAddress! + row * bytesPerRow).update(from: base + row * stride, count: bytesPerRow)
            }
            initialized = bytesPerRow * height
        }
    }
}
