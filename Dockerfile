# floodgate container image: a static binary in an otherwise empty (`scratch`) image.
#
# Two ways to build the SAME runtime image from this file:
#
#  1. From source (default target `runtime`; needs the network to pull rust:1-bookworm):
#
#       docker build -t floodgate .
#
#     Needs BuildKit (the default builder since Docker 23; `DOCKER_BUILDKIT=1` on Docker 20.10), podman
#     or buildah. The legacy builder runs EVERY stage up to the target, including `runtime-local`, which
#     then needs dist/rootfs/floodgate (path 2) to exist as well.
#
#  2. From a binary built on the host (target `runtime-local`; pulls NOTHING: every stage up to it is
#     `FROM scratch`, so it works offline and with the legacy builder, which CI uses). The stage copies
#     the folder dist/rootfs/ (build arg ROOTFS) onto `/`; it must hold `floodgate` and whatever that
#     binary needs at run time:
#
#     a) a STATIC release binary, nothing else (the image users should run):
#
#          RUSTFLAGS='-C target-feature=+crt-static' \
#            cargo build --release --locked --target x86_64-unknown-linux-gnu
#          mkdir -p dist/rootfs
#          objcopy --strip-debug target/x86_64-unknown-linux-gnu/release/floodgate dist/rootfs/floodgate
#          docker build --target runtime-local -t floodgate .
#
#        (--strip-debug as in path 1 below: RocksDB's C++ is built without debug info (Cargo.toml), and
#        this drops floodgate's own line tables too, 68 MB -> 22 MB.)
#
#        tests/deploy/build-image.sh does exactly this and smoke-tests the result.
#
#     b) a dynamically linked binary PLUS exactly the shared libraries `ldd` lists, at the paths it
#        lists (libc, libm, libgcc_s, libstdc++, the loader /lib64/ld-linux-x86-64.so.2). CI takes this
#        path when the static release build is cold (~48 min on 2 cores, more than the CI budget): it
#        packages the debug binary the test run already built, debug info stripped. Same scratch base,
#        user, volume and labels; the label floodgate.binary says which kind is inside
#        (`--build-arg BINARY_KIND=...`). tests/deploy/container-ci.sh builds, runs and checks both.
#
# Stage order matters: the legacy builder (Docker 20.10 without BuildKit) builds every stage that comes
# before `--target`, so nothing that must be pulled may precede `runtime-local`.
#
# Running it with plain docker (compose.yaml is the fuller example):
#
#   docker run -d --name floodgate -v floodgate-data:/data -p 12345:12345/tcp -p 12345:12345/udp \
#     -p 127.0.0.1:7670:7670 -e FLOODGATE_HOST=<your public IP> --stop-timeout 600 floodgate
#
# There is deliberately no HEALTHCHECK instruction: Kubernetes ignores it (the Helm chart uses
# /livez, /readyz and a startup probe instead) and compose.yaml declares its own. Plain docker users can
# add one at run time; the binary is its own probe, no shell or curl needed:
#
#   --health-cmd '["/floodgate", "healthcheck", "--ready"]' --health-interval 30s --health-start-period 60s
#
# (`floodgate healthcheck [--addr 127.0.0.1:7670] [--ready]` exits 0 when /livez, or /readyz, answers 200.)
#
# checkov:skip=CKV_DOCKER_2:No HEALTHCHECK on purpose: orchestrators probe /livez and /readyz (chart probes, compose healthcheck); see the comment above.

# ---------------------------------------------------------------------------------------------------
# runtime-base: the whole runtime filesystem except the binary. FROM scratch: never pulled.
FROM scratch AS runtime-base

ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown

# passwd/group name the non-root user (uid/gid 10001) for tools that print names; the files live in the
# repository (tests/deploy/rootfs/) because a scratch stage has no shell to create them, and both build
# paths must produce byte-identical images.
COPY tests/deploy/rootfs/etc/passwd tests/deploy/rootfs/etc/group /etc/
# An EMPTY /data owned by 10001: a fresh named volume mounted there copies this ownership, so the
# non-root router can write its keys and netDb. (.dockerignore drops the directory's git placeholder.)
COPY --chown=10001:10001 tests/deploy/rootfs/data/ /data/

# Environment names follow the config convention FLOODGATE_<KEY PATH, `__` between levels>.
# http.listen is pinned so that probes and the published ops port keep working whatever the config file says.
ENV FLOODGATE_DATA_DIR=/data \
    FLOODGATE_HTTP__LISTEN=0.0.0.0:7670

# 12345: NTCP2 (TCP) and, later, SSU2 (UDP) - both published in the RouterInfo. 7670: ops HTTP
# (/livez /readyz /metrics /status) - keep it off the public internet.
EXPOSE 12345/tcp 12345/udp 7670/tcp

LABEL org.opencontainers.image.title="floodgate" \
      org.opencontainers.image.description="Headless I2P floodfill and transit relay router" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.documentation="helm/floodgate/README.md"

VOLUME ["/data"]
USER 10001:10001
ENTRYPOINT ["/floodgate"]
CMD ["run"]

# ---------------------------------------------------------------------------------------------------
# runtime-local: path 2, the binary (and, for a dynamic one, its libraries) come from the build context.
FROM runtime-base AS runtime-local
ARG ROOTFS=dist/rootfs
# static-release | dynamic-debug (what tests/deploy/container-ci.sh packaged); informational only.
ARG BINARY_KIND=static-release
LABEL floodgate.binary="${BINARY_KIND}"
# root-owned and not writable by 10001: the router cannot replace its own executable or libraries.
COPY ${ROOTFS}/ /
USER 10001:10001

# ---------------------------------------------------------------------------------------------------
# build: path 1, compile a static (static-pie, glibc) binary. glibc >= 2.34 carries its DNS and files
# NSS modules inside libc, so name resolution (e.g. an OTLP collector host name) works without any
# shared library in the runtime image.
FROM rust:1-bookworm AS build

# librocksdb-sys runs bindgen, which needs libclang; the openssl crate (NTCP2's data-phase AEAD) links
# libssl/libcrypto, statically with crt-static (libssl-dev ships the .a files). Debian package
# versions are not pinned: the bookworm suite only ever receives security fixes, and an exact pin
# breaks as soon as one lands.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends libclang-dev libssl-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src/ src/

# --locked: build exactly the dependency set that was reviewed. The `ldd` check fails the build if the
# result is not static (it would not start in the scratch image). DWARF is stripped (ELF symbols stay,
# so a backtrace still names functions): what remains is floodgate's own line tables (RocksDB's C++ is
# built without debug info, see Cargo.toml), 68 MB -> 22 MB.
RUN RUSTFLAGS='-C target-feature=+crt-static' \
    cargo build --release --locked --target x86_64-unknown-linux-gnu \
 && mkdir -p /out \
 && objcopy --strip-debug target/x86_64-unknown-linux-gnu/release/floodgate /out/floodgate \
 && chmod 0755 /out/floodgate \
 && linkage="$(ldd /out/floodgate 2>&1 || true)" \
 && case "$linkage" in \
      *"statically linked"*|*"not a dynamic executable"*) ;; \
      *) echo "floodgate is dynamically linked, it cannot run FROM scratch: $linkage" >&2; exit 1 ;; \
    esac

# ---------------------------------------------------------------------------------------------------
# runtime (default target): path 1's binary in the same runtime filesystem.
FROM runtime-base AS runtime
LABEL floodgate.binary="static-release"
COPY --from=build /out/floodgate /floodgate
USER 10001:10001
