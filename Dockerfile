# Two images from one file (the training image is the default, last stage):
#   scheduled retraining: docker build -t forecaster . && docker run -v $PWD/models:/app/models -v $PWD/data:/app/data forecaster
#   serving only:         docker build --target serve -t forecaster-serve . && docker run -p 8080:8080 \
#                         -v $PWD/models:/app/models:ro -v $PWD/data:/app/data:ro forecaster-serve   (HTTP, no TensorFlow)

# --- serve: `forecast serve` (and `forecast predict`) for exported networks and statistical rows saved with their
#     state: numpy, pandas, ONNX Runtime and the serve extra only (CSV input; Parquet needs pyarrow, a statistical
#     row saved without its state statsforecast: both are in the training image) ---------------------------------
FROM python:3.11-slim AS serve

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml setup.cfg README.md constraints.txt ./
COPY forecaster ./forecaster
# The same pins as the training image; the package without its training dependencies. The libraries' own test
# suites (pandas 39 MB, numpy 15 MB) are deleted in the same layer: the image stays under 400 MB.
RUN pip install --no-cache-dir -c constraints.txt numpy pandas onnxruntime PyYAML starlette uvicorn prometheus_client \
    && pip install --no-cache-dir --no-deps . \
    && find "$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" -depth -type d \
        \( -path "*/pandas/tests" -o -path "*/numpy/*tests" -o -path "*/numpy/tests" \) -exec rm -rf {} + \
    && useradd --create-home --uid 10001 forecaster

USER 10001:10001
VOLUME ["/app/models", "/app/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
ENTRYPOINT ["forecast"]
CMD ["serve", "--models-dir", "models", "--host", "0.0.0.0", "--port", "8080"]

# --- train (default): scheduled retraining under tini ---------------------------------------------------
FROM python:3.11-slim AS train

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_CPP_MIN_LOG_LEVEL=2

# tini as PID 1 forwards SIGTERM/SIGINT to forecast and reaps zombies
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini=0.19.* \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# Dependencies first, in their own cached layer: it is rebuilt only when setup.cfg or the pins change
# (not README.md: setuptools builds without it). constraints.txt pins every runtime dependency to the
# versions the test suite ran against.
COPY pyproject.toml setup.cfg constraints.txt ./
COPY forecaster/__init__.py forecaster/__init__.py
RUN pip install --no-cache-dir -c constraints.txt . && pip uninstall -y forecaster

COPY README.md ./
COPY forecaster ./forecaster
COPY configs ./configs
RUN pip install --no-cache-dir --no-deps . \
    && groupadd --gid 10001 forecaster \
    && useradd --create-home --uid 10001 --gid 10001 forecaster \
    && mkdir -p /app/models /app/data \
    && chown 10001:10001 /app/models /app/data

# non-root; a bind-mounted models/ must be writable by uid 10001 (or run with --user "$(id -u)")
USER 10001:10001
VOLUME ["/app/models", "/app/data"]

HEALTHCHECK --interval=60s --timeout=20s --start-period=120s --retries=3 \
    CMD ["forecast", "health", "--config", "configs/schedule.yaml"]

ENTRYPOINT ["/usr/bin/tini", "--", "forecast"]
CMD ["schedule", "--config", "configs/schedule.yaml"]
