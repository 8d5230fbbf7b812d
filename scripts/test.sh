#!/usr/bin/env bash
# Runs every test of cairn on a fresh machine: installs what the tests need
# (Go modules, the AWS CLI v2 from Debian, MinIO built from source; the AWS
# CLI v1 and boto3 come with the machine's Python), then vets and tests
# everything with the race detector. The end-to-end tests build cairn and
# run it on loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

echo "== Go modules"
go version
go mod download

echo "== AWS clients"
if [ ! -x /usr/bin/aws ]; then
	as_root apt-get install -y -q awscli >/dev/null 2>&1 || {
		as_root apt-get update -q >/dev/null
		as_root apt-get install -y -q awscli >/dev/null
	}
fi
/usr/bin/aws --version
command -v aws >/dev/null && aws --version
python3 -c 'import boto3, botocore; print("boto3", boto3.__version__, "botocore", botocore.__version__)'

echo "== MinIO"
# The S3 backend and delivery are tested against a real MinIO
# (internal/objstore/miniotest finds it on PATH or in GOPATH/bin). MinIO
# publishes no module versions, so @latest is whatever the proxy resolves;
# pin the one known to build here, overridable with MINIO_VERSION. The
# first build takes about two minutes.
MINIO_VERSION=${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}
minio_bin=$(command -v minio || echo "$(go env GOPATH)/bin/minio")
if [ ! -x "$minio_bin" ]; then
	echo "building MinIO $MINIO_VERSION"
	go install "github.com/minio/minio@$MINIO_VERSION"
fi
# A source build reports version DEVELOPMENT; the module version says more.
go version -m "$minio_bin" | awk '$1 == "mod" { print "minio", $3 }'

echo "== go vet"
go vet ./...

echo "== go test (race detector)"
export CAIRN_REQUIRE_ALL=1
# -count=1: the end-to-end tests build and run the binary themselves, which
# the test cache cannot see, so results are never reused.
go test -race -count=1 -timeout 45m "$@" ./...

echo "== fuzz targets (briefly; their seed corpora already ran above)"
# Every parser of untrusted input has a fuzz target. Each gets a short run
# here so that a regression of the kind they find shows in every test run.
# The run is a number of inputs, not a time: a time limit can end a run
# mid-input and report "context deadline exceeded" as a failure;
# longer runs are for finding new ones: `go test -fuzz NAME -fuzztime 10m ./PKG`.
FUZZTIME=${FUZZTIME:-20000x}
fuzzlog=$(mktemp)
grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r file; do
	pkg=./$(dirname "${file#./}")
	for name in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$file"); do
		echo "-- $pkg $name"
		go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$pkg" >"$fuzzlog" 2>&1 || {
			cat "$fuzzlog"
			exit 1
		}
	done
done
