# One image for web, worker and beat (docker-compose.yml chooses the command).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SYNCADMIN_ENV=production \
    SYNCADMIN_VAR_DIR=/var/lib/syncadmin

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# Static files are collected at build time and served by whitenoise; the keys here are for this step only.
RUN SECRET_KEY=build-only-collectstatic-key-not-used-at-runtime-000 \
    SECRETS_KEY=build-only-secrets-key-not-used-at-runtime-00000 python manage.py collectstatic --no-input \
    && useradd --system --home-dir /var/lib/syncadmin --create-home syncadmin
USER syncadmin

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD python -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz?scope=web', timeout=4).status != 200)"
CMD ["gunicorn", "syncadmin.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
