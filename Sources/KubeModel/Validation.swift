// MARK: - From wire shapes to checked values
//
// Each function returns the checked value or the first problem found, naming the field. An object
// with a problem in a required field is skipped whole; the caller reports the diagnostic and
// carries on with the rest. A bad element of an optional list (one externalIP, one source range,
// one ingress IP, one endpoint address) drops only that element, with a warning, as kube-proxy
// drops what it cannot parse: the rest of the object is still programmed.
// Addresses and prefixes are read the way kube-proxy reads them (`IPAddress(sloppy:)`).

/// A field-level problem found while validating one object.
public struct FieldError: Error, Sendable, Hashable {
    public var field: String
    public var message: String
    public init(_ field: String, _ message: String) { self.field = field; self.message = message }
}

/// Result of validating one object: a value, a deliberate skip (not an error), or a diagnostic.
public enum Checked<Value: Sendable>: Sendable {
    case ok(Value)
    /// Valid but not for kube-ipvs (e.g. an FQDN EndpointSlice); the reason is for debug logs.
    case ignored(String)
    case invalid(Diagnostic)
}

/// Label naming the Service an EndpointSlice belongs to.
public let serviceNameLabel = "kubernetes.io/service-name"
/// Label that marks EndpointSlices of headless Services.
public let headlessLabel = "service.kubernetes.io/headless"
/// Label that hands a Service to another proxy.
public let serviceProxyNameLabel = "service.kubernetes.io/service-proxy-name"
/// Annotation choosing the IPVS scheduler of one Service (beyond upstream).
public let schedulerAnnotation = "kube-ipvs.io/scheduler"
/// The prefix of kube-ipvs's own annotations: a Service's other annotations are not kept.
public let kubeIPVSAnnotationPrefix = "kube-ipvs.io/"
/// Annotation choosing the scheduler flags of one Service, comma-separated (beyond upstream).
public let schedulerFlagsAnnotation = "kube-ipvs.io/scheduler-flags"

/// The IPVS schedulers of Linux (net/netfilter/ipvs/ip_vs_*.c), each a module `ip_vs_<name>`.
public let knownIPVSSchedulers: [String] = ["rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos"]

/// Scheduler flag names as ipvsadm spells them (`-b`): `sh-*` only with sh, `mh-*` only with mh,
/// `flag-N` with any scheduler.
public func checkSchedulerFlags(_ names: [String], scheduler: String) -> String? {
    for n in names {
        switch n {
        case "flag-1", "flag-2", "flag-3": continue
        case "sh-fallback", "sh-port":
            if scheduler != "sh" { return "\"\(n)\" needs the sh scheduler (it is \(scheduler))" }
        case "mh-fallback", "mh-port":
            if scheduler != "mh" { return "\"\(n)\" needs the mh scheduler (it is \(scheduler))" }
        default:
            return "unknown flag \"\(n)\" (sh-fallback, sh-port, mh-fallback, mh-port, flag-1, flag-2, flag-3)"
        }
    }
    return nil
}

enum Check {
    static func name(_ meta: ObjectMeta?) throws -> String {
        guard let n = meta?.name, !n.isEmpty else { throw FieldError("metadata.name", "missing") }
        return n
    }

    static func port(_ value: Int?, _ field: String, required: Bool = true) throws -> UInt16? {
        guard let v = value else {
            if required { throw FieldError(field, "missing") }
            return nil
        }
        guard v >= 1, let p = UInt16(exactly: v) else { throw FieldError(field, "\(v) is out of range (1-65535)") }
        return p
    }

    static func proto(_ value: String?, _ field: String) throws -> L4Protocol {
        guard let v = value, !v.isEmpty else { return .tcp }
        guard let p = L4Protocol(rawValue: v) else {
            throw FieldError(field, "unknown protocol \"\(v)\" (TCP, UDP or SCTP)")
        }
        return p
    }

    static func ip(_ value: String?, _ field: String) throws -> IPAddress {
        guard let v = value, !v.isEmpty else { throw FieldError(field, "missing") }
        guard let ip = IPAddress(sloppy: v) else { throw FieldError(field, "\"\(v)\" is not a valid IP address") }
        return ip
    }

