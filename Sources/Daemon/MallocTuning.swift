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
// above the live data (docs/benchmarks.md). Two arenas are enough for a daemon whose work is one
// sync at a time, and a trim after a big sync returns what it freed.
//
// Fixed thresholds matter more: by default glibc raises its mmap threshold to the size of each
// big block freed (up to 32 MiB), so after the list pages are freed the first sync's big arrays
// come from the heap, and the lists' leftovers and the sync's data pile up in it. With blocks of
// 64 KiB and more always mapped (and unmapped when freed), and the heap's top returned from 64 KiB
// on, the first sync's peak stays near its live data (docs/benchmarks.md has the figures).

public enum MallocTuning {
    /// Blocks from this size on get their own mapping (M_MMAP_THRESHOLD), and a free top of the
    /// heap this big is returned (M_TRIM_THRESHOLD).
    public static let threshold: Int32 = 64 * 1024

    /// At most two malloc arenas (M_ARENA_MAX) and the fixed thresholds above; call before the
    /// threads start. An operator's own `GLIBC_TUNABLES` for malloc wins: nothing is set then.
    public static func configure(environment: [String: String] = currentEnvironment()) {
        #if canImport(Glibc)
        guard appliesOwnSettings(environment: environment) else { return }
        _ = c_mallopt(-8, 2)  // M_ARENA_MAX (malloc.h)
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
