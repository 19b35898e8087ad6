# One image for every Modelyard process. The default command serves the web app;
# docker-compose.yml runs the same image as the Celery worker and as Celery Beat.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    DJANGO_SETTINGS_MODULE=mlops_site.settings \
    MODELYARD_DATA_DIR=/data

WORKDIR /app

# libgl1 and libglib2.0: opencv (a dependency of alibi-detect) needs them to import.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*

# torch first, as the CPU-only wheel from PyTorch's index: the PyPI wheel drags in gigabytes
# of CUDA. requirements.txt pins the same version, so the next step finds it satisfied.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

COPY requirements.txt constraints.txt ./
RUN pip install -r requirements.txt -c constraints.txt

# The app runs unprivileged. Its code stays root-owned (read-only to it); the data directory
# (database, broker, datasets, artifacts, collected static files) is the one place it writes.
# The home directory holds library caches (matplotlib, numba, Hugging Face).
RUN useradd --create-home --uid 10001 --user-group modelyard \
    && mkdir -p /data \
    && chown modelyard:modelyard /data

COPY . .

USER modelyard

# Settings refuse to load without a SECRET_KEY; this throwaway one exists only for this step
# and is not kept in the image.
RUN SECRET_KEY=collectstatic-build-only-not-a-secret python manage.py collectstatic --noinput

EXPOSE 8000

# Workers, timeouts and logging: gunicorn.conf.py (in /app, gunicorn's working directory).
CMD ["gunicorn", "mlops_site.wsgi:application", "--bind", "0.0.0.0:8000"]
