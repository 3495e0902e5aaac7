# One image for web, worker and beat (compose.yaml picks the command).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STATIC_ROOT=/app/staticfiles \
    ARCTICNEWS_VAR_DIR=/app/var \
    LOG_FORMAT=json

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# collectstatic needs settings, not secrets or services: a throwaway key, no database touched.
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --no-input -v0 \
    && useradd --system --home-dir /app --shell /usr/sbin/nologin arcticnews \
    && mkdir -p /app/var && chown arcticnews /app/var
USER arcticnews

EXPOSE 8000
CMD ["gunicorn", "arcticnews.wsgi", "--config", "arcticnews/gunicorn_config.py", "--bind", "0.0.0.0:8000", "--workers", "2"]
