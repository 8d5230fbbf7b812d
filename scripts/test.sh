#!/usr/bin/env bash
# Runs every test of cairn on a fresh machine: installs what the tests need
# (Go modules, the AWS CLI v2 from Debian; the AWS CLI v1 and boto3 come with
# the machine's Python), then vets and tests everything with the race
# detector. The end-to-end tests build cairn and run it on loopback ports.
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

echo "== go vet"
go vet ./...

echo "== go test (race detector)"
export CAIRN_REQUIRE_ALL=1
# -count=1: the end-to-end tests build and run the binary themselves, which
# the test cache cannot see, so results are never reused.
go test -race -count=1 -timeout 45m "$@" ./...
