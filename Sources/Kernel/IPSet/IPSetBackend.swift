import CIPSetShim
import KubeModel
import ProxyCore
import KernelPort

// MARK: - ipset backend (libipset)
//
// One libipset session (one netlink socket) per backend. Entries are written the way
// `ipset restore` writes them: consecutive adds (or deletes) on one set are aggregated by
// libipset into shared netlink messages (about a hundred entries per page-sized message), so
// 10,000 entries cost ~100 messages on one socket instead of 10,000 `ipset` processes
// (kubernetes/kubernetes#133773, #93445). The session always has -exist semantics: adding a
// present entry, deleting a missing one and creating an identical set are not errors, so a
// repeated apply is harmless.
//
// Comments: kube-ipvs creates its sets exactly as kube-proxy does, WITHOUT the per-entry
// `comment` extension (`ipset create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024
// maxelem 65536`, see IPSetSpec.createArguments); the spec §4 comments are carried by the
// iptables rules that match the sets (`-m comment --comment ...`). Sets therefore look the same
// as on a kube-proxy node in `ipset save`, and entries stay the plain member text the core
// compares against.
//
// Not thread-safe: libipset keeps process-wide state (type list, set cache). Use one backend
// from one task at a time.

/// The ipset backend: reads the KUBE-* sets and applies set operations through libipset.
public final class IPSetBackend {
    private let handle: OpaquePointer

    /// Opens a libipset session; throws when the kernel has no ip_set support.
    public init() throws {
        var err = [CChar](repeating: 0, count: 1024)
        guard let h = kipset_open(&err, err.count) else {
            throw KernelError(subsystem: .ipset, operation: "open session", message: IPSetBackend.cString(err))
        }
        handle = h
    }

    deinit { kipset_close(handle) }

    // MARK: - Reading

    /// Names of all sets in the kernel (foreign ones included).
    public func setNames() throws -> [String] {
        kipset_output_reset(handle)
        guard kipset_list_names(handle) == 0 else { throw error("list -n") }
        let text = String(cString: kipset_output(handle, nil))
        kipset_output_reset(handle)
        return text.split(separator: "\n").map(String.init)
    }

    /// `ipset save NAME` text of one set.
    public func saveText(of name: String) throws -> String {
        kipset_output_reset(handle)
        guard kipset_save(handle, name) == 0 else { throw error("save", object: name) }
        let text = String(cString: kipset_output(handle, nil))
        kipset_output_reset(handle)
        return text
    }

    /// Whether a set named `name` exists.
    public func exists(_ name: String) throws -> Bool {
        switch kipset_exists(handle, name) {
        case 1: return true
        case 0: return false
        default: throw error("header", object: name)
        }
    }

    /// The sets whose names start with `prefix`, by family: `KUBE-6-*` and `family inet6` sets are
    /// IPv6; bitmap:port sets carry no family and count as IPv4 unless named `KUBE-6-*`.
    /// Only the matching sets are read (`save NAME` each), never foreign ones.
    public func observe(prefix: String = "KUBE-") throws -> [IPFamily: [String: ObservedSet]] {
        var out: [IPFamily: [String: ObservedSet]] = [:]
        for name in try setNames() where name.hasPrefix(prefix) {
            for (n, set) in IPSetSaveText.parse(try saveText(of: name), prefix: prefix) {
                out[set.spec.family, default: [:]][n] = set
            }
        }
        return out
    }

    // MARK: - Writing

