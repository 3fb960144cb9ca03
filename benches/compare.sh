#!/usr/bin/env bash
# Side-by-side comparison of full validation against the sha256 floor and a peer.
#
# Generates 2 GiB and 200 MiB images (Docker 1.10-24 legacy layout, Docker 25 layout, Docker 25
# layout with gzip layers and with zstd layers) with the project's generator (benches/gen, run
# as `cargo run --release --example make-image`), then times, several times each and
# interleaved so that all tools see the same machine state:
#   imgtar validate FILE        (default build: sha2 crate, parallel indexed walk)
#   imgtar validate - < pipe    (cat FILE | imgtar validate -: one streaming pass)
#   imgtar-ring validate FILE   (built with --features ring: sha256 through ring)
#   openssl dgst -sha256 FILE   (the sha256 floor over the same bytes)
#   skopeo copy docker-archive:FILE oci:DIR   (a peer that verifies digests)
#   imgtar ls FILE              (metadata only)
#   and, with BASELINE=path/to/an/older/imgtar, that binary's `validate FILE`, `validate -` and
#   `ls FILE` (to quote a change as a ratio measured in the same run)
# and prints medians, ratios and peak RSS (/usr/bin/time) as Markdown.
#
# Usage: benches/compare.sh [RUNS]        (default 3; images are cached in $WORK and written
#                                          again when the generator's VERSION changes; RUNS=0
#                                          only generates them)
# Both sizes have the same metadata (8 layers of 3000 files, the generator's default density),
# so peak RSS should not grow with the image size.
# Needs: python3 (for the table), openssl, skopeo, GNU time (/usr/bin/time). The page cache is
# warm: each image is read once right before each timing. Peak disk use is about 16 GiB.
# On a shared machine, WAIT_IDLE=SECONDS waits (at most that long) before each timing until the
# other processes leave the CPUs at least 90 % idle; each result line records how busy they
# were just before (the last column of $WORK/results.txt), and the table says the median.
# IMAGES="gzip-2g zstd-2g" and TOOLS="file pipe ls" time only those (the table leaves the rest
# as nan); the baseline's columns are added to TOOLS when BASELINE is set.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
WORK=${WORK:-target/compare}
mkdir -p "$WORK"

for tool in python3 openssl skopeo /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "compare.sh needs $tool (apt-get install skopeo time openssl)" >&2; exit 2; }
done

cargo build --release --quiet
cargo build --release --quiet --example make-image
case " ${TOOLS:-ring} " in *" ring "*) cargo build --release --quiet --features ring --target-dir target/ring ;; esac
IMGTAR=target/release/imgtar
IMGTAR_RING=target/ring/release/imgtar
GEN=target/release/examples/make-image
LS=ls
"$IMGTAR" ls --help >/dev/null 2>&1 || LS=inspect   # before the ls command existed

