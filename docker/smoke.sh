#!/usr/bin/env bash
# Build one of the images in docker/ with the container engine that is here (podman or docker) and run it.
#
#   docker/smoke.sh            Dockerfile.cpu: build, then `fastkm demo` twice with a host folder at /work
#                              (cold: empty Numba cache; warm: the cache the first run wrote, mounted at
#                              /tmp/numba-cache); checks fastkm-demo.png and fastkm-demo.gif appear there
#   docker/smoke.sh --cuda     Dockerfile.cuda: build, then `fastkm info` and a small CPU demo inside
#                              (without a GPU CuPy reports no device; that is expected)
#
# Options:
#   --engine podman|docker   the engine (default: $FASTKM_SMOKE_ENGINE, else the first of podman, docker that answers)
#   --local-base             do not try to pull the Dockerfile's real base; use (or make) the local stand-in
#   --rebuild-base           make the local stand-in base again (implies --local-base)
#   --runs N                 CPU image: how many demo runs (default 2: cold, then warm cache)
#   --out DIR                CPU image: the host folder mounted at /work (kept); default: a temporary one
#
# When the real base (the Dockerfile's FROM) can be neither found locally nor pulled (no registry reachable),
# a stand-in is made once with debootstrap (needs root) and imported as localhost/fastkm-base:<suite>;
# podman gets it with `build --from`, docker with a temporary copy of the Dockerfile whose FROM names it.
# Re-runs reuse the stand-in and the engine's layer cache. Nothing is written into the repository.
#
# Environment: FASTKM_SMOKE_ENGINE, FASTKM_SMOKE_PULL_TIMEOUT (seconds, default 60; a base already present is used as is),
# DEBIAN_MIRROR (default http://deb.debian.org/debian), UBUNTU_MIRROR (default http://archive.ubuntu.com/ubuntu),
# UBUNTU_SECURITY_MIRROR (default http://security.ubuntu.com/ubuntu).
#
# Exit status: 0 passed; 1 failed; 2 bad usage; 3 no usable container engine; 4 no base image can be had here.
set -euo pipefail

say() { printf 'smoke: %s\n' "$*" >&2; }
die() { local code=${2:-1}; printf 'smoke: FAILED: %s\n' "$1" >&2; exit "$code"; }

flavour=cpu engine=${FASTKM_SMOKE_ENGINE:-} local_base=no rebuild_base=no runs=2 out_dir=
while (($#)); do
    case $1 in
        --cuda) flavour=cuda ;;
        --cpu) flavour=cpu ;;
        --engine) engine=${2:?--engine needs podman or docker}; shift ;;
        --local-base) local_base=yes ;;
        --rebuild-base) local_base=yes rebuild_base=yes ;;
        --runs) runs=${2:?--runs needs a number}; shift ;;
        --out) out_dir=${2:?--out needs a folder}; shift ;;
        -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" 2 ;;
    esac
    shift
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "--runs: expected a positive integer, got '$runs'" 2

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dockerfile=$root/docker/Dockerfile.$flavour
[[ -f $dockerfile ]] || die "no $dockerfile"
real_base=$(sed -n 's/^FROM[[:space:]]\{1,\}\([^[:space:]]\{1,\}\).*/\1/p' "$dockerfile")
[[ -n $real_base && $real_base != *$'\n'* ]] || die "expected exactly one FROM line in $dockerfile"
image=localhost/fastkm-smoke:$flavour
pull_timeout=${FASTKM_SMOKE_PULL_TIMEOUT:-60}

