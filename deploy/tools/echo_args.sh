#!/bin/sh
# Example handler: answers with the arguments it received and the call it belongs to.
args=$(cat)
printf '{"tool":"%s","call":"%s","arguments":%s}\n' "$TOOLWORKER_TOOL_NAME" "$TOOLWORKER_TOOL_CALL_ID" "$args"
