# syntax=docker/dockerfile:1
# Multi-stage build: the release server and its site in a small Debian image.
FROM rust:1.95-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Tools first, so they stay cached while the sources change.
COPY scripts/setup.sh scripts/setup.sh
RUN scripts/setup.sh
COPY . .
RUN PATH="/src/.tools/node_modules/.bin:$PATH" cargo leptos build --release --split --precompress

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates git \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data conveyor \
 && mkdir /data && chown conveyor /data
COPY --from=build /src/target/release/conveyor /usr/local/bin/conveyor
COPY --from=build /src/target/site /srv/conveyor/site
USER conveyor
# Inside a container the port must be reachable from outside it. Listening beyond loopback
# needs the address people open, e.g. `-e CONVEYOR_PUBLIC_URL=http://localhost:3000` (the
# server says so and stops without it): sessions and requests are checked against it.
ENV CONVEYOR_BIND=0.0.0.0:3000 \
    CONVEYOR_DATA_DIR=/data \
    LEPTOS_SITE_ROOT=/srv/conveyor/site \
    RUST_LOG=info
VOLUME /data
EXPOSE 3000
ENTRYPOINT ["conveyor"]
CMD ["serve"]
