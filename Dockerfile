# The farm's one image: `farm worker`, `farm beat`, `farm dashboard serve` and `farm db upgrade`
# are all this image with another command (see docker-compose.yml and docs/distributed.md).
FROM python:3.11-slim-bookworm

# libusb-1.0-0: tflite-support's native module links it; adb: the client tools (a worker talks to
# the adb server of its host, or runs its own with USB passed through; see docs/distributed.md).
RUN apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends libusb-1.0-0 adb \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 1000 farm
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY farm farm
COPY orchestrator orchestrator
COPY workers workers
COPY models models
COPY dashboards dashboards
COPY migrations migrations
RUN pip install --no-cache-dir . && mkdir -p /farm && chown farm /farm

USER farm
# Model files are read by path on whichever host runs the job: FARM_HOME must be the same shared
# folder (a volume here, NFS or similar across hosts) for the submitter and every worker.
ENV FARM_HOME=/farm PYTHONUNBUFFERED=1
ENTRYPOINT ["farm"]
CMD ["--help"]
