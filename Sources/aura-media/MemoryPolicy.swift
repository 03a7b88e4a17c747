#if os(Linux)
import CGlibcMalloc
import Foundation
import Jobs
#endif

/// How the long-lived processes (`serve`, `import`) ask glibc's allocator to give memory back.
///
/// Pictures are large, short-lived allocations (a 1080p plane is 2 MB, a 4K one 8 MB) made and freed by decoder,
/// scaler and encoder threads all day. With glibc's defaults the threshold above which an allocation gets its own
/// mapping rises to the largest size freed so far (up to 32 MB), so after the first few pictures they are carved
/// from per-thread arenas (up to 8 per core), where freed space stays mapped: RSS grows for as long as the
/// traffic's mix changes, though the live heap does not. Measured with `bench/soak` (2 servers, 8 minutes, one
/// seed): under heaptrack the live heap peaked at 259 MB while RSS passed 1 GB; without it RSS went 547 → 748 and
/// 728 → 996 MiB (first third vs last third), and with the first two settings below it stayed at 380–550 MiB with
/// no trend.
///
/// - Allocations from 512 KiB up get their own mapping, given back when freed (and the threshold stays put).
/// - At most two arenas per core (glibc's default is eight): fewer places for freed memory to strand.
/// - Every 30 s, free pages inside the arenas are given back (`malloc_trim`), which glibc otherwise does only at
///   the top of the main heap: a server left idle after a minute of scrubbing went from 175 to 71 MiB when this
///   ran. It holds each arena's lock for a moment (milliseconds); on a thread of its own, "aura-trim".
///
/// `GLIBC_TUNABLES` (glibc.malloc.mmap_threshold, glibc.malloc.arena_max) still wins when set: it is read first,
/// and this leaves alone what it names.
enum MemoryPolicy {
    static let mmapThresholdBytes: Int32 = 512 << 10
    static let trimIntervalSeconds: UInt32 = 30

    static func apply() {
        #if os(Linux)
        let tunables = ProcessInfo.processInfo.environment["GLIBC_TUNABLES"] ?? ""
        if !tunables.contains("glibc.malloc.mmap_threshold") {
            _ = mallopt(M_MMAP_THRESHOLD, mmapThresholdBytes)
        }
        if !tunables.contains("glibc.malloc.arena_max") {
            _ = mallopt(M_ARENA_MAX, Int32(max(2, 2 * ProcessInfo.processInfo.activeProcessorCount)))
        }
        let trimmer = Thread {
            ThreadName.setCurrent("aura-trim")
            while true {
                sleep(trimIntervalSeconds)
                _ = malloc_trim(0)
            }
        }
        trimmer.stackSize = 256 << 10
        trimmer.start()
        #endif
    }
}
