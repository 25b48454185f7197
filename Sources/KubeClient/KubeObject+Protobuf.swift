#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KubeModel
import KubeProto
import SwiftProtobuf

// MARK: - From the API's protobuf messages to the wire structs
//
// The same wire structs the JSON decoder fills, so that Validation.swift stays the one place that
// checks values. The mapping mirrors what the JSON of the same object holds: a field the API's Go
// type marks `omitempty` and that is empty (an empty string, list or map, a zero port) is nil, as
// it is missing from the JSON; a pointer field (`nodeName`, `ready`, `timeoutSeconds`, ...) is set
// exactly when the message has it. Numbers are range-checked before conversion; an error names
// the field as the JSON decoder would (`spec.ports.0.targetPort`).

/// A string of a Go field marked omitempty: nil when empty, as the JSON has no such field.
@inline(__always) private func omitEmpty(_ s: String) -> String? { s.isEmpty ? nil : s }
/// A list or map marked omitempty: nil when empty.
@inline(__always) private func omitEmpty<C: Collection>(_ c: C) -> C? { c.isEmpty ? nil : c }

/// Decodes one message from an envelope's bytes, with the options every decode uses.
private func message<M: SwiftProtobuf.Message>(_ type: M.Type, _ raw: Data) throws -> M {
    do {
        return try M(serializedBytes: raw, options: ProtobufEnvelope.options)
    } catch {
        throw ProtobufError("", describeDecoding(error))
    }
}

/// Decodes each element of `list` with `convert`, naming a failure `field.INDEX` as the JSON
/// decoder names array elements.
private func each<E, R>(_ list: [E], _ field: String, _ convert: (E) throws -> R) throws -> [R]? {
    if list.isEmpty { return nil }
    var out: [R] = []
    out.reserveCapacity(list.count)
    for (i, e) in list.enumerated() { out.append(try ProtobufError.at("\(field).\(i)") { try convert(e) }) }
    return out
}

extension ObjectMeta {
    init(protobuf m: K8sObjectMeta) throws {
        self.init(name: omitEmpty(m.name), namespace: omitEmpty(m.namespace), labels: omitEmpty(m.labels),
                  annotations: omitEmpty(m.annotations), resourceVersion: omitEmpty(m.resourceVersion))
        if m.hasDeletionTimestamp {
            deletionTimestamp = try ProtobufError.at("deletionTimestamp") { try ProtobufTime.rfc3339(seconds: m.deletionTimestamp.seconds) }
        }
    }
}

extension IntOrString {
    init(protobuf v: K8sIntOrString) throws {
        switch v.type {
        case 0: self = .int(Int(v.intVal))
        case 1: self = .string(v.strVal)
        default: throw ProtobufError("type", "\(v.type) is neither 0 (intVal) nor 1 (strVal)")
        }
    }
}

// MARK: - Service

extension ServiceResource {
    /// Decodes a core/v1 Service from an envelope's bytes.
    public static func decodeProtobuf(_ raw: Data, apiVersion: String) throws -> ServiceResource {
        let m = try message(K8sService.self, raw)
        var s = ServiceResource.empty
        if m.hasMetadata { s.metadata = try ProtobufError.at("metadata") { try ObjectMeta(protobuf: m.metadata) } }
        if m.hasSpec { s.spec = try ProtobufError.at("spec") { try Spec(protobuf: m.spec) } }
        if m.hasStatus {
            var status = Status.empty
            var lb = Status.LoadBalancer.empty
            lb.ingress = try each(m.status.loadBalancer.ingress, "status.loadBalancer.ingress") { i in
                var ing = Status.Ingress.empty
                ing.ip = omitEmpty(i.ip)
                ing.hostname = omitEmpty(i.hostname)
                ing.ipMode = i.hasIpMode ? i.ipMode : nil
                return ing
            }
            status.loadBalancer = lb
            s.status = status
        }
        return s
    }
}

