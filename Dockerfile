# One image for the web (ASGI), worker and beat processes; docker-compose.yml picks the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    # Processes run from the source tree, where settings find templates/ and static/.
    PYTHONPATH=/app

WORKDIR /app

# Dependencies first, from pyproject.toml alone, so a code change reuses this layer.
# Runtime dependencies only: no [dev] extras. psycopg[binary] needs no system libraries.
COPY pyproject.toml ./
RUN mkdir config inbox connectors loyalty \
    && touch config/__init__.py inbox/__init__.py connectors/__init__.py loyalty/__init__.py \
    && pip install . \
    && pip uninstall --yes parley \
    && rm -rf config inbox connectors loyalty build ./*.egg-info

COPY . .
RUN pip install --no-deps . \
    && rm -rf build ./*.egg-info \
    && useradd --create-home --uid 10001 --user-group parley

USER parley

EXPOSE 8000

CMD ["python", "-m", "uvicorn", "config.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--ws-per-message-deflate", "false"]
