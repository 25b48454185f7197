import KubeModel
import XCTest

/// Days since 1970 to dates, at the edges the API's times can reach (years 1 and 9999), around
/// the epoch and on leap days.
final class CivilDateTests: XCTestCase {
    func testKnownDates() {
        let cases: [(Int64, Int64, Int64, Int64)] = [
            (0, 1970, 1, 1), (-1, 1969, 12, 31), (11_016, 2000, 2, 29), (11_017, 2000, 3, 1),
            (-25_508, 1900, 3, 1), (-719_162, 1, 1, 1), (2_932_896, 9999, 12, 31), (19_782, 2024, 2, 29),
        ]
        for (days, y, m, d) in cases {
            let got = CivilDate.from(daysSince1970: days)
            XCTAssertEqual([got.year, got.month, got.day], [y, m, d], "day \(days)")
        }
    }
}
