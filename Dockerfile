# ticketd: one image, run as several replicas behind a load balancer (see compose.yaml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --create-home --uid 10001 ticketd
WORKDIR /src
COPY pyproject.toml setup.cfg README.md ./
COPY ticketd ./ticketd
COPY sql ./sql
COPY static ./static
# No [embedded] extra: in a container PostgreSQL and Redis are their own services.
RUN pip install . && rm -rf /src

USER ticketd
WORKDIR /home/ticketd
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"
CMD ["ticketd", "serve", "--host", "0.0.0.0", "--port", "8080"]
