# Two images from one file (the training image is the default, last stage):
#   scheduled retraining: docker build -t forecaster . && docker run -v $PWD/models:/app/models -v $PWD/data:/app/data forecaster
#   serving only:         docker build --target serve -t forecaster-serve .   (ONNX Runtime, no TensorFlow)

# --- serve: `forecast predict` for exported networks needs numpy, pandas and ONNX Runtime only (CSV input;
#     Parquet needs pyarrow, statistical rows statsforecast: both are in the training image) -----------
FROM python:3.11-slim AS serve

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml setup.cfg README.md constraints.txt ./
COPY forecaster ./forecaster
# the same pins as the training image; the package without its training dependencies
RUN pip install --no-cache-dir -c constraints.txt numpy pandas onnxruntime PyYAML \
    && pip install --no-cache-dir --no-deps . \
    && useradd --create-home --uid 10001 forecaster

USER 10001:10001
VOLUME ["/app/models", "/app/data"]
ENTRYPOINT ["forecast"]
CMD ["predict", "--help"]

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