    static func cidr(_ value: String, _ field: String) throws -> CIDR {
        let t = value.trimmingSpaces
        guard let c = CIDR(sloppy: t) else {
            throw FieldError(field, "\"\(value)\" is not a valid CIDR")
        }
        return c
    }

    static func policy(_ value: String?, _ field: String) throws -> TrafficPolicy {
        guard let v = value, !v.isEmpty else { return .cluster }
        guard let p = TrafficPolicy(rawValue: v) else { throw FieldError(field, "unknown policy \"\(v)\" (Cluster or Local)") }
        return p
    }

    /// The value of one element of an optional list, or nil with its problem recorded ("ignored").
    static func element<T>(_ check: () throws -> T, _ problems: inout [FieldError]) -> T? {
        do { return try check() } catch let e as FieldError {
            problems.append(FieldError(e.field, "\(e.message); ignored"))
        } catch {
            problems.append(FieldError("", "\(error); ignored"))
        }
        return nil
    }
}

extension StringProtocol {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " || s.first == "\t" { s.removeFirst() }
        while s.last == " " || s.last == "\t" { s.removeLast() }
        return String(s)
    }
}

// MARK: - Service

extension ServiceResource {
    /// Validates this Service; `defaultNamespace` applies when metadata.namespace is empty.
    public func checked(defaultNamespace: String = "default") -> Checked<ServiceInfo> {
        let ns = metadata?.namespace.flatMap { $0.isEmpty ? nil : $0 } ?? defaultNamespace
        let display = "\(ns)/\(metadata?.name ?? "<unnamed>")"
        do {
            return .ok(try validate(namespace: ns))
        } catch let e as FieldError {
            return .invalid(Diagnostic(kind: "Service", object: display, field: e.field, message: e.message))
        } catch {
            return .invalid(Diagnostic(kind: "Service", object: display, field: "", message: "\(error)"))
        }
    }

