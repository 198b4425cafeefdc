#!/bin/sh
# Runs every fuzz target for a bounded time (first argument, default 5s) and prints a table
# of the executions per target. `go test -fuzz` takes one package and one target per run.
# Targets that need Postgres run inside `arkiv stack exec`, as `make fuzz` does.
# A failing input is written to the package's testdata/fuzz/<Target>/ and fails the run.
set -eu
fuzztime=${1:-5s}
go=${GO:-go}

# "package target" for every func FuzzX in a _test.go file, so a new target runs without
# being listed here.
targets=$(find . -path ./.data -prune -o -name '*_test.go' -print | sort |
	xargs grep -Ho '^func Fuzz[A-Za-z0-9_]*' |
	sed 's|^\(.*\)/[^/]*:func \(.*\)$|\1 \2|')

# run pkg name: one bounded run; its output is in $out. A run that fails with Go's
# "context deadline exceeded" and writes no failing input is the fuzz coordinator's race at
# the end of -fuzztime (go.dev/issue/75804, fixed in Go 1.27), not a finding: it is run once
# more, and if it races again it passes with a warning.
run() {
	out=$($go test -run '^$' -fuzz "^$2\$" -fuzztime "$fuzztime" "$1" 2>&1) && return 0
	case $out in
	*"Failing input written"*) return 1 ;;
	*"context deadline exceeded"*) return 2 ;;
	esac
	return 1
}

echo "| fuzz target | package | execs in $fuzztime |"
echo "|---|---|---:|"
echo "$targets" | while read -r pkg name; do
	[ -n "$pkg" ] || continue
	rc=0
	run "$pkg" "$name" || rc=$?
	if [ "$rc" -eq 2 ]; then
		rc=0
		run "$pkg" "$name" || rc=$?
		if [ "$rc" -eq 2 ]; then
			echo "fuzz: $name: the coordinator's end-of-run race twice, no failing input (go.dev/issue/75804)" >&2
			rc=0
		fi
	fi
	if [ "$rc" -ne 0 ]; then
		printf '%s\n' "$out" >&2
		echo "fuzz: $name in $pkg failed" >&2
		exit 1
	fi
	execs=$(printf '%s\n' "$out" | grep -o 'execs: [0-9]*' | tail -n 1 | cut -d' ' -f2)
	printf '| %s | %s | %s |\n' "$name" "${pkg#./}" "${execs:-?}"
done
