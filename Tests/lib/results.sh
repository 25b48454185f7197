# Result counting shared by the shell tier runners (Tests/netns/run.sh, Tests/apiserver/run.sh).
# Source it after setting RESULTS_TIER; call `result PASS|FAIL|SKIP NAME [REASON]` per test and
# `summary` at the end: it prints "TIER: N passed, N failed, N skipped" and exits 1 on a failure.
npass=0 nfail=0 nskip=0
result() { # KIND NAME [REASON]
    case $1 in
        PASS) npass=$((npass + 1)); echo "  PASS $2" ;;
        FAIL) nfail=$((nfail + 1)); echo "  FAIL $2${3:+: $3}" ;;
        SKIP) nskip=$((nskip + 1)); echo "  SKIP $2${3:+: $3}" ;;
    esac
}
summary() {
    echo "$RESULTS_TIER: $npass passed, $nfail failed, $nskip skipped"
    [ "$nfail" = 0 ]
    exit $?
}