extension ServiceResource.Spec {
    init(protobuf p: K8sServiceSpec) throws {
        self = .empty
        type = omitEmpty(p.type)
        clusterIP = omitEmpty(p.clusterIp)
        clusterIPs = omitEmpty(p.clusterIps)
        ipFamilies = omitEmpty(p.ipFamilies)
        ports = try each(p.ports, "ports") { try ServiceResource.Port(protobuf: $0) }
        externalIPs = omitEmpty(p.externalIps)
        externalName = omitEmpty(p.externalName)
        sessionAffinity = omitEmpty(p.sessionAffinity)
        if p.hasSessionAffinityConfig {
            var config = ServiceResource.SessionAffinityConfig.empty
            if p.sessionAffinityConfig.hasClientIp {
                var clientIP = ServiceResource.SessionAffinityConfig.ClientIP.empty
                let c = p.sessionAffinityConfig.clientIp
                clientIP.timeoutSeconds = c.hasTimeoutSeconds ? Int(c.timeoutSeconds) : nil
                config.clientIP = clientIP
            }
            sessionAffinityConfig = config
        }
        externalTrafficPolicy = omitEmpty(p.externalTrafficPolicy)
        internalTrafficPolicy = p.hasInternalTrafficPolicy ? p.internalTrafficPolicy : nil
        healthCheckNodePort = p.healthCheckNodePort != 0 ? Int(p.healthCheckNodePort) : nil
        loadBalancerSourceRanges = omitEmpty(p.loadBalancerSourceRanges)
        selector = omitEmpty(p.selector)
        trafficDistribution = p.hasTrafficDistribution ? p.trafficDistribution : nil
    }
}

extension ServiceResource.Port {
    init(protobuf p: K8sServicePort) throws {
        self = .empty
        name = omitEmpty(p.name)
        `protocol` = omitEmpty(p.protocol)
        port = p.hasPort ? Int(p.port) : nil
        if p.hasTargetPort { targetPort = try ProtobufError.at("targetPort") { try IntOrString(protobuf: p.targetPort) } }
        nodePort = p.nodePort != 0 ? Int(p.nodePort) : nil
        appProtocol = p.hasAppProtocol ? p.appProtocol : nil
    }
}

// MARK: - Endpoints

extension EndpointsResource {
    /// Decodes a core/v1 Endpoints from an envelope's bytes.
    public static func decodeProtobuf(_ raw: Data, apiVersion: String) throws -> EndpointsResource {
        let m = try message(K8sEndpoints.self, raw)
        var e = EndpointsResource.empty
        if m.hasMetadata { e.metadata = try ProtobufError.at("metadata") { try ObjectMeta(protobuf: m.metadata) } }
        func address(_ a: K8sEndpointAddress) -> Address {
            var out = Address.empty
            out.ip = a.hasIp ? a.ip : nil
            out.hostname = omitEmpty(a.hostname)
            out.nodeName = a.hasNodeName ? a.nodeName : nil
            return out
        }
        e.subsets = try each(m.subsets, "subsets") { s in
            var subset = Subset.empty
            subset.addresses = try each(s.addresses, "addresses", address)
            subset.notReadyAddresses = try each(s.notReadyAddresses, "notReadyAddresses", address)
            subset.ports = try each(s.ports, "ports") { p in
                var port = Port.empty
                port.name = omitEmpty(p.name)
                port.port = p.hasPort ? Int(p.port) : nil
                port.protocol = omitEmpty(p.protocol)
                return port
            }
            return subset
        }
        return e
    }
}

// MARK: - EndpointSlice

