#!/bin/sh
# transcript.sh DEMO: runs DEMO line by line like a terminal session. A
# comment line is narration and printed as it is; any other line is printed
# after "$ " and then run. The first failing line stops the demo with its
# status, so a demo that no longer works fails `make lesson-NN`.
demo=${1:?usage: transcript.sh DEMO}
while IFS= read -r line || [ -n "$line" ]; do
	case "$line" in
	'#!'*) ;;
	'' | '#'*) printf '%s\n' "$line" ;;
	*)
		printf '$ %s\n' "$line"
		eval "$line" </dev/null
		rc=$?
		if [ "$rc" -ne 0 ]; then
			printf 'demo: exit status %d from: %s\n' "$rc" "$line" >&2
			exit "$rc"
		fi
		;;
	esac
done <"$demo"
