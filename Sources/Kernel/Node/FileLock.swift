#if canImport(Glibc)
import Glibc
#endif

/// Takes an exclusive flock(2) on `fd`, trying again every `interval` seconds for up to `timeout`
/// seconds; `busy` is called after each try that finds the lock taken. Returns nil once locked,
/// else the errno that stopped it (EWOULDBLOCK: still held after `timeout`) and the seconds waited.
/// The node lock and the xtables lock both wait this way.
func flockExclusive(_ fd: Int32, timeout: Double, interval: Double, busy: () -> Void = {}) -> (errno: Int32, waited: Double)? {
    var waited = 0.0
    while flock(fd, LOCK_EX | LOCK_NB) != 0 {
        let e = errno
        if e == EINTR { continue }
        guard e == EWOULDBLOCK, waited < timeout else { return (e, waited) }
        busy()
        let step = max(0.001, min(interval, timeout - waited))
        usleep(useconds_t(step * 1e6))
        waited += step
    }
    return nil
}
