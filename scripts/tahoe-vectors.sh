#!/usr/bin/env bash
# Makes the CHK, LIT and MDMF known-answer vectors with a real Tahoe-LAFS grid
# (/work/shared/tahoe-peer/tahoe-grid.sh, k=3 happy=4 N=5) and writes them to OUT:
#   <name>.cap            the cap Tahoe printed
#   <name>.plain          the plaintext (files) — deterministic bytes, see gen() below
#   <name>.sh<N>.share    the bare share N as stored (container header and leases removed)
#   <name>.sh<N>.container  the server's container file, unchanged
#   manifest.json         name → cap, size, kind, storage index, share numbers, servers
# Usage: bash scripts/tahoe-vectors.sh OUT [backup]   (the grid must be running: tahoe-grid.sh start)
#   with `backup`: only the `tahoe backup` vectors (immutable DIR2-CHK/DIR2-LIT directories)
set -euo pipefail
OUT=$1
GRID=/work/shared/tahoe-peer/tahoe-grid.sh
G=${TAHOE_GRID_DIR:-$HOME/tahoe-peer/grid}
T() { bash "$GRID" tahoe "$@"; }
mkdir -p "$OUT"
# Tahoe 1.20 cuts immutable files into 1 MiB segments; 128 KiB (Tahoe's old default, and
# still the MDMF one) gives multi-segment CHK vectors of a few hundred KiB.
CFG="$G/client/tahoe.cfg"
if ! grep -q '^shares._max_immutable_segment_size_for_testing' "$CFG"; then
  sed -i 's/^\[client\]$/[client]\nshares._max_immutable_segment_size_for_testing = 131072/' "$CFG"
  bash "$GRID" stop >/dev/null
  bash "$GRID" start >/dev/null
