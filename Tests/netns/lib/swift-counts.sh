# swift_test_counts LOGFILE: print "PASSED FAILED SKIPPED" for one `swift test` run's output,
# adding XCTest's summary and Swift Testing's. Source it (bash).
#
# XCTest:        "Executed 4 tests, with 2 tests skipped and 1 failure (0 unexpected) ..."
#                (the last such line is the whole run's)
# Swift Testing: "✘ Test run with 4 tests in 0 suites failed after ..." for the total,
#                "✘ Test foo() failed after ..." per failed test, "➜ Test bar() skipped" per skip
swift_test_counts() {
    awk '
        /Executed [0-9]+ tests?, with / {
            line = $0
            xt = 0; xs = 0; xf = 0
            if (match(line, /Executed [0-9]+ test/)) { s = substr(line, RSTART, RLENGTH); gsub(/[^0-9]/, "", s); xt = s + 0 }
            if (match(line, /[0-9]+ tests? skipped/)) { s = substr(line, RSTART, RLENGTH); gsub(/[^0-9]/, "", s); xs = s + 0 }
            if (match(line, /[0-9]+ failures?/)) { s = substr(line, RSTART, RLENGTH); gsub(/[^0-9]/, "", s); xf = s + 0 }
            # XCTest counts assertion failures; a test cannot fail more than once here.
            if (xf > xt - xs) xf = xt - xs
            seen_xc = 1
        }
        /Test Case .* failed \(/ { xc_failed_cases++ }
        /^[^A-Za-z0-9\/ \t]+ Test run with [0-9]+ tests?/ {
            if (match($0, /Test run with [0-9]+ test/)) { s = substr($0, RSTART, RLENGTH); gsub(/[^0-9]/, "", s); st = s + 0 }
        }
        # Swift Testing lines start with a status symbol (✔ ✘ ➜ ◇ ...), XCTest lines do not.
        /^[^A-Za-z0-9\/ \t]+ Test .* failed after / && !/ Test run with / { sf++ }
        /^[^A-Za-z0-9\/ \t]+ Test .* skipped/ && !/ Test run with / { ss++ }
        END {
            if (seen_xc && xc_failed_cases > 0) xf = (xc_failed_cases < xt - xs) ? xc_failed_cases : xt - xs
            p = (xt - xs - xf) + (st - sf - ss)
            if (p < 0) p = 0
            printf "%d %d %d\n", p, xf + sf, xs + ss
        }
    ' "$1"
}