# ---- clean-up: our containers and our temporary folder, whatever happens ---------------------------------
containers=()
tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/fastkm-smoke.XXXXXX")  # outside the repository; a base's rootfs is made here
cleanup() {
    local name
    for name in "${containers[@]}"; do "$engine" rm -f "$name" >/dev/null 2>&1 || true; done
    rm -rf "$tmp" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
now() { printf '%s\n' "${EPOCHREALTIME:-$(date +%s.%N)}"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# ---- the engine ------------------------------------------------------------------------------------------
why_not=()
usable() { command -v "$1" >/dev/null 2>&1 || { why_not+=("$1 not installed"); return 1; }
           timeout 60 "$1" info >/dev/null 2>&1 || { why_not+=("'$1 info' failed (no daemon/service?)"); return 1; }; }
if [[ -n $engine ]]; then
    [[ $engine == podman || $engine == docker ]] || die "--engine: podman or docker, not '$engine'" 2
    usable "$engine" || die "no container engine: ${why_not[*]}" 3
else
    for candidate in podman docker; do usable "$candidate" && { engine=$candidate; break; }; done
    [[ -n $engine ]] || die "no container engine: $(IFS=';'; echo "${why_not[*]}")" 3
fi
say "engine: $("$engine" --version)"

# ---- the base: the real one when it can be had, else a local stand-in ------------------------------------
qualify() {  # python:3.12 -> docker.io/library/python:3.12 (podman may refuse short names)
    local name=$1 first=${1%%/*}
    if [[ $name != */* ]]; then name=docker.io/library/$name
    elif [[ $first != *.* && $first != *:* && $first != localhost ]]; then name=docker.io/$name; fi
    printf '%s\n' "$name"
}
case $flavour in
    cpu) suite=bookworm ;;  # python:3.12.8-slim-bookworm is Debian 12 with CPython 3.12.8 in /usr/local
    cuda) suite=noble ;;    # nvidia/cuda:12.6.3-runtime-ubuntu24.04 is Ubuntu 24.04 with the CUDA 12.6 runtime
esac
stand_in=localhost/fastkm-base:$suite

