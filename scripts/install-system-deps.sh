#!/usr/bin/env bash
# Installs the system packages the tests, the demo and the benchmarks use,
# only those that are missing. Debian packages; needs root (or sudo).
set -euo pipefail
need=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "$2" ]; }
have initdb /usr/lib/postgresql/15/bin/initdb || need+=(postgresql-15)
have pgbench /usr/lib/postgresql/15/bin/pgbench || need+=(postgresql-contrib-15)
have psql /usr/bin/psql || need+=(postgresql-client-15)
have sshd /usr/sbin/sshd || need+=(openssh-server)
have ssh /usr/bin/ssh || need+=(openssh-client)
have pgbouncer /usr/sbin/pgbouncer || need+=(pgbouncer)
have curl /usr/bin/curl || need+=(curl)
have openssl /usr/bin/openssl || need+=(openssl)
have go /usr/local/go/bin/go || need+=(golang-go)
have unzip /usr/bin/unzip || need+=(unzip)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  echo "installing system packages: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