    private func validate(namespace: String) throws -> ServiceInfo {
        let name = try Check.name(metadata)
        guard let spec else { throw FieldError("spec", "missing") }
        let typeText = spec.type ?? "ClusterIP"
        guard let type = ServiceType(rawValue: typeText.isEmpty ? "ClusterIP" : typeText) else {
            throw FieldError("spec.type", "unknown type \"\(typeText)\" (ClusterIP, NodePort, LoadBalancer or ExternalName)")
        }
        let ref = ObjectRef(namespace: namespace, name: name)
        let labels = (metadata?.labels ?? [:]).filter { $0.key == serviceProxyNameLabel }
        let annotations = (metadata?.annotations ?? [:]).filter { $0.key.hasPrefix(kubeIPVSAnnotationPrefix) }
        if type == .externalName {
            return ServiceInfo(ref: ref, type: type, clusterIPs: [], ports: [], labels: labels, annotations: annotations)
        }

        // Cluster IPs: clusterIP and clusterIPs must agree on the primary.
        var clusterIPs: [IPAddress] = []
        var headless = false
        if spec.clusterIP == "None" || spec.clusterIPs?.first == "None" {
            headless = true
        } else if let list = spec.clusterIPs, !list.isEmpty {
            for (i, text) in list.enumerated() { clusterIPs.append(try Check.ip(text, "spec.clusterIPs[\(i)]")) }
            if let primary = spec.clusterIP, !primary.isEmpty {
                let p = try Check.ip(primary, "spec.clusterIP")
                if p != clusterIPs[0] { throw FieldError("spec.clusterIPs[0]", "\"\(clusterIPs[0])\" differs from spec.clusterIP \"\(p)\"") }
            }
            if clusterIPs.count > 2 || (clusterIPs.count == 2 && clusterIPs[0].family == clusterIPs[1].family) {
                throw FieldError("spec.clusterIPs", "at most one address per family")
            }
        } else if let primary = spec.clusterIP, !primary.isEmpty {
            clusterIPs = [try Check.ip(primary, "spec.clusterIP")]
        } else {
            throw FieldError("spec.clusterIP", "missing (the API server allocates it; a manifest must set it)")
        }

        // Ports: range, protocol, names, no duplicates.
        guard let rawPorts = spec.ports, !rawPorts.isEmpty || headless else { throw FieldError("spec.ports", "missing") }
        var ports: [ServicePortInfo] = []
        var seenNames: Set<String> = []
        var seenPorts: Set<String> = []
        for (i, p) in rawPorts.enumerated() {
            let f = "spec.ports[\(i)]"
            let portName = p.name ?? ""
            if portName.isEmpty && rawPorts.count > 1 { throw FieldError("\(f).name", "missing (required when a Service has several ports)") }
            if !seenNames.insert(portName).inserted { throw FieldError("\(f).name", "duplicate port name \"\(portName)\"") }
            let proto = try Check.proto(p.protocol, "\(f).protocol")
            let port = try Check.port(p.port, "\(f).port")!
            if !seenPorts.insert("\(proto)/\(port)").inserted {
                throw FieldError("\(f).port", "duplicate port \(port)/\(proto.rawValue)")
            }
            var target = p.targetPort
            switch p.targetPort {
            case .int(let t)?:
                if t == 0 { target = nil } else { _ = try Check.port(t, "\(f).targetPort") }
            case .string(let s)?:
                if s.isEmpty { target = nil }
            case nil: break
            }
            var nodePort: UInt16? = nil
            if let np = p.nodePort, np != 0 { nodePort = try Check.port(np, "\(f).nodePort") }
            ports.append(ServicePortInfo(name: portName, proto: proto, port: port, targetPort: target, nodePort: nodePort))
        }

        // Optional lists: a bad element is dropped with a warning, the rest is used.
        var problems: [FieldError] = []
        var externalIPs: [IPAddress] = []
        for (i, t) in (spec.externalIPs ?? []).enumerated() {
            if let ip = Check.element({ try Check.ip(t, "spec.externalIPs[\(i)]") }, &problems) { externalIPs.append(ip) }
        }

        var lbIPs: [IPAddress] = []
        for (i, ing) in (status?.loadBalancer?.ingress ?? []).enumerated() {
            guard let ipText = ing.ip, !ipText.isEmpty else { continue }  // hostname-only ingress
            guard let ip = Check.element({ try Check.ip(ipText, "status.loadBalancer.ingress[\(i)].ip") }, &problems) else { continue }
            if ing.ipMode == "Proxy" { continue }
            lbIPs.append(ip)
        }
        var ranges: [CIDR] = []
        for (i, r) in (spec.loadBalancerSourceRanges ?? []).enumerated() {
            if let c = Check.element({ try Check.cidr(r, "spec.loadBalancerSourceRanges[\(i)]") }, &problems) { ranges.append(c) }
        }

        var affinity: UInt32? = nil
        switch spec.sessionAffinity ?? "None" {
        case "None", "": break
        case "ClientIP":
            let t = spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? 10800
            guard t >= 1 && t <= 86400 else {
                throw FieldError("spec.sessionAffinityConfig.clientIP.timeoutSeconds", "\(t) is out of range (1-86400)")
            }
            affinity = UInt32(t)
        case let other:
            throw FieldError("spec.sessionAffinity", "unknown value \"\(other)\" (None or ClientIP)")
        }

        // Per-Service scheduler (beyond upstream). A bad annotation is reported and ignored: the
        // Service keeps working with the configured scheduler rather than losing its virtual servers.
        var scheduler: String? = nil
        var flags: [String]? = nil
        if let text = annotations[schedulerAnnotation] {
            let s = text.trimmingSpaces
            if knownIPVSSchedulers.contains(s) { scheduler = s } else {
                problems.append(FieldError("metadata.annotations[\(schedulerAnnotation)]",
                                           "unknown IPVS scheduler \"\(text)\" (\(knownIPVSSchedulers.joined(separator: ", "))); using the configured scheduler"))
            }
        }
        if let text = annotations[schedulerFlagsAnnotation] {
            let names = text.split(separator: ",").map { $0.trimmingSpaces }.filter { !$0.isEmpty }
            if scheduler == nil {
                problems.append(FieldError("metadata.annotations[\(schedulerFlagsAnnotation)]",
                                           "ignored: flags need a valid \(schedulerAnnotation) annotation"))
            } else if let problem = checkSchedulerFlags(names, scheduler: scheduler!) {
                problems.append(FieldError("metadata.annotations[\(schedulerFlagsAnnotation)]", "\(problem); using the scheduler's default flags"))
            } else {
                flags = names
            }
        }

        let etp = try Check.policy(spec.externalTrafficPolicy, "spec.externalTrafficPolicy")
        let itp = try Check.policy(spec.internalTrafficPolicy, "spec.internalTrafficPolicy")
        var hc: UInt16? = nil
        if let h = spec.healthCheckNodePort, h != 0 { hc = try Check.port(h, "spec.healthCheckNodePort") }

        var info = ServiceInfo(ref: ref, type: type, clusterIPs: clusterIPs, isHeadless: headless, ports: ports,
                           externalIPs: externalIPs, loadBalancerIPs: lbIPs, loadBalancerSourceRanges: ranges,
                           affinityTimeout: affinity, externalTrafficPolicy: etp, internalTrafficPolicy: itp,
                           healthCheckNodePort: hc, labels: labels, annotations: annotations)
        info.scheduler = scheduler
        info.schedulerFlags = flags
        info.ignoredFieldErrors = problems
        return info
    }
}