    /// Applies the ipset operations of `ops` in order (others are ignored).
    ///
    /// Consecutive entry operations are batched (see the file comment). A batch the kernel rejects
    /// is replayed entry by entry, so one bad entry does not leave the others unprogrammed; every
    /// failure is then reported in one `KernelBatchError`. `requestsSent` counts commands and
    /// commits (a commit may carry several netlink messages), not entries.
    @discardableResult
    public func apply(_ ops: [Operation]) throws -> ApplyResult {
        var result = ApplyResult()
        var run: [(del: Bool, set: String, entry: String)] = []  // the pending entry batch

        func flush() {
            guard !run.isEmpty else { return }
            defer { run.removeAll(keepingCapacity: true) }
            run = Self.groupedBySet(run)
            var failed = false
            for (i, e) in run.enumerated() where kipset_adt(handle, e.del ? 1 : 0, e.set, e.entry, UInt32(i + 1)) != 0 {
                failed = true
            }
            if kipset_commit(handle) != 0 { failed = true }
            result.requestsSent += 1
            if !failed { result.applied += run.count; return }
            // Something in the batch failed and the kernel stops at the first bad entry of a
            // message: replay one by one (idempotent under -exist) to apply the rest and name the bad ones.
            for e in run {
                result.requestsSent += 1
                if kipset_adt(handle, e.del ? 1 : 0, e.set, e.entry, 1) == 0, kipset_commit(handle) == 0 {
                    result.applied += 1
                } else {
                    result.errors.append(error(e.del ? "del" : "add", object: "\(e.set) \(e.entry)"))
                    _ = kipset_commit(handle)
                }
            }
        }

        for op in ops {
            switch op {
            case let .addSetEntry(set, entry):
                run.append((false, set, entry))
            case let .deleteSetEntry(set, entry):
                run.append((true, set, entry))
            case let .createSet(spec):
                flush()
                result.requestsSent += 1
                if command("create \(spec.name) \(spec.createArguments)") { result.applied += 1 } else {
                    result.errors.append(error("create", object: spec.name))
                }
            case let .recreateSet(spec):
                flush()
                result.requestsSent += 2
                // destroy fails with "in use by a kernel component" while an iptables rule still
                // matches the set: the caller must remove such rules first.
                let present = (try? exists(spec.name)) ?? true
                if present, !command("destroy \(spec.name)") {
                    result.errors.append(error("destroy", object: spec.name))
                } else if command("create \(spec.name) \(spec.createArguments)") {
                    result.applied += 1
                } else {
                    result.errors.append(error("create", object: spec.name))
                }
            case let .destroySet(spec):
                // Cleanup; fails with "in use by a kernel component" while a rule still matches the set.
                flush()
                result.requestsSent += 1
                let present = (try? exists(spec.name)) ?? true
                if !present || command("destroy \(spec.name)") { result.applied += 1 } else {
                    result.errors.append(error("destroy", object: spec.name))
                }
            default:
                continue
            }
        }
        flush()
        if !result.errors.isEmpty {
            let partial = { var p = result; p.errors = []; return p }()
            throw KernelBatchError(errors: result.errors, partial: partial)
        }
        return result
    }

    /// The entries of a batch grouped by set, in the order each set first appears, each set's
    /// entries in their order. A plan interleaves sets (each Service adds to KUBE-CLUSTER-IP, then
    /// to KUBE-IPVS-IPS), and every change of set costs the batch a type query to the kernel and
    /// ends a netlink message; entries of different sets do not depend on each other.
    static func groupedBySet<E>(_ run: [(del: Bool, set: String, entry: E)]) -> [(del: Bool, set: String, entry: E)] {
        var slot: [String: Int] = [:]
        var groups: [[(del: Bool, set: String, entry: E)]] = []
        for e in run {
            if let k = slot[e.set] { groups[k].append(e) } else { slot[e.set] = groups.count; groups.append([e]) }
        }
        return groups.count == 1 ? run : groups.flatMap { $0 }
    }

    /// Destroys a set (for cleanup); a missing set is not an error.
    public func destroy(_ name: String) throws {
        guard try exists(name) else { return }
        guard command("destroy \(name)") else { throw error("destroy", object: name) }
    }

    // MARK: - Helpers

    static func cString(_ buf: [CChar]) -> String {
        String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private func command(_ line: String) -> Bool { kipset_run(handle, line) == 0 }

    private func error(_ op: String, object: String = "") -> KernelError {
        KernelError(subsystem: .ipset, operation: op, object: object,
                    message: String(cString: kipset_error(handle)).trimmingNewlines)
    }
}
