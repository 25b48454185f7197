import XCTest
@testable import Daemon

/// healthzBindAddress / metricsBindAddress as kube-proxy accepts them.
final class BindAddressTests: XCTestCase {
    func testAccepted() throws {
        let table: [(String, Int?, String, Int)] = [
            ("0.0.0.0:10256", nil, "0.0.0.0", 10256),
            ("127.0.0.1:10249", nil, "127.0.0.1", 10249),
            ("[::]:10256", nil, "::", 10256),
            ("[::1]:1", nil, "::1", 1),
            ("[fd00::2]:65535", nil, "fd00::2", 65535),
            (":10256", nil, "", 10256),
            ("10.1.2.3", 10256, "10.1.2.3", 10256),  // a bare IP gets the default port (AppendPortIfNeeded)
            ("::", 10249, "::", 10249),
        ]
        for (text, defaultPort, host, port) in table {
            let a = try BindAddress.parse(text, setting: "healthzBindAddress", defaultPort: defaultPort)
            XCTAssertEqual(a, BindAddress(host: host, port: port), text)
        }
    }

    func testDescriptionRoundTrips() throws {
        for text in ["0.0.0.0:10256", "[::]:10256", ":10256", "[fd00::2]:80"] {
            XCTAssertEqual(try BindAddress.parse(text, setting: "x").description, text)
        }
    }

    func testRejectedWithTheSettingNamed() {
        let table: [(String, String)] = [
            ("", "must be IP:port"),
            ("0.0.0.0", "missing port"),
            ("localhost:10256", "\"localhost\" is not an IP address"),
            ("1.2.3:10256", "\"1.2.3\" is not an IP address"),
            ("0.0.0.0:", "\"\" is not a valid port"),
            ("0.0.0.0:0", "\"0\" is not a valid port"),
            ("0.0.0.0:65536", "\"65536\" is not a valid port"),
            ("0.0.0.0:-1", "\"-1\" is not a valid port"),
            ("0.0.0.0:http", "\"http\" is not a valid port"),
            ("0.0.0.0:+80", "\"+80\" is not a valid port"),
            ("::1:10256", "needs brackets"),
            ("[::1]", "missing port after ']'"),
            ("[::1:10256", "missing ']'"),
            ("[1.2.3.4]:80", "is not an IPv6 address"),
            ("[zz::]:80", "is not an IPv6 address"),
        ]
        for (text, why) in table {
            XCTAssertThrowsError(try BindAddress.parse(text, setting: "--metrics-bind-address"), text) { error in
                let e = error as? HTTPServerError
                XCTAssertEqual(e?.setting, "--metrics-bind-address", text)
                XCTAssertEqual(e?.address, text)
                let message = "\(error)"
                XCTAssertTrue(message.hasPrefix("invalid --metrics-bind-address \"\(text)\": "), message)
                XCTAssertTrue(message.contains(why), "\(text): \(message)")
            }
        }
    }

    func testRequestPath() {
        XCTAssertEqual(HTTPServer.path(of: "/healthz"), "/healthz")
        XCTAssertEqual(HTTPServer.path(of: "/healthz?verbose=1"), "/healthz")
        XCTAssertEqual(HTTPServer.path(of: "/metrics#x"), "/metrics")
        XCTAssertEqual(HTTPServer.path(of: "http://node:10256/livez"), "/livez")
        XCTAssertEqual(HTTPServer.path(of: "http://node:10256"), "/")
    }
}