extension EndpointSliceResource {
    /// Decodes a discovery.k8s.io EndpointSlice from an envelope's bytes; `apiVersion` chooses
    /// between v1beta1's and v1's numbering of the endpoint's fields (v1 when it names neither).
    public static func decodeProtobuf(_ raw: Data, apiVersion: String) throws -> EndpointSliceResource {
        var s = EndpointSliceResource.empty
        if apiVersion.hasSuffix("/v1beta1") {
            let m = try message(K8sEndpointSliceV1beta1.self, raw)
            try s.fill(m.hasMetadata ? m.metadata : nil, m.hasAddressType ? m.addressType : nil, m.ports)
            s.endpoints = try each(m.endpoints, "endpoints") { e in
                var out = Endpoint(addresses: e.addresses, conditions: e.hasConditions ? e.conditions : nil,
                                   nodeName: e.hasNodeName ? e.nodeName : nil, hints: e.hasHints ? e.hints : nil)
                out.topology = omitEmpty(e.topology)
                return out
            }
        } else {
            let m = try message(K8sEndpointSliceV1.self, raw)
            try s.fill(m.hasMetadata ? m.metadata : nil, m.hasAddressType ? m.addressType : nil, m.ports)
            s.endpoints = try each(m.endpoints, "endpoints") { e in
                var out = Endpoint(addresses: e.addresses, conditions: e.hasConditions ? e.conditions : nil,
                                   nodeName: e.hasNodeName ? e.nodeName : nil, hints: e.hasHints ? e.hints : nil)
                out.zone = e.hasZone ? e.zone : nil
                return out
            }
        }
        return s
    }

    private mutating func fill(_ meta: K8sObjectMeta?, _ addressType: String?, _ ports: [K8sEndpointSlicePort]) throws {
        if let meta { metadata = try ProtobufError.at("metadata") { try ObjectMeta(protobuf: meta) } }
        self.addressType = addressType
        self.ports = try each(ports, "ports") { p in
            var port = Port.empty
            port.name = p.hasName ? p.name : nil
            port.protocol = p.hasProtocol ? p.protocol : nil
            port.port = p.hasPort ? Int(p.port) : nil
            return port
        }
    }
}

extension EndpointSliceResource.Endpoint {
    init(addresses: [String], conditions c: K8sEndpointConditions?, nodeName: String?, hints h: K8sEndpointHints?) {
        self = .empty
        self.addresses = addresses
        if let c {
            var conditions = EndpointSliceResource.Conditions.empty
            conditions.ready = c.hasReady ? c.ready : nil
            conditions.serving = c.hasServing ? c.serving : nil
            conditions.terminating = c.hasTerminating ? c.terminating : nil
            self.conditions = conditions
        }
        self.nodeName = nodeName
        if let h {
            func names(_ refs: [K8sNamedRef]) -> [EndpointSliceResource.Named]? {
                refs.isEmpty ? nil : refs.map { r in var n = EndpointSliceResource.Named.empty; n.name = r.hasName ? r.name : nil; return n }
            }
            var hints = EndpointSliceResource.Hints.empty
            hints.forZones = names(h.forZones)
            hints.forNodes = names(h.forNodes)
            self.hints = hints
        }
    }
}

// MARK: - Node

extension NodeResource {
    /// Decodes a core/v1 Node from an envelope's bytes.
    public static func decodeProtobuf(_ raw: Data, apiVersion: String) throws -> NodeResource {
        let m = try message(K8sNode.self, raw)
        var n = NodeResource.empty
        if m.hasMetadata { n.metadata = try ProtobufError.at("metadata") { try ObjectMeta(protobuf: m.metadata) } }
        if m.hasSpec {
            var spec = Spec.empty
            spec.podCIDR = omitEmpty(m.spec.podCidr)
            spec.podCIDRs = omitEmpty(m.spec.podCidrs)
            spec.taints = try each(m.spec.taints, "spec.taints") { t in
                var taint = Taint.empty
                taint.key = t.hasKey ? t.key : nil
                taint.value = omitEmpty(t.value)
                taint.effect = t.hasEffect ? t.effect : nil
                return taint
            }
            n.spec = spec
        }
        if m.hasStatus {
            var status = Status.empty
            status.addresses = try each(m.status.addresses, "status.addresses") { a in
                var address = Address.empty
                address.type = a.hasType ? a.type : nil
                address.address = a.hasAddress ? a.address : nil
                return address
            }
            n.status = status
        }
        return n
    }
}
