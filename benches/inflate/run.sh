#!/usr/bin/env bash
# Times the gzip inflaters imgtar could use, on the largest gzip layer of an image that
# benches/compare.sh generated: flate2 over zlib-rs (imgtar's fallback), flate2 over zlib-ng,
# ISA-L (isal-rs: what imgtar uses) and libdeflate (libdeflater), interleaved, and prints the
# medians as Markdown.
#
# Usage: benches/inflate/run.sh [IMAGE.tar] [RUNS]
#   (default: target/compare/gzip-2g.tar, written by `benches/compare.sh 0`; 5 runs)
# Needs: cmake (zlib-ng is built from source by libz-ng-sys), nasm and autotools (ISA-L, as
# for imgtar itself), python3.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
IMAGE=${1:-target/compare/gzip-2g.tar}
RUNS=${2:-5}
OUT=target/inflate
mkdir -p "$OUT"
command -v cmake >/dev/null || { echo "run.sh needs cmake (apt-get install cmake)" >&2; exit 2; }

# The largest member that starts with the gzip magic.
python3 - "$IMAGE" "$OUT/layer.gz" <<'PY'
import sys, tarfile
best = None
with tarfile.open(sys.argv[1]) as t:
    for m in t:
        if m.isfile() and (best is None or m.size > best.size):
            if t.extractfile(m).read(2) == b"\x1f\x8b":
                best = m
    if best is None:
        sys.exit("no gzip member in " + sys.argv[1])
    with open(sys.argv[2], "wb") as out:
        f = t.extractfile(best)
        while chunk := f.read(1 << 20):
            out.write(chunk)
    print(f"layer: {best.name}, {best.size / 1048576:.1f} MiB compressed", file=sys.stderr)
PY

cargo build --release --quiet --manifest-path "$here/Cargo.toml" --target-dir "$OUT/rs"
cargo build --release --quiet --manifest-path "$here/Cargo.toml" --target-dir "$OUT/ng" \
  --no-default-features --features zlib-ng
RS="$OUT/rs/release/inflate-compare"
NG="$OUT/ng/release/inflate-compare"
cat "$OUT/layer.gz" >/dev/null   # warm the page cache
: > "$OUT/results.txt"
for _ in $(seq "$RUNS"); do
  "$RS" "$OUT/layer.gz" 1 flate2 isal libdeflate >> "$OUT/results.txt"
  "$NG" "$OUT/layer.gz" 1 flate2 >> "$OUT/results.txt"
done
python3 - "$OUT/results.txt" "$RUNS" <<'PY'
import sys, statistics
rows = {}
for line in open(sys.argv[1]):
    name, s, rate = line.split()
    rows.setdefault(name, []).append((float(s), float(rate)))
print(f"| inflater | median time | median MiB/s (output) | runs |")
print("|---|---:|---:|---:|")
for name, v in sorted(rows.items(), key=lambda kv: statistics.median(s for s, _ in kv[1])):
    print(f"| {name} | {statistics.median(s for s, _ in v):.3f} s | "
          f"{statistics.median(r for _, r in v):.0f} | {len(v)} |")
PY
