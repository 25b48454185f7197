// MARK: - The process_* metrics of Prometheus's Go client, read from /proc at scrape time
//
// kube-proxy's /metrics carries client_golang's process collector; swift-prometheus has none, so
// these are read here, with the same names, types and help texts, from /proc/self/stat,
// /proc/self/fd, /proc/self/limits and /proc/stat (boot time). A value that cannot be read is left
// out, as the Go collector does, rather than reported as 0.
#if canImport(Glibc)
import Glibc
#endif
import KubeModel

/// One scrape of the process's resource use.
public struct ProcessMetrics: Sendable, Equatable {
    /// User and system CPU time, seconds.
    public var cpuSeconds: Double?
    public var residentMemoryBytes: Double?
    public var virtualMemoryBytes: Double?
    /// The soft RLIMIT_AS (unlimited: 2^64 - 1, as Go's procfs reads it).
    public var virtualMemoryMaxBytes: Double?
    /// Seconds since the epoch.
    public var startTimeSeconds: Double?
    public var openFDs: Double?
    /// The soft RLIMIT_NOFILE.
    public var maxFDs: Double?

    /// The metric names, types and help texts, in the order they are written.
    public static let families: [(name: String, type: String, help: String)] = [
        ("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds."),
        ("process_max_fds", "gauge", "Maximum number of open file descriptors."),
        ("process_open_fds", "gauge", "Number of open file descriptors."),
        ("process_resident_memory_bytes", "gauge", "Resident memory size in bytes."),
        ("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds."),
        ("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes."),
        ("process_virtual_memory_max_bytes", "gauge", "Maximum amount of virtual memory available in bytes."),
    ]

    public init() {}

    /// Reads this process's figures now.
    public static func read(proc: String = "/proc") -> ProcessMetrics {
        var m = ProcessMetrics()
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let page = Double(sysconf(Int32(_SC_PAGESIZE)))
        if let stat = readText(proc + "/self/stat"), let f = statFields(stat), ticks > 0 {
            // Fields after the command: index 0 is field 3 (state); utime is field 14, stime 15,
            // starttime 22, vsize 23, rss 24 (proc(5)).
            if let u = Double(f[11]), let s = Double(f[12]) { m.cpuSeconds = (u + s) / ticks }
            if let v = Double(f[20]) { m.virtualMemoryBytes = v }
            if let r = Double(f[21]) { m.residentMemoryBytes = r * page }
            if let start = Double(f[19]), let boot = bootTime(proc: proc) { m.startTimeSeconds = boot + start / ticks }
        }
        if let limits = readText(proc + "/self/limits") {
            m.maxFDs = softLimit(limits, "Max open files")
            m.virtualMemoryMaxBytes = softLimit(limits, "Max address space")
        }
        m.openFDs = countEntries(proc + "/self/fd")
        return m
    }

    /// The fields of /proc/PID/stat after `(comm)`; the command may hold spaces and parentheses.
    static func statFields(_ text: String) -> [Substring]? {
        guard let close = text.lastIndex(of: ")") else { return nil }
        let f = text[text.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
        return f.count >= 22 ? f : nil
    }

    /// Seconds since this process started (its fork: for `ip netns exec` or a shell's exec, the
    /// launcher's time is included), from /proc/uptime and starttime, to 10 ms.
    public static func secondsSinceStart(proc: String = "/proc") -> Double? {
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        guard ticks > 0, let stat = readText(proc + "/self/stat"), let f = statFields(stat), let start = Double(f[19]),
              let up = readText(proc + "/uptime")?.split(separator: " ").first, let uptime = Double(up) else { return nil }
        return uptime - start / ticks
    }

    /// A `kB` row of /proc/self/status (`RssAnon`, `VmHWM`), in KiB.
    public static func statusKiB(_ row: String, proc: String = "/proc") -> Int? {
        guard let text = readText(proc + "/self/status") else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(row + ":") {
            return line.dropFirst(row.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" }).first.flatMap { Int($0) }
        }
        return nil
    }

    /// `btime` of /proc/stat: boot time, seconds since the epoch.
    static func bootTime(proc: String) -> Double? {
        guard let text = readText(proc + "/stat") else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("btime ") {
            return Double(line.dropFirst(6).trimmingCharacters(in: " "))
        }
        return nil
    }

    /// The Soft Limit column of a /proc/PID/limits row; `unlimited` is 2^64 - 1, as Go's procfs.
    static func softLimit(_ limits: String, _ row: String) -> Double? {
        for line in limits.split(separator: "\n") where line.hasPrefix(row) {
            guard let soft = line.dropFirst(row.count).split(separator: " ").first else { return nil }
            return soft == "unlimited" ? Double(UInt64.max) : Double(soft)
        }
        return nil
    }

    /// The Prometheus text of these figures; unknown ones are left out.
    public func render(into out: inout [UInt8]) {
        let values = [cpuSeconds, maxFDs, openFDs, residentMemoryBytes, startTimeSeconds, virtualMemoryBytes, virtualMemoryMaxBytes]
        for (family, value) in zip(Self.families, values) {
            guard let value else { continue }
            out.append(contentsOf: Array("# HELP \(family.name) \(family.help)\n# TYPE \(family.name) \(family.type)\n\(family.name) \(Self.goFloat(value))\n".utf8))
        }
    }

    /// A number as Go's text exposition writes it (strconv 'g', shortest): the shortest digits
    /// that read back the same, with an exponent when it is below -4 or 6 and more
    /// (`1.70416464512e+09`, `2.4576e+07`, `125`).
    static func goFloat(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v > 0 ? "+Inf" : "-Inf" }
        if v == 0 { return "0" }
        var text = "\(abs(v))"  // Swift's shortest round-trip form: 1234567.0, 1.8446744073709552e+19, 5e-05
        var exp10 = 0
        if let e = text.firstIndex(of: "e") {
            exp10 = Int(text[text.index(after: e)...]) ?? 0
            text = String(text[..<e])
        }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        var digits = Array(String(parts[0]) + (parts.count > 1 ? String(parts[1]) : ""))
        var point = parts[0].count + exp10  // digits before the decimal point
        while digits.count > 1 && digits.first == "0" { digits.removeFirst(); point -= 1 }
        while digits.count > 1 && digits.last == "0" { digits.removeLast() }
        let exp = point - 1
        var out = v < 0 ? "-" : ""
        if exp < -4 || exp >= 6 {
            out.append(digits[0])
            if digits.count > 1 { out += "." + String(digits[1...]) }
            let e = abs(exp)
            out += (exp < 0 ? "e-" : "e+") + (e < 10 ? "0" : "") + String(e)
        } else if point <= 0 {
            out += "0." + String(repeating: "0", count: -point) + String(digits)
        } else if point >= digits.count {
            out += String(digits) + String(repeating: "0", count: point - digits.count)
        } else {
            out += String(digits[..<point]) + "." + String(digits[point...])
        }
        return out
    }

    private static func readText(_ path: String) -> String? {
        BoundedFile.read(path, limit: 1 << 20).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Entries of a directory but `.` and `..` (the descriptor of the listing itself counts, as in Go).
    private static func countEntries(_ path: String) -> Double? {
        guard let dir = opendir(path) else { return nil }
        defer { closedir(dir) }
        var n = 0
        while let e = readdir(dir) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { n += 1 }
        }
        return Double(n)
    }
}

private extension Substring {
    func trimmingCharacters(in c: Character) -> Substring {
        var s = self
        while s.first == c { s.removeFirst() }
        while s.last == c { s.removeLast() }
        return s
    }
}
