#!/bin/bash
# pbjson's output of every message type equals protobuf's reference JSON.
set -euo pipefail
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
protoc --python_out="$tmp" -I"$SOURCE_DIR/proto" "$SOURCE_DIR/proto/dpidual.proto"
"$BUILD_DIR/tests/test_schema" --emit > "$tmp/lines"
test "$(wc -l < "$tmp/lines")" -ge 10
/usr/bin/python3 "$SOURCE_DIR/tests/check_schema_json.py" "$tmp" < "$tmp/lines"
