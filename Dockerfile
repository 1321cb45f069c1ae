# The project image: the worker by default; the sandbox and the CLI from the same image.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HANDOVER_LOG_FORMAT=json

WORKDIR /app
COPY pyproject.toml README.md ./
COPY handover handover
COPY workflows workflows
COPY activities activities
COPY sandbox sandbox
COPY endpoint endpoint
COPY contracts contracts
COPY worker.py starter.py ./
RUN pip install . \
    && useradd --create-home --uid 10001 handover \
    && mkdir -p /data/sandbox && chown -R handover /data
USER handover

CMD ["python", "worker.py"]