# Cached images are from an older generator when its VERSION changed: write them again.
GEN_VERSION=$(sed -n 's/^pub const VERSION: u32 = \([0-9]*\);/\1/p' benches/gen/mod.rs)
if [ "$(cat "$WORK/generator-version" 2>/dev/null)" != "$GEN_VERSION" ]; then
  rm -f "$WORK"/*.tar "$WORK/generate-times.txt"
  echo "$GEN_VERSION" > "$WORK/generator-version"
fi

gen() { # name format size_mib [--gzip-layers|--zstd-layers]
  local out="$WORK/$1.tar" start
  if [ ! -f "$out" ]; then
    echo "generating $out" >&2
    start=$(date +%s%N)
    "$GEN" -o "$out.part" --size-mib "$3" --layers 8 --files-per-layer 3000 \
      --format "$2" --seed 7 ${4:-} >&2
    mv "$out.part" "$out"
    echo "$1 $((($(date +%s%N) - start) / 1000000))" >> "$WORK/generate-times.txt"   # ms
  fi
}
gen legacy-2g legacy 2048
gen docker25-2g docker25 2048
gen gzip-2g docker25 2048 --gzip-layers
gen zstd-2g docker25 2048 --zstd-layers
gen legacy-200m legacy 200
gen docker25-200m docker25 200
gen gzip-200m docker25 200 --gzip-layers
gen zstd-200m docker25 200 --zstd-layers

[ "$RUNS" -gt 0 ] || exit 0
IMAGES=${IMAGES:-legacy-2g docker25-2g gzip-2g zstd-2g legacy-200m docker25-200m gzip-200m zstd-200m}
TOOLS=${TOOLS:-file pipe ring openssl skopeo ls}
[ -n "${BASELINE:-}" ] && TOOLS="$TOOLS base-file base-pipe base-ls"
RES="$WORK/results.txt"
: > "$RES"

busy() { # percent of all CPU time not idle over half a second
  local u n s i w x y z t1 i1
  read -r _ u n s i w x y z _ < /proc/stat
  t1=$((u + n + s + i + w + x + y + z)) i1=$((i + w))
  sleep 0.5
  read -r _ u n s i w x y z _ < /proc/stat
  echo $(( 100 * ((u + n + s + i + w + x + y + z - t1) - (i + w - i1)) / (u + n + s + i + w + x + y + z - t1 + 1) ))
}
wait_idle() { # prints how busy the machine was when the wait ended
  local end=$((SECONDS + ${WAIT_IDLE:-0})) b
  b=$(busy)
  while [ "$b" -gt 10 ] && [ "$SECONDS" -lt "$end" ]; do b=$(busy); done
  echo "$b"
}

measure() { # image tool
  local f="$WORK/$1.tar" t b
  # Warm the page cache for this image right before its timing: a machine whose page cache
  # holds less than all the images (seen: a 24 GiB VM that kept about 3 GiB cached) would
  # otherwise time the first tool of each image against the disk.
  cat "$f" > /dev/null
  b=$(wait_idle)
  t=$(mktemp)
  case "$2" in
    file)    /usr/bin/time -f "%e %M" -o "$t" "$IMGTAR" validate "$f" >/dev/null ;;
    pipe)    /usr/bin/time -f "%e %M" -o "$t" sh -c "cat '$f' | '$IMGTAR' validate - >/dev/null" ;;
    ring)    /usr/bin/time -f "%e %M" -o "$t" "$IMGTAR_RING" validate "$f" >/dev/null ;;
    openssl) /usr/bin/time -f "%e %M" -o "$t" openssl dgst -sha256 "$f" >/dev/null ;;
    skopeo)  rm -rf "$WORK/oci-out"
             /usr/bin/time -f "%e %M" -o "$t" skopeo copy -q "docker-archive:$f" "oci:$WORK/oci-out:x" >/dev/null
             rm -rf "$WORK/oci-out" ;;
    ls)      /usr/bin/time -f "%e %M" -o "$t" "$IMGTAR" "$LS" "$f" >/dev/null ;;
    base-file) /usr/bin/time -f "%e %M" -o "$t" "$BASELINE" validate "$f" >/dev/null ;;
    base-pipe) /usr/bin/time -f "%e %M" -o "$t" sh -c "cat '$f' | '$BASELINE' validate - >/dev/null" ;;
    base-ls)   /usr/bin/time -f "%e %M" -o "$t" "$BASELINE" ls "$f" >/dev/null ;;
  esac
  echo "$1 $2 $(tail -1 "$t") $b" >> "$RES"
  rm -f "$t"
}

for run in $(seq "$RUNS"); do
  for img in $IMAGES; do
    for tool in $TOOLS; do
      measure "$img" "$tool"
    done
  done
  echo "run $run of $RUNS done" >&2
done

python3 - "$RES" "$WORK" <<'PY'
import os, statistics, sys, collections
res, work = sys.argv[1], sys.argv[2]
wall = collections.defaultdict(list); rss = collections.defaultdict(list); busy = []
for line in open(res):
    img, tool, sec, kib, *rest = line.split()
    wall[img, tool].append(float(sec)); rss[img, tool].append(int(kib))
    busy += [int(b) for b in rest]
med = lambda k: statistics.median(wall[k]) if wall[k] else float('nan')
imgs = sorted({i for i, _ in wall}, key=lambda i: (not i.endswith('2g'), i))
print("| image | size | imgtar file | imgtar pipe | imgtar (ring) file | openssl | skopeo copy | imgtar ls | file/openssl | pipe/openssl | skopeo/imgtar | peak RSS file / pipe |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for i in imgs:
    size = os.path.getsize(os.path.join(work, i + ".tar")) / 2**20
    print(f"| {i} | {size:.0f} MiB | {med((i,'file')):.2f} s | {med((i,'pipe')):.2f} s | {med((i,'ring')):.2f} s | "
          f"{med((i,'openssl')):.2f} s | {med((i,'skopeo')):.2f} s | {med((i,'ls'))*1000:.0f} ms | "
          f"{med((i,'file'))/med((i,'openssl')):.2f} | {med((i,'pipe'))/med((i,'openssl')):.2f} | "
          f"{med((i,'skopeo'))/med((i,'file')):.1f}x | {max(rss[i,'file'], default=0)/1024:.1f} / {max(rss[i,'pipe'], default=0)/1024:.1f} MiB |")
print()
for fam in ("legacy", "docker25", "gzip", "zstd"):
    big, small = max(rss[fam + "-2g", "file"], default=0), max(rss[fam + "-200m", "file"], default=0)
    if not big or not small:
        continue
    print(f"- {fam}: peak RSS 2 GiB / 200 MiB = {big/1024:.1f} / {small/1024:.1f} MiB ({(big/small - 1)*100:+.0f}%)")
if any(t == 'base-file' for _, t in wall):
    print("\nAgainst BASELINE (same run; ratio = this build / baseline, lower is faster):\n")
    print("| image | file | baseline file | ratio | pipe | baseline pipe | ratio | ls | baseline ls | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for i in imgs:
        cells = []
        for new, old in (("file", "base-file"), ("pipe", "base-pipe"), ("ls", "base-ls")):
            cells += [f"{med((i,new)):.2f} s", f"{med((i,old)):.2f} s", f"{med((i,new))/med((i,old)):.2f}"]
        print(f"| {i} | " + " | ".join(cells) + " |")
print(f"\nMedians of {len(wall[imgs[0], 'file'])} runs each; wall time and peak RSS from /usr/bin/time.")
if busy:
    print(f"CPUs busy with other work just before a timing: median {statistics.median(busy):.0f} %, "
          f"max {max(busy)} % (WAIT_IDLE={os.environ.get('WAIT_IDLE', '0')}).")
times = os.path.join(work, "generate-times.txt")
if os.path.exists(times):
    gen = dict(line.split() for line in open(times))
    print("Generating the images (make-image, when not cached): " +
          ", ".join(f"{i} {int(gen[i]) / 1000:.1f} s" for i in imgs if i in gen) + ".")
PY
