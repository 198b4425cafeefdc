#!/usr/bin/env bash
# Scans the logs of a test run for the secrets the tests used (collected by
# infra/canarytest into CANARY_FILE): API keys, tokens, passwords, key material. Any hit is
# a leak. Prints the number of canaries and, per log file with a hit, how many lines match
# (never the secret itself); exits 1 on any hit.
set -euo pipefail
canaries=${1:?usage: scan-canaries.sh CANARY_FILE LOG_PATH...}
shift
if [[ ! -s $canaries ]]; then
	echo "canary scan: no canaries were recorded ($canaries); nothing to check" >&2
	exit 1
fi
sort -u "$canaries" -o "$canaries"
n=$(wc -l <"$canaries")
hits=0
while IFS= read -r -d '' f; do
	if c=$(grep -F -c -f "$canaries" -- "$f"); then
		echo "canary scan: $f: $c line(s) hold a secret the tests used" >&2
		hits=$((hits + c))
	fi
done < <(find "$@" -type f \( -name '*.log' -o -name 'go-test*.txt' \) -print0 2>/dev/null)
echo "canary scan: $n canaries, $hits hits in the logs of $*"
[[ $hits -eq 0 ]]
