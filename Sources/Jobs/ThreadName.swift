import Foundation

/// Names the calling thread (what `top -H`, gdb, /proc and the soak's thread counts show). Foundation's
/// `Thread.name` does not reliably reach the kernel on Linux, so the name is written where the kernel keeps it,
/// which keeps 15 bytes of it. Threads the named one starts (libav's decoder and encoder threads) inherit it.
public enum ThreadName {
    public static func setCurrent(_ name: String) {
        let fd = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        let bytes = Array(name.utf8.prefix(15))
        _ = bytes.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }
}
