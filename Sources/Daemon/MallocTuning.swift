#if canImport(Glibc)
import Glibc
// glibc's malloc.h is not part of Swift's Glibc module; both functions have a plain C ABI.
@_silgen_name("mallopt") private func c_mallopt(_ param: Int32, _ value: Int32) -> Int32
@_silgen_name("malloc_trim") private func c_malloc_trim(_ pad: Int) -> Int32
#endif

// MARK: - Returning freed memory to the node
//
// The daemon's memory is mostly long-lived (its cache of Services and endpoints, the desired
// state, the cached kernel state), plus what a big sync allocates and frees: the API server's list
// pages and their decoded objects, a full plan. glibc keeps freed memory in per-thread arenas (up
// to 8 per CPU) and does not hand it back by itself, so after a big first sync the RSS stays well
// above the live data (docs/benchmarks.md).
//
// One arena: the lists are decoded on the network threads and the first sync runs on its own
// thread; with two arenas, whether that thread got the lists' arena decided whether the sync
// reused their freed memory or grew a heap of its own, and the peak jumped between two levels from
// run to run. The daemon's work is one sync at a time, so the shared arena costs little. Fixed
// thresholds besides: glibc otherwise raises its mmap threshold to the biggest block freed (up to
// 32 MiB), after which big arrays come from the heap and stay there. A trim after a big sync
// returns what it freed.

public enum MallocTuning {
    /// Blocks from this size on get their own mapping (M_MMAP_THRESHOLD), and a free top of the
    /// heap this big is returned (M_TRIM_THRESHOLD).
    public static let threshold: Int32 = 64 * 1024

    /// One malloc arena (M_ARENA_MAX) and the fixed thresholds above. Call first thing in main:
    /// a thread that has allocated before keeps the arena it made. An operator's own `GLIBC_TUNABLES` for malloc wins: nothing is set then.
    public static func configure(environment: [String: String] = currentEnvironment()) {
        #if canImport(Glibc)
        guard appliesOwnSettings(environment: environment) else { return }
        _ = c_mallopt(-8, 1)  // M_ARENA_MAX (malloc.h)
        _ = c_mallopt(-3, threshold)  // M_MMAP_THRESHOLD: also stops the dynamic adjustment
        _ = c_mallopt(-1, threshold)  // M_TRIM_THRESHOLD
        #endif
    }

    /// False when the environment tunes malloc itself (`GLIBC_TUNABLES` with a `glibc.malloc.` entry).
    public static func appliesOwnSettings(environment: [String: String]) -> Bool {
        !(environment["GLIBC_TUNABLES"]?.contains("glibc.malloc.") ?? false)
    }

    /// GLIBC_TUNABLES of this process, the only variable `configure` reads.
    public static func currentEnvironment() -> [String: String] {
        guard let v = getenv("GLIBC_TUNABLES") else { return [:] }
        return ["GLIBC_TUNABLES": String(cString: v)]
    }

    /// Returns the free memory at the top of the heaps and whole free pages inside them to the
    /// kernel (malloc_trim(0)). It walks the whole heap, so only after big syncs.
    public static func trim() {
        #if canImport(Glibc)
        _ = c_malloc_trim(0)
        #endif
    }
}
