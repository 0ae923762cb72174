#!/usr/bin/env bash
# Builds FerretDB (MongoDB wire protocol over SQLite) from the Go module proxy into the
# cache, once. Tests and `make dev` use it where no MongoDB URL or mongod binary is given.
# The module zip lacks build/version/version.txt (FerretDB's release tooling writes it),
# and `go install pkg@version` panics without it, so we build a copy with that file added.
#
# Two small patches to its SQLite backend make it usable as a stand-in under load:
#  1. Its `_id` lookups are written `sjson->'$._id'` while its unique `_id` index is on
#     `sjson->"_id"`; SQLite only uses an expression index for the identical expression,
#     so every lookup by `_id` scanned the whole table. We use the index's expression.
#  2. It pushes a filter down to SQL only when the filter is exactly `{_id: <string>}`;
#     `{_id, version}` (our compare-and-set) and `{_id: {$in: [...]}}` (our batch reads)
#     decoded every document of the collection in Go. We push down the `_id` equality
#     whatever else the filter holds, and `_id: {$in: [strings]}` as `IN (...)`; FerretDB
#     re-applies the whole filter to the rows that come back, so results are unchanged.
#  3. Its `update` command keeps each statement's query (and so one SQLite connection of
#     its pool of 100) open until the whole command ends, and a statement that writes
#     takes one more connection while its query is still open. Concurrent `update`
#     commands whose statements add up to 100 each hold a connection and wait for another
#     one: FerretDB stops answering every client for good (seen with 8 partitions' projectors,
#     goroutine dump via --debug-addr). We read a statement's matches, close its query,
#     then write, so a statement holds one connection at a time.
# None changes what any command returns; 1 and 2 change how fast, 3 whether it answers.
set -euo pipefail
version=${FERRETDB_VERSION:-v1.24.0}
build_tag="pushflow-patch-3b"
cache=${PUSHFLOW_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pushflow}
out="$cache/bin/ferretdb"
if [ -x "$out" ] && "$out" --version 2>/dev/null | grep -q "version: $version" && "$out" --version | grep -q "package: $build_tag"; then
  echo "$out"; exit 0
fi
command -v go >/dev/null || { echo "install-ferretdb: Go is needed to build FerretDB (apt-get install golang, or set MONGO_URL)" >&2; exit 1; }
dir=$(go mod download -json "github.com/FerretDB/FerretDB@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -d "$dir" ] || { echo "install-ferretdb: go mod download gave no directory" >&2; exit 1; }
src=$(mktemp -d)
trap 'chmod -R u+w "$src"; rm -rf "$src"' EXIT
cp -r "$dir/." "$src" && chmod -R u+w "$src"
echo "$version" > "$src/build/version/version.txt"
echo "$build_tag" > "$src/build/version/package.txt"
patch_line() { # file, exact old text, new text: fail loudly if upstream moved
  grep -qF -- "$2" "$src/$1" || { echo "install-ferretdb: cannot patch $1 (text not found)" >&2; exit 1; }
  OLD="$2" NEW="$3" perl -0pi -e 's/\Q$ENV{OLD}\E/$ENV{NEW}/' "$src/$1"
}
patch_line internal/backends/sqlite/metadata/metadata.go "IDColumn = DefaultColumn + \"->'\$._id'\"" 'IDColumn = DefaultColumn + `->"_id"`'
patch_line internal/backends/sqlite/collection.go $'\t// TODO https://github.com/FerretDB/FerretDB/issues/3235\n\tif params.Filter.Len() == 1 {\n\t\tv, _ := params.Filter.Get("_id")\n\t\tswitch v.(type) {\n\t\tcase string, types.ObjectID:\n\t\t\twhereClause' $'\t// TODO https://github.com/FerretDB/FerretDB/issues/3235\n\tif params.Filter.Len() >= 1 {\n\t\tv, _ := params.Filter.Get("_id")\n\t\tif in, ok := v.(*types.Document); ok {\n\t\t\twhereClause, args = pushdownIDIn(in)\n\t\t}\n\t\tswitch v.(type) {\n\t\tcase string, types.ObjectID:\n\t\t\twhereClause'
patch_line internal/handler/msg_update.go $'\t\tresult, err := common.UpdateDocument(ctx, c, "update", iter, &u)\n' $'\t\t// PushFlow: read the matches and close the query before writing (see install-ferretdb.sh).\n\t\tmatches, err := iterator.ConsumeValues(iter)\n\t\tcloser.Close()\n\t\tif err != nil {\n\t\t\treturn 0, 0, nil, lazyerrors.Error(err)\n\t\t}\n\n\t\tmatchIter := iterator.Values(iterator.ForSlice(matches))\n\t\tresult, err := common.UpdateDocument(ctx, c, "update", matchIter, &u)\n\t\tmatchIter.Close()\n'
cat >> "$src/internal/backends/sqlite/collection.go" <<'GO'

// pushdownIDIn turns {$in: [string or ObjectID, ...]} into WHERE _id IN (...); anything
// else is left to the Go-side filter. Added by PushFlow's scripts/install-ferretdb.sh.
func pushdownIDIn(d *types.Document) (string, []any) {
	if d.Len() != 1 {
		return "", nil
	}
	v, err := d.Get("$in")
	if err != nil {
		return "", nil
	}
	arr, ok := v.(*types.Array)
	if !ok || arr.Len() == 0 || arr.Len() > 10000 {
		return "", nil
	}
	placeholders := make([]string, 0, arr.Len())
	args := make([]any, 0, arr.Len())
	for i := 0; i < arr.Len(); i++ {
		el := must.NotFail(arr.Get(i))
		switch el.(type) {
		case string, types.ObjectID:
		default:
			return "", nil
		}
		placeholders = append(placeholders, "?")
		args = append(args, string(must.NotFail(sjson.MarshalSingleValue(el))))
	}
	return fmt.Sprintf(` WHERE %s IN (%s)`, metadata.IDColumn, strings.Join(placeholders, ", ")), args
}
GO
mkdir -p "$cache/bin"
echo "install-ferretdb: building FerretDB $version (a few minutes the first time)" >&2
(cd "$src" && GOFLAGS=-buildvcs=false CGO_ENABLED=0 go build -trimpath -o "$out.tmp" ./cmd/ferretdb)
mv "$out.tmp" "$out"
echo "$out"