host_pip_setting() {  # the host's pip setting $1 (index-url, extra-index-url, trusted-host), if any
    local pip
    for pip in pip3 pip; do command -v "$pip" >/dev/null 2>&1 && break; pip=; done
    [[ -n $pip ]] || return 0
    "$pip" config list 2>/dev/null | sed -n "s/^[^.]*\\.$1='\\(.*\\)'\$/\\1/p" | tail -n 1
}
reachable_urls() {  # the http(s) URLs among $@; file:// and local paths mean nothing inside a container
    local url kept=()
    for url in "$@"; do [[ $url == http://* || $url == https://* ]] && kept+=("$url"); done
    printf '%s' "${kept[*]}"
}

make_stand_in() {
    [[ $(id -u) == 0 ]] || die "no base image: $real_base cannot be pulled, and making the stand-in $stand_in needs root (debootstrap, chroot); run once as root" 4
    command -v debootstrap >/dev/null 2>&1 || die "no base image: $real_base cannot be pulled, and debootstrap (to make $stand_in) is not installed: apt-get install debootstrap" 4
    local work=$tmp/base rootfs=$tmp/base/rootfs
    mkdir -p "$work"
    say "making the stand-in base $stand_in in $rootfs (a few minutes)"
    if [[ $suite == bookworm ]]; then
        debootstrap --variant=minbase --include=ca-certificates,python3,python3-venv \
            bookworm "$rootfs" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$work/debootstrap.log" 2>&1 \
            || { tail -n 20 "$work/debootstrap.log" >&2; die "debootstrap bookworm failed" 4; }
    else
        local mirror=${UBUNTU_MIRROR:-http://archive.ubuntu.com/ubuntu} keyring=/usr/share/keyrings/ubuntu-archive-keyring.gpg script=()
        if [[ ! -f $keyring ]]; then  # not packaged on Debian 12: take Ubuntu's own keyring package over HTTPS
            local https=${mirror/#http:/https:} entry file sum
            entry=$(curl -fsSL --max-time 120 "$https/dists/noble/main/binary-amd64/Packages.gz" | gunzip \
                    | awk '/^Package: ubuntu-keyring$/,/^$/') || die "cannot read the Ubuntu package index at $https" 4
            file=$(sed -n 's/^Filename: //p' <<<"$entry") sum=$(sed -n 's/^SHA256: //p' <<<"$entry")
            [[ -n $file && -n $sum ]] || die "ubuntu-keyring not found in $https noble main" 4
            curl -fsSL --max-time 120 -o "$work/ubuntu-keyring.deb" "$https/$file" || die "cannot download $https/$file" 4
            sha256sum -c --quiet <<<"$sum  $work/ubuntu-keyring.deb" || die "ubuntu-keyring.deb: checksum mismatch" 4
            dpkg-deb -x "$work/ubuntu-keyring.deb" "$work/keyring"
            keyring=$work/keyring/usr/share/keyrings/ubuntu-archive-keyring.gpg
        fi
        # debootstrap before 1.0.134 has no script for noble; Ubuntu's suites all share the gutsy one
        [[ -e /usr/share/debootstrap/scripts/noble ]] || script=(/usr/share/debootstrap/scripts/gutsy)
        debootstrap --variant=minbase --include=ca-certificates --keyring="$keyring" \
            noble "$rootfs" "$mirror" "${script[@]}" >"$work/debootstrap.log" 2>&1 \
            || { tail -n 20 "$work/debootstrap.log" >&2; die "debootstrap noble failed" 4; }
        printf 'deb %s %s main universe\n' "$mirror" noble "$mirror" noble-updates \
            "${UBUNTU_SECURITY_MIRROR:-http://security.ubuntu.com/ubuntu}" noble-security >"$rootfs/etc/apt/sources.list"
    fi
    # This machine's extra CA certificates (a TLS-inspecting proxy's, say), so that pip in the image gets through.
    if compgen -G '/usr/local/share/ca-certificates/*' >/dev/null; then
        cp -a /usr/local/share/ca-certificates/. "$rootfs/usr/local/share/ca-certificates/"
    fi
    chroot "$rootfs" update-ca-certificates >/dev/null
    # pip uses its own CA bundle unless told otherwise, and the same package index as the host
    local index extra trusted
    index=$(reachable_urls "$(host_pip_setting index-url)")
    # shellcheck disable=SC2046  # extra-index-url is a space-separated list
    extra=$(reachable_urls $(host_pip_setting extra-index-url))
    trusted=$(host_pip_setting trusted-host)
    {
        printf '# written by fastkm docker/smoke.sh for this stand-in base\n[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n'
        [[ -z $index ]] || printf 'index-url = %s\n' "$index"
        [[ -z $extra ]] || printf 'extra-index-url = %s\n' "$extra"
        [[ -z $trusted ]] || printf 'trusted-host = %s\n' "$trusted"
    } >"$rootfs/etc/pip.conf"
    say "stand-in pip.conf: $(grep -v '^[#[]' "$rootfs/etc/pip.conf" | tr '\n' ' ')"
    local path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin changes=()
    if [[ $suite == bookworm ]]; then  # like the python image: a `python3`, `python` and `pip` first on PATH
        chroot "$rootfs" python3 -m venv /opt/venv
        path=/opt/venv/bin:$path
        changes+=(--change "ENV LANG=C.UTF-8")
    fi
    chroot "$rootfs" apt-get clean
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin
    tar --numeric-owner -C "$rootfs" -c . | "$engine" import \
        --change "ENV PATH=$path" "${changes[@]}" \
        --change "LABEL org.opencontainers.image.description=\"local stand-in for $real_base (debootstrap $suite)\"" \
        - "$stand_in" >/dev/null || die "cannot import the stand-in base"
    rm -rf "$work"
}

substitute=no
if [[ $local_base == no ]]; then
    qualified=$(qualify "$real_base")
    if "$engine" image inspect "$qualified" >/dev/null 2>&1; then
        base_ref=$qualified
    else
        say "pulling $qualified (at most ${pull_timeout}s)"
        status=0
        timeout "$pull_timeout" "$engine" pull -q "$qualified" >/dev/null 2>"$tmp/pull.err" || status=$?
        if ((status == 0)); then
            base_ref=$qualified
        elif ((status == 124)); then
            say "pulling $qualified did not finish in ${pull_timeout}s (pull it first, or raise FASTKM_SMOKE_PULL_TIMEOUT): using the local stand-in $stand_in"
            substitute=yes
        else
            reason=$(tail -n 1 "$tmp/pull.err" | awk '{ print (length > 160 ? "..." substr($0, length - 159) : $0) }')
            say "cannot pull $qualified (${reason:-exit status $status}): using the local stand-in $stand_in"
            substitute=yes
        fi
    fi
else
    substitute=yes
fi
if [[ $substitute == yes ]]; then
    base_ref=$stand_in
    if [[ $rebuild_base == yes ]]; then  # the smoke image first: an engine keeps a base that others build on
        "$engine" rmi -f "$image" >/dev/null 2>&1 || true
        "$engine" rmi -f "$stand_in" >/dev/null 2>&1 || true
        ! "$engine" image inspect "$stand_in" >/dev/null 2>&1 \
            || die "cannot remove $stand_in to make it again: other images are built on it; remove them first"
    fi
    if "$engine" image inspect "$stand_in" >/dev/null 2>&1; then say "reusing the stand-in base $stand_in"
    else make_stand_in; fi
fi
say "base: $base_ref$([[ $substitute == yes ]] && echo " (standing in for $real_base)")"

# ---- flags this host needs for containers to start -------------------------------------------------------
# Rootful podman asks for nofile=1048576 and a large nproc; where the host's hard limits are lower and
# CAP_SYS_RESOURCE is missing (some VMs and CI sandboxes), runc fails with "error setting rlimit".
# Try no flags first, then the host's hard limits, then lower nproc values (podman has run with nproc 32768).
run_flags=()
if [[ $engine == podman ]]; then
    nofile=$(ulimit -Hn) hard_nproc=$(ulimit -Hu)
    [[ $nofile != unlimited ]] || nofile=1048576
    candidates=("")
    for nproc in "$hard_nproc" 32768 4096; do
        [[ $nproc == unlimited ]] && continue
        [[ $hard_nproc != unlimited && $nproc != "$hard_nproc" && $nproc -ge $hard_nproc ]] && continue
        candidates+=("--ulimit nofile=$nofile:$nofile --ulimit nproc=$nproc:$nproc")
    done
    started=no
    for flags in "${candidates[@]}"; do
        read -r -a run_flags <<<"$flags"
        if "$engine" run --rm "${run_flags[@]}" --entrypoint true "$base_ref" >/dev/null 2>"$tmp/probe.err"; then
            started=yes; break
        fi
    done
    [[ $started == yes ]] || die "podman cannot start a container from $base_ref: $(tail -n 1 "$tmp/probe.err")"
    ((${#run_flags[@]} == 0)) || say "container flags this host needs: ${run_flags[*]}"
fi

# ---- build -----------------------------------------------------------------------------------------------
build=("$engine" build --force-rm "${run_flags[@]}" -t "$image")
if [[ $engine == podman ]]; then  # the real base or the stand-in, by the name found above
    build+=(--from "$base_ref" -f "$dockerfile")
elif [[ $substitute == yes ]]; then  # docker build has no --from: a copy of the Dockerfile, outside the repository
    copy=$tmp/Dockerfile.$flavour
    sed "s|^FROM[[:space:]]\\{1,\\}$real_base|FROM $base_ref|" "$dockerfile" >"$copy"
    build+=(-f "$copy")
else
    build+=(-f "$dockerfile")
fi
say "building: ${build[*]} $root"
start=$(now)
previous=$("$engine" image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
"${build[@]}" "$root" >&2 || die "building $image from $dockerfile failed (see above)"
say "built $image in $(since "$start") s"
if [[ -n $previous && $previous != "$("$engine" image inspect --format '{{.Id}}' "$image")" ]]; then
    "$engine" rmi "$previous" >/dev/null 2>&1 || true  # the image this build replaced: no untagged leftovers
fi

size_of() { "$engine" image inspect --format '{{.Size}}' "$1"; }
human() { awk -v b="$1" 'BEGIN { printf "%.0f MB (%.0f MiB)", b / 1e6, b / 1048576 }'; }
image_size=$(size_of "$image") base_size=$(size_of "$base_ref")
say "image size: $image $(human "$image_size"); base $base_ref $(human "$base_size")"

# ---- run -------------------------------------------------------------------------------------------------
user_flags=()
if [[ $(id -u) != 0 ]]; then  # files in the mounted folder owned by the caller, not by root
    if [[ $engine == docker ]]; then user_flags=(--user "$(id -u):$(id -g)"); else user_flags=(--userns=keep-id); fi
fi
run_in_image() {  # run_in_image LABEL ARGS...: a named container (removed on exit); output in $tmp/LABEL.log, seconds in $wall
    local name=fastkm-smoke-$$-$1 log=$tmp/$1.log t0 status=0
    shift
    containers+=("$name")
    t0=$(now)
    "$engine" run --rm --name "$name" "${run_flags[@]}" "${user_flags[@]}" "$@" >"$log" 2>&1 || status=$?
    wall=$(since "$t0")
    cat "$log"
    return "$status"
}

if [[ $flavour == cpu ]]; then
    work=${out_dir:-$tmp/work}
    cache=$tmp/numba-cache
    mkdir -p "$work" "$cache"
    work=$(cd "$work" && pwd)
    times=()
    for ((run = 1; run <= runs; run++)); do
        label=$( ((run == 1)) && echo cold || echo "warm$((run - 1))")
        rm -f "$work/fastkm-demo.png" "$work/fastkm-demo.gif"
        say "run $run ($label): fastkm demo; $work at /work, Numba cache $cache at /tmp/numba-cache"
        # the images set NUMBA_CACHE_DIR=/tmp/numba-cache: a folder mounted there keeps the compiled kernels
        run_in_image "$label" -v "$work:/work:Z" -v "$cache:/tmp/numba-cache:Z" "$image" \
            || die "fastkm demo failed in $image (run $run)"
        for picture in fastkm-demo.png fastkm-demo.gif; do
            [[ -f $work/$picture ]] || die "fastkm demo did not write $picture into the mounted folder (run $run)"
            (($(stat -c %s "$work/$picture") > 5000)) || die "$picture is suspiciously small (run $run)"
        done
        kernels=$(sed -n 's/.*kernels ready in \([0-9.]*\) s.*/\1/p' "$tmp/$label.log")
        times+=("$label $wall s (kernels ready in ${kernels:-?} s)")
        say "run $run ($label): wall time $wall s; fastkm-demo.png $(stat -c %s "$work/fastkm-demo.png") B, fastkm-demo.gif $(stat -c %s "$work/fastkm-demo.gif") B"
    done
    say "PASSED: $image, $(human "$image_size"); fastkm demo wall time: $(printf '%s; ' "${times[@]}" | sed 's/; $//')"
else
    say "fastkm info in $image"
    run_in_image info "$image" info || die "fastkm info failed in $image"
    if ! grep -q '^fastkm ' "$tmp/info.log" || ! grep -q '^  cupy ' "$tmp/info.log"; then
        die "fastkm info printed no fastkm version or no cupy line"
    fi
    say "CuPy in $image"
    run_in_image cupy --entrypoint python3 "$image" -c 'import cupy; print("cupy", cupy.__version__)' \
        || die "the cuda12 extra did not install an importable CuPy in $image"
    say "a small demo on the CPU in $image (--backend numpy; no GPU needed)"
    run_in_image cpu-demo "$image" demo --backend numpy --no-pictures -n 20000 || die "fastkm demo --backend numpy failed in $image"
    say "PASSED: $image, $(human "$image_size"); fastkm info, CuPy import and a NumPy demo ran (the GPU demo needs a GPU host)"
fi
