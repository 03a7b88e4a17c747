import CFFmpeg

/// Picture buffers of one shape (width, height, pixel format), reused: a buffer goes back to the pool when its last
/// reference is dropped, and the next picture takes it instead of a fresh allocation. An `AVBufferPool` (thread
/// safe), freed in `deinit`; buffers still referenced then are freed when their last reference goes.
///
/// Why: a converted picture is usually still referenced when the next one is made (the transcoder keeps the last
/// picture to repeat into gaps, an encoder may hold one), so each picture needs a buffer of its own. A fresh
/// allocation each time is, for pictures of 512 KiB and more under the servers' memory policy, a new mapping whose
/// pages the kernel zeroes and faults in one by one: measured on a 2-minute 1080p to 720p proxy, 1.2 million page
/// faults and 13 % more CPU time than with a pool (see the README's segment benchmark).
final class PicturePool {
    let width: Int32
    let height: Int32
    let format: Int32
    private var pool: OpaquePointer?

    /// nil for a shape whose pictures cannot be laid out in one buffer (then frames allocate as FFmpeg does).
    init?(width: Int32, height: Int32, format: Int32) {
        let size = aura_picture_buffer_size(format, width, height)
        guard width > 0, height > 0, size > 0, let pool = av_buffer_pool_init(Int(size), nil) else { return nil }
        (self.width, self.height, self.format) = (width, height, format)
        self.pool = pool
    }

    deinit { av_buffer_pool_uninit(&pool) }

    /// Whether `frame`'s shape is this pool's.
    func fits(_ frame: UnsafeMutablePointer<AVFrame>) -> Bool {
        frame.pointee.width == width && frame.pointee.height == height && frame.pointee.format == format
    }

    /// Gives `frame` (unreferenced, shaped like this pool) a buffer from the pool.
    func fill(_ frame: UnsafeMutablePointer<AVFrame>) throws(MediaError) {
        try FFmpegResult.check(aura_frame_take_picture_buffer(frame, pool), "av_buffer_pool_get")
    }
}
