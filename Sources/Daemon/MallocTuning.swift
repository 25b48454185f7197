#if canImport(Glibc)
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

public enum MallocTuning {
    /// At most two malloc arenas (M_ARENA_MAX); call before the threads start.
    public static func limitArenas() {
        #if canImport(Glibc)
        _ = c_mallopt(-8, 2)  // M_ARENA_MAX (malloc.h)
        #endif
    }

    /// Returns the free memory at the top of the heaps and whole free pages inside them to the
    /// kernel (malloc_trim(0)). It walks the whole heap, so only after big syncs.
    public static func trim() {
        #if canImport(Glibc)
        _ = c_malloc_trim(0)
        #endif
    }
}
