#!/bin/sh
# Example ToolWorker handler: the arguments JSON arrives on stdin, stdout is the output, exit 0 is success.
# TOOLWORKER_TOOL_NAME, TOOLWORKER_TOOL_CALL_ID, TOOLWORKER_RUN_ID and TOOLWORKER_THREAD_ID are set.
set -eu
args=$(cat)
# Pull "city" out without needing jq (the sandbox has only the base system).
city=$(printf '%s' "$args" | sed -n 's/.*"city"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p')
if [ -z "$city" ]; then
    echo "missing \"city\" in arguments: $args" >&2
    exit 2
fi
units=${UNITS:-metric}
# A real handler would call a weather service here; the example answers deterministically.
temp=$(( $(printf '%s' "$city" | cksum | cut -d' ' -f1) % 30 ))
printf '{"city":"%s","temperature":%s,"units":"%s","conditions":"clear"}\n' "$city" "$temp" "$units"