// MARK: - Endpoints (core/v1)

extension EndpointsResource {
    /// Validates this Endpoints object; each subset becomes one endpoint set of the same-named Service.
    public func checked(defaultNamespace: String = "default") -> Checked<[EndpointSetInfo]> {
        let ns = metadata?.namespace.flatMap { $0.isEmpty ? nil : $0 } ?? defaultNamespace
        let display = "\(ns)/\(metadata?.name ?? "<unnamed>")"
        do {
            let name = try Check.name(metadata)
            let ref = ObjectRef(namespace: ns, name: name)
            var sets: [EndpointSetInfo] = []
            for (i, subset) in (subsets ?? []).enumerated() {
                let f = "subsets[\(i)]"
                var ports: [EndpointPortInfo] = []
                for (j, p) in (subset.ports ?? []).enumerated() {
                    let proto = try Check.proto(p.protocol, "\(f).ports[\(j)].protocol")
                    let port = try Check.port(p.port, "\(f).ports[\(j)].port")!
                    ports.append(EndpointPortInfo(name: p.name ?? "", proto: proto, port: port))
                }
                var eps: [EndpointInfo] = []
                var problems: [FieldError] = []
                for (j, a) in (subset.addresses ?? []).enumerated() {
                    guard let ip = Check.element({ try Check.ip(a.ip, "\(f).addresses[\(j)].ip") }, &problems) else { continue }
                    eps.append(EndpointInfo(address: ip, nodeName: a.nodeName))
                }
                for (j, a) in (subset.notReadyAddresses ?? []).enumerated() {
                    guard let ip = Check.element({ try Check.ip(a.ip, "\(f).notReadyAddresses[\(j)].ip") }, &problems) else { continue }
                    eps.append(EndpointInfo(address: ip, ready: false, serving: false, nodeName: a.nodeName))
                }
                var set = EndpointSetInfo(source: ref, service: ref, ports: ports, endpoints: eps)
                set.ignoredFieldDiagnostics = problems.map { Diagnostic(kind: "Endpoints", object: display, field: $0.field, message: $0.message) }
                sets.append(set)
            }
            return .ok(sets)
        } catch let e as FieldError {
            return .invalid(Diagnostic(kind: "Endpoints", object: display, field: e.field, message: e.message))
        } catch {
            return .invalid(Diagnostic(kind: "Endpoints", object: display, field: "", message: "\(error)"))
        }
    }
}

// MARK: - EndpointSlice (discovery.k8s.io v1 and v1beta1)