fi
# Deterministic plaintext: SHA-256 counter stream keyed by the name (incompressible, reproducible).
gen() { python3 -c "
import hashlib,sys
n,name=int(sys.argv[1]),sys.argv[2].encode()
out=b''.join(hashlib.sha256(name+i.to_bytes(4,'big')).digest() for i in range(n//32+1))[:n]
sys.stdout.buffer.write(out)" "$1" "$2"; }

put() { # name size [format] [target]
  local name=$1 size=$2 fmt=${3:-CHK} target=${4:-}
  gen "$size" "$name" >"$OUT/$name.plain"
  local args=()
  [ "$fmt" != CHK ] && args+=(--format="$fmt")
  T put "${args[@]}" "$OUT/$name.plain" $target 2>/dev/null | tail -1 >"$OUT/$name.cap"
}

if [ "${2:-}" = backup ]; then
  # `tahoe backup` stores each snapshot as immutable directories (DIR2-CHK, or DIR2-LIT
  # when tiny) of CHK and LIT files.
  SRC=$(mktemp -d)
  gen 3000 backup.a >"$SRC/a.txt"
  gen 30 backup.b >"$SRC/b.txt"
  mkdir -p "$SRC/sub/empty-dir"
  gen 70000 backup.sub.c >"$SRC/sub/c.bin"
  cp "$SRC/a.txt" "$OUT/backup.a.plain"; cp "$SRC/b.txt" "$OUT/backup.b.plain"
  cp "$SRC/sub/c.bin" "$OUT/backup.sub.c.plain"
  T mkdir >"$OUT/backup-root.cap"
  T backup "$SRC" "$(cat "$OUT/backup-root.cap")" >/dev/null
  T ls --json "$(cat "$OUT/backup-root.cap")/Latest" >"$OUT/backup.json"
  python3 -c "
import json,sys
d=json.load(open(sys.argv[1]))
print(d[1]['ro_uri'])" "$OUT/backup.json" >"$OUT/backup.cap"
  T ls --json "$(cat "$OUT/backup.cap")/sub" >"$OUT/backup.sub.json"
  for n in a b; do
    python3 -c "
import json,sys
print(json.load(open(sys.argv[1]))[1]['children'][sys.argv[2]][1]['ro_uri'])" "$OUT/backup.json" "$n.txt" >"$OUT/backup.$n.cap"
  done
  python3 -c "
import json,sys
c=json.load(open(sys.argv[1]))[1]['children']
print(c['sub'][1]['ro_uri'])" "$OUT/backup.json" >"$OUT/backup.sub.cap"
  python3 -c "
import json,sys
c=json.load(open(sys.argv[1]))[1]['children']
print(c['c.bin'][1]['ro_uri']); open(sys.argv[2],'w').write(c['empty-dir'][1]['ro_uri']+'\\n')" "$OUT/backup.sub.json" "$OUT/backup.sub.empty-dir.cap" >"$OUT/backup.sub.c.cap"
  rm -rf "$SRC"
else
put chk-56 56
put chk-1000 1000
put chk-300000 300000
put lit-20 20
put lit-0 0
put mdmf-1000 1000 MDMF
put mdmf-300000 300000 MDMF

# A DIR2-MDMF directory with two children.
T mkdir --format=MDMF >"$OUT/dir-mdmf.cap"
DM=$(cat "$OUT/dir-mdmf.cap")
put dir-mdmf.a 700 CHK "$DM/a.txt"
put dir-mdmf.b 30 CHK "$DM/b.txt"
# Writing a child changed the directory: record its contents listing.
T ls --json "$DM" >"$OUT/dir-mdmf.json"

# A Tahoe directory tree (SDMF dirs) holding CHK, LIT, MDMF children, none with `size` metadata.
T mkdir >"$OUT/tree.cap"
TR=$(cat "$OUT/tree.cap")
put tree.small 1000 CHK "$TR/small.txt"
put tree.lit 40 CHK "$TR/lit.txt"
put tree.empty 0 CHK "$TR/empty"
put tree.big 300000 CHK "$TR/big.bin"
put tree.mdmf 2000 MDMF "$TR/notes.mdmf"
T mkdir "$TR/sub" >"$OUT/tree.sub.cap"
put tree.sub.inner 5000 CHK "$TR/sub/inner.txt"
T mv "$TR/small.txt" "$TR/moved.txt" >/dev/null
T ls --json "$TR" >"$OUT/tree.json"
T ls --json "$TR/sub" >"$OUT/tree.sub.json"

fi

# Shares of every cap, off the storage nodes' disks.
python3 - "$OUT" "$G" <<'PY'
import json, os, re, struct, subprocess, sys, glob
out, g = sys.argv[1], sys.argv[2]
tahoe = os.path.expanduser('~/tahoe-peer/tahoe')
def si_of(cap):
    if cap.startswith('URI:LIT:') or cap.startswith('URI:DIR2-LIT:'): return None
    r = subprocess.run([tahoe, 'debug', 'dump-cap', cap], capture_output=True, text=True).stdout
    m = re.search(r'storage index: (\w+)', r)
    return m.group(1)
manifest = {}
for f in sorted(glob.glob(os.path.join(out, '*.cap'))):
    name = os.path.basename(f)[:-4]
    cap = open(f).read().strip()
    entry = {'cap': cap}
    plain = os.path.join(out, name + '.plain')
    if os.path.exists(plain): entry['size'] = os.path.getsize(plain)
    si = si_of(cap)
    entry['storageIndex'] = si
    entry['shares'] = []
    if si:
        for srv in sorted(glob.glob(os.path.join(g, 'storage*'))):
            d = os.path.join(srv, 'storage', 'shares', si[:2], si)
            if not os.path.isdir(d): continue
            for sh in sorted(os.listdir(d), key=int):
                raw = open(os.path.join(d, sh), 'rb').read()
                if raw[:32].startswith(b'Tahoe mutable container v'):
                    dlen = struct.unpack('>Q', raw[84:92])[0]
                    share = raw[468:468 + dlen]
                    kind = 'mutable'
                else:
                    # v1 and v2 share one 12-byte header; leases (72 bytes each) follow the data
                    version, _, nleases = struct.unpack('>LLL', raw[:12])
                    share = raw[12:len(raw) - 72 * nleases]
                    kind = 'immutable-v%d' % version
                open(os.path.join(out, '%s.sh%s.share' % (name, sh)), 'wb').write(share)
                open(os.path.join(out, '%s.sh%s.container' % (name, sh)), 'wb').write(raw)
                entry['shares'].append({'shnum': int(sh), 'server': os.path.basename(srv), 'container': kind, 'length': len(share)})
    manifest[name] = entry
json.dump(manifest, open(os.path.join(out, 'manifest.json'), 'w'), indent=1, sort_keys=True)
PY
echo "vectors in $OUT"
