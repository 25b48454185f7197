import ProxyCore

// MARK: - What an apply did, and how it failed

/// What an apply did.
public struct ApplyReport: Sendable {
    /// Operations of the plan per subsystem (all attempted).
    public var operations: [OperationKind: Int] = [:]
    /// Per-subsystem outcomes: requests sent, retries, already-absent deletes.
    public var results: [OperationKind: ApplyResult] = [:]
    /// Wall time of the whole apply.
    public var elapsed: Duration = .zero
    /// Wall time per subsystem.
    public var elapsedByKind: [OperationKind: Duration] = [:]
    /// Failures of single operations (the rest was applied).
    public var errors: [KernelError] = []

    public init() {}

    /// Kernel requests sent in all, retries included.
    public var requestsSent: Int { results.values.reduce(0) { $0 + $1.requestsSent } }

    /// One line for logs: `ipvs 3 ops 3 requests, link 1 ops 1 requests; 1.2 ms`.
    public var summary: String {
        let parts = OperationKind.allCases.compactMap { k -> String? in
            guard let n = operations[k], n > 0 else { return nil }
            return "\(k.rawValue) \(n) ops \(results[k]?.requestsSent ?? 0) requests"
        }
        let ms = elapsed.milliseconds
        return (parts.isEmpty ? "nothing to do" : parts.joined(separator: ", ")) + "; " + String(format3(ms)) + " ms"
    }

    private func format3(_ v: Double) -> String {
        let scaled = (v * 1000).rounded() / 1000
        return "\(scaled)"
    }
}

/// An apply in which some operations failed; `report` says what was done and what failed.
public struct ApplyFailure: Error, Sendable, CustomStringConvertible {
    public var report: ApplyReport
    public init(report: ApplyReport) { self.report = report }
    /// Whether only modules or sysctls failed: then everything else of the plan was applied.
    public var onlyPrerequisitesFailed: Bool {
        !report.errors.isEmpty && report.errors.allSatisfy { $0.subsystem == .module || $0.subsystem == .sysctl }
    }
    public var description: String {
        let head = report.errors.prefix(3).map(\.description).joined(separator: "; ")
        return "\(report.errors.count) kernel operation(s) failed: \(head)\(report.errors.count > 3 ? "; ..." : "")"
    }
}

/// Outcome of applying a batch of operations to one backend.
public struct ApplyResult: Sendable, Hashable {
    /// Requests the kernel accepted (including ones retried as edits).
    public var applied: Int = 0
    /// Adds that found the object present and were turned into edits (EEXIST).
    public var convertedToUpdate: Int = 0
    /// Updates that found the object missing and were turned into adds.
    public var convertedToAdd: Int = 0
    /// Deletes of objects already gone (ENOENT/ESRCH), counted as success.
    public var alreadyAbsent: Int = 0
    /// Kernel requests sent, retries included (what "kernel operations" counts).
    public var requestsSent: Int = 0
    /// Failures that did not stop the batch; the backend throws the first one after finishing the rest.
    public var errors: [KernelError] = []

    public init() {}

    /// Adds the counts of `other` to these.
    public mutating func merge(_ other: ApplyResult) {
        applied += other.applied; convertedToUpdate += other.convertedToUpdate
        convertedToAdd += other.convertedToAdd; alreadyAbsent += other.alreadyAbsent
        requestsSent += other.requestsSent; errors += other.errors
    }
}

/// A batch in which some requests failed: every failure, and what the batch achieved anyway.
///
/// Backends apply the whole batch first (one bad entry must not leave the rest unprogrammed), then
/// throw this when any request failed.
public struct KernelBatchError: Error, Sendable, CustomStringConvertible {
    /// The failures, in request order.
    public var errors: [KernelError]
    /// Counts of what was applied, failures excluded.
    public var partial: ApplyResult

    public init(errors: [KernelError], partial: ApplyResult) { self.errors = errors; self.partial = partial }

    public var description: String {
        let head = errors.prefix(3).map(\.description).joined(separator: "; ")
        return errors.count > 3 ? "\(errors.count) kernel requests failed: \(head); ..." : head
    }
}