extension EndpointSliceResource {
    /// Validates this EndpointSlice. FQDN slices and headless-Service slices are ignored, not errors.
    public func checked(defaultNamespace: String = "default") -> Checked<EndpointSetInfo> {
        let ns = metadata?.namespace.flatMap { $0.isEmpty ? nil : $0 } ?? defaultNamespace
        let display = "\(ns)/\(metadata?.name ?? "<unnamed>")"
        do {
            let name = try Check.name(metadata)
            let labels = metadata?.labels ?? [:]
            guard let svc = labels[serviceNameLabel], !svc.isEmpty else {
                throw FieldError("metadata.labels[\(serviceNameLabel)]", "missing (the slice names no Service)")
            }
            if labels[headlessLabel] != nil { return .ignored("headless Service") }
            let family: IPFamily
            switch addressType ?? "" {
            case "IPv4": family = .ipv4
            case "IPv6": family = .ipv6
            case "FQDN": return .ignored("FQDN address type")
            case let other: throw FieldError("addressType", other.isEmpty ? "missing" : "unknown address type \"\(other)\" (IPv4, IPv6 or FQDN)")
            }
            var ports: [EndpointPortInfo] = []
            for (j, p) in (self.ports ?? []).enumerated() {
                let proto = try Check.proto(p.protocol, "ports[\(j)].protocol")
                guard let port = try Check.port(p.port, "ports[\(j)].port", required: false) else { continue }
                ports.append(EndpointPortInfo(name: p.name ?? "", proto: proto, port: port))
            }
            var eps: [EndpointInfo] = []
            var problems: [FieldError] = []
            for (i, e) in (endpoints ?? []).enumerated() {
                let ready = e.conditions?.ready ?? true
                let serving = e.conditions?.serving ?? ready
                let terminating = e.conditions?.terminating ?? false
                let node = e.nodeName ?? e.topology?["kubernetes.io/hostname"]
                let zone = e.zone ?? e.topology?["topology.kubernetes.io/zone"]
                let zones = e.hints?.forZones.map { $0.compactMap(\.name) }
                let nodes = e.hints?.forNodes.map { $0.compactMap(\.name) }
                // Kubernetes uses only the first address of an endpoint (the others are reserved). An
                // endpoint without a usable one is dropped; the slice's other endpoints still count.
                let address = Check.element({ () throws -> IPAddress in
                    guard let addrs = e.addresses, !addrs.isEmpty else { throw FieldError("endpoints[\(i)].addresses", "missing") }
                    let ip = try Check.ip(addrs[0], "endpoints[\(i)].addresses[0]")
                    guard ip.family == family else {
                        throw FieldError("endpoints[\(i)].addresses[0]", "\"\(ip)\" is not an \(family.rawValue) address (addressType)")
                    }
                    return ip
                }, &problems)
                guard let ip = address else { continue }
                eps.append(EndpointInfo(address: ip, ready: ready, serving: serving, terminating: terminating,
                                        nodeName: node, zone: zone, hintZones: zones, hintNodes: nodes))
            }
            var set = EndpointSetInfo(source: ObjectRef(namespace: ns, name: name),
                                      service: ObjectRef(namespace: ns, name: svc), ports: ports, endpoints: eps)
            set.ignoredFieldDiagnostics = problems.map { Diagnostic(kind: "EndpointSlice", object: display, field: $0.field, message: $0.message) }
            return .ok(set)
        } catch let e as FieldError {
            return .invalid(Diagnostic(kind: "EndpointSlice", object: display, field: e.field, message: e.message))
        } catch {
            return .invalid(Diagnostic(kind: "EndpointSlice", object: display, field: "", message: "\(error)"))
        }
    }

}

// MARK: - Node

extension NodeResource {
    /// Validates this Node.
    public func checked() -> Checked<NodeInfo> {
        let display = metadata?.name ?? "<unnamed>"
        do {
            let name = try Check.name(metadata)
            var addrs: [IPAddress] = []
            for (i, a) in (status?.addresses ?? []).enumerated() where a.type == "InternalIP" || a.type == "ExternalIP" {
                addrs.append(try Check.ip(a.address, "status.addresses[\(i)].address"))
            }
            var cidrs: [CIDR] = []
            if let list = spec?.podCIDRs, !list.isEmpty {
                for (i, c) in list.enumerated() { cidrs.append(try Check.cidr(c, "spec.podCIDRs[\(i)]")) }
            } else if let c = spec?.podCIDR, !c.isEmpty {
                cidrs.append(try Check.cidr(c, "spec.podCIDR"))
            }
            return .ok(NodeInfo(name: name, labels: metadata?.labels ?? [:], addresses: addrs, podCIDRs: cidrs))
        } catch let e as FieldError {
            return .invalid(Diagnostic(kind: "Node", object: display, field: e.field, message: e.message))
        } catch {
            return .invalid(Diagnostic(kind: "Node", object: display, field: "", message: "\(error)"))
        }
    }
}
